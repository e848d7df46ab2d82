"""The LM policy: a causal language model whose next-token distribution is the action distribution, plus an
optional value head for PPO (on the shared backbone, or on a separate critic backbone).

Shapes: ``B`` sequences, ``S`` positions, ``V`` LM-head rows, ``H`` hidden size.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from reward_models import load_tokenizer, resolve_model_path
from text_gym.masking import position_ids_from_mask

VALUE_HEAD_FILE = "value_head.safetensors"
CRITIC_FILE = "critic.safetensors"


def lm_head_size(model: nn.Module) -> int:
    """Rows of the model's output embedding: the largest action space it can act in."""
    return int(model.get_output_embeddings().weight.shape[0])


class LMPolicy(nn.Module):
    """A ``PreTrainedModel`` for causal LM plus an optional scalar value head.

    Args:
        model: the causal LM (``AutoModelForCausalLM``); its backbone is ``model.base_model`` and its head
            ``model.get_output_embeddings()``.
        tokenizer: the tokenizer saved next to the weights (optional).
        value_head: add a value head ``Linear(H, 1)``, zero-initialised so the first values are 0.
        separate_critic: compute values on a separate copy of the backbone instead of the shared one.
        num_actions: actions beyond this id get probability 0 (the env's ``action_space.n``; default all).
        dropout: keep the model's dropout (default False: every dropout probability is set to 0, since dropout
            makes the log-probs of training differ from those of the rollout).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: object | None = None,
        value_head: bool = False,
        separate_critic: bool = False,
        num_actions: int | None = None,
        dropout: bool = False,
    ) -> None:
        super().__init__()
        if not dropout:
            for module in model.modules():
                if isinstance(module, nn.Dropout):
                    module.p = 0.0
        self.model = model
        self.tokenizer = tokenizer
        self.vocab_size = lm_head_size(model)
        self.num_actions = self.vocab_size if num_actions is None else int(num_actions)
        if not 1 <= self.num_actions <= self.vocab_size:
            raise ValueError(f"num_actions must be in [1, {self.vocab_size}] (the LM-head size), got {num_actions}")
        self.critic = copy.deepcopy(model.base_model) if value_head and separate_critic else None
        self.value_head = None
        if value_head:
            self.value_head = nn.Linear(model.config.hidden_size, 1)
            nn.init.zeros_(self.value_head.weight)
            nn.init.zeros_(self.value_head.bias)
            self.value_head.to(next(model.parameters()).device)

    # ------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls, policy: str | os.PathLike | nn.Module, dtype: torch.dtype = torch.float32, **kwargs
    ) -> LMPolicy:
        """Load ``policy``: a hub id, a local folder, ``"smollm2"`` (the packaged SmolLM2-135M-Instruct), or a
        ``PreTrainedModel``. A folder written by :meth:`save_pretrained` also restores the value head / critic."""
        from transformers import AutoModelForCausalLM, PreTrainedModel

        if isinstance(policy, PreTrainedModel):
            model, tokenizer, folder = policy, None, None
            source = getattr(policy.config, "_name_or_path", "") or ""
            if source and Path(source).is_dir():
                tokenizer = load_tokenizer(source)
        elif isinstance(policy, (str, os.PathLike)):
            path = resolve_model_path(str(policy))
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
            tokenizer = load_tokenizer(str(policy))
            folder = Path(path) if Path(path).is_dir() else None
        else:
            raise TypeError(
                "policy must be a hub id, a local folder, 'smollm2' or a transformers PreTrainedModel, "
                f"got {type(policy).__name__}"
            )
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

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write an HF folder (``from_pretrained``-loadable LM and tokenizer) plus the value head / critic."""
        folder = Path(folder)
        self.model.save_pretrained(folder)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(folder)
        if self.value_head is not None:
            save_file({k: v.contiguous() for k, v in self.value_head.state_dict().items()}, folder / VALUE_HEAD_FILE)
        if self.critic is not None:
            save_file({k: v.contiguous() for k, v in self.critic.state_dict().items()}, folder / CRITIC_FILE)

    def reference_copy(self) -> LMPolicy:
        """A frozen copy of the LM alone (no value head): the KL reference."""
        reference = LMPolicy(copy.deepcopy(self.model), None, num_actions=self.num_actions)
        reference.requires_grad_(False)
        return reference.eval()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------- forward
    def _logits(self, hidden: torch.Tensor, temperature: float) -> torch.Tensor:
        logits = self.model.get_output_embeddings()(hidden).float() / temperature
        if self.num_actions < self.vocab_size:
            logits[..., self.num_actions :] = float("-inf")
        return logits

    def _values(
        self, hidden: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor
    ) -> torch.Tensor:
        if self.critic is not None:
            hidden = self.critic(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
            ).last_hidden_state
        return self.value_head(hidden).squeeze(-1).float()

    def step(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        past_key_values: object | None,
        temperature: float = 1.0,
        with_values: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, object]:
        """One KV-cached rollout forward.

        ``input_ids`` / ``position_ids`` ``[B, S]`` are the new tokens (the prompt first, then one token per step),
        ``attention_mask`` ``[B, past + S]`` covers the cache and them. Returns the next-token log-probs ``[B, V]``
        at temperature ``temperature`` (ids >= ``num_actions`` at -inf), the values ``[B]`` of that state when
        ``with_values`` (shared backbone only; ``None`` otherwise) and the updated cache.
        """
        out = self.model.base_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=True,
        )
        hidden = out.last_hidden_state[:, -1]
        logprobs = torch.log_softmax(self._logits(hidden, temperature), dim=-1)
        values = self.value_head(hidden).squeeze(-1).float() if with_values and self.critic is None else None
        return logprobs, values, out.past_key_values

    def evaluate_actions(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        response_start: int,
        temperature: float = 1.0,
        with_values: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Full-sequence forward for training (SB3's name).

        ``input_ids`` / ``attention_mask`` ``[B, S]`` are prompt (left-padded) + response; the response occupies
        positions ``response_start:``. Returns the log-probs ``[B, T]`` (``T = S - response_start``) of the
        response tokens at temperature ``temperature``, and their values ``[B, T]`` (value of the state before
        each token) when ``with_values``.
        """
        position_ids = position_ids_from_mask(attention_mask)
        hidden = self.model.base_model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state
        hidden = hidden[:, response_start - 1 : -1]
        logits = self._logits(hidden, temperature)
        actions = input_ids[:, response_start:]
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        logprobs = logprobs.masked_fill(attention_mask[:, response_start:] == 0, 0.0)  # padding after the episode
        values = None
        if with_values:
            values = self._values(hidden, input_ids, attention_mask, position_ids)
            if self.critic is not None:
                values = values[:, response_start - 1 : -1]
        return logprobs, values
