"""The LM policy: a causal language model whose next-token distribution is the action distribution, plus an
optional value head for PPO (on the shared backbone, or on a separate critic backbone), optionally trained through
LoRA adapters (``peft``).

``LMPolicy.forward`` is the training computation (log-probs and values of given sequences), so a wrapper such as
DDP that synchronises gradients through ``forward`` sees all of it; ``LMPolicy.next_token_logprobs`` is the
KV-cached forward the rollout acts with.

Shapes: ``B`` sequences, ``S`` positions, ``T`` response tokens, ``V`` LM-head rows, ``H`` hidden size.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import os
from pathlib import Path
from typing import Any, get_args

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.checkpoint import checkpoint

from agents.common.action_masks import mask_positions, masked_token_logprobs
from agents.common.merged_adapters import restore_adapters
from agents.common.prefix_sharing import response_hidden
from agents.common.static_decode import (
    RolloutCache,
    StaticRolloutCache,
    check_static_cache_support,
    static_forward_kwargs,
    takes_cache_position,
)
from reward_models.common import hf_progress_bars_disabled, load_tokenizer, resolve_model_path
from reward_models.common.lm import load_causal_lm, position_ids_from_mask
from reward_models.common.quiet import peft_checkpointing_warning_silenced

VALUE_HEAD_FILE = "value_head.safetensors"
CRITIC_FILE = "critic.safetensors"
ADAPTER_CONFIG_FILE = "adapter_config.json"
BASE_MODEL_FOLDER = "base_model"
"""Where ``LMPolicy.save_pretrained`` puts the base weights of a LoRA policy whose base has no name to load it by
(a model built in memory); a named base (hub id, local folder) is referenced by name instead."""


def lm_head_size(model: nn.Module) -> int:
    """Rows of the model's output embedding: the largest action space it can act in."""
    return int(model.get_output_embeddings().weight.shape[0])


def _cache_keyword(backbone: nn.Module) -> str:
    """The name under which this transformers version's backbone takes the KV cache: ``cache`` from 5.x (where
    ``past_key_values`` is deprecated), ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(backbone.forward).parameters else "past_key_values"


def _chunk_logprobs(
    head: nn.Module,
    hidden: torch.Tensor,
    actions: torch.Tensor,
    temperature: float,
    num_actions: int,
    action_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    logits = head(hidden)[..., :num_actions].float() / temperature
    if action_mask is not None:
        return masked_token_logprobs(logits, actions, action_mask)
    return logits.gather(-1, actions.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)


def selective_logprobs(
    head: nn.Module,
    hidden: torch.Tensor,
    actions: torch.Tensor,
    temperature: float = 1.0,
    num_actions: int | None = None,
    chunk_size: int = 256,
    action_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Log-probs ``[B, T]`` of ``actions`` ``[B, T]`` under ``log_softmax(head(hidden)[..., :num_actions] / T)``
    without materialising the ``[B, T, V]`` logits: ``chunk_size`` token positions at a time, and under autograd
    each chunk is recomputed in the backward pass (activation checkpointing) instead of stored, so the live
    float32 logits never exceed ``chunk_size x V``.

    ``hidden`` is ``[B, T, H]``; ``num_actions`` (default ``V``) keeps the first ``num_actions`` LM-head rows;
    ``action_mask`` (a stored mask of agents/common/action_masks.py: bool ``[num_actions]`` or allowed ids
    ``[B, T, k]``) renormalises each position's distribution over its allowed ids.
    """
    num_actions = num_actions or int(head.weight.shape[0])
    flat_hidden = hidden.reshape(-1, hidden.shape[-1])
    flat_actions = actions.reshape(-1)
    grad = torch.is_grad_enabled() and flat_hidden.requires_grad
    pieces = []
    for begin in range(0, flat_hidden.shape[0], chunk_size):
        args = (head, flat_hidden[begin : begin + chunk_size], flat_actions[begin : begin + chunk_size])
        mask = None if action_mask is None else mask_positions(action_mask, begin, begin + chunk_size)
        if grad:
            pieces.append(checkpoint(_chunk_logprobs, *args, temperature, num_actions, mask, use_reentrant=False))
        else:
            pieces.append(_chunk_logprobs(*args, temperature, num_actions, mask))
    if not pieces:
        return hidden.new_zeros(actions.shape, dtype=torch.float32)
    return torch.cat(pieces).view(actions.shape)


class LMPolicy(nn.Module):
    """A ``PreTrainedModel`` for causal LM (optionally a ``peft`` LoRA model around one) plus an optional scalar
    value head.

    Args:
        model: the causal LM (``AutoModelForCausalLM``), or a ``peft.PeftModel`` around one; its backbone is the
            LM's ``base_model`` and its head ``get_output_embeddings()``.
        tokenizer: the tokenizer saved next to the weights (optional).
        value_head: add a float32 value head ``Linear(H, 1)``, zero-initialised so the first values are 0.
        separate_critic: compute values on a separate copy of the backbone instead of the shared one (not with
            LoRA: it would copy the base weights).
        num_actions: actions beyond this id get probability 0 (the env's ``action_space.n``; default all).
        dropout: keep the LM's own dropout (default False: every ``nn.Dropout`` of the LM is set to p=0, since
            dropout makes the log-probs of training differ from those of the rollout). LoRA's ``lora_dropout``
            modules are never touched: they act on the adapter input in training mode as configured.
        logprob_chunk_size: token positions per chunk of ``selective_logprobs``.
        rollout_cache: the KV cache of rollouts (``agents.common.static_decode.RolloutCache``): ``"dynamic"``,
            ``"static"`` or ``"static-compiled"`` (see agents/common/static_decode.py); a static one is refused for a
            model
            type that cannot use transformers' ``StaticCache``.
        share_prompt: rows that hold the same prompt run it once in ``forward`` (training, reference, critic) and in
            the rollout's prefill, their tokens after it on its expanded KV cache (agents/common/prefix_sharing.py;
            the same results to float rounding); False: every row forwards its own copy.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: object | None = None,
        value_head: bool = False,
        separate_critic: bool = False,
        num_actions: int | None = None,
        dropout: bool = False,
        logprob_chunk_size: int = 256,
        rollout_cache: RolloutCache = "dynamic",
        share_prompt: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.is_peft = _is_peft(model)
        if not dropout:
            for name, module in self.causal_lm.named_modules():
                if isinstance(module, nn.Dropout) and "lora_dropout" not in name:
                    module.p = 0.0
        if self.is_peft and separate_critic:
            raise ValueError("separate_critic=True cannot be combined with LoRA (it would copy the base weights)")
        self.tokenizer = tokenizer
        self.vocab_size = lm_head_size(self.causal_lm)
        self.num_actions = self.vocab_size if num_actions is None else int(num_actions)
        if not 1 <= self.num_actions <= self.vocab_size:
            raise ValueError(f"num_actions must be in [1, {self.vocab_size}] (the LM-head size), got {num_actions}")
        self.logprob_chunk_size = int(logprob_chunk_size)
        self.critic = copy.deepcopy(self.backbone) if value_head and separate_critic else None
        self.value_head = None
        if value_head:
            self.value_head = nn.Linear(self.causal_lm.config.hidden_size, 1, dtype=torch.float32)
            nn.init.zeros_(self.value_head.weight)
            nn.init.zeros_(self.value_head.bias)
            self.value_head.to(self.device)
        self._cache_keyword = _cache_keyword(self.backbone)
        self._takes_cache_position = takes_cache_position(self.backbone)
        self.rollout_cache = rollout_cache
        self.share_prompt = bool(share_prompt)

    @property
    def rollout_cache(self) -> RolloutCache:
        """The KV cache of rollouts (``dynamic``, ``static`` or ``static-compiled``; agents/common/static_decode.py)."""
        return self._rollout_cache

    @rollout_cache.setter
    def rollout_cache(self, value: RolloutCache) -> None:
        if value not in get_args(RolloutCache):
            raise ValueError(f"rollout_cache must be one of {get_args(RolloutCache)}, got {value!r}")
        if value != "dynamic":
            check_static_cache_support(self.causal_lm, value)
        self._rollout_cache = value
        self._static = StaticRolloutCache(value) if value != "dynamic" else None

    # ------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        policy: str | os.PathLike | nn.Module,
        dtype: torch.dtype = torch.float32,
        peft_config: Any | None = None,
        **kwargs: Any,
    ) -> LMPolicy:
        """Load ``policy``: a hub id, a local folder, ``"smollm2"`` (the packaged SmolLM2-135M-Instruct),
        ``"sft:<env id>"`` (a task's cached SFT policy, ``resolve_policy``), or a ``PreTrainedModel``. A folder
        written by ``save_pretrained`` also restores the value head / critic, and a LoRA one
        (``adapter_config.json``) its base and trainable adapters.

        ``dtype`` is the dtype of the LM's weights (a ``PreTrainedModel`` of another dtype is cast in place);
        ``peft_config`` (e.g. ``peft.LoraConfig``) wraps the LM in
        fresh adapters (float32 whatever ``dtype`` is, as peft does by default).
        """
        from transformers import PreTrainedModel

        policy = resolve_policy(policy)
        folder = None
        if isinstance(policy, PreTrainedModel) or _is_peft(policy):
            model, tokenizer = policy, None
            if isinstance(policy, PreTrainedModel) and policy.dtype != dtype:
                model = policy.to(dtype)  # in place, like PreTrainedModel.to
            source = getattr(policy.config, "_name_or_path", "") or ""
            if source and Path(source).is_dir():
                tokenizer = load_tokenizer(source)
        elif isinstance(policy, (str, os.PathLike)):
            path = resolve_model_path(str(policy))
            folder = Path(path) if Path(path).is_dir() else None
            with hf_progress_bars_disabled():
                if folder is not None and (folder / ADAPTER_CONFIG_FILE).is_file():
                    model = _load_adapter_folder(folder, dtype)
                else:
                    model = load_causal_lm(path, dtype=dtype, trainable=True)
            tokenizer = load_tokenizer(str(policy))
        else:
            raise TypeError(
                "policy must be a hub id, a local folder, 'smollm2' or a transformers PreTrainedModel, "
                f"got {type(policy).__name__}"
            )
        if peft_config is not None:
            if _is_peft(model):
                raise ValueError("peft_config was given but the policy already has adapters (a LoRA folder)")
            model = _with_adapters(model, peft_config)
        instance = cls(model, tokenizer, **kwargs)
        if folder is not None:
            instance.load_heads(folder)
        return instance

    def load_heads(self, folder: str | os.PathLike) -> None:
        """Load the value head / critic weights saved in ``folder``, if it has them and this policy uses them."""
        folder = Path(folder)
        if self.value_head is not None and (folder / VALUE_HEAD_FILE).is_file():
            self.value_head.load_state_dict(load_file(folder / VALUE_HEAD_FILE, device=str(self.device)))
        if self.critic is not None and (folder / CRITIC_FILE).is_file():
            self.critic.load_state_dict(load_file(folder / CRITIC_FILE, device=str(self.device)))

    def load_weights(self, folder: str | os.PathLike) -> None:
        """Load the trainable weights ``save_pretrained`` wrote to ``folder`` into this policy, in place (the
        adapters of a LoRA policy, every LM weight otherwise; the value head / critic either way)."""
        folder = Path(folder)
        if self.is_peft:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, load_file(folder / "adapter_model.safetensors", str(self.device)))
        else:
            saved = load_causal_lm(folder, dtype=next(self.model.parameters()).dtype)
            self.model.load_state_dict(saved.state_dict())
        self.load_heads(folder)

    def save_pretrained(self, folder: str | os.PathLike, merge_adapters: bool = False) -> None:
        """Write an HF folder plus the value head / critic and the tokenizer.

        Full fine-tuning: the LM (``AutoModelForCausalLM.from_pretrained(folder)`` loads it). LoRA: a PEFT adapter
        folder (``PeftModel.from_pretrained(base, folder)``), referring to its base by name, or with the base in
        ``base_model/`` when it has none; ``merge_adapters=True`` writes the merged full LM instead (for inference;
        the adapters cannot be trained further from it).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with hf_progress_bars_disabled():  # transformers' "Writing model shards" bar would break ours
            if self.is_peft and merge_adapters:
                merged = copy.deepcopy(self.model).merge_and_unload()
                merged.save_pretrained(folder)
            elif self.is_peft:
                base = self.causal_lm
                name = base.config._name_or_path or ""
                if not name or not (Path(name).is_dir() or _looks_like_hub_id(name)):
                    # A copy without the LoRA layers (the model's own modules keep theirs).
                    copy.deepcopy(self.model).unload().save_pretrained(folder / BASE_MODEL_FOLDER)
                    name = BASE_MODEL_FOLDER
                elif Path(name).is_dir():
                    name = str(Path(name).resolve())  # loads from any working directory
                self.model.save_pretrained(folder)
                config_path = folder / ADAPTER_CONFIG_FILE
                adapter_config = json.loads(config_path.read_text())
                adapter_config["base_model_name_or_path"] = name
                config_path.write_text(json.dumps(adapter_config, indent=2))
            else:
                self.model.save_pretrained(folder)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(folder)
        if self.value_head is not None:
            save_file({k: v.contiguous() for k, v in self.value_head.state_dict().items()}, folder / VALUE_HEAD_FILE)
        if self.critic is not None:
            save_file({k: v.contiguous() for k, v in self.critic.state_dict().items()}, folder / CRITIC_FILE)

    def reference_copy(self) -> LMPolicy:
        """A frozen copy of the LM alone (no value head): the KL reference of full fine-tuning."""
        reference = LMPolicy(
            copy.deepcopy(self.model), None, num_actions=self.num_actions, share_prompt=self.share_prompt
        )
        reference.requires_grad_(False)
        return reference.eval()

    @property
    def causal_lm(self) -> nn.Module:
        """The transformers causal LM (inside the peft wrapper for a LoRA policy; its LoRA layers are in place)."""
        return self.model.get_base_model() if self.is_peft else self.model

    @property
    def backbone(self) -> nn.Module:
        """The causal LM's transformer without the LM head."""
        return self.causal_lm.base_model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What the optimizer updates: every weight (full fine-tuning) or the adapters, plus value head / critic."""
        return [p for p in self.parameters() if p.requires_grad]

    # ------------------------------------------------------------- forward
    def _values(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1).float()

    def new_rollout_cache(self, batch_size: int, max_length: int) -> object:
        """The KV cache a rollout of ``batch_size`` episodes of at most ``max_length`` tokens (prompt width +
        ``max_new_tokens``) starts with: a new ``DynamicCache``, or (``rollout_cache`` static) the policy's
        ``StaticCache`` of that size, emptied."""
        from transformers import DynamicCache

        if self._static is None:
            return DynamicCache()
        return self._static.new(self.causal_lm, batch_size, max_length, self.device)

    @torch.no_grad()
    def next_token_logprobs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: object | None,
        temperature: float = 1.0,
        with_values: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, object]:
        """One KV-cached rollout forward (no gradients).

        ``input_ids`` / ``position_ids`` ``[B, S]`` are the new tokens (the prompt first, then one token per step),
        ``attention_mask`` ``[B, past + S]`` covers the cache and them; ``cache`` is ``None`` (a new
        ``DynamicCache``) or ``new_rollout_cache``'s on the first call, then what the previous call returned
        (updated in place). Returns the next-token log-probs ``[B, V]`` at temperature ``temperature`` (ids >=
        ``num_actions`` at -inf), the values ``[B]`` of that state when ``with_values`` (shared backbone only;
        ``None`` otherwise) and the cache. With a ``StaticCache`` the one-token steps of ``static-compiled`` run
        compiled.
        """
        from transformers import DynamicCache, StaticCache

        cache = DynamicCache() if cache is None else cache
        step, kwargs = self._next_token_step, {"attention_mask": attention_mask}
        if isinstance(cache, StaticCache):
            kwargs = static_forward_kwargs(cache, attention_mask, input_ids.shape[1], self._takes_cache_position)
            if self._static is not None:
                step = self._static.step(step, input_ids.shape[1], input_ids.device)
        logprobs, values = step(input_ids, position_ids, cache, temperature, with_values, **kwargs)
        return logprobs, values, cache

    def _next_token_step(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        cache: object,
        temperature: float,
        with_values: bool,
        **mask_kwargs: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.backbone(
            input_ids=input_ids,
            position_ids=position_ids,
            use_cache=True,
            **{self._cache_keyword: cache},
            **mask_kwargs,
        )
        hidden = out.last_hidden_state[:, -1]
        logits = self.causal_lm.get_output_embeddings()(hidden).float() / temperature
        logits[:, self.num_actions :] = float("-inf")
        values = self._values(hidden) if with_values and self.critic is None else None
        return torch.log_softmax(logits, dim=-1), values

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        response_start: int,
        temperature: float = 1.0,
        with_values: bool = False,
        action_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The training computation: log-probs (and values) of whole sequences (SB3's ``evaluate_actions``).

        ``input_ids`` / ``attention_mask`` ``[B, S]`` are prompt (left-padded) + response; the response occupies
        positions ``response_start:``. Returns the log-probs ``[B, T]`` (``T = S - response_start``, float32, 0
        after an episode ended) of the response tokens at temperature ``temperature``, computed without the full
        ``[B, T, V]`` logits (``selective_logprobs``), and their values ``[B, T]`` (value of the state before
        each token) when ``with_values``. ``action_mask`` (the rollout's ``RolloutBuffer.action_mask`` of these
        rows) gives the log-probs under the env's action masks. With ``share_prompt`` rows that repeat a prompt
        (``input_ids[:, :response_start]`` and its mask) run it once (``prefix_sharing.response_hidden``).

        The columns after the last attended token of every row (the right padding a batch of conversations of
        different lengths has, e.g. a micro-batch of the shorter ones) are not forwarded: with causal attention they
        change nothing before them; their log-probs are 0 as always, and their values 0.
        """
        T = input_ids.shape[1] - response_start
        kept = _attended_width(attention_mask, response_start + 1) - response_start
        if kept < T:
            input_ids, attention_mask = (
                input_ids[:, : response_start + kept],
                attention_mask[:, : response_start + kept],
            )
            if action_mask is not None and action_mask.dtype != torch.bool:
                action_mask = action_mask[:, :kept]
        logprobs, values = self._forward(
            input_ids, attention_mask, response_start, temperature, with_values, action_mask
        )
        if kept < T:
            logprobs = nn.functional.pad(logprobs, (0, T - kept))
            values = None if values is None else nn.functional.pad(values, (0, T - kept))
        return logprobs, values

    def _forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        response_start: int,
        temperature: float,
        with_values: bool,
        action_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        position_ids = position_ids_from_mask(attention_mask)
        sequences = (input_ids, attention_mask, position_ids, response_start, self._cache_keyword, self.share_prompt)
        hidden = response_hidden(self.backbone, *sequences)
        actions = input_ids[:, response_start:]
        outside = attention_mask[:, response_start:] == 0
        logprobs = selective_logprobs(
            self.causal_lm.get_output_embeddings(),
            hidden,
            actions.masked_fill(outside, 0),
            temperature,
            self.num_actions,
            self.logprob_chunk_size,
            action_mask,
        )
        logprobs = logprobs.masked_fill(outside, 0.0)  # padding after the episode
        values = None
        if with_values:
            if self.critic is not None:
                hidden = response_hidden(self.critic, *sequences)
            values = self._values(hidden)
        return logprobs, values


class AdapterDisabledReference:
    """The KL reference of a LoRA policy: the same module with its adapters switched off (no second copy of the
    base weights). Called like ``LMPolicy.forward`` without values; always in eval mode, without gradients."""

    def __init__(self, policy: LMPolicy) -> None:
        if not policy.is_peft:
            raise ValueError("AdapterDisabledReference needs a LoRA policy (a peft model)")
        self.policy = policy

    @property
    def num_actions(self) -> int:
        return self.policy.num_actions

    @num_actions.setter
    def num_actions(self, value: int) -> None:
        self.policy.num_actions = value

    @torch.no_grad()
    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        response_start: int,
        temperature: float = 1.0,
        action_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, None]:
        restore_adapters(self.policy)  # a merged rollout's adapters: the reference needs the bare base weights
        was_training = self.policy.training
        self.policy.eval()
        try:
            with self.policy.model.disable_adapter():
                logprobs, _ = self.policy(input_ids, attention_mask, response_start, temperature, False, action_mask)
        finally:
            self.policy.train(was_training)
        return logprobs, None


def _attended_width(attention_mask: torch.Tensor, minimum: int) -> int:
    """Columns of ``attention_mask`` ``[B, S]`` up to the last attended one of any row (at least ``minimum``)."""
    columns = torch.arange(1, attention_mask.shape[1] + 1, device=attention_mask.device)
    return max(int((attention_mask.ne(0) * columns).max()), minimum)


def resolve_policy(policy: Any) -> Any:
    """``policy`` with a task SFT spec ``"sft:<env id>"`` replaced by its policy folder (built and cached on first
    use: ``agents.sft.task_policies``); anything else unchanged. ``ValueError`` for an env id without a recipe."""
    if not isinstance(policy, str):
        return policy
    from agents.sft.task_policies import resolve_sft_spec

    return resolve_sft_spec(policy)


def is_adapter_folder(policy: object) -> bool:
    """True if ``policy`` is a local folder holding a PEFT adapter (what ``LMPolicy.save_pretrained`` writes for
    a LoRA policy), or an ``"sft:<env id>"`` spec whose policy is one (``resolve_policy``)."""
    policy = resolve_policy(policy)
    return isinstance(policy, (str, os.PathLike)) and (Path(policy) / ADAPTER_CONFIG_FILE).is_file()


def _is_peft(model: object) -> bool:
    with contextlib.suppress(ImportError):
        from peft import PeftModel

        return isinstance(model, PeftModel)
    return False


def _looks_like_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/")) and not Path(name).exists()


def _with_adapters(model: nn.Module, peft_config: Any) -> nn.Module:
    from peft import get_peft_model

    with peft_checkpointing_warning_silenced():
        return get_peft_model(model, peft_config)


def _load_adapter_folder(folder: Path, dtype: torch.dtype) -> nn.Module:
    from peft import PeftModel

    base_name = json.loads((folder / ADAPTER_CONFIG_FILE).read_text())["base_model_name_or_path"]
    base_path = folder / base_name if (folder / base_name).is_dir() else resolve_model_path(base_name)
    base = load_causal_lm(base_path, dtype=dtype, trainable=True)
    with peft_checkpointing_warning_silenced():
        return PeftModel.from_pretrained(base, folder, is_trainable=True)
