"""Rule-based "gold" labellers that stand in for a human judge.

In the over-optimisation setup of Gao et al. (2022) a policy is trained against a *proxy* (learned) reward model,
and a gold labeller — here a fixed rule — reports the "true" reward next to it. Both labellers below are cheap,
deterministic and need no download.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from reward_models.base import BaseRewardModel
from reward_models.common.extras import require_extra
from reward_models.common.validation import check_positive_int

_WORD = re.compile(r"\w+(?:'\w+)?")


class VaderSentiment(BaseRewardModel):
    """VADER compound sentiment of the completion, in [-1, 1] (``pip install "text-gym[vader]"``).

    ``include_prompt=True`` scores prompt + completion instead of the completion alone.
    """

    def __init__(self, include_prompt: bool = False) -> None:
        vader = require_extra("vaderSentiment.vaderSentiment", "vader", "the 'vader' reward model (VADER sentiment)")
        self.analyzer = vader.SentimentIntensityAnalyzer()
        self.include_prompt = include_prompt

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        texts = (
            [p + c for p, c in zip(prompts, completions, strict=False)] if self.include_prompt else list(completions)
        )
        return np.array([self.analyzer.polarity_scores(t)["compound"] for t in texts], dtype=np.float64)


class DistinctNGrams(BaseRewardModel):
    """Fraction of distinct word n-grams in the completion ("distinct-n"), in [0, 1]; higher = less repetition.

    A completion with fewer than ``n`` words scores 0. Words are lower-cased ``\\w+`` runs. Reward hacking in
    text RL often shows up as repetition ("great great great ..."), which this labeller exposes; use it as a gold
    metric next to a learned reward, or in a ``CompositeReward`` as a penalty.
    """

    def __init__(self, n: int = 2) -> None:
        check_positive_int("n", n)
        self.n = n

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        scores = np.zeros(len(completions), dtype=np.float64)
        for index, completion in enumerate(completions):
            words = _WORD.findall(completion.lower())
            grams = [tuple(words[i : i + self.n]) for i in range(len(words) - self.n + 1)]
            if grams:
                scores[index] = len(set(grams)) / len(grams)
        return scores
