"""REINFORCE for language models with a moving-average or a group baseline (RLOO, GRPO-style).

Per rollout: each episode's return is its score minus ``beta`` times its summed per-token KL to the reference;
its advantage is the return minus a baseline; the loss is ``-advantage * log pi(token)`` averaged over generated
tokens, minimised in ``minibatch_size`` steps over the rollout (one pass).

Baselines:

- ``"moving_average"``: an exponential moving average of past mean returns (the first rollout uses its own mean).
- ``"rloo"``: ``group_size`` samples per prompt; the baseline of a sample is the mean return of the other
  ``group_size - 1`` (REINFORCE leave-one-out, Ahmadian et al. 2024).
- ``"grpo"``: ``group_size`` samples per prompt; advantage = (return - group mean) / group std (Shao et al. 2024;
  without GRPO's ratio clipping, and with the KL in the reward like the other baselines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from agents.advantages import group_advantages, masked_mean, whiten
from agents.base import BaseAlgorithm
from agents.config import AlgorithmConfig, _help
from agents.rollout import RolloutBuffer

BASELINES = ("moving_average", "rloo", "grpo")


@dataclass
class REINFORCEConfig(AlgorithmConfig):
    """REINFORCE settings (plus the shared :class:`agents.AlgorithmConfig` ones)."""

    baseline: Literal["moving_average", "rloo", "grpo"] = field(
        default="moving_average",
        metadata=_help(
            "moving_average, rloo (leave-one-out over group_size samples per prompt) or grpo (group normalisation)"
        ),
    )
    group_size: int = field(default=4, metadata=_help("samples per prompt for the rloo / grpo baselines"))
    baseline_decay: float = field(default=0.9, metadata=_help("decay of the moving-average baseline"))
    normalize_advantages: bool = field(
        default=False, metadata=_help("whiten the advantages over each rollout (TRL RLOO's name)")
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}")
        if self.baseline != "moving_average" and (isinstance(self.group_size, bool) or self.group_size < 2):
            raise ValueError(
                f"group_size must be an integer >= 2 for baseline={self.baseline!r}, got {self.group_size}"
            )
        if not 0 <= self.baseline_decay < 1:
            raise ValueError(f"baseline_decay must be in [0, 1), got {self.baseline_decay}")


class REINFORCE(BaseAlgorithm):
    """REINFORCE with an LM policy and a moving-average, RLOO or GRPO baseline. See :class:`agents.BaseAlgorithm`."""

    config_class = REINFORCEConfig
    uses_values = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.baseline_value: float | None = None

    @property
    def group_size(self) -> int:
        return 1 if self.config.baseline == "moving_average" else self.config.group_size

    def algorithm_state(self) -> dict[str, Any]:
        return {"baseline_value": self.baseline_value}

    def load_algorithm_state(self, state: dict[str, Any]) -> None:
        self.baseline_value = state["baseline_value"]

    def train(self, buffer: RolloutBuffer, scores: torch.Tensor, kl: torch.Tensor) -> dict[str, float]:
        cfg = self.config
        mask = buffer.response_mask
        returns = scores - self.kl_ctl.value * kl.sum(1)
        if cfg.baseline == "moving_average":
            mean = float(returns.mean())
            baseline = mean if self.baseline_value is None else self.baseline_value
            advantages = returns - baseline
            self.baseline_value = cfg.baseline_decay * baseline + (1 - cfg.baseline_decay) * mean
        else:
            advantages = group_advantages(returns, cfg.group_size, cfg.baseline)
        if cfg.normalize_advantages:
            advantages = whiten(advantages)

        def loss_fn(index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            input_ids, attention_mask, start = buffer.sequences(index)
            logprobs, _ = self.policy.evaluate_actions(input_ids, attention_mask, start, cfg.temperature)
            m = mask[index]
            loss = -masked_mean(advantages[index, None] * logprobs, m)
            with torch.no_grad():
                log_ratio = (logprobs - buffer.logprobs[index]) * m
                metrics = {"policy_loss": loss, "approx_kl": masked_mean(log_ratio.exp() - 1 - log_ratio, m)}
            return loss, metrics

        metrics = self.run_epochs(buffer, 1, loss_fn)
        metrics["advantage_std"] = float(advantages.std()) if advantages.numel() > 1 else 0.0
        if self.baseline_value is not None:
            metrics["baseline"] = self.baseline_value
        return metrics
