"""The construction steps of an agent (SB3's ``_setup_model``), each one function with one job.

``BaseAlgorithm._setup_model`` calls them in this order: ``merged_config``, ``peft_config_for``, the
accelerator (``agents.common.distributed.make_accelerator``), ``load_policy``, ``reference_for``,
``optimizer_for`` (``adamw``), ``accelerator.prepare``; after the env, ``kl_controller`` and ``check_gold_fields``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import torch

from agents.common.config import AlgorithmConfig, check_weight_dtype
from agents.common.kl import AdaptiveKLController, FixedKLController
from agents.common.optimizer_in_backward import OptimizerInBackward
from agents.common.policy import AdapterDisabledReference, LMPolicy, is_adapter_folder
from reward_models import check_fields_available
from reward_models.common import resolve_dtype
from text_gym import TextGenChatVectorEnv
from text_gym.chat.gold import CONVERSATIONS_FIELD


def merged_config(
    config_class: type[AlgorithmConfig], config: AlgorithmConfig | None, overrides: dict[str, Any]
) -> AlgorithmConfig:
    """``config`` (default: ``config_class()``) with the keyword ``overrides`` of its fields (SB3 style); a
    ``TypeError`` names unknown fields and lists the valid ones, or a config of another class."""
    if config is not None and not isinstance(config, config_class):
        raise TypeError(f"config must be a {config_class.__name__}, got a {type(config).__name__}")
    unknown = set(overrides) - config_class.field_names()
    if unknown:
        raise TypeError(
            f"unknown {config_class.__name__} fields {sorted(unknown)}; valid: {sorted(config_class.field_names())}"
        )
    return dataclasses.replace(config or config_class(), **overrides)


def peft_config_for(policy: str | os.PathLike | torch.nn.Module, peft_config: Any, config: AlgorithmConfig) -> Any:
    """The LoRA config to train with: ``peft_config``, else the config's ``lora_*`` fields (None for
    ``lora_r=0``), else None for a saved LoRA agent's folder (it brings its own adapters)."""
    if peft_config is not None and config.lora_r > 0:
        raise ValueError(f"pass either peft_config or lora_r > 0 (got both; lora_r={config.lora_r})")
    if peft_config is None and not is_adapter_folder(policy):
        return config.lora_config()
    return peft_config


def load_policy(
    policy: str | os.PathLike | torch.nn.Module, config: AlgorithmConfig, peft_config: Any, value_head: bool
) -> LMPolicy:
    """The ``LMPolicy`` of ``policy`` (weights in ``weight_dtype``, LoRA adapters of ``peft_config``, a value head /
    critic for ``value_head``) with gradient checkpointing when configured. ``ValueError`` for a non-float32
    ``weight_dtype`` without LoRA."""
    module = LMPolicy.from_pretrained(
        policy,
        dtype=resolve_dtype(config.weight_dtype),
        peft_config=peft_config,
        value_head=value_head,
        separate_critic=getattr(config, "separate_critic", False),
        rollout_cache=config.rollout_cache,
    )
    check_weight_dtype(config.weight_dtype, module.is_peft)
    if config.gradient_checkpointing:  # active in train mode only: the update, not the rollout
        lm = module.causal_lm
        # transformers 5.x renamed it (the old name warns); earlier versions have only the old one
        enable = getattr(lm, "activation_checkpointing_enable", None) or lm.gradient_checkpointing_enable
        enable({"use_reentrant": False})
    return module


def reference_for(policy: LMPolicy, config: AlgorithmConfig) -> LMPolicy | AdapterDisabledReference | None:
    """The frozen KL reference: the LoRA policy with its adapters disabled, or a copy of the full policy; None when
    there is no penalty and nothing is measured (no copy, no reference forward)."""
    if not (config.kl_coef > 0 or config.adaptive_kl or config.measure_kl):
        return None
    return AdapterDisabledReference(policy) if policy.is_peft else policy.reference_copy()


def adamw(params: list[torch.nn.Parameter], lr: float, eps: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel where the parameters' device has one (CPU since torch 2.4, CUDA), else the
    default implementation. Fused is TRL's default too: one pass over each tensor instead of foreach's several, about
    6x faster on CPU for SmolLM2-135M (0.7 -> 0.12 s per step, 1 thread), and without foreach's model-sized
    temporary (0.5 GiB less at the step)."""
    try:
        return torch.optim.AdamW(params, lr=lr, eps=eps, weight_decay=weight_decay, fused=True)
    except RuntimeError:  # "`fused=True` requires all the params to be floating point Tensors of supported devices"
        return torch.optim.AdamW(params, lr=lr, eps=eps, weight_decay=weight_decay)


def optimizer_for(
    params: list[torch.nn.Parameter], config: AlgorithmConfig, num_processes: int
) -> torch.optim.Optimizer:
    """The optimizer of ``params``: ``adamw`` with the config's hyperparameters, or with ``optimizer_in_backward``
    one per parameter stepped inside the backward pass (``OptimizerInBackward``; ``ValueError`` with several
    processes, where the step would come before DDP's gradient all-reduce)."""
    make = functools.partial(adamw, lr=config.learning_rate, eps=config.adam_eps, weight_decay=config.weight_decay)
    if not config.optimizer_in_backward:
        return make(params)
    if num_processes > 1:
        raise ValueError(
            f"optimizer_in_backward=True needs one process (got {num_processes}): each parameter would be stepped "
            "before DDP averages its gradient over the processes"
        )
    return OptimizerInBackward(params, make)


def kl_controller(config: AlgorithmConfig) -> FixedKLController:
    """The KL coefficient's controller: adaptive (Ziegler et al.) or fixed."""
    if config.adaptive_kl:
        return AdaptiveKLController(config.kl_coef, config.target_kl, config.kl_horizon)
    return FixedKLController(config.kl_coef)


def check_gold_fields(gold_reward_model: Any, env: Any) -> None:
    """``ValueError`` unless the gold reward model (if any) finds every field it asks for in ``env``'s prompts (a
    chat env's conversations too)."""
    if gold_reward_model is None or env is None:
        return
    chat = [CONVERSATIONS_FIELD] if isinstance(env, TextGenChatVectorEnv) else []
    check_fields_available(gold_reward_model, [*env.task.field_names, *chat], "gold_reward_model")
