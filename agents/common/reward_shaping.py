"""Reward shaping: what the learn loop does to a rollout's env rewards before an algorithm trains on them.

Pure functions of tensors (no agent, no state) except ``ScoreStats``, the running statistics that
``normalize_scores`` divides by. Shapes: ``[B]`` per episode, ``[B, T]`` per response column (nonzero only at the
agent's tokens, where ``response_mask`` is 1.0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.running_mean_std import RunningMeanStd

from agents.common.kl import KLEstimator, kl_estimate

FINISHED_STOP_REASONS = ("eos", "max_turns", "user_ended")
"""Episode stop reasons that do not get ``missing_eos_penalty``: the agent ended it (EOS) or the conversation did (a
chat env's last turn, or the user ending it)."""

SCORE_STD_EPS = 1e-8
"""Added to the running score variance before its square root (no division by zero on constant scores)."""


class ScoreStats(RunningMeanStd):
    """SB3's running mean / variance of episode scores (``shape=()``), with ``state_dict`` / ``load_state_dict``
    for checkpoints (the statistics as Python floats, restored exactly)."""

    def __init__(self) -> None:
        super().__init__(shape=())

    @property
    def std(self) -> float:
        """``sqrt(var + SCORE_STD_EPS)``: what normalised scores are divided by."""
        return math.sqrt(float(self.var) + SCORE_STD_EPS)

    def state_dict(self) -> dict[str, float]:
        return {"mean": float(self.mean), "var": float(self.var), "count": float(self.count)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float64)
        self.var = np.asarray(state["var"], dtype=np.float64)
        self.count = float(state["count"])


def token_kl(
    logprobs: torch.Tensor, ref_logprobs: torch.Tensor | None, response_mask: torch.Tensor, estimator: KLEstimator
) -> torch.Tensor:
    """Per-token KL estimate ``[B, T]`` (nats) at the agent's tokens, 0 elsewhere; all zeros without a reference
    (``ref_logprobs`` None: no penalty)."""
    if ref_logprobs is None:
        return torch.zeros_like(logprobs)
    return kl_estimate(logprobs, ref_logprobs, estimator) * response_mask


def kl_penalized_rewards(rewards: torch.Tensor, kl: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """``rewards - kl_coef * kl``, elementwise: per token ``[B, T]`` (PPO) or per episode ``[B]`` of summed rewards
    and KL (REINFORCE)."""
    return rewards - kl_coef * kl


def missing_eos_penalty(scores: torch.Tensor, stop_reasons: Sequence[str], penalty: float | None) -> torch.Tensor:
    """``scores`` ``[B]`` minus ``penalty`` for each episode whose stop reason is not in ``FINISHED_STOP_REASONS``
    (cut at ``max_new_tokens`` or a stop string, a conversation out of context); unchanged for ``penalty`` None."""
    if penalty is None:
        return scores
    unfinished = torch.as_tensor([r not in FINISHED_STOP_REASONS for r in stop_reasons], device=scores.device)
    return scores - penalty * unfinished.to(scores.dtype)


def normalized_scores(scores: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """``(scores - mean) / std`` ``[B]``."""
    return (scores - mean) / std


def rewards_summing_to(
    rewards: torch.Tensor, response_mask: torch.Tensor, scores: torch.Tensor, scale: float = 1.0
) -> torch.Tensor:
    """Per-token rewards ``[B, T]``: ``rewards / scale``, with each episode's last agent token changed so that the
    episode's rewards sum to ``scores`` ``[B]`` (a single-turn env's reward is then the score at the last token; a
    chat env's per-turn rewards stay at the tokens that ended their turns)."""
    rewards = rewards / scale
    positions = torch.arange(rewards.shape[1], device=rewards.device)
    last = (positions * response_mask).argmax(1, keepdim=True)  # each episode's last agent token
    earlier = rewards.sum(1, keepdim=True) - rewards.gather(1, last)
    return rewards.scatter(1, last, scores.unsqueeze(1) - earlier)
