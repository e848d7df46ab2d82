"""Simple function rewards on the completion text: length, keywords, regular expressions."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from reward_models.base import BaseRewardModel


class LengthReward(BaseRewardModel):
    """Completion length in words (``target=None``), or ``-|words - target|`` to reward a target length."""

    def __init__(self, target: int | None = None) -> None:
        if target is not None and (isinstance(target, bool) or not isinstance(target, int) or target < 0):
            raise ValueError(f"target must be None or an integer >= 0 (words), got {target!r}")
        self.target = target

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        lengths = np.array([len(c.split()) for c in completions], dtype=np.float64)
        return lengths if self.target is None else -np.abs(lengths - self.target)


class KeywordReward(BaseRewardModel):
    """Number of whole-word occurrences of any of ``keywords`` in the completion (case-insensitive by default)."""

    def __init__(self, keywords: Sequence[str], case_sensitive: bool = False) -> None:
        keywords = [k for k in keywords if k]
        if not keywords or any(not isinstance(k, str) for k in keywords):
            raise ValueError(f"keywords must be a non-empty list of non-empty strings, got {keywords!r}")
        self.keywords = list(keywords)
        alternatives = "|".join(re.escape(k) for k in sorted(self.keywords, key=len, reverse=True))
        self.pattern = re.compile(rf"\b(?:{alternatives})\b", 0 if case_sensitive else re.IGNORECASE)

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        return np.array([len(self.pattern.findall(c)) for c in completions], dtype=np.float64)


class RegexReward(BaseRewardModel):
    """1.0 when ``pattern`` matches anywhere in the completion (``re.search``), else 0.0."""

    def __init__(self, pattern: str) -> None:
        try:
            self.pattern = re.compile(pattern)
        except re.error as error:
            raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {error}") from error

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        return np.array([self.pattern.search(c) is not None for c in completions], dtype=np.float64)
