"""Bradley–Terry preference loss and the metrics reported next to it."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_loss(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    margin: torch.Tensor | None = None,
    center_rewards_coefficient: float | None = None,
) -> torch.Tensor:
    """Mean of ``-log σ(r⁺ − r⁻ − margin)`` over the batch, plus ``coef · mean((r⁺ + r⁻)²)`` when centering.

    ``chosen``/``rejected`` are rewards ``[batch]``; ``margin`` ``[batch]`` (default 0) asks the chosen reward to
    win by at least that much. The centering term (TRL's ``center_rewards_coefficient``, Eisenstein et al. 2023)
    pulls rewards towards mean 0 without changing which completion is preferred.
    """
    difference = chosen - rejected
    if margin is not None:
        difference = difference - margin
    loss = -F.logsigmoid(difference).mean()
    if center_rewards_coefficient:
        loss = loss + center_rewards_coefficient * ((chosen + rejected) ** 2).mean()
    return loss


def preference_metrics(chosen: torch.Tensor, rejected: torch.Tensor) -> dict[str, float]:
    """``accuracy``: fraction of pairs with ``r⁺ > r⁻`` (a tie counts 1/2); ``margin``: mean ``r⁺ − r⁻``."""
    difference = (chosen - rejected).detach().float()
    wins = (difference > 0).float() + 0.5 * (difference == 0).float()
    return {"accuracy": wins.mean().item(), "margin": difference.mean().item()}
