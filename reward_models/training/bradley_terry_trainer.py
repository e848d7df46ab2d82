"""``BradleyTerryTrainer``: a ``transformers.Trainer`` with the Bradley–Terry loss, and its pieces: the collator of
preference pairs, the evaluation metrics and the console output of ``train_reward_model``.

Kept apart from ``trainer.py`` so that ``import reward_models`` does not import ``transformers.Trainer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import Trainer, TrainerCallback

from reward_models.models.hf import HFRewardModel
from reward_models.preferences.pairs import PreferencePair
from reward_models.training.losses import bradley_terry_loss, preference_metrics


@dataclass
class PreferenceCollator:
    """Batch preference pairs for ``BradleyTerryTrainer``.

    Returns ``{"margin": [batch], "inputs": encoded [2 * batch, seq]}``: the chosen completions' rows first, then
    the rejected ones', tokenized the way ``reward_model`` scores (one forward pass for both); ``margin`` holds the
    rows' margins when ``use_margin`` (missing margins count 0), else zeros.
    """

    reward_model: HFRewardModel
    use_margin: bool = False

    def __call__(self, pairs: list[PreferencePair]) -> dict[str, Any]:
        margins = [(p.margin or 0.0) if self.use_margin else 0.0 for p in pairs]
        completions = [p.chosen for p in pairs] + [p.rejected for p in pairs]
        return {
            "margin": torch.tensor(margins, dtype=torch.float32),
            "inputs": self.reward_model.encode([p.prompt for p in pairs] * 2, completions),
        }


class BradleyTerryTrainer(Trainer):
    """A ``transformers.Trainer`` whose loss is ``reward_models.bradley_terry_loss`` on collated pairs.

    Args:
        reward_model: reads the reward from the model's logits (``HFRewardModel.head_output``).
        center_rewards_coefficient: weight of the centering term ``mean((r⁺ + r⁻)²)`` (None: off).
        *args, **kwargs: ``Trainer``'s; the data collator must be a ``PreferenceCollator``.

    Evaluation predictions are the rewards ``[num_pairs, 2]`` (chosen, rejected), for ``compute_metrics``.
    """

    def __init__(
        self, *args: Any, reward_model: HFRewardModel, center_rewards_coefficient: float | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.reward_model = reward_model
        self.center_rewards_coefficient = center_rewards_coefficient

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean Bradley–Terry loss of the batch; with ``return_outputs`` also ``{"rewards": [batch, 2]}``."""
        rewards = self.reward_model.head_output(model(**inputs["inputs"]).logits).float()
        chosen, rejected = rewards.chunk(2)
        loss = bradley_terry_loss(chosen, rejected, inputs["margin"], self.center_rewards_coefficient)
        return (loss, {"rewards": torch.stack([chosen, rejected], dim=1)}) if return_outputs else loss

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Loss, rewards ``[batch, 2]`` and placeholder labels ``[batch]`` (the label is "chosen wins")."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
        if prediction_loss_only:
            return loss.detach(), None, None
        rewards = outputs["rewards"].detach()
        return loss.detach(), rewards, torch.ones(len(rewards), device=rewards.device)


def compute_metrics(prediction: Any) -> dict[str, float]:
    """``accuracy``, ``margin`` (``reward_models.preference_metrics``) and ``num_pairs`` of evaluation
    rewards ``[num_pairs, 2]`` (an ``EvalPrediction``; ``Trainer`` adds ``loss``)."""
    rewards = torch.as_tensor(np.asarray(prediction.predictions))
    return {**preference_metrics(rewards[:, 0], rewards[:, 1]), "num_pairs": float(len(rewards))}


class ConsoleProgress(TrainerCallback):
    """The console output of a run: one progress bar, a line per evaluation, a line when stopping early."""

    def __init__(self, metric: str, patience: int | None) -> None:
        self.metric, self.patience, self.bar, self.best = metric, patience, None, None

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        self.bar = tqdm(total=state.max_steps, desc="reward model", unit="step")

    def on_step_end(self, args, state, control, **kwargs) -> None:
        self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if logs and "loss" in logs:
            self.bar.set_postfix(epoch=f"{state.epoch:.2f}", loss=f"{logs['loss']:.3f}")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs) -> None:
        value = metrics[f"eval_{self.metric}"]
        improved = self.best is None or (value > self.best if args.greater_is_better else value < self.best)
        self.best = value if improved else self.best
        tqdm.write(
            f"step {state.global_step}: eval loss {metrics['eval_loss']:.4f}  accuracy {metrics['eval_accuracy']:.4f}"
            f"  margin {metrics['eval_margin']:.3f}{'  (best)' if improved else ''}"
        )

    def on_train_end(self, args, state, control, **kwargs) -> None:
        self.bar.close()
        if state.global_step < state.max_steps:
            tqdm.write(
                f"early stopping at step {state.global_step}: no better eval {self.metric} in {self.patience} "
                "evaluations"
            )
