"""Advantage estimation on token sequences: masked statistics, whitening, GAE and group baselines.

Shapes: per-token tensors are ``[batch, T]`` with a ``mask`` of the same shape (1 for the agent's tokens, 0 after
the episode ended and on env-inserted tokens); per-sequence tensors are ``[batch]``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Reduce = Callable[[torch.Tensor], torch.Tensor]
"""Sums a tensor over the training processes (``accelerator.reduce(t, "sum")``), so a statistic spans the global
batch; ``None`` means this process's batch is the whole batch."""


def masked_mean(values: torch.Tensor, mask: torch.Tensor, reduce: Reduce | None = None) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is 1 (a 0-dim tensor), over every process's entries when ``reduce``."""
    total, count = (values * mask).sum(), mask.sum()
    if reduce is not None:
        total, count = reduce(torch.stack([total.detach(), count.to(total.dtype)])).unbind()
    return total / count.clamp(min=1)


def masked_var(
    values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True, reduce: Reduce | None = None
) -> torch.Tensor:
    """Variance of ``values`` where ``mask`` is 1; Bessel-corrected when ``unbiased`` and more than one entry."""
    count = mask.sum() if reduce is None else reduce(mask.sum().to(values.dtype))
    variance = masked_mean((values - masked_mean(values, mask, reduce)) ** 2, mask, reduce)
    if unbiased and count > 1:
        variance = variance * count / (count - 1)
    return variance


def whiten(
    values: torch.Tensor,
    mask: torch.Tensor | None = None,
    shift_mean: bool = True,
    eps: float = 1e-8,
    reduce: Reduce | None = None,
) -> torch.Tensor:
    """Scale ``values`` to unit variance over ``mask`` (default: all entries), and to zero mean if ``shift_mean``;
    the statistics span every process's batch when ``reduce`` is given."""
    mask = torch.ones_like(values) if mask is None else mask
    mean, var = masked_mean(values, mask, reduce), masked_var(values, mask, reduce=reduce)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over ``[batch, T]`` token rewards and values.

    The time steps of row ``i`` are the tokens where ``mask[i]`` is 1, in order; they need not be contiguous:
    tokens with mask 0 between them (a chat env's inserted user turns) are not time steps, so the step after an
    agent token is the next agent token. The state after the last one is terminal (value 0). Returns
    ``(advantages, returns)``, both ``[batch, T]`` and zero where ``mask`` is 0; ``returns = advantages + values``
    are the value-function targets.
    """
    # Pack each row's time steps to the left (a stable sort: the identity when they already are a prefix).
    order = torch.sort(mask, dim=1, descending=True, stable=True).indices
    rewards, values, mask = rewards.gather(1, order), values.gather(1, order), mask.gather(1, order)
    T = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(T)):
        next_mask = mask[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        next_value = values[:, t + 1] * next_mask if t + 1 < T else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = (delta + gamma * lam * next_mask * last) * mask[:, t]
        advantages[:, t] = last
    returns = (advantages + values) * mask
    return advantages.scatter(1, order, advantages), returns.scatter(1, order, returns)


def group_advantages(returns: torch.Tensor, group_size: int, method: str, eps: float = 1e-4) -> torch.Tensor:
    """Per-sequence advantages from groups of ``group_size`` consecutive samples of the same prompt.

    ``"rloo"``: ``R_i`` minus the mean of the other ``k - 1`` samples of its group (leave-one-out baseline).
    ``"grpo"``: ``(R_i - mean_group) / (std_group + eps)`` (GRPO's group normalisation, unbiased std).
    ``returns`` is ``[batch]`` with ``batch`` a multiple of ``group_size`` (>= 2).
    """
    if group_size < 2 or returns.shape[0] % group_size:
        raise ValueError(f"group_size must be >= 2 and divide the batch size {returns.shape[0]}, got {group_size}")
    groups = returns.view(-1, group_size)
    mean = groups.mean(dim=1, keepdim=True)
    if method == "rloo":
        advantages = (groups - mean) * group_size / (group_size - 1)
    elif method == "grpo":
        advantages = (groups - mean) / (groups.std(dim=1, keepdim=True) + eps)
    else:
        raise ValueError(f"group baseline method must be 'rloo' or 'grpo', got {method!r}")
    return advantages.reshape(-1)


def explained_variance(predictions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> float:
    """``1 - Var[targets - predictions] / Var[targets]`` over ``mask`` (SB3's metric); NaN when Var[targets] is 0."""
    var_targets = masked_var(targets, mask)
    if var_targets == 0:
        return float("nan")
    return float(1 - masked_var(targets - predictions, mask) / var_targets)
