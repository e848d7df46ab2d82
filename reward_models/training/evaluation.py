"""Evaluate any reward model on preference pairs: Bradley–Terry loss, accuracy, margin, agreement with a gold
labeller."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from reward_models.base import RewardFn, check_scores
from reward_models.preferences.pairs import PreferencePair
from reward_models.training.losses import bradley_terry_loss, preference_metrics


def score_pairs(reward_model: RewardFn, pairs: Sequence[PreferencePair]) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``[num_pairs]`` of the chosen and of the rejected completions (one reward-model call for each).

    Raises:
        ValueError: a pair has a conversation prompt (render them first: ``reward_models.render_pairs``).
    """
    prompts = [p.prompt for p in pairs]
    if any(isinstance(prompt, tuple) for prompt in prompts):
        raise ValueError(
            "the pairs have conversation prompts; render them into the text a chat env scores a turn in first "
            "(reward_models.render_pairs(pairs, chat_tokenizer), or --chat-tokenizer on the command line)"
        )
    chosen = check_scores(reward_model(prompts, [p.chosen for p in pairs]), len(pairs))
    rejected = check_scores(reward_model(prompts, [p.rejected for p in pairs]), len(pairs))
    return chosen, rejected


def evaluate_preferences(
    reward_model: RewardFn,
    pairs: Sequence[PreferencePair],
    gold: RewardFn | None = None,
    min_gold_gap: float = 0.5,
    use_margin: bool = False,
    center_rewards_coefficient: float | None = None,
) -> dict[str, float]:
    """Metrics of ``reward_model`` on ``pairs``.

    Always: ``loss`` (Bradley–Terry, with the rows' margins if ``use_margin``), ``accuracy`` (fraction of pairs the
    model orders like the label; a tie counts 1/2), ``margin`` (mean ``r⁺ − r⁻``), ``num_pairs``.
    With a ``gold`` labeller, also ``clear_accuracy`` on the ``num_clear_pairs`` pairs whose gold scores differ by
    at least ``min_gold_gap`` in the labelled direction, and ``gold_accuracy`` (how often gold itself agrees with
    the labels: 1.0 for data that gold labelled).
    """
    if not pairs:
        raise ValueError("pairs must be non-empty")
    chosen, rejected = score_pairs(reward_model, pairs)
    chosen_t, rejected_t = torch.as_tensor(chosen), torch.as_tensor(rejected)
    margin = torch.tensor([p.margin or 0.0 for p in pairs], dtype=torch.float64) if use_margin else None
    metrics = {
        "loss": bradley_terry_loss(chosen_t, rejected_t, margin, center_rewards_coefficient).item(),
        **preference_metrics(chosen_t, rejected_t),
        "num_pairs": float(len(pairs)),
    }
    if gold is not None:
        gold_chosen, gold_rejected = score_pairs(gold, pairs)
        gold_gap = gold_chosen - gold_rejected
        metrics["gold_accuracy"] = preference_metrics(torch.as_tensor(gold_chosen), torch.as_tensor(gold_rejected))[
            "accuracy"
        ]
        clear = gold_gap >= min_gold_gap
        metrics["num_clear_pairs"] = float(clear.sum())
        metrics["clear_accuracy"] = (
            preference_metrics(chosen_t[clear], rejected_t[clear])["accuracy"] if clear.any() else float("nan")
        )
    return metrics


@dataclass
class EvalConfig:
    """Evaluate a reward model on a preference file (agreement with its labels and with a gold labeller)."""

    data: str = field(default="preferences.jsonl", metadata={"help": "preference JSONL file to evaluate on"})
    reward_model: str = field(default="sentiment", metadata={"help": "reward-model spec string to evaluate"})
    gold: str | None = field(
        default="vader", metadata={"help": "gold labeller spec for clear_accuracy (None: skip the gold metrics)"}
    )
    min_gold_gap: float = field(
        default=0.5, metadata={"help": "a pair is 'clear' when gold(chosen) - gold(rejected) >= this"}
    )
    use_margin: bool = field(default=False, metadata={"help": "use the rows' 'margin' in the reported loss"})
    chat_tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "conversation pairs only: the chat env's tokenizer whose chat template renders each conversation "
            "(as in reward train)"
        },
    )
