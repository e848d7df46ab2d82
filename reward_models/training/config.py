"""``RewardTrainerConfig``: the settings of Bradley–Terry reward-model training (``train_reward_model``).

Names follow TRL's ``RewardConfig`` / ``transformers.TrainingArguments`` where one exists, and the agents' LoRA
flags (``lora_r``, ``lora_alpha``, ``lora_dropout``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reward_models.common.deprecation import apply_deprecated_aliases
from reward_models.common.validation import check_positive_int

ALL_LINEAR = "all-linear"
"""``lora_target_modules`` value meaning every linear layer but the head (peft's shorthand)."""


@dataclass
class RewardTrainerConfig:
    """Bradley–Terry reward-model training (names follow TRL's RewardConfig where one exists)."""

    model: str = field(
        default="minilm",
        metadata={
            "help": "backbone: hub id, local folder or 'minilm' (packaged); loaded as a sequence classifier with a new "
            "scalar head"
        },
    )
    train_file: str = field(default="preferences.jsonl", metadata={"help": "preference JSONL file to train on"})
    eval_file: str | None = field(
        default=None,
        metadata={"help": "held-out preference file; default: split eval_fraction of the train file's prompts off"},
    )
    eval_fraction: float = field(
        default=0.1,
        metadata={
            "help": "fraction of prompts held out when eval_file is None (split by prompt, so no prompt is in both)"
        },
    )
    output_dir: str = field(
        default="reward_model",
        metadata={"help": "where the trained model is saved: an HF folder, or a peft adapter folder when lora_r > 0"},
    )
    chat_tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "conversation pairs only: the chat env's (the policy's) tokenizer, hub id, folder or 'smollm2', "
            "whose chat template renders each conversation into the context text the env scores a turn in"
        },
    )
    include_prompt: bool = field(
        default=True,
        metadata={"help": "score the (prompt, completion) text pair; --no-include-prompt scores the completion alone"},
    )
    max_length: int = field(default=256, metadata={"help": "tokens per scored text (longer inputs are truncated)"})
    num_train_epochs: int = field(default=3, metadata={"help": "passes over the training pairs"})
    batch_size: int = field(default=16, metadata={"help": "preference pairs per optimisation step"})
    learning_rate: float = field(
        default=5e-5, metadata={"help": "AdamW learning rate, decayed linearly to 0 over training"}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient-norm clipping threshold"})
    center_rewards_coefficient: float | None = field(
        default=None,
        metadata={
            "help": "weight of the reward-centering loss mean((r+ + r-)^2) (TRL's name; None: off; ~0.01 is typical)"
        },
    )
    use_margin: bool = field(
        default=False, metadata={"help": "subtract each row's 'margin' inside the loss: -log sigmoid(r+ - r- - margin)"}
    )
    lora_r: int = field(
        default=0,
        metadata={
            "help": "0: full fine-tuning; > 0: freeze the backbone and train rank-r peft LoRA adapters on "
            "lora_target_modules plus the whole head (saved as a peft adapter folder)"
        },
    )
    lora_rank: int | None = field(
        default=None, metadata={"help": "deprecated alias of lora_r", "deprecated_alias_of": "lora_r"}
    )
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA scale numerator (scale = lora_alpha / lora_r)"})
    lora_dropout: float = field(
        default=0.0, metadata={"help": "dropout on the LoRA adapters' input while training (needs lora_r > 0)"}
    )
    lora_target_modules: list[str] = field(
        default_factory=lambda: [ALL_LINEAR],
        metadata={
            "help": "modules that get LoRA adapters: 'all-linear' (every Linear layer except the head) or module "
            "names / name suffixes such as 'query value' (needs lora_r > 0)"
        },
    )
    eval_steps: int | None = field(
        default=None, metadata={"help": "evaluate every this many steps (None: once per epoch)"}
    )
    metric_for_best_model: Literal["accuracy", "loss"] = field(
        default="accuracy",
        metadata={
            "help": "held-out metric that picks the saved checkpoint: highest accuracy (ties: the earlier "
            "evaluation) or lowest loss"
        },
    )
    early_stopping_patience: int | None = field(
        default=None,
        metadata={
            "help": "stop after this many evaluations without a better metric_for_best_model (None: never stop early)"
        },
    )
    normalize: bool = field(
        default=True,
        metadata={
            "help": "store mean/std so saved scores have mean 0, std 1 on a reference sample of training completions"
        },
    )
    normalization_samples: int = field(
        default=1024, metadata={"help": "training completions in the normalisation reference sample"}
    )
    logging_steps: int = field(default=10, metadata={"help": "log train metrics to tensorboard every this many steps"})
    logging_dir: str | None = field(default=None, metadata={"help": "tensorboard folder (default: <output_dir>/runs)"})
    device: str = field(default="auto", metadata={"help": "'auto' (cuda, else mps, else cpu), 'cpu', 'cuda' or 'mps'"})
    seed: int = field(default=0, metadata={"help": "seed for the split, shuffling and head initialisation"})

    def __post_init__(self) -> None:
        apply_deprecated_aliases(self)
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        for name in ("max_length", "num_train_epochs", "batch_size", "logging_steps", "normalization_samples"):
            check_positive_int(name, getattr(self, name))
        for name in ("eval_steps", "early_stopping_patience"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        if self.lora_r < 0:
            raise ValueError(f"lora_r must be >= 0 (0 = full fine-tuning), got {self.lora_r}")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if not self.lora_target_modules or not all(self.lora_target_modules):
            raise ValueError(f"lora_target_modules must be non-empty module names, got {self.lora_target_modules!r}")
        if ALL_LINEAR in self.lora_target_modules and len(self.lora_target_modules) > 1:
            raise ValueError(
                f"lora_target_modules is either ['{ALL_LINEAR}'] or a list of module names, got "
                f"{self.lora_target_modules!r}"
            )
        if self.lora_r == 0 and (self.lora_dropout or self.lora_target_modules != [ALL_LINEAR]):
            raise ValueError(
                f"lora_dropout={self.lora_dropout} and lora_target_modules={self.lora_target_modules!r} only apply "
                "to LoRA training; set lora_r > 0 or leave them at their defaults"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
