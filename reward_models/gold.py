"""Rule-based "gold" labellers that stand in for a human judge."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reward_models.base import BaseRewardModel


class VaderSentiment(BaseRewardModel):
    """VADER compound sentiment of the completion, in [-1, 1] (``pip install vaderSentiment``).

    ``include_prompt=True`` scores prompt + completion instead of the completion alone.
    """

    def __init__(self, include_prompt: bool = False) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()
        self.include_prompt = include_prompt

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        texts = [p + c for p, c in zip(prompts, completions)] if self.include_prompt else list(completions)
        return np.array([self.analyzer.polarity_scores(t)["compound"] for t in texts], dtype=np.float64)
