"""PPO's clipped policy / value losses and the REINFORCE loss against hand-computed numbers."""

import math

import pytest
import torch

from agents import clipped_policy_loss, clipped_value_loss, reinforce_loss, token_mean

MASK = torch.tensor([[1.0, 1.0, 0.0]])


def test_clipped_policy_loss_by_hand():
    # ratios exp(0.5)=1.6487 (clipped to 1.2), exp(-0.5)=0.6065 (clipped to 0.8); third token masked out.
    logprobs = torch.tensor([[0.5, -0.5, 3.0]])
    old = torch.zeros(1, 3)
    advantages = torch.tensor([[1.0, 1.0, 100.0]])
    loss, metrics = clipped_policy_loss(logprobs, old, advantages, MASK, clip_range=0.2)
    # token 1: max(-1.6487, -1.2) = -1.2; token 2: max(-0.6065, -0.8) = -0.6065
    assert float(loss) == pytest.approx((-1.2 - math.exp(-0.5)) / 2, abs=1e-6)
    expected_kl = ((math.exp(0.5) - 1 - 0.5) + (math.exp(-0.5) - 1 + 0.5)) / 2
    assert float(metrics["approx_kl"]) == pytest.approx(expected_kl, abs=1e-6)
    assert float(metrics["clip_fraction"]) == pytest.approx(1.0)
    # Negative advantage: token 1 max(1.6487, 1.2) = 1.6487, token 2 max(0.6065, 0.8) = 0.8
    loss, _ = clipped_policy_loss(logprobs, old, -advantages, MASK, clip_range=0.2)
    assert float(loss) == pytest.approx((math.exp(0.5) + 0.8) / 2, abs=1e-6)
    # An explicit token count (data parallel) replaces the mask's count.
    loss, _ = clipped_policy_loss(logprobs, old, advantages, MASK, clip_range=0.2, token_count=4.0)
    assert float(loss) == pytest.approx((-1.2 - math.exp(-0.5)) / 4, abs=1e-6)


def test_clipped_value_loss_by_hand():
    values = torch.tensor([[1.0, 0.0, 9.0]])
    old = torch.tensor([[0.5, 0.5, 0.0]])
    returns = torch.tensor([[2.0, -1.0, 0.0]])
    # unclipped errors 1 and 1; clipped values 0.7 and 0.3 -> errors 1.69 and 1.69; max -> 1.69 each.
    assert float(clipped_value_loss(values, old, returns, MASK, 0.2)) == pytest.approx(0.5 * 1.69, abs=1e-6)
    assert float(clipped_value_loss(values, old, returns, MASK, None)) == pytest.approx(0.5 * 1.0, abs=1e-6)


def test_reinforce_loss_and_token_mean_by_hand():
    logprobs = torch.tensor([[-1.0, -2.0, -5.0], [-0.5, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    advantages = torch.tensor([2.0, -1.0])
    # tokens: -2*-1 = 2, -2*-2 = 4, 1*-0.5 = -0.5 -> mean over 3 tokens
    assert float(reinforce_loss(logprobs, advantages, mask)) == pytest.approx(5.5 / 3)
    assert float(token_mean(torch.ones(1, 3), torch.zeros(1, 3))) == 0.0  # no tokens: 0, not NaN
