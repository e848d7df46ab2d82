"""The reward-model interface: a batched scorer of (prompt, completion) pairs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

RewardFn = Callable[..., Sequence[float]]
"""Any callable ``(prompts, completions, **fields) -> sequence of float``, one score per pair; ``fields`` are the
per-prompt dataset columns it asks for (``reward_models.fields``)."""


@runtime_checkable
class RewardModel(Protocol):
    """Scores a batch of (prompt, completion) pairs.

    ``score(prompts, completions)`` takes two equal-length lists of strings and returns a float array of
    shape ``[batch]``; ``__call__`` is the same call, so a reward model is also a plain ``RewardFn``.
    """

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray: ...

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray: ...


class BaseRewardModel:
    """Convenience base class: implement ``score``; ``__call__`` forwards to it, per-prompt fields included (a
    ``score`` that names a field, e.g. ``score(self, prompts, completions, answer)``, receives that column)."""

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, prompts: Sequence[str], completions: Sequence[str], **fields: Sequence) -> np.ndarray:
        return self.score(prompts, completions, **fields)


def check_scores(scores: object, expected: int, source: str = "reward_model") -> np.ndarray:
    """Validate a reward model's output and return it as a float64 array of shape ``[expected]``.

    Raises ``ValueError`` naming ``source`` when the output is not a flat sequence of ``expected`` finite numbers.
    Strings (even numeric ones) and bools are not numbers here.
    """
    if hasattr(scores, "detach"):
        scores = scores.detach().cpu().numpy()
    if isinstance(scores, np.ndarray) and scores.dtype.kind not in "iufO":
        raise ValueError(f"{source} must return numbers, got an array of dtype {scores.dtype}")
    if isinstance(scores, (list, tuple)) or (isinstance(scores, np.ndarray) and scores.dtype.kind == "O"):
        for position, item in enumerate(scores):
            if isinstance(item, (str, bytes, bool, np.bool_)):
                raise ValueError(
                    f"{source} must return numbers, got {type(item).__name__} {item!r} at batch position {position}"
                )
            if isinstance(item, int) and not -(2**1023) < item < 2**1024:
                raise ValueError(
                    f"{source} returned an integer of {len(str(abs(item)))} digits at batch position {position}, "
                    "beyond the range of a float"
                )
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{source} must return a sequence of {expected} floats, got {type(scores).__name__}: {error}"
        ) from error
    if array.ndim != 1 or array.shape[0] != expected:
        raise ValueError(
            f"{source} returned {array.shape[0] if array.ndim == 1 else f'an array of shape {array.shape}'} "
            f"scores for {expected} (prompt, completion) pairs; it must return exactly one float per pair"
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(
            f"{source} returned non-finite scores {array[bad[:5]].tolist()} at batch positions {bad[:5].tolist()}; "
            "scores must be finite floats"
        )
    return array
