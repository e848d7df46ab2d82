"""The checks of the env API calls every TextGen env shares: actions, reset options, prompt indices, step before
reset. Each raises before the env changes, so a call that raises changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def check_action(action: object, vocab_size: int) -> int:
    """Return ``action`` as an int token id, or raise if it is not an integer in ``[0, vocab_size)``."""
    value = action
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item() if np.issubdtype(value.dtype, np.integer) else value.reshape(())
    if hasattr(value, "item") and getattr(value, "numel", lambda: 2)() == 1:  # a one-element torch tensor
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"action must be an integer token id in [0, {vocab_size}), got {action!r} of type {type(action).__name__}"
        )
    if not 0 <= value < vocab_size:
        raise ValueError(f"action must be a token id in [0, {vocab_size}), got {int(value)}")
    return int(value)


def check_reset_options(options: object, valid: Sequence[str]) -> dict[str, Any]:
    """``options`` of ``reset`` as a dict (``{}`` for None); raise if it is no dict or has a key not in ``valid``."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict or None, got {type(options).__name__} {options!r}")
    unknown = set(options) - set(valid)
    if unknown:
        raise ValueError(f"unknown reset options {sorted(map(str, unknown))}; valid: {', '.join(map(repr, valid))}")
    return options


def check_prompt_index(index: object, count: int) -> int | None:
    """A single env's ``options["prompt_index"]`` as an int in ``[0, count)`` (``None`` stays ``None``)."""
    if index is not None and (
        isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < count
    ):
        raise ValueError(f"options['prompt_index'] must be an integer in [0, {count}), got {index!r}")
    return None if index is None else int(index)


def check_prompt_indices(index: object, count: int, num_envs: int) -> np.ndarray | None:
    """A vector env's ``options["prompt_index"]`` (an int or ``num_envs`` ints in ``[0, count)``) as int ``[B]``
    (``None`` stays ``None``)."""
    if index is None:
        return None
    indices = np.asarray(index)
    if indices.shape not in ((), (num_envs,)):
        raise ValueError(f"options['prompt_index'] must be an int or {num_envs} ints, got shape {indices.shape}")
    indices = np.broadcast_to(indices, (num_envs,))
    if not np.issubdtype(indices.dtype, np.integer) or ((indices < 0) | (indices >= count)).any():
        raise ValueError(f"options['prompt_index'] must be integers in [0, {count}), got {indices!r}")
    return indices


def check_can_step(ready: bool, single: bool) -> None:
    """Raise ``RuntimeError`` when ``step`` is called on an env that is not ``ready``: before ``reset``, or (a
    ``single`` env) after its episode ended."""
    if not ready:
        when = "before reset() or after the episode ended" if single else "before reset()"
        raise RuntimeError(f"step() called {when}; call reset() first")
