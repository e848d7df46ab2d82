"""KL between the policy and the frozen reference: per-token estimators and the KL-coefficient controllers.

Per-token estimators of ``KL(pi || pi_ref)`` from the log-probs of the *sampled* tokens (Schulman, "Approximating
KL divergence"), with ``log_ratio = logp - ref_logp``:

- ``k1 = log_ratio``: unbiased, can be negative per token; TRL's default for the reward penalty.
- ``k3 = exp(-log_ratio) - 1 + log_ratio``: unbiased and always >= 0, lower variance.

Controllers follow Ziegler et al. (2019): a fixed coefficient, or one adapted so the measured KL tracks a target.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

KLEstimator = Literal["k1", "k3"]
KL_ESTIMATORS: tuple[str, ...] = get_args(KLEstimator)


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: KLEstimator = "k1") -> torch.Tensor:
    """Per-token KL estimate ``[batch, T]`` from the log-probs ``[batch, T]`` of the sampled tokens (nats)."""
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")


def check_kl_coef(kl_coef: float) -> None:
    """Raise a ValueError unless ``kl_coef`` (the KL penalty coefficient beta) is a number >= 0."""
    if not kl_coef >= 0:
        raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")


class FixedKLController:
    """A constant KL coefficient ``beta``."""

    def __init__(self, kl_coef: float) -> None:
        check_kl_coef(kl_coef)
        self.value = float(kl_coef)

    def update(self, current_kl: float, n_steps: int) -> None:
        """No-op: the coefficient stays fixed."""

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = float(state["value"])


class AdaptiveKLController(FixedKLController):
    """Ziegler et al.'s proportional controller: ``beta *= 1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon``.

    Args:
        kl_coef: initial coefficient.
        target: KL per sequence (nats) the controller steers towards.
        horizon: how many samples (sequences) it takes to correct the coefficient by the clipped error.
    """

    def __init__(self, kl_coef: float, target: float, horizon: float) -> None:
        super().__init__(kl_coef)
        if target <= 0 or horizon <= 0:
            raise ValueError(f"target_kl and kl_horizon must be > 0, got {target} and {horizon}")
        self.target, self.horizon = float(target), float(horizon)

    def update(self, current_kl: float, n_steps: int) -> None:
        """Adapt the coefficient after a batch of ``n_steps`` sequences whose mean KL was ``current_kl``."""
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
