"""A LoRA policy's adapters merged into its base weights while it is sampled without gradients (rollouts,
evaluation), so each linear layer is one matmul instead of the base matmul plus the two adapter matmuls.

``merged_adapters(policy)`` is the one context manager for it: on entry every LoRA layer's base weight (and bias) is
copied, then peft's ``merge_adapter`` adds the adapters' update into it in place; on exit (or at
``restore_adapters``, whichever comes first) each layer's peft ``unmerge`` marks it unmerged and the copies are
written back, so the base weights are bit for bit what they were. Subtracting the update again (peft's unmerge alone)
is not exact: its rounding error accumulates over the updates (measured on a 2-layer Llama, LoRA r=8, the adapters
moved by 0.05 x N(0, 1) per entry between 50 merge/unmerge cycles: float32 base weights drift by 2e-6 relative,
bfloat16 ones by 0.16 relative, an error the frozen KL reference would inherit). The price is one transient copy
of the adapted base weights while merged (SmolLM2-135M, every linear layer: 0.42 GB in float32, 0.21 GB in
bfloat16), and the base tensors keep their storage (a compiled decode step or CUDA graph still sees them).

While merged, a forward computes no adapter gradients and the adapter-disabled reference would see the adapters, so
``AdapterDisabledReference`` restores the base first (``restore_adapters``), and the learn loop leaves the block
before the update.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from agents.common.policy import LMPolicy

_SAVED: weakref.WeakKeyDictionary[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]] = weakref.WeakKeyDictionary()
"""peft model -> (base parameter, its copy) of every LoRA layer's base weight and bias, while merged."""


def _lora_layers(model: nn.Module) -> list[nn.Module]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [module for module in model.modules() if isinstance(module, BaseTunerLayer)]


def adapters_merged(policy: LMPolicy) -> bool:
    """True while ``merged_adapters`` holds ``policy``'s adapters merged into its base weights."""
    return policy.model in _SAVED


@torch.no_grad()
def merge_adapters(policy: LMPolicy) -> None:
    """Merge ``policy``'s active adapters into its base weights, in place, after copying those weights (see the
    module docstring); ``ValueError`` for a policy without adapters or one already merged."""
    if not policy.is_peft:
        raise ValueError("merge_adapters needs a LoRA policy (a peft model); full fine-tuning has no adapters")
    if adapters_merged(policy):
        raise ValueError("the policy's adapters are already merged")
    saved = []
    for layer in _lora_layers(policy.model):
        base = layer.get_base_layer()
        for tensor in (base.weight, getattr(base, "bias", None)):
            if tensor is not None:
                saved.append((tensor, tensor.detach().clone()))
    _SAVED[policy.model] = saved
    try:
        policy.model.merge_adapter()
    except BaseException:
        restore_adapters(policy)
        raise


@torch.no_grad()
def restore_adapters(policy: LMPolicy) -> None:
    """Undo ``merge_adapters``: the layers unmerged (peft's state) and the base weights restored bit for bit from
    their copies, which are freed. A no-op when the adapters are not merged."""
    saved = _SAVED.pop(policy.model, None)
    if saved is None:
        return
    for layer in _lora_layers(policy.model):
        if layer.merged:
            layer.unmerge()
    for tensor, copy in saved:
        tensor.data.copy_(copy)  # into the parameter's current storage, whatever peft did with it


@contextlib.contextmanager
def merged_adapters(policy: LMPolicy, enabled: bool = True) -> Iterator[bool]:
    """The block runs with ``policy``'s adapters merged into its base weights when ``enabled`` and the policy has
    adapters (a no-op otherwise: full fine-tuning has nothing to merge); on exit, normal or by an exception, the
    base weights are restored bit for bit (``restore_adapters``). Yields whether it merged. For forwards without
    gradients only (rollouts, evaluation): a merged forward trains no adapter."""
    merge = enabled and policy.is_peft
    if merge:
        merge_adapters(policy)
    try:
        yield merge
    finally:
        if merge:
            restore_adapters(policy)
