"""Bradley–Terry loss and preference metrics on hand-made cases."""

import math

import pytest
import torch

from reward_models import bradley_terry_loss, preference_metrics


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_bt_loss_matches_hand_computation():
    chosen, rejected = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([0.0, 0.0, 1.0])
    expected = -(log_sigmoid(2.0) + log_sigmoid(0.0) + log_sigmoid(-2.0)) / 3
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(expected, rel=1e-6)
    assert bradley_terry_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(math.log(2), rel=1e-6)


def test_bt_loss_margin_and_centering():
    chosen, rejected = torch.tensor([3.0, 1.0]), torch.tensor([1.0, 0.0])
    margin = torch.tensor([1.0, 0.5])
    expected = -(log_sigmoid(3.0 - 1.0 - 1.0) + log_sigmoid(1.0 - 0.0 - 0.5)) / 2
    assert bradley_terry_loss(chosen, rejected, margin).item() == pytest.approx(expected, rel=1e-6)
    centered = bradley_terry_loss(chosen, rejected, margin, center_rewards_coefficient=0.1).item()
    assert centered == pytest.approx(expected + 0.1 * ((4.0**2 + 1.0**2) / 2), rel=1e-6)


def test_bt_loss_gradient_pushes_chosen_up():
    chosen = torch.tensor([0.5], requires_grad=True)
    rejected = torch.tensor([0.0], requires_grad=True)
    bradley_terry_loss(chosen, rejected).backward()
    assert chosen.grad.item() == pytest.approx(-(1 - torch.sigmoid(torch.tensor(0.5)).item()), rel=1e-6)
    assert rejected.grad.item() == pytest.approx(-chosen.grad.item(), rel=1e-6)


def test_preference_metrics_accuracy_ties_and_margin():
    metrics = preference_metrics(torch.tensor([1.0, 2.0, 0.0, 5.0]), torch.tensor([0.0, 3.0, 0.0, 1.0]))
    assert metrics["accuracy"] == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    assert metrics["margin"] == pytest.approx((1 - 1 + 0 + 4) / 4)
