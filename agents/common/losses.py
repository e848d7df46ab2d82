"""The policy-gradient losses, as plain functions of per-token tensors ``[B, T]`` (mask 1 on generated tokens).

Every loss is a mean over generated tokens: ``sum(loss * mask) / token_count``. ``token_count`` defaults to
``mask.sum()``; data-parallel training passes the minibatch's token count over all processes divided by the
number of processes, so that DDP's gradient average equals the gradient of the token mean of the global minibatch.
"""

from __future__ import annotations

import torch


def token_mean(
    values: torch.Tensor, mask: torch.Tensor, token_count: torch.Tensor | float | None = None
) -> torch.Tensor:
    """``sum(values * mask) / token_count`` (default ``mask.sum()``; at least 1): a 0-dim tensor."""
    count = mask.sum() if token_count is None else torch.as_tensor(token_count, dtype=values.dtype)
    return (values * mask).sum() / count.clamp(min=1)


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
    token_count: torch.Tensor | float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped surrogate (Schulman et al. 2017): the token mean of
    ``max(-A * r, -A * clip(r, 1 - clip_range, 1 + clip_range))`` with ``r = exp(logprobs - old_logprobs)``.

    ``advantages`` is ``[B, T]`` (or ``[B, 1]``, one per sequence). Returns the loss and, without gradients,
    ``approx_kl`` (token mean of ``r - 1 - log r``) and ``clip_fraction`` (share of tokens with ``|r - 1| >
    clip_range``), both over ``token_count`` like the loss.
    """
    log_ratio = (logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    per_token = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip_range, 1 + clip_range))
    loss = token_mean(per_token, mask, token_count)
    with torch.no_grad():
        metrics = {
            "approx_kl": token_mean(ratio - 1 - log_ratio, mask, token_count),
            "clip_fraction": token_mean(((ratio - 1).abs() > clip_range).float(), mask, token_count),
        }
    return loss, metrics


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range_vf: float | None,
    token_count: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """PPO's value loss: ``0.5 *`` the token mean of ``max((v - R)^2, (v_clip - R)^2)`` with ``v_clip = old_v +
    clip(v - old_v, -clip_range_vf, clip_range_vf)``; plain squared error when ``clip_range_vf`` is None."""
    error = (values - returns) ** 2
    if clip_range_vf is not None:
        clipped = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
        error = torch.max(error, (clipped - returns) ** 2)
    return 0.5 * token_mean(error, mask, token_count)


def reinforce_loss(
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    token_count: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """REINFORCE: the token mean of ``-A * logprobs``, with one advantage per sequence (``advantages`` ``[B]``)."""
    return token_mean(-advantages[:, None] * logprobs, mask, token_count)
