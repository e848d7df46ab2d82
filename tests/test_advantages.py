"""GAE, whitening and group baselines against hand-computed values."""

import pytest
import torch

from agents import explained_variance, gae, group_advantages, masked_mean, whiten


def test_gae_matches_hand_computation_with_episodes_of_different_lengths():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.5, 2.0, 0.0]])
    values = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    gamma, lam = 0.9, 0.8
    advantages, returns = gae(rewards, values, mask, gamma, lam)
    # row 0: deltas d2 = 1 - 0.3, d1 = 0 + 0.9*0.3 - 0.2, d0 = 0 + 0.9*0.2 - 0.1
    d2, d1, d0 = 0.7, 0.27 - 0.2, 0.18 - 0.1
    a2 = d2
    a1 = d1 + gamma * lam * a2
    a0 = d0 + gamma * lam * a1
    # row 1 ends after token 1: d1 = 2 - 0.5 (terminal), d0 = 0.5 + 0.9*0.5 - 0.4
    b1 = 1.5
    b0 = 0.5 + 0.45 - 0.4 + gamma * lam * b1
    expected = torch.tensor([[a0, a1, a2], [b0, b1, 0.0]])
    assert torch.allclose(advantages, expected, atol=1e-6)
    assert torch.allclose(returns, (expected + values) * mask, atol=1e-6)


def test_gae_with_gamma_lambda_one_is_reward_to_go_minus_value():
    rewards = torch.tensor([[1.0, -2.0, 3.0]])
    values = torch.tensor([[0.5, 0.25, -1.0]])
    advantages, _ = gae(rewards, values, torch.ones(1, 3), gamma=1.0, lam=1.0)
    assert torch.allclose(advantages, torch.tensor([[2.0 - 0.5, 1.0 - 0.25, 3.0 + 1.0]]))


def test_whiten_uses_only_masked_entries():
    values = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    out = whiten(values, mask)
    # mean 2, unbiased var 1
    assert torch.allclose(out, torch.tensor([[-1.0, 0.0, 1.0, 0.0]]), atol=1e-6)
    kept = whiten(values, mask, shift_mean=False)
    assert torch.allclose(kept, torch.tensor([[1.0, 2.0, 3.0, 0.0]]), atol=1e-6)
    assert float(masked_mean(values, mask)) == 2.0


def test_group_advantages_rloo_and_grpo():
    returns = torch.tensor([1.0, 2.0, 3.0, 6.0, 0.0, 0.0])
    rloo = group_advantages(returns, 3, "rloo")
    # leave-one-out: 1 - (2+3)/2, 2 - (1+3)/2, 3 - (1+2)/2; second group: 6 - 0, 0 - 3, 0 - 3
    assert torch.allclose(rloo, torch.tensor([-1.5, 0.0, 1.5, 6.0, -3.0, -3.0]))
    grpo = group_advantages(returns, 3, "grpo", eps=0.0)
    assert torch.allclose(grpo[:3], torch.tensor([-1.0, 0.0, 1.0]))
    std = torch.tensor([6.0, 0.0, 0.0]).std()
    assert torch.allclose(grpo[3:], (torch.tensor([6.0, 0.0, 0.0]) - 2.0) / std)
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(returns, 4, "rloo")


def test_explained_variance():
    targets = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    mask = torch.ones(1, 4)
    assert explained_variance(targets, targets, mask) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(1, 4) + 2.5, targets, mask) == pytest.approx(0.0)
