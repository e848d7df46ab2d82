"""Causal-LM helpers shared by the envs (vocabulary masks), the simulated users, the agents and the benchmarks:
the one loader of a causal LM from a hub id, folder or packaged name, and the one-forward readers of a causal LM
at the last real token of a TextGen observation (left-padded prompt, completion, right padding)."""

from __future__ import annotations

import os

import torch
from torch import nn

from reward_models.common.devices import resolve_device, resolve_dtype
from reward_models.common.packaged import resolve_model_path
from reward_models.common.quiet import hf_progress_bars_disabled


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions ``[B, S]`` counting only attended tokens (left padding gets position 0), as ``generate`` does."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def last_token_hidden(backbone: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Final hidden state ``[B, H]`` of a causal-LM backbone (``model.base_model``) at each row's last attended
    token, for observations in the TextGen layout (left-padded prompt, completion, right padding).

    ``input_ids`` / ``attention_mask`` ``[B, L]`` may be float (SB3 casts observations); they are cast to long.
    Positions after the batch's longest real prefix are cut off first: with causal attention they cannot change
    the result, and they are most of an early-episode observation.
    """
    input_ids, attention_mask = input_ids.long(), attention_mask.long()
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask * positions).argmax(dim=1)  # [B]
    length = int(last.max()) + 1
    input_ids, attention_mask = input_ids[:, :length], attention_mask[:, :length]
    position_ids = position_ids_from_mask(attention_mask)
    hidden = backbone(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
    ).last_hidden_state
    return hidden.gather(1, last.view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])).squeeze(1)


def next_token_logits(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """A causal LM's next-token logits ``[B, V_model]`` (float32) after each row's last attended token."""
    hidden = last_token_hidden(model.base_model, input_ids, attention_mask)
    return model.get_output_embeddings()(hidden).float()


def load_causal_lm(
    model: str | os.PathLike | nn.Module,
    *,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    trainable: bool = False,
    argument: str = "model",
) -> nn.Module:
    """The project's one causal-LM loader (masks, references, simulated users, labelling, policies, benchmarks).

    Args:
        model: a transformers causal LM (cast and moved in place as asked), a hub id, a local folder or a packaged
            name (``"smollm2"``, through ``resolve_model_path``).
        dtype: dtype of the weights: a ``torch.dtype`` or ``"float32"`` / ``"bfloat16"`` / ``"float16"``;
            ``None`` keeps the model's (transformers' default when loading).
        device: where the model goes (``"auto"`` is ``resolve_device``'s rule); ``None`` leaves it where it
            loads (CPU) or is.
        trainable: False: frozen (``requires_grad`` off) in eval mode, for a vocabulary mask, a KL reference, a
            user or a sampler. True: the parameters keep ``requires_grad``, for a policy to train (the caller
            chooses train mode and dropout).
        argument: the caller's argument name, used in the error.

    Returns:
        The model.

    Raises:
        TypeError: ``model`` is neither a causal LM (a module with ``get_output_embeddings``) nor a name.
    """
    if isinstance(model, (str, os.PathLike)):
        from transformers import AutoModelForCausalLM

        options = {} if dtype is None else {"dtype": resolve_dtype(dtype)}
        with hf_progress_bars_disabled():
            model = AutoModelForCausalLM.from_pretrained(resolve_model_path(str(model)), **options)
    elif isinstance(model, nn.Module) and dtype is not None:
        model = model.to(resolve_dtype(dtype))
    if not isinstance(model, nn.Module) or not hasattr(model, "get_output_embeddings"):
        raise TypeError(
            f"{argument} must be a causal LM (a transformers PreTrainedModel), a hub id or a folder, "
            f"got {type(model).__name__}"
        )
    if device is not None:
        model = model.to(resolve_device(device))
    if trainable:
        return model
    model.requires_grad_(False)
    return model.eval()
