"""A weighted sum of reward models, e.g. a learned reward plus a repetition penalty."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reward_models.base import BaseRewardModel, RewardFn, check_scores
from reward_models.fields import call_reward, required_fields


class CompositeReward(BaseRewardModel):
    """``score = Σ weight_i · reward_i(prompts, completions)``; each component is called once per batch.

    ``terms`` is a list of ``(weight, reward_model)``; reward models may be any ``RewardFn``. Per-prompt fields
    reach each term that asks for them (``reward_models.fields``).
    """

    accepts_all_fields = True

    def __init__(self, terms: Sequence[tuple[float, RewardFn]]) -> None:
        if not terms:
            raise ValueError("terms must contain at least one (weight, reward_model) pair")
        for index, (weight, model) in enumerate(terms):
            if not callable(model):
                raise TypeError(f"terms[{index}] reward model must be callable, got {type(model).__name__}")
            if not np.isfinite(weight):
                raise ValueError(f"terms[{index}] weight must be a finite number, got {weight!r}")
        self.terms = [(float(weight), model) for weight, model in terms]
        self.required_fields = frozenset().union(*(required_fields(model) for _, model in self.terms))

    def score(self, prompts: Sequence[str], completions: Sequence[str], **fields: Sequence) -> np.ndarray:
        total = np.zeros(len(completions), dtype=np.float64)
        for index, (weight, model) in enumerate(self.terms):
            source = f"composite term {index}"
            scores = call_reward(model, prompts, completions, fields, source)
            total += weight * check_scores(scores, len(completions), source)
        return total
