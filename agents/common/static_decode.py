"""The static-cache rollout path: a KV cache preallocated for the whole episode (a transformers ``StaticCache``) and,
optionally, the one-token decode step compiled with ``torch.compile`` (CUDA graphs on CUDA), as
``model.generate(cache_implementation="static")`` does.

Why: on a GPU the eager token loop of a rollout is bound by kernel launches (one small launch per op per layer per
token), not by the model's arithmetic. A ``DynamicCache`` grows by concatenation, so every step has new shapes and
cannot be captured; a ``StaticCache`` keeps fixed-shape tensors at fixed addresses (new keys/values are copied in
place), so the decode step has the same shapes at every token and can be replayed as one CUDA graph.

What it costs: the cache is allocated at once for ``max_length`` = prompt width + ``max_new_tokens`` positions
(``2 x layers x B x kv_heads x max_length x head_dim`` elements in the compute dtype) and kept between rollouts, and
every decode step attends over all ``max_length`` positions (the unused ones masked out); compiling takes time at the
first rollout (150 s for SmolLM2-135M on a 2-core CPU) and again for each new batch size.

Shapes: ``B`` episodes, ``S`` new tokens, ``L`` the cache length (``max_length``), ``V`` LM-head rows.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

RolloutCache = Literal["dynamic", "static", "static-compiled"]
"""How a rollout keeps its KV cache: ``dynamic`` (a transformers ``DynamicCache`` grown by one token per step, eager),
``static`` (a ``StaticCache`` preallocated to prompt + max_new_tokens, eager) or ``static-compiled`` (the same with
the one-token decode step compiled by ``torch.compile``: ``mode="reduce-overhead"``, i.e. CUDA graphs, on CUDA;
inductor's default mode on CPU)."""


def check_static_cache_support(causal_lm: nn.Module, rollout_cache: str) -> None:
    """Raise ``ValueError`` naming the model type and the ``rollout_cache`` value when ``causal_lm``'s transformers
    class cannot decode with a ``StaticCache`` (its ``_can_compile_fullgraph`` flag, what ``generate`` checks)."""
    if not getattr(causal_lm, "_can_compile_fullgraph", False):
        model_type = getattr(getattr(causal_lm, "config", None), "model_type", None)
        raise ValueError(
            f"rollout_cache={rollout_cache!r} needs a model whose transformers class supports a StaticCache; "
            f"model type {model_type!r} ({type(causal_lm).__name__}) does not: use rollout_cache='dynamic'"
        )


def compile_options(device: torch.device) -> dict:
    """``torch.compile``'s arguments for the decode step on ``device``: ``mode="reduce-overhead"`` (inductor and
    CUDA graphs) on CUDA, inductor's default mode elsewhere; static shapes."""
    return {"mode": "reduce-overhead" if device.type == "cuda" else "default", "dynamic": False}


class StaticRolloutCache:
    """The ``StaticCache`` a policy's rollouts reuse, and its compiled decode step.

    One cache is kept and emptied (``reset``, in place) at the start of each rollout, so its tensors keep their
    addresses across rollouts (what CUDA graphs replay on); it is rebuilt when the batch size, length, device or
    compute dtype (autocast) changes.
    """

    def __init__(self, rollout_cache: str) -> None:
        self.rollout_cache = rollout_cache
        self.cache = None
        self._key: tuple | None = None
        self._compiled: Callable | None = None

    def new(self, causal_lm: nn.Module, batch_size: int, max_length: int, device: torch.device):
        """The emptied cache for ``batch_size`` episodes of at most ``max_length`` tokens (prompt + completion)."""
        from transformers import StaticCache

        autocast = torch.is_autocast_enabled(device.type) and torch.get_autocast_dtype(device.type)
        key = (batch_size, max_length, device, autocast)
        if key != self._key:
            cache = StaticCache(config=causal_lm.config, max_cache_len=max_length)
            lengths = [getattr(layer, "max_cache_len", max_length) for layer in cache.layers]  # none: no limit
            short = [length for length in lengths if length < max_length]
            if short:
                model_type = causal_lm.config.model_type
                raise ValueError(
                    f"rollout_cache={self.rollout_cache!r}: model type {model_type!r} has sliding-window layers of "
                    f"{min(short)} positions, shorter than an episode (max_length={max_length} = prompt + "
                    "max_new_tokens); use rollout_cache='dynamic'"
                )
            self.cache, self._key = cache, key
        self.cache.reset()
        return self.cache

    def step(self, function: Callable, num_new_tokens: int, device: torch.device) -> Callable:
        """``function`` itself, or its compiled version for one-token decode steps of ``static-compiled`` (the
        prefill, whose width changes between rollouts, stays eager, as in ``generate``)."""
        if self.rollout_cache != "static-compiled" or num_new_tokens != 1:
            return function
        if self._compiled is None:
            self._compiled = torch.compile(function, **compile_options(device))
        if device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # the previous step's outputs have been consumed
        return self._compiled


def takes_cache_position(backbone: nn.Module) -> bool:
    """Whether ``backbone.forward`` takes ``cache_position`` (transformers 4.x; 5.x backbones read it from the
    cache)."""
    return "cache_position" in inspect.signature(backbone.forward).parameters


def static_forward_kwargs(
    cache, attention_mask: torch.Tensor, num_new_tokens: int, with_cache_position: bool
) -> dict[str, torch.Tensor]:
    """The mask (and position) arguments of a backbone forward of ``num_new_tokens`` tokens into ``cache``.

    ``attention_mask`` ``[B, past + S]`` covers the cached tokens and the new ones; it is padded with zeros to the
    cache length ``L`` (a static cache attends over all ``L`` positions, the unused ones masked out).
    ``with_cache_position`` adds ``cache_position`` ``[S]`` (past .. past + S - 1).
    """
    length = max(getattr(layer, "max_cache_len", 0) for layer in cache.layers)
    width = attention_mask.shape[1]
    if width > length:
        raise ValueError(f"the episode has {width} tokens, more than the static cache holds ({length})")
    kwargs = {"attention_mask": nn.functional.pad(attention_mask, (0, length - width))}
    if with_cache_position:
        kwargs["cache_position"] = torch.arange(width - num_new_tokens, width, device=attention_mask.device)
    return kwargs
