"""PPO for language models (RLHF-style), trained through a TextGen vector env.

Per rollout: the reward of the agent's token ``t`` is ``-beta * KL_t`` (per-token KL to the frozen reference) plus
the env's reward of that step (a single-turn env: the episode score on the last token; a chat env: each turn's
reward on the token that ended the turn and the conversation reward on the last one); GAE (``gamma``,
``gae_lambda``) over the agent's tokens only (env-inserted tokens, such as a chat env's user turns, are not time
steps, so a turn's value bootstraps from the agent's next token after the user's reply) on the value head's
estimates gives advantages (whitened) and returns; then ``n_epochs`` passes of shuffled minibatches minimise the
clipped policy loss plus ``vf_coef`` times the clipped value loss, both over the agent's tokens only. See Huang et
al., "The N Implementation Details of RLHF with PPO".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from agents.common.action_masks import mask_rows
from agents.common.advantages import explained_variance, gae, whiten
from agents.common.config import AlgorithmConfig, _help
from agents.common.losses import clipped_policy_loss, clipped_value_loss
from agents.common.on_policy import OnPolicyAlgorithm
from agents.common.reward_shaping import kl_penalized_rewards
from agents.common.rollout import RolloutBuffer
from reward_models.common import check_positive_int


@dataclass
class PPOConfig(AlgorithmConfig):
    """PPO settings (plus the shared ``agents.AlgorithmConfig`` ones)."""

    n_epochs: int = field(default=2, metadata=_help("passes over each rollout"))
    gamma: float = field(default=1.0, metadata=_help("discount factor"))
    gae_lambda: float = field(default=0.95, metadata=_help("GAE lambda"))
    clip_range: float = field(default=0.2, metadata=_help("policy ratio clipping epsilon"))
    clip_range_vf: float | None = field(
        default=0.2, metadata=_help("value clipping around the rollout's values (None: no value clipping)")
    )
    vf_coef: float = field(default=0.1, metadata=_help("value loss coefficient"))
    normalize_advantage: bool = field(default=True, metadata=_help("whiten advantages over each rollout"))
    whiten_rewards: bool = field(
        default=False, metadata=_help("scale the per-token rewards to unit variance over each rollout before GAE")
    )
    separate_critic: bool = field(
        default=False, metadata=_help("values from a separate copy of the backbone instead of a head on the shared one")
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("n_epochs", self.n_epochs)
        if not 0 <= self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"gamma and gae_lambda must be in [0, 1], got {self.gamma} and {self.gae_lambda}")
        if self.clip_range <= 0 or (self.clip_range_vf is not None and self.clip_range_vf <= 0):
            raise ValueError(f"clip_range and clip_range_vf must be > 0, got {self.clip_range}, {self.clip_range_vf}")


class PPO(OnPolicyAlgorithm):
    """Proximal Policy Optimization with an LM policy and a value head. See ``agents.BaseAlgorithm``."""

    config_class = PPOConfig
    uses_values = True

    def train(self, buffer: RolloutBuffer, rewards: torch.Tensor, kl: torch.Tensor) -> dict[str, float]:
        cfg = self.config
        mask = buffer.response_mask
        rewards = kl_penalized_rewards(rewards, kl, self.kl_ctl.value)
        reduce = self.reducer.sum if self.num_processes > 1 else None
        if cfg.whiten_rewards:
            rewards = whiten(rewards, mask, shift_mean=False, reduce=reduce)
        advantages, returns = gae(rewards, buffer.values, mask, cfg.gamma, cfg.gae_lambda)
        if cfg.normalize_advantage:
            advantages = whiten(advantages, mask, reduce=reduce)

        def loss_fn(index: torch.Tensor, token_count: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            input_ids, attention_mask, start = buffer.sequences(index)
            allowed = mask_rows(buffer.action_mask, index)
            logprobs, values = self.model(input_ids, attention_mask, start, cfg.temperature, True, allowed)
            m = mask[index]
            policy_loss, metrics = clipped_policy_loss(
                logprobs, buffer.logprobs[index], advantages[index], m, cfg.clip_range, token_count
            )
            value_loss = clipped_value_loss(
                values, buffer.values[index], returns[index], m, cfg.clip_range_vf, token_count
            )
            metrics.update(policy_loss=policy_loss.detach(), value_loss=value_loss.detach())
            return policy_loss + cfg.vf_coef * value_loss, metrics

        metrics = self.run_epochs(buffer, cfg.n_epochs, loss_fn)
        metrics["explained_variance"] = explained_variance(buffer.values, returns, mask)
        return metrics
