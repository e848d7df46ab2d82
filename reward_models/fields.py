"""Per-prompt dataset columns ("fields") passed to reward functions as keyword arguments, TRL's convention.

A prompt source can carry extra columns next to ``prompt`` (a reference ``answer``, a list of ``references``, the
``constraints`` of an instruction). A reward callable receives them as keyword arguments, one list per column,
aligned with ``completions``::

    def reward(prompts, completions, answer, **kwargs):  # answer[i] belongs to completions[i]
        ...

How a callable is called is read from its signature:

- One with a parameter named ``completions`` is called by keyword, as TRL calls reward functions:
  ``fn(prompts=..., completions=..., **columns)`` (``prompts`` only if it has that parameter or ``**kwargs``), so
  ``def accuracy(completions, solution, **kwargs)`` works unchanged. Any other callable gets ``(prompts,
  completions)`` positionally, then the columns by keyword.
- ``**kwargs`` receives every column; a named parameter (besides ``prompts`` and ``completions``, or after the
  first two positional ones) receives the column of that name; a plain ``(prompts, completions)`` callable receives
  none. A named parameter without a default is *required*: calling the reward on data without that column raises
  ``ValueError`` naming the column and the columns the data has.

Reward models built on ``BaseRewardModel`` take the fields their ``score`` method names. An
object may instead declare ``accepts_all_fields`` and ``required_fields`` attributes (as
``CompositeReward`` does).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

from reward_models.base import BaseRewardModel

RESERVED_FIELDS = frozenset(
    {"prompt", "prompts", "completion", "completions", "score", "prompt_index", "num_tokens", "stop_reason"}
)
"""Names a per-prompt column may not have: the reward arguments and the env's episode ``info`` keys."""
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _signature(fn: object) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature: called positionally, no fields
        return []


def _by_keyword(parameters: list[inspect.Parameter]) -> bool:
    """TRL style: the callable names a ``completions`` parameter that can be passed by keyword."""
    return any(p.name == "completions" and p.kind in _NAMED for p in parameters)


def _parameters(reward_fn: object) -> list[inspect.Parameter]:
    """The parameters of ``reward_fn`` that can receive fields (its ``score``'s, for a BaseRewardModel)."""
    parameters = _signature(reward_fn.score if isinstance(reward_fn, BaseRewardModel) else reward_fn)
    if _by_keyword(parameters):
        return [p for p in parameters if p.name not in ("prompts", "completions")]
    return parameters[2:]


def accepted_fields(reward_fn: object) -> frozenset[str] | None:
    """The column names ``reward_fn`` takes as keyword arguments; ``None`` when it takes every column."""
    if hasattr(reward_fn, "accepts_all_fields"):
        return None if reward_fn.accepts_all_fields else frozenset(reward_fn.required_fields)
    parameters = _parameters(reward_fn)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(p.name for p in parameters if p.kind in _NAMED)


def required_fields(reward_fn: object) -> frozenset[str]:
    """The column names ``reward_fn`` cannot be called without (named parameters with no default)."""
    if hasattr(reward_fn, "required_fields"):
        return frozenset(reward_fn.required_fields)
    return frozenset(
        p.name for p in _parameters(reward_fn) if p.default is inspect.Parameter.empty and p.kind in _NAMED
    )


def check_fields_available(reward_fn: object, available: Sequence[str], source: str = "reward_model") -> None:
    """Raise ``ValueError`` when ``reward_fn`` requires a column that is not in ``available``."""
    missing = sorted(required_fields(reward_fn) - set(available))
    if missing:
        raise ValueError(
            f"{source} needs the per-prompt field(s) {missing}, which the prompts do not have (their fields: "
            f"{sorted(available) or 'none'}); give prompts as JSONL rows, a list of dicts or a datasets.Dataset "
            f"with {'a column' if len(missing) == 1 else 'columns'} {', '.join(map(repr, missing))}"
        )


def call_reward(
    reward_fn: object,
    prompts: Sequence[str],
    completions: Sequence[str],
    fields: Mapping[str, Sequence] | None = None,
    source: str = "reward_model",
):
    """Call ``reward_fn(prompts, completions, **columns)`` with the columns of ``fields`` it accepts.

    ``fields`` maps a column name to its values, one per completion. Returns whatever ``reward_fn`` returns.
    Raises ``ValueError`` naming ``source`` when a column it requires is missing, or a column's length differs
    from the number of completions.
    """
    fields = dict(fields or {})
    for name, values in fields.items():
        if len(values) != len(completions):
            raise ValueError(f"field {name!r} has {len(values)} values for {len(completions)} completions")
    check_fields_available(reward_fn, list(fields), source)
    accepted = accepted_fields(reward_fn)
    kwargs = {name: list(values) for name, values in fields.items() if accepted is None or name in accepted}
    parameters = _signature(reward_fn)
    if not _by_keyword(parameters):
        return reward_fn(list(prompts), list(completions), **kwargs)
    kwargs["completions"] = list(completions)
    if any(p.name == "prompts" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        kwargs["prompts"] = list(prompts)
    return reward_fn(**kwargs)
