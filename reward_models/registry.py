"""Spec strings -> reward models. ``"name"`` or ``"name:argument"``, e.g. ``"vader"``, ``"hf:./my-rm"``.

Factories take the text after the first colon (``None`` when there is none) and return a reward model.
``make_reward_model`` also accepts reward-model objects and plain callables, which it returns unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from reward_models.base import RewardFn

_FACTORIES: dict[str, Callable[[str | None], RewardFn]] = {}


def register_reward_model(name: str, factory: Callable[[str | None], RewardFn], overwrite: bool = False) -> None:
    """Make ``name`` (and ``name:argument``) a valid ``reward_model`` spec string."""
    if not name or ":" in name:
        raise ValueError(f"reward model name must be non-empty and contain no ':', got {name!r}")
    if name in _FACTORIES and not overwrite:
        raise ValueError(f"reward model {name!r} is already registered; pass overwrite=True to replace it")
    _FACTORIES[name] = factory


def register_reward_models(table: Mapping[str, Callable[[str | None], RewardFn]]) -> None:
    """Register a table of specs, name -> factory (the built-in table, a task package's table); a name already
    registered with the same factory is left as it is, so registering a table twice is harmless."""
    for name, factory in table.items():
        if _FACTORIES.get(name) is not factory:
            register_reward_model(name, factory)


def no_argument(name: str, make: Callable[[], RewardFn]) -> Callable[[str | None], RewardFn]:
    """A factory for a spec that takes no argument: ``"name:anything"`` raises ``ValueError`` naming the spec."""

    def factory(argument: str | None) -> RewardFn:
        if argument is not None:
            raise ValueError(f"reward_model spec {name!r} takes no argument, got '{name}:{argument}'")
        return make()

    return factory


def registered_reward_models() -> list[str]:
    """The registered spec names, sorted."""
    return sorted(_FACTORIES)


def make_reward_model(spec: str | RewardFn) -> RewardFn:
    """Resolve ``spec`` (a spec string, a reward-model object or a callable) to a callable reward model."""
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"reward_model must be a spec string, a reward-model object or a callable "
            f"(prompts, completions) -> scores, got {type(spec).__name__}"
        )
    name, _, argument = spec.partition(":")
    if name not in _FACTORIES:
        raise ValueError(
            f"unknown reward_model spec {spec!r}; valid names: {', '.join(registered_reward_models())} "
            "(a name may take an argument after ':', e.g. 'hf:<hub id or folder>')"
        )
    return _FACTORIES[name](argument or None)
