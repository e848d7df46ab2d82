"""Ship a fine-tuned sequence classifier as a small delta against its base checkpoint.

:func:`save_delta` compares a fine-tuned model with a fresh load of its base (same class, same ``num_labels``):

- a large 2-D weight that changed is stored as a rank-``r`` factorisation of ``W_tuned − W_base`` (exact when the
  model was trained with LoRA of rank ≤ ``r``, ``lora_rank`` in :class:`~reward_models.RewardTrainerConfig`);
- a small tensor that changed (biases, LayerNorms), and every tensor the base checkpoint does not have (the new
  head), is stored in full.

Tensors are stored in float16 in one ``.safetensors`` file, whose metadata also holds the scoring settings
(``reward_model.json``) so :func:`load_delta_model` rebuilds a model that scores like the original.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import torch
from safetensors.torch import load_file, safe_open, save_file

from reward_models.common.quiet import hf_progress_bars_disabled

_LOW_RANK, _UP, _FULL = ".delta_a", ".delta_b", ".full"


def load_base(base_path: str, num_labels: int) -> tuple[torch.nn.Module, set[str]]:
    """The base checkpoint as a sequence classifier, and the names of tensors it lacks (newly initialised)."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the new head is reported as missing; that is expected here, the delta sets it
    try:
        with hf_progress_bars_disabled():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                base_path, num_labels=num_labels, ignore_mismatched_sizes=True, output_loading_info=True
            )
    finally:
        logging.set_verbosity(verbosity)
    return model, set(info["missing_keys"]) | {key for key, *_ in info.get("mismatched_keys", [])}


def save_delta(
    tuned: torch.nn.Module,
    base_path: str,
    path: str | os.PathLike,
    rank: int,
    settings: dict | None = None,
    dtype: torch.dtype = torch.float16,
) -> dict[str, float]:
    """Write ``tuned − base`` to ``path``; returns ``{"bytes", "max_relative_error"}`` of the low-rank parts."""
    base, missing = load_base(base_path, tuned.config.num_labels)
    base_state, tensors, worst = base.state_dict(), {}, 0.0
    for name, value in tuned.state_dict().items():
        value = value.detach().float().cpu()
        if name in missing or name not in base_state:
            tensors[name + _FULL] = value.to(dtype)
            continue
        difference = value - base_state[name].float()
        if not difference.any():
            continue
        rows, cols = difference.shape if difference.dim() == 2 else (0, 0)
        if difference.dim() == 2 and rank * (rows + cols) < rows * cols:
            u, s, vh = torch.linalg.svd(difference, full_matrices=False)
            up, down = u[:, :rank] * s[:rank].sqrt(), s[:rank].sqrt()[:, None] * vh[:rank]
            tensors[name + _UP], tensors[name + _LOW_RANK] = up.to(dtype), down.to(dtype)
            approx = up.to(dtype).float() @ down.to(dtype).float()
            worst = max(worst, ((approx - difference).norm() / difference.norm()).item())
        else:
            tensors[name + _FULL] = value.to(dtype)
    metadata = {
        "base": str(base_path),
        "num_labels": str(tuned.config.num_labels),
        "rank": str(rank),
        "settings": json.dumps(settings or {}),
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return {"bytes": float(os.path.getsize(path)), "max_relative_error": worst}


def delta_settings(path: str | os.PathLike) -> dict:
    """The scoring settings stored with a delta file."""
    with safe_open(str(path), "pt") as handle:
        return json.loads(handle.metadata()["settings"])


def load_delta_model(base_path: str, path: str | os.PathLike) -> torch.nn.Module:
    """Rebuild the fine-tuned model: the base checkpoint plus the delta in ``path`` (float32)."""
    with safe_open(str(path), "pt") as handle:
        num_labels = int(handle.metadata()["num_labels"])
    model, _ = load_base(base_path, num_labels)
    state = model.state_dict()
    delta = load_file(str(path))
    unknown = {k.rsplit(".", 1)[0] for k in delta} - set(state)
    if unknown:
        raise ValueError(
            f"delta file {path} has tensors {sorted(unknown)[:5]} that the base model "
            f"{base_path} lacks; it was made against another base"
        )
    with torch.no_grad():
        for key, value in delta.items():
            name, kind = key.rsplit(".", 1)
            if "." + kind == _FULL:
                state[name].copy_(value.float())
            elif "." + kind == _UP:
                state[name] += value.float() @ delta[name + _LOW_RANK].float()
    return model.eval()


@dataclass
class PackConfig:
    """Pack a trained reward-model folder as a small delta file against its base checkpoint."""

    model: str = field(default="reward_model", metadata={"help": "trained reward-model folder"})
    base: str = field(
        default="minilm", metadata={"help": "base checkpoint it was fine-tuned from (id, folder, 'minilm')"}
    )
    output: str = field(default="reward_delta.safetensors", metadata={"help": "delta file to write"})
    rank: int = field(
        default=8,
        metadata={"help": "rank of each stored weight delta (exact for LoRA-trained models with lora_rank <= rank)"},
    )
