"""HFRewardModel: any Hugging Face ``AutoModelForSequenceClassification`` as a batched reward model."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from reward_models.base import BaseRewardModel
from reward_models.common.devices import resolve_device, resolve_dtype
from reward_models.common.packaged import load_tokenizer, resolve_model_path
from reward_models.common.quiet import hf_progress_bars_disabled, peft_checkpointing_warning_silenced
from reward_models.common.validation import check_positive_int

REWARD_CONFIG_NAME = "reward_model.json"
"""File in a reward-model folder holding how to score with it: head, prompt use, max length, normalisation."""

ADAPTER_CONFIG_NAME = "adapter_config.json"
"""peft's adapter settings file: a folder holding it is a peft adapter folder (LoRA-trained reward models)."""

_SETTINGS = ("label_index", "negative_label_index", "include_prompt", "max_length", "mean", "std")


class HFRewardModel(BaseRewardModel):
    """Score (prompt, completion) pairs with a sequence classifier, ``max_batch_size`` pairs per forward pass.

    Args:
        model: hub id, local folder, ``"minilm"`` (packaged), a peft adapter folder (see
            ``load_adapter_classifier``), or a loaded ``PreTrainedModel``.
        tokenizer: the reward model's own tokenizer (hub id, folder or object); default: the one in ``model``'s
            folder (an adapter folder without one: its base model's). It never needs to match the policy's
            tokenizer: scoring works on text.
        label_index: which logit is the reward. Default: the only one for a scalar head (``num_labels == 1``);
            required when the head has several labels.
        negative_label_index: if set, the reward is ``logit[label_index] - logit[negative_label_index]`` (e.g. a
            2-class sentiment classifier: ``label_index=1, negative_label_index=0``).
        include_prompt: score the text pair (prompt, completion) (default) or the completion alone.
        max_length: tokens per scored text; longer inputs are truncated (default: the tokenizer's limit, ≤ 512).
        max_batch_size: most pairs per forward pass (default 32). Inputs are sorted by length before batching.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"auto"`` (CUDA, else MPS, else CPU; default
            ``"cpu"``).
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``None`` (the checkpoint's dtype).
        mean, std: normalisation; scores are ``(raw - mean) / std``. Default: the values stored in the folder's
            ``reward_model.json``, else 0 and 1. ``fit_normalization`` sets them from a reference sample.
        normalize: apply ``mean``/``std`` (default True); ``False`` returns raw head outputs.

    Unset scoring settings are read from ``reward_model.json`` in the folder (written by ``save_pretrained``
    and by ``reward_models.train_reward_model``), so a trained folder scores the way it was trained.
    Scores are float64 ``[batch]``; the model is in ``eval()`` mode (dropout off) and runs under
    ``torch.inference_mode``.
    """

    def __init__(
        self,
        model: str | os.PathLike | torch.nn.Module,
        tokenizer: str | os.PathLike | object | None = None,
        label_index: int | None = None,
        negative_label_index: int | None = None,
        include_prompt: bool | None = None,
        max_length: int | None = None,
        max_batch_size: int = 32,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype | None = None,
        mean: float | None = None,
        std: float | None = None,
        normalize: bool = True,
    ) -> None:
        from transformers import AutoModelForSequenceClassification

        self.device = resolve_device(device)
        stored: dict = {}
        if isinstance(model, torch.nn.Module):
            self.model = model
            if tokenizer is None:
                raise ValueError("tokenizer is required when model is a loaded model object")
        else:
            path = resolve_model_path(str(model))
            config_file = Path(path) / REWARD_CONFIG_NAME
            if config_file.is_file():
                stored = json.loads(config_file.read_text(encoding="utf-8"))
            if (Path(path) / ADAPTER_CONFIG_NAME).is_file():
                self.model, own_tokenizer = load_adapter_classifier(path, dtype)
            else:
                with hf_progress_bars_disabled():
                    self.model = AutoModelForSequenceClassification.from_pretrained(path, dtype=resolve_dtype(dtype))
                own_tokenizer = path
            tokenizer = own_tokenizer if tokenizer is None else tokenizer
        self.model.to(self.device, dtype=resolve_dtype(dtype)).eval()
        self.tokenizer = load_tokenizer(tokenizer)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        if getattr(self.model.config, "pad_token_id", None) is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id

        def setting(name: str, value, default):
            return value if value is not None else stored.get(name, default)

        num_labels = self.model.config.num_labels
        self.label_index = setting("label_index", label_index, 0 if num_labels == 1 else None)
        self.negative_label_index = setting("negative_label_index", negative_label_index, None)
        for name in ("label_index", "negative_label_index"):
            index = getattr(self, name)
            if name == "label_index" and index is None:
                raise ValueError(
                    f"the model has {num_labels} labels {self.model.config.id2label}; pass label_index "
                    "(and optionally negative_label_index) to say which logit is the reward"
                )
            if index is not None and not 0 <= index < num_labels:
                raise ValueError(f"{name} must be in [0, {num_labels}), got {index}")
        self.include_prompt = bool(setting("include_prompt", include_prompt, True))
        limit = self.tokenizer.model_max_length if self.tokenizer.model_max_length < 100_000 else 512
        self.max_length = int(setting("max_length", max_length, min(limit, 512)))
        check_positive_int("max_batch_size", max_batch_size)
        self.max_batch_size = max_batch_size
        self.mean = float(setting("mean", mean, 0.0))
        self.std = float(setting("std", std, 1.0))
        if not (math.isfinite(self.mean) and math.isfinite(self.std) and self.std > 0):
            raise ValueError(f"normalisation needs a finite mean and std > 0, got mean={self.mean}, std={self.std}")
        self.normalize = normalize

    def encode(self, prompts: Sequence[str], completions: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenize a batch the way it is scored: text pairs or completions alone, padded, on the model's device."""
        if self.include_prompt:
            batch = self.tokenizer(
                list(prompts),
                list(completions),
                truncation="longest_first",
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
        else:
            batch = self.tokenizer(
                list(completions), truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
            )
        return {key: value.to(self.device) for key, value in batch.items()}

    def head_output(self, logits: torch.Tensor) -> torch.Tensor:
        """Raw reward ``[batch]`` from classifier logits ``[batch, num_labels]``."""
        reward = logits[:, self.label_index]
        if self.negative_label_index is not None:
            reward = reward - logits[:, self.negative_label_index]
        return reward

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Raw (unnormalised) rewards ``[batch]`` for an encoded batch, with gradients if enabled."""
        return self.head_output(self.model(**batch).logits)

    @torch.inference_mode()
    def raw_score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        """Unnormalised head outputs, float64 ``[batch]``."""
        if len(prompts) != len(completions):
            raise ValueError(
                f"prompts and completions must have the same length, got {len(prompts)} and {len(completions)}"
            )
        order = np.argsort(
            [len(c) + (len(p) if self.include_prompt else 0) for p, c in zip(prompts, completions, strict=False)],
            kind="stable",
        )
        scores = np.empty(len(completions), dtype=np.float64)
        for start in range(0, len(order), self.max_batch_size):
            rows = order[start : start + self.max_batch_size]
            batch = self.encode([prompts[i] for i in rows], [completions[i] for i in rows])
            scores[rows] = self.forward(batch).float().cpu().numpy()
        return scores

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        raw = self.raw_score(prompts, completions)
        return (raw - self.mean) / self.std if self.normalize else raw

    def fit_normalization(self, prompts: Sequence[str], completions: Sequence[str]) -> tuple[float, float]:
        """Set ``mean``/``std`` so scores on this reference sample have mean 0 and std 1; returns them."""
        raw = self.raw_score(prompts, completions)
        if len(raw) < 2 or raw.std() == 0:
            raise ValueError(
                f"the normalisation sample needs at least 2 completions with different scores, got "
                f"{len(raw)} with std {raw.std() if len(raw) else 0.0}"
            )
        self.mean, self.std = float(raw.mean()), float(raw.std())
        return self.mean, self.std

    def settings(self) -> dict:
        """The scoring settings stored in ``reward_model.json``."""
        return {name: getattr(self, name) for name in _SETTINGS}

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write the model, its tokenizer and ``reward_model.json`` (settings + normalisation) to ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        (folder / REWARD_CONFIG_NAME).write_text(json.dumps(self.settings(), indent=2) + "\n", encoding="utf-8")
        return folder


def load_adapter_classifier(folder: str | os.PathLike, dtype: str | torch.dtype | None = None):
    """A sequence classifier saved as a peft adapter folder, merged into its base; and its tokenizer's location.

    The base is the adapter's ``base_model_name_or_path`` (a hub id, a folder, or a packaged name such as
    ``"minilm"``, resolved offline), loaded with the folder's ``config.json`` when there is one (its ``num_labels``
    head); peft then loads the adapters and the trained head (``modules_to_save``) and merges them, so the result
    is a plain ``PreTrainedModel``. The tokenizer is the folder's own if it has one, else the base's.

    Returns:
        ``(model, tokenizer location)``.

    Raises:
        ValueError: the adapter names no base model.
    """
    from peft import PeftConfig, PeftModel
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging

    folder = Path(folder)
    base_name = PeftConfig.from_pretrained(str(folder)).base_model_name_or_path
    if not base_name:
        raise ValueError(f"the peft adapter in {folder} names no base model (base_model_name_or_path is empty)")
    base = resolve_model_path(base_name)
    config = AutoConfig.from_pretrained(str(folder) if (folder / "config.json").is_file() else base)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the base has no trained head (reported as newly initialised); the adapter has it
    try:
        with hf_progress_bars_disabled(), peft_checkpointing_warning_silenced():
            model = AutoModelForSequenceClassification.from_pretrained(base, config=config, dtype=resolve_dtype(dtype))
            model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    finally:
        logging.set_verbosity(verbosity)
    return model, str(folder) if (folder / "tokenizer_config.json").is_file() else base
