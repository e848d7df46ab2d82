"""Reward shaping's pure functions against hand-computed numbers, and the score statistics' checkpoint state."""

import math

import numpy as np
import pytest
import torch

from agents.common.reward_shaping import (
    ScoreStats,
    kl_penalized_rewards,
    missing_eos_penalty,
    normalized_scores,
    rewards_summing_to,
    token_kl,
)

MASK = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 1.0]])  # row 1: an env-inserted token at column 1


def test_token_kl_k1_and_k3_at_the_agents_tokens_only():
    logprobs = torch.tensor([[-1.0, -2.0, -0.5, 0.0], [-1.0, -3.0, -2.0, -1.0]])
    ref = torch.tensor([[-1.5, -1.0, -0.5, -9.0], [-0.5, -1.0, -2.0, -2.0]])
    k1 = torch.tensor([[0.5, -1.0, 0.0, 0.0], [-0.5, 0.0, 0.0, 1.0]])
    assert torch.equal(token_kl(logprobs, ref, MASK, "k1"), k1)
    # k3 = exp(-r) - 1 + r: r = 0.5 -> e^-0.5 - 0.5, r = -1 -> e - 2, r = 1 -> e^-1
    k3 = torch.tensor([[math.exp(-0.5) - 0.5, math.e - 2, 0.0, 0.0], [math.exp(0.5) - 1.5, 0.0, 0.0, math.exp(-1)]])
    assert torch.allclose(token_kl(logprobs, ref, MASK, "k3"), k3)
    assert torch.equal(token_kl(logprobs, None, MASK, "k1"), torch.zeros(2, 4))


def test_kl_penalty_per_token_and_per_episode():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    kl = torch.tensor([[0.5, -1.0, 0.25], [1.0, 0.0, 0.0]])
    assert torch.equal(kl_penalized_rewards(rewards, kl, 0.1), torch.tensor([[-0.05, 0.1, 0.975], [-0.1, 2.0, 0.0]]))
    assert torch.allclose(kl_penalized_rewards(rewards.sum(1), kl.sum(1), 0.1), torch.tensor([1.025, 1.9]))


def test_missing_eos_penalty_spares_finished_episodes():
    scores = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0])
    reasons = ["eos", "max_new_tokens", "max_turns", "user_ended", "context_full"]
    assert torch.equal(missing_eos_penalty(scores, reasons, 0.5), torch.tensor([1.0, 0.5, 1.0, 1.0, 0.5]))
    assert missing_eos_penalty(scores, reasons, None) is scores


def test_normalized_scores():
    assert torch.equal(normalized_scores(torch.tensor([3.0, -1.0]), 1.0, 2.0), torch.tensor([1.0, -1.0]))


def test_rewards_summing_to_moves_the_difference_onto_the_last_agent_token():
    rewards = torch.tensor([[0.0, 0.0, 2.0, 0.0], [1.0, 0.0, 0.0, 3.0]])  # row 1: a turn reward, then the final one
    shaped = rewards_summing_to(rewards, MASK, torch.tensor([1.5, 2.0]), scale=2.0)
    # row 0: last agent token is column 2 -> 1.5; row 1: rewards / 2 = [0.5, 0, 0, 1.5], last (column 3) -> 2 - 0.5
    assert torch.equal(shaped, torch.tensor([[0.0, 0.0, 1.5, 0.0], [0.5, 0.0, 0.0, 1.5]]))
    assert torch.equal(shaped.sum(1), torch.tensor([1.5, 2.0]))


def test_score_stats_round_trip_their_state_exactly():
    stats = ScoreStats()
    stats.update(np.array([1.0, 2.0, 4.0]))
    assert stats.std == pytest.approx(math.sqrt(float(stats.var) + 1e-8))
    restored = ScoreStats()
    restored.load_state_dict(stats.state_dict())
    for other in (stats, restored):
        other.update(np.array([0.5, -3.0]))
    assert (float(restored.mean), float(restored.var), restored.count) == (
        float(stats.mean),
        float(stats.var),
        stats.count,
    )
