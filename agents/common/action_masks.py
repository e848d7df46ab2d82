"""The env's action masks in our agents (the NLPO idea of RL4LMs, Ramamurthy et al. 2023): the rollout samples
from the policy's distribution renormalised over the tokens the env allows, and the update computes log-probs,
ratios and KL (policy and reference) and the rollout's entropy metric under the same masks.

A vocabulary-restricted env (``allowed_tokens``, ``mask_top_k`` with ``mask_model``; see
text_gym/envs/masking.py) gives the mask of each observation as ``info["action_mask"]`` (bool ``[B, V]``, a device
tensor from ``reset_tensors`` / ``step_tensors``). A rollout stores the masks its policy acted under in
``RolloutBuffer.action_mask``, in one of two forms (a *stored mask*):

- bool ``[V]``: one allowed set (``allowed_tokens`` alone), the same at every step of every episode; ``V`` bytes per
  rollout.
- int64 ``[B, T, k]``: the ``k`` allowed ids at each response position (``mask_top_k``; ``k`` is the env's top-k,
  capped at the number of ``allowed_tokens``). Memory: ``8 k`` bytes per position, e.g. 64 episodes x 64 tokens x
  ``k=50``: 1.6 MB, where a bool ``[B, T, V]`` would take ``V`` bytes per position (SmolLM2, ``V=49152``: 201 MB).
  Positions that are not the agent's (env-inserted tokens, padding) hold ids of no meaning (not trained on).

An env without a restriction has no mask: the buffer's field is ``None`` and nothing here runs (no tensor is made).

Log-probs under a mask: ``log p(a) = z_a - logsumexp(z over the allowed ids)``, ``z`` the temperature-scaled
logits. The action's logit is read from the unmasked logits, so a token outside the mask (an env-inserted token,
padding) gets a finite value, which its zero ``response_mask`` removes: no inf or NaN reaches a gradient.

Shapes: ``B`` episodes, ``T`` response positions, ``V`` the env's actions (``action_space.n``, the policy's
``num_actions``), ``W >= V`` the LM-head rows, ``k`` allowed ids per step, ``N`` flattened positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from text_gym import VocabularyMask


def vocabulary_restriction(env: Any) -> VocabularyMask | None:
    """The vocabulary restriction of a TextGen env (its task's ``vocabulary_mask``), ``None`` if it has none."""
    return getattr(getattr(env, "task", None), "vocabulary_mask", None)


def mask_logprobs(logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Next-token log-probs ``[B, W]`` renormalised over the allowed ids.

    Args:
        logprobs: log-probs ``[B, W]`` (ids at or beyond the action space may already be -inf).
        mask: bool ``[V]`` (the same for every row) or ``[B, V]``, ``V <= W``; ids ``>= V`` count as not allowed.

    Returns:
        ``logprobs - logsumexp(logprobs over the allowed ids)`` on the allowed ids, -inf elsewhere.
    """
    width = logprobs.shape[-1]
    if mask.shape[-1] < width:
        mask = torch.nn.functional.pad(mask, (0, width - mask.shape[-1]), value=False)
    masked = logprobs.masked_fill(~mask, float("-inf"))
    return masked - masked.logsumexp(-1, keepdim=True)


def allowed_ids(mask: torch.Tensor, k: int) -> torch.Tensor:
    """int64 ``[B, k]``: the allowed ids of a bool mask ``[B, V]`` with exactly ``k`` allowed ids in each row (what a
    top-k restriction gives), in no particular order."""
    return mask.to(torch.uint8).topk(k, dim=-1, sorted=False).indices


def masked_token_logprobs(logits: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Log-probs ``[N]`` of ``actions`` (int64 ``[N]``) under ``softmax(logits)`` (float ``[N, V]``) restricted to
    ``mask``: bool ``[V]`` (one allowed set) or int64 ``[N, k]`` (the allowed ids of each row)."""
    allowed = logits.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else logits.gather(-1, mask)
    return logits.gather(-1, actions.unsqueeze(-1)).squeeze(-1) - allowed.logsumexp(-1)


def mask_rows(mask: torch.Tensor | None, index: torch.Tensor | slice) -> torch.Tensor | None:
    """The stored mask of the episodes ``index`` (a minibatch): a fixed ``[V]`` mask as it is, per-step ids
    ``[B, T, k]`` their rows; ``None`` stays ``None``."""
    if mask is None or mask.dtype == torch.bool:
        return mask
    return mask[index]


def mask_positions(mask: torch.Tensor, begin: int, end: int) -> torch.Tensor:
    """The stored mask of flattened positions ``begin:end`` (of ``B x T``, row-major): a fixed ``[V]`` mask as it
    is, per-step ids ``[B, T, k]`` as ``[end - begin, k]``."""
    if mask.dtype == torch.bool:
        return mask
    return mask.reshape(-1, mask.shape[-1])[begin:end]


def check_action_masks(action_masks: Any, batch_size: int, width: int, device: torch.device) -> torch.Tensor:
    """``action_masks`` (bool ``[V]`` or ``[B, V]``, an array or tensor, ``V <= width``, the env's number of
    actions) as a bool device tensor.

    Raises:
        ValueError: not bool, a wrong shape, or a row that allows no token.
    """
    array = action_masks.cpu().numpy() if isinstance(action_masks, torch.Tensor) else np.asarray(action_masks)
    if array.dtype != bool or array.ndim not in (1, 2) or array.shape[-1] > width:
        raise ValueError(
            f"action_masks must be a bool array [V] or [{batch_size}, V] with V <= {width} (the env's number of "
            f"actions), got dtype {array.dtype} and shape {array.shape}"
        )
    if array.ndim == 2 and array.shape[0] != batch_size:
        raise ValueError(f"action_masks has {array.shape[0]} rows for {batch_size} observations")
    if not array.any(-1).all():
        raise ValueError("action_masks allows no token in some row; every row needs at least one allowed token")
    return torch.as_tensor(array, device=device)


class RolloutMasks:
    """The env's action masks over one rollout: the mask each next action is sampled under, and what the buffer
    stores (see the module docstring). Built only for a restricted env (``of`` returns ``None`` otherwise).

    Args:
        restriction: the env's vocabulary restriction.
        info: the ``reset_tensors`` info (its ``action_mask`` is the first actions' mask, bool ``[B, V]``).
        num_columns: response columns of the rollout's per-token storage (``max_new_tokens + 1``).
    """

    def __init__(self, restriction: VocabularyMask, info: dict[str, Any], num_columns: int) -> None:
        mask = info["action_mask"]
        self.fixed = restriction.model is None  # allowed_tokens alone: one mask for every step
        self.current = mask[0] if self.fixed else mask  # [V] or [B, V]
        self.top_k = restriction.top_k
        self.ids = None if self.fixed else mask.new_zeros((mask.shape[0], num_columns, self.top_k), dtype=torch.long)

    @classmethod
    def of(cls, env: Any, info: dict[str, Any], num_columns: int) -> RolloutMasks | None:
        """The rollout masks of ``env`` after ``reset_tensors`` gave ``info``; ``None`` for an unrestricted env."""
        restriction = vocabulary_restriction(env)
        return None if restriction is None else cls(restriction, info, num_columns)

    def apply(self, logprobs: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """The next actions' log-probs ``[B, W]`` under the current mask; a per-step mask is recorded at each row's
        response column ``columns`` (int64 ``[B]``, where its action goes)."""
        if self.ids is not None:
            index = columns.view(-1, 1, 1).expand(-1, 1, self.top_k)
            self.ids.scatter_(1, index, allowed_ids(self.current, self.top_k).unsqueeze(1))
        return mask_logprobs(logprobs, self.current)

    def update(self, info: dict[str, Any]) -> None:
        """Take the mask of the observation a ``step_tensors`` call returned (a fixed mask does not change)."""
        if not self.fixed:
            self.current = info["action_mask"]

    def stored(self, num_positions: int) -> torch.Tensor:
        """The buffer's mask: bool ``[V]`` (fixed) or the allowed ids ``[B, num_positions, k]`` of each position."""
        return self.current.clone() if self.fixed else self.ids[:, :num_positions]
