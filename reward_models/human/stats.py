"""Statistics of a human preference file: counts, agreement between annotators, agreement of a reward model.

Every live label (undone ones excluded) is expanded into comparisons: a pick or an edit is one, a ranking of k is
k(k−1)/2. A *comparison* is an unordered pair of completions of one prompt; two annotators *overlap* on it when both
judged it. Their agreement is the fraction of overlapping comparisons where they preferred the same completion
(0.5 is chance for a forced choice; if an annotator judged a comparison twice, their latest judgement counts).
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass, field

import torch

from reward_models.base import RewardFn
from reward_models.preferences.pairs import PreferencePair, expand_row, read_preference_rows
from reward_models.training.evaluation import score_pairs
from reward_models.training.losses import preference_metrics

NO_ANNOTATOR = "(none)"


@dataclass
class LabelStatsConfig:
    """Counts and agreement statistics of a human preference file."""

    data: str = field(default="preferences.jsonl", metadata={"help": "preference JSONL file written by the labeller"})
    reward_model: str | None = field(
        default=None, metadata={"help": "reward-model spec string to check against the human labels (None: skip)"}
    )


def annotator_agreement(labels: list[tuple[str, PreferencePair]]) -> dict:
    """Agreement between annotators on the comparisons they share; ``labels`` are ``(annotator, pair)`` in file
    order. Returns ``{"overall": {"shared", "agreement"}, "pairs": {"A|B": {"shared", "agreement"}}}``."""
    winners: dict[tuple[str, frozenset], dict[str, str]] = {}
    for annotator, pair in labels:
        winners.setdefault((pair.prompt, frozenset((pair.chosen, pair.rejected))), {})[annotator] = pair.chosen
    counts: dict[tuple[str, str], list[int]] = {}
    for votes in winners.values():
        for first, second in itertools.combinations(sorted(votes), 2):
            tally = counts.setdefault((first, second), [0, 0])
            tally[0] += 1
            tally[1] += votes[first] == votes[second]
    shared = sum(tally[0] for tally in counts.values())
    agreed = sum(tally[1] for tally in counts.values())
    return {
        "overall": {"shared": shared, "agreement": agreed / shared if shared else None},
        "pairs": {f"{a}|{b}": {"shared": n, "agreement": k / n} for (a, b), (n, k) in sorted(counts.items())},
    }


def reward_model_agreement(reward_model: RewardFn, labels: list[tuple[str, PreferencePair]]) -> dict:
    """How often ``reward_model`` scores the human-chosen completion higher (a tie counts 1/2), overall and per
    annotator: ``{"overall": {"pairs", "accuracy", "margin"}, "by_annotator": {A: {...}}}``."""
    if not labels:
        raise ValueError("no labels to compare the reward model with")
    chosen, rejected = (torch.as_tensor(s) for s in score_pairs(reward_model, [pair for _, pair in labels]))
    annotators = [annotator for annotator, _ in labels]

    def metrics(mask: torch.Tensor) -> dict:
        return {"pairs": int(mask.sum()), **preference_metrics(chosen[mask], rejected[mask])}

    return {
        "overall": metrics(torch.ones(len(labels), dtype=torch.bool)),
        "by_annotator": {
            name: metrics(torch.tensor([a == name for a in annotators])) for name in sorted(set(annotators))
        },
    }


def label_stats(path: str | os.PathLike, reward_model: RewardFn | None = None) -> dict:
    """Counts (``labels`` by mode and annotator, ``pairs`` after expansion, ``prompts``), ``annotator_agreement``,
    and with a ``reward_model`` its ``reward_model_agreement`` with the labels."""
    rows = read_preference_rows(path)
    labels = [(row.get("annotator", NO_ANNOTATOR), pair) for row in rows for pair in expand_row(row)]
    stats = {
        "labels": len(rows),
        "pairs": len(labels),
        "prompts": len({pair.prompt for _, pair in labels}),
        "by_mode": dict(sorted(Counter(row.get("mode", "pair") for row in rows).items())),
        "by_annotator": dict(sorted(Counter(row.get("annotator", NO_ANNOTATOR) for row in rows).items())),
        "annotator_agreement": annotator_agreement(labels),
    }
    if reward_model is not None:
        stats["reward_model_agreement"] = reward_model_agreement(reward_model, labels)
    return stats
