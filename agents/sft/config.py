"""``SFTConfig``: the settings of supervised fine-tuning (``agents.train_sft``, ``text-gym sft train``).

Names follow TRL's ``SFTConfig`` / ``transformers.TrainingArguments`` where one exists; the LoRA fields
(``lora_r``, ``lora_alpha``, ``lora_dropout``, ``lora_target_modules``), ``compute_dtype``, ``weight_dtype`` and
``device`` are the RL agents' (``AlgorithmConfig``): same names, defaults, help and checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agents.common.config import (
    AlgorithmConfig,
    check_literal_fields,
    check_lora_fields,
    check_weight_dtype,
    field_like,
    lora_config_of,
)
from agents.common.policy import is_adapter_folder
from reward_models.common.devices import DTypeName
from reward_models.common.validation import check_positive_int


def _help(text: str) -> dict:
    return {"help": text}


@dataclass
class SFTConfig:
    """Supervised fine-tuning of a policy on conversations, the loss on the assistant's tokens only."""

    policy: str = field(
        default="smollm2",
        metadata=_help(
            "the policy to fine-tune: hub id, local folder (a saved agent or SFT output too; an adapter folder "
            "trains its adapters further) or 'smollm2' (the packaged SmolLM2-135M-Instruct)"
        ),
    )
    data: str = field(
        default="demos.jsonl",
        metadata=_help(
            "conversations to train on: JSONL, one object per line with 'messages': [{'role': 'system' | 'user' | "
            "'assistant', 'content': str}, ...] (TRL's conversational format; other keys are ignored): an optional "
            "system message, then user and assistant messages alternating, from user to assistant"
        ),
    )
    output_dir: str = field(
        default="runs/sft",
        metadata=_help(
            "the trained policy in <dir>/final (an HF folder, or a peft adapter folder with lora_r > 0), Trainer "
            "checkpoints in <dir>/checkpoints (a rerun resumes from the last one), tensorboard logs in "
            "<dir>/tensorboard, and <dir>/summary.json"
        ),
    )
    num_train_epochs: int = field(default=3, metadata=_help("passes over the conversations"))
    learning_rate: float = field(
        default=2e-5,
        metadata=_help("AdamW learning rate, decayed linearly to 0 over training (LoRA usually wants ~10x more)"),
    )
    per_device_train_batch_size: int = field(
        default=8, metadata=_help("conversations per micro-batch and device (padded to the longest)")
    )
    gradient_accumulation_steps: int = field(
        default=1, metadata=_help("micro-batches per optimizer step (the loss is the mean over their labelled tokens)")
    )
    max_length: int = field(
        default=1024,
        metadata=_help(
            "tokens per conversation (its whole render); a longer one is refused (truncation 'error') or cut to its "
            "first max_length tokens (truncation 'right')"
        ),
    )
    truncation: Literal["error", "right"] = field(
        default="error",
        metadata=_help(
            "a conversation longer than max_length: 'error' (the run is refused, naming it) or 'right' (the tokens "
            "after the first max_length are dropped; one whose first assistant token is cut off is refused)"
        ),
    )
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay"))
    max_grad_norm: float = field(default=1.0, metadata=_help("gradient clipping by global norm"))
    seed: int = field(default=0, metadata=_help("seed of the LoRA initialisation, the data order and dropout"))
    save_steps: int = field(default=100, metadata=_help("write a Trainer checkpoint every N optimizer steps"))
    keep_checkpoints: int = field(default=2, metadata=_help("how many recent checkpoints to keep"))
    logging_steps: int = field(
        default=10, metadata=_help("log the training loss (tensorboard, progress bar) every N optimizer steps")
    )
    merge_lora: bool = field(
        default=False,
        metadata=_help(
            "LoRA runs: also write the merged full model to <output_dir>/final-merged (RL from it with LoRA keeps the "
            "SFT policy as the KL reference; from final/ the reference is the base without the SFT adapters)"
        ),
    )
    progress_bar: bool = field(default=True, metadata=_help("show the progress bar"))
    device: str = field_like(AlgorithmConfig, "device")
    compute_dtype: DTypeName = field_like(AlgorithmConfig, "compute_dtype")
    weight_dtype: DTypeName = field_like(AlgorithmConfig, "weight_dtype")
    lora_r: int = field_like(AlgorithmConfig, "lora_r")
    lora_alpha: float = field_like(AlgorithmConfig, "lora_alpha")
    lora_dropout: float = field_like(AlgorithmConfig, "lora_dropout")
    lora_target_modules: list[str] = field_like(AlgorithmConfig, "lora_target_modules")

    def __post_init__(self) -> None:
        for name in (
            "num_train_epochs",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "max_length",
            "save_steps",
            "keep_checkpoints",
            "logging_steps",
        ):
            check_positive_int(name, getattr(self, name))
        for name in ("learning_rate", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        check_lora_fields(self)
        check_literal_fields(self)
        lora = self.lora_r > 0 or is_adapter_folder(self.policy)
        check_weight_dtype(self.weight_dtype, lora=lora)
        if self.merge_lora and not lora:
            raise ValueError("merge_lora needs a LoRA run (lora_r > 0, or an adapter folder as the policy)")

    def lora_config(self):
        """The ``peft.LoraConfig`` of the ``lora_*`` fields (causal LM task), or None when ``lora_r`` is 0."""
        return lora_config_of(self)
