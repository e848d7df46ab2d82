"""Vocabulary restriction: which token ids a TextGen env allows as the next action.

Two rules, usable together (then the top-k is taken among the allowed ids):

- ``allowed_tokens``: a fixed list of token ids; every other id is masked out on every step.
- ``mask_top_k`` with ``mask_model``: on each step only the ``k`` most likely next tokens of a frozen reference
  causal LM are allowed. This costs one forward pass of that model over the whole context (prompt + completion so
  far, no KV cache) per env step, batched over the sub-envs of a vector env.

The env exposes the mask of the current observation as ``action_masks()`` (sb3-contrib's MaskablePPO convention)
and as ``info["action_mask"]`` (Gymnasium's convention), both bool ``[V]`` (``[B, V]`` for the vector env, whose
``reset_tensors``/``step_tensors`` give it as a device tensor, not copied to the host), and raises ``ValueError``
on a masked action.

"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from reward_models.common.lm import load_causal_lm, next_token_logits
from reward_models.common.validation import check_positive_int


class VocabularyMask:
    """Computes the allowed next actions of TextGen observations.

    Args:
        vocab_size: size ``V`` of the env's action space.
        allowed_tokens: token ids in ``[0, V)`` that may be generated (default: all).
        top_k: allow only the ``top_k`` most likely next tokens of ``model`` (among ``allowed_tokens``).
        model: the reference causal LM for ``top_k``: a ``PreTrainedModel``, hub id, folder or ``"smollm2"``.
            It is moved to the device of the observations on first use.
    """

    def __init__(
        self,
        vocab_size: int,
        allowed_tokens: Sequence[int] | None = None,
        top_k: int | None = None,
        model: str | os.PathLike | nn.Module | None = None,
    ) -> None:
        self.vocab_size = int(vocab_size)
        allowed_tokens = check_mask_options(allowed_tokens, top_k, model)
        self.allowed = torch.ones(self.vocab_size, dtype=torch.bool)
        if allowed_tokens is not None:
            if min(allowed_tokens) < 0 or max(allowed_tokens) >= self.vocab_size:
                bad = min(allowed_tokens) if min(allowed_tokens) < 0 else max(allowed_tokens)
                raise ValueError(f"allowed_tokens must be token ids in [0, vocab_size={self.vocab_size}), got {bad}")
            self.allowed[:] = False
            self.allowed[torch.as_tensor(allowed_tokens)] = True
        self.top_k = None if top_k is None else min(int(top_k), int(self.allowed.sum()))
        self.model = None if model is None else load_causal_lm(model, argument="mask_model")

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """bool ``[B, V]``: the allowed next tokens for observations ``input_ids`` / ``attention_mask`` ``[B, L]``."""
        device = input_ids.device
        if self.allowed.device != device:
            self.allowed = self.allowed.to(device)
        allowed = self.allowed.expand(input_ids.shape[0], -1)
        if self.model is None:
            return allowed.clone()
        if next(self.model.parameters()).device != device:
            self.model.to(device)
        with torch.no_grad():
            logits = next_token_logits(self.model, input_ids, attention_mask)
        V = self.vocab_size
        if logits.shape[1] < V:  # the env's action space is larger than this model's head
            logits = torch.nn.functional.pad(logits, (0, V - logits.shape[1]), value=float("-inf"))
        logits = logits[:, :V].masked_fill(~allowed, float("-inf"))
        top = logits.topk(self.top_k, dim=1).indices
        return torch.zeros_like(allowed).scatter_(1, top, True)


def check_mask_options(
    allowed_tokens: Sequence[int] | None, top_k: int | None, model: str | os.PathLike | nn.Module | None
) -> tuple[int, ...] | None:
    """``allowed_tokens`` as a tuple of ints (``None`` stays ``None``); raise ``ValueError`` when it is not a non-empty
    list of integers, when ``top_k`` is not an integer >= 1, or when only one of ``top_k`` and ``model`` is given.
    The ids are checked against ``vocab_size`` by ``VocabularyMask``."""
    if allowed_tokens is not None:
        ids = np.asarray(list(allowed_tokens))
        if ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"allowed_tokens must be a non-empty list of integer token ids, got {allowed_tokens!r}")
        allowed_tokens = tuple(int(i) for i in ids)
    if top_k is not None:
        check_positive_int("mask_top_k", top_k)
    if (top_k is None) != (model is None):
        raise ValueError("mask_top_k and mask_model go together: give both (top-k of that model) or neither")
    return allowed_tokens


def make_vocabulary_mask(
    vocab_size: int,
    allowed_tokens: Sequence[int] | None,
    top_k: int | None,
    model: str | os.PathLike | nn.Module | None,
) -> VocabularyMask | None:
    """A ``VocabularyMask``, or ``None`` when no restriction is asked for."""
    if allowed_tokens is None and top_k is None and model is None:
        return None
    return VocabularyMask(vocab_size, allowed_tokens, top_k, model)


def check_allowed(action: int, mask: np.ndarray | None) -> None:
    """Raise ``ValueError`` if token ``action`` is masked out by ``mask`` (bool ``[V]``; ``None``: no mask)."""
    if mask is not None and not mask[action]:
        raise ValueError(
            f"action {action} is masked out by the env's vocabulary restriction (allowed_tokens / "
            f"mask_top_k); sample from action_masks() or info['action_mask']"
        )
