"""KL estimators and controllers against hand-computed values."""

import math

import pytest
import torch

from agents import AdaptiveKLController, FixedKLController, kl_estimate


def test_k1_and_k3_match_hand_values():
    logp = torch.tensor([[-1.0, -2.0, -0.5]])
    ref = torch.tensor([[-1.5, -1.0, -0.5]])
    # log_ratio = [0.5, -1.0, 0.0]
    assert torch.allclose(kl_estimate(logp, ref, "k1"), torch.tensor([[0.5, -1.0, 0.0]]))
    expected_k3 = [math.exp(-0.5) - 1 + 0.5, math.exp(1.0) - 1 - 1.0, 0.0]
    assert torch.allclose(kl_estimate(logp, ref, "k3"), torch.tensor([expected_k3]))


def test_k3_is_nonnegative_and_both_estimate_the_true_kl():
    torch.manual_seed(0)
    p = torch.softmax(torch.randn(5), 0)
    q = torch.softmax(torch.randn(5), 0)
    true_kl = float((p * (p / q).log()).sum())
    samples = torch.multinomial(p, 200_000, replacement=True)
    logp, logq = p.log()[samples][None], q.log()[samples][None]
    k1, k3 = kl_estimate(logp, logq, "k1"), kl_estimate(logp, logq, "k3")
    assert (k3 >= 0).all()
    assert abs(float(k1.mean()) - true_kl) < 0.01
    assert abs(float(k3.mean()) - true_kl) < 0.01


def test_unknown_estimator_is_rejected():
    with pytest.raises(ValueError, match="kl_estimator"):
        kl_estimate(torch.zeros(1, 1), torch.zeros(1, 1), "k2")


def test_fixed_controller_keeps_its_value():
    controller = FixedKLController(0.1)
    controller.update(100.0, 64)
    assert controller.value == 0.1


def test_adaptive_controller_hand_values():
    controller = AdaptiveKLController(0.2, target=6.0, horizon=10000)
    controller.update(9.0, 100)  # error = clip(9/6 - 1, -0.2, 0.2) = 0.2
    assert controller.value == pytest.approx(0.2 * (1 + 0.2 * 100 / 10000))
    controller.update(5.4, 1000)  # error = 5.4/6 - 1 = -0.1
    assert controller.value == pytest.approx(0.2 * 1.002 * (1 - 0.1 * 1000 / 10000))
    restored = AdaptiveKLController(1.0, 6.0, 10000)
    restored.load_state_dict(controller.state_dict())
    assert restored.value == controller.value
