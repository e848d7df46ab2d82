"""REINFORCE for language models with a moving-average or a group baseline (RLOO), and GRPO's objective
(``agents.GRPO``, in ``grpo.py``, is this code with GRPO's baseline fixed).

Per rollout: each episode's return is the sum of its rewards (its score; a chat env's per-turn rewards and
conversation reward together) minus ``beta`` times its summed per-token KL to the reference over the agent's tokens;
its advantage is the return minus a baseline; the loss is ``-advantage * log pi(token)`` averaged over the agent's
tokens (env-inserted tokens carry no loss), minimised in ``minibatch_size`` steps over the rollout (one pass;
GRPO: see below).

Baselines:

- ``"moving_average"``: an exponential moving average of past mean returns (the first rollout uses its own mean).
- ``"rloo"``: ``group_size`` samples per prompt; the baseline of a sample is the mean return of the other
  ``group_size - 1`` (REINFORCE leave-one-out, Ahmadian et al. 2024).
- ``"grpo"``: GRPO (Shao et al. 2024): ``group_size`` samples per prompt, advantage = (return - group mean) /
  group std, and GRPO's clipped importance-ratio objective (PPO's clipped surrogate without a critic) over
  ``num_iterations`` passes (the paper's mu, TRL's name; with 1 pass of one minibatch the ratio is 1 and
  it is the plain policy gradient). As in TRL's ``loss_type="dapo"`` the loss is a token mean over the minibatch;
  unlike the paper (and like the other baselines here) the KL penalty is in the reward, not in the loss.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from agents.common.action_masks import mask_rows
from agents.common.advantages import group_advantages, whiten
from agents.common.config import AlgorithmConfig, _help
from agents.common.losses import clipped_policy_loss, reinforce_loss, token_mean
from agents.common.on_policy import OnPolicyAlgorithm
from agents.common.reward_shaping import kl_penalized_rewards
from agents.common.rollout import RolloutBuffer
from reward_models.common import check_positive_int


def group_size_field() -> Any:
    """The ``group_size`` field of the group baselines' configs."""
    return field(default=4, metadata=_help("samples per prompt for the rloo / grpo baselines"))


def normalize_advantage_field() -> Any:
    """The ``normalize_advantage`` field of the REINFORCE family's configs."""
    return field(default=False, metadata=_help("whiten the advantages over each rollout (all processes)"))


def num_iterations_field(help_text: str) -> Any:
    """The ``num_iterations`` field (passes over each rollout) of the REINFORCE family's configs."""
    return field(default=1, metadata=_help(help_text))


def clip_range_field() -> Any:
    """The ``clip_range`` field of GRPO's clipped ratio objective."""
    return field(default=0.2, metadata=_help("ratio clipping epsilon of the grpo objective"))


def check_group_fields(config: Any, grouped: bool) -> None:
    """``ValueError`` naming the field for a ``group_size`` < 2 (when ``grouped``), a ``num_iterations`` < 1 or a
    ``clip_range`` <= 0."""
    if grouped and (isinstance(config.group_size, bool) or config.group_size < 2):
        raise ValueError(
            f"group_size must be an integer >= 2 for baseline={config.baseline!r}, got {config.group_size}"
        )
    check_positive_int("num_iterations", config.num_iterations)
    if not config.clip_range > 0:
        raise ValueError(f"clip_range must be > 0, got {config.clip_range}")


@dataclass
class REINFORCEConfig(AlgorithmConfig):
    """REINFORCE settings (plus the shared ``agents.AlgorithmConfig`` ones)."""

    baseline: Literal["moving_average", "rloo", "grpo"] = field(
        default="moving_average",
        metadata=_help(
            "moving_average, rloo (leave-one-out over group_size samples per prompt) or grpo (deprecated: agents.GRPO)"
        ),
    )
    group_size: int = group_size_field()
    baseline_decay: float = field(default=0.9, metadata=_help("decay of the moving-average baseline"))
    normalize_advantage: bool = normalize_advantage_field()
    num_iterations: int = num_iterations_field(
        "passes over each rollout; more than 1 only with baseline grpo (its clipped ratio objective)"
    )
    clip_range: float = clip_range_field()

    def __post_init__(self) -> None:
        super().__post_init__()
        check_group_fields(self, grouped=self.baseline != "moving_average")
        if not 0 <= self.baseline_decay < 1:
            raise ValueError(f"baseline_decay must be in [0, 1), got {self.baseline_decay}")
        if self.num_iterations > 1 and self.baseline != "grpo":
            raise ValueError(
                f"num_iterations={self.num_iterations} needs baseline='grpo' (the plain policy gradient of "
                f"baseline={self.baseline!r} is only valid on its own samples; GRPO: agents.GRPO)"
            )


class REINFORCE(OnPolicyAlgorithm):
    """REINFORCE with an LM policy and a moving-average or RLOO baseline (``baseline="grpo"``: deprecated, use
    ``agents.GRPO``, which runs the same code). See ``agents.BaseAlgorithm``."""

    config_class = REINFORCEConfig
    uses_values = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.baseline_value: float | None = None
        if type(self.config) is REINFORCEConfig and self.config.baseline == "grpo":
            warnings.warn(
                "REINFORCE(baseline='grpo') is deprecated; use agents.GRPO (the same algorithm, saved as GRPO)",
                DeprecationWarning,
                stacklevel=2,
            )

    @property
    def group_size(self) -> int:
        return 1 if self.config.baseline == "moving_average" else self.config.group_size

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "baseline_value": self.baseline_value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.baseline_value = state["baseline_value"]

    def train(self, buffer: RolloutBuffer, rewards: torch.Tensor, kl: torch.Tensor) -> dict[str, float]:
        cfg = self.config
        mask = buffer.response_mask
        returns = kl_penalized_rewards(rewards.sum(1), kl.sum(1), self.kl_ctl.value)
        if cfg.baseline == "moving_average":
            mean = float(self.reducer.mean(returns.mean().double()))
            baseline = mean if self.baseline_value is None else self.baseline_value
            advantages = returns - baseline
            self.baseline_value = cfg.baseline_decay * baseline + (1 - cfg.baseline_decay) * mean
        else:
            advantages = group_advantages(returns, cfg.group_size, cfg.baseline)
        if cfg.normalize_advantage:
            advantages = whiten(advantages, reduce=self.reducer.sum if self.num_processes > 1 else None)

        def loss_fn(index: torch.Tensor, token_count: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            input_ids, attention_mask, start = buffer.sequences(index)
            allowed = mask_rows(buffer.action_mask, index)
            logprobs, _ = self.model(input_ids, attention_mask, start, cfg.temperature, False, allowed)
            m = mask[index]
            if cfg.baseline == "grpo":
                loss, metrics = clipped_policy_loss(
                    logprobs, buffer.logprobs[index], advantages[index, None], m, cfg.clip_range, token_count
                )
            else:
                loss = reinforce_loss(logprobs, advantages[index], m, token_count)
                with torch.no_grad():
                    log_ratio = (logprobs - buffer.logprobs[index]) * m
                    metrics = {"approx_kl": token_mean(log_ratio.exp() - 1 - log_ratio, m, token_count)}
            metrics["policy_loss"] = loss.detach()
            return loss, metrics

        metrics = self.run_epochs(buffer, cfg.num_iterations, loss_fn)
        advantage_std = self.reducer.gather(advantages)
        metrics["advantage_std"] = float(advantage_std.std()) if advantage_std.numel() > 1 else 0.0
        if self.baseline_value is not None:
            metrics["baseline"] = self.baseline_value
        return metrics
