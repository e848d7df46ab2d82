"""Low-rank adapters (LoRA, Hu et al. 2021) for ``torch.nn.Linear`` layers, merged back before saving.

Training only ``W + (alpha / rank) · B A`` keeps the change to every weight matrix at rank ``rank``, so a
fine-tuned model can be shipped as a small delta against its base (see :mod:`reward_models.delta`).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """``base(x) + (alpha / rank) · x Aᵀ Bᵀ`` with ``A`` [rank, in] random and ``B`` [out, rank] zero at start."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(
            torch.empty(rank, base.in_features, dtype=base.weight.dtype, device=base.weight.device)
        )
        self.lora_b = nn.Parameter(
            torch.zeros(base.out_features, rank, dtype=base.weight.dtype, device=base.weight.device)
        )
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    def merged(self) -> nn.Linear:
        """The base layer with the adapter folded into its weight."""
        with torch.no_grad():
            self.base.weight += self.scale * (self.lora_b @ self.lora_a)
        return self.base


def add_lora(model: nn.Module, rank: int, alpha: float, trainable_head_size: int) -> list[str]:
    """Freeze ``model``, put adapters on every ``nn.Linear`` except the head, and leave the head trainable.

    The head is every ``nn.Linear`` with ``out_features == trainable_head_size`` (``num_labels``); it is trained
    in full. Returns the names of the adapted layers; raises if there are none.
    """
    if rank < 1:
        raise ValueError(f"lora rank must be >= 1, got {rank}")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    adapted = []
    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear):
            continue
        if module.out_features == trainable_head_size:
            module.requires_grad_(True)
            continue
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, LoRALinear(module, rank, alpha))
        adapted.append(name)
    if not adapted:
        raise ValueError(
            f"{type(model).__name__} has no torch.nn.Linear layers to put LoRA adapters on; "
            "train it with lora_rank=0 (full fine-tuning)"
        )
    return adapted


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` in ``model`` by its merged ``nn.Linear`` (in place); returns ``model``."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, module.merged())
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model
