"""Prefix sharing: rows of a batch that hold the same prompt (a GRPO / RLOO group, ``group_size`` > 1) run it once.

The prompt of each distinct row is forwarded once, its KV cache (a transformers ``DynamicCache``) is expanded to
every row that holds it (``Cache.reorder_cache``: an ``index_select`` on each layer's keys and values), and each
row's own tokens after the prompt run on top of that cache. Under autograd the expansion is differentiable, so the
gradients through the prompt's positions are the sum over every row that attends to them: the same log-probs,
values, losses and gradients as forwarding every row's copy, to float rounding. The rollout uses it for the prefill
(``agents.common.rollout.collect_rollout``), the training forward and the reference for whole sequences
(``LMPolicy.forward``, ``response_hidden``).

It applies to the prompt only: a chat env's later turns differ per row and run per row as before. Which rows share
is read from the tokens themselves (``shared_prompt_rows``), so any batch with repeated prompts shares (a
minibatch that holds part of a group shares within that part) and a batch of distinct prompts runs as before.
"""

from __future__ import annotations

import torch
from torch import nn


def shared_prompt_rows(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The distinct prompts of a batch: ``(rows, inverse)``, where ``rows`` ``[U]`` (long) picks one row of each
    distinct (``prompt_ids``, ``prompt_mask``) pair ``[B, Q]`` and ``inverse`` ``[B]`` (long) maps every row to its
    prompt's position in ``rows``; ``None`` when all ``B`` rows differ (nothing to share)."""
    _, inverse = torch.unique(torch.cat([prompt_ids, prompt_mask.to(prompt_ids.dtype)], 1), dim=0, return_inverse=True)
    count = int(inverse.max()) + 1 if inverse.numel() else 0
    if count == prompt_ids.shape[0]:
        return None
    rows = torch.full((count,), prompt_ids.shape[0], dtype=torch.long, device=prompt_ids.device)
    rows.scatter_reduce_(0, inverse, torch.arange(prompt_ids.shape[0], device=prompt_ids.device), "amin")
    return rows, inverse


def caches_through_training(backbone: nn.Module) -> bool:
    """False when ``backbone`` would drop a KV cache in this forward: transformers turns the cache off under
    gradient checkpointing in training mode with gradients on."""
    # transformers 5.x renamed it (the old name warns); earlier versions have only the old one
    name = (
        "is_activation_checkpointing"
        if hasattr(type(backbone), "is_activation_checkpointing")
        else "is_gradient_checkpointing"
    )
    checkpointing = getattr(backbone, name, False)
    return not (checkpointing and backbone.training and torch.is_grad_enabled())


def response_hidden(
    backbone: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    response_start: int,
    cache_keyword: str,
    share_prompt: bool = True,
) -> torch.Tensor:
    """The backbone's last hidden states ``[B, T, H]`` at positions ``response_start - 1 .. S - 2`` of ``input_ids``
    ``[B, S]`` (the states that predict the ``T = S - response_start`` response tokens).

    With ``share_prompt`` (and rows that repeat a prompt, and a backbone that keeps a KV cache in this forward) the
    prompt positions ``:response_start`` run once per distinct prompt and the rest on their expanded cache;
    otherwise one forward of the whole batch. ``attention_mask`` / ``position_ids`` ``[B, S]`` cover prompt and
    response; ``cache_keyword`` is the backbone's name for the cache argument (``cache`` or ``past_key_values``).
    """
    shared = None
    if share_prompt and response_start < input_ids.shape[1] and caches_through_training(backbone):
        shared = shared_prompt_rows(input_ids[:, :response_start], attention_mask[:, :response_start])
    if shared is None:
        hidden = backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state
        return hidden[:, response_start - 1 : -1]
    from transformers import DynamicCache

    rows, inverse = shared
    cache = DynamicCache()
    prompt = backbone(
        input_ids=input_ids[rows, :response_start],
        attention_mask=attention_mask[rows, :response_start],
        position_ids=position_ids[rows, :response_start],
        use_cache=True,
        **{cache_keyword: cache},
    )
    cache.reorder_cache(inverse)  # each layer's keys / values index_select-ed to the B rows (differentiable)
    response = backbone(
        input_ids=input_ids[:, response_start:],
        attention_mask=attention_mask,
        position_ids=position_ids[:, response_start:],
        use_cache=True,
        **{cache_keyword: cache},
    ).last_hidden_state
    last_prompt_state = prompt.last_hidden_state[:, -1:].index_select(0, inverse)
    return torch.cat([last_prompt_state, response[:, :-1]], dim=1)
