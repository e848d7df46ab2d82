"""Bradley–Terry reward-model training on preference pairs, readable top to bottom (one config dataclass).

Loss per pair: ``-log σ(r(prompt, chosen) − r(prompt, rejected) − margin)`` (+ optional reward centering). The
model is any ``AutoModelForSequenceClassification`` backbone with a fresh scalar head (``num_labels=1``), fully
fine-tuned, or frozen with ``peft`` LoRA adapters trained on its linear layers and the head trained in full (merged
into the weights before saving). Every ``eval_steps`` (default: each epoch) it is scored on a held-out split;
the best checkpoint (``metric_for_best_model``: highest held-out accuracy, then lowest loss; or lowest loss) is
kept, training stops early after ``early_stopping_patience`` evaluations without improvement, and the best model
is saved as a Hugging Face folder that :class:`~reward_models.HFRewardModel` loads, with its scoring settings and
normalisation in ``reward_model.json``.
"""

from __future__ import annotations

import json
import random
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from reward_models.common.devices import resolve_device
from reward_models.common.packaged import load_tokenizer, resolve_model_path
from reward_models.common.validation import check_positive_int
from reward_models.models.hf import HFRewardModel
from reward_models.preferences.pairs import PreferencePair, load_preferences
from reward_models.training.evaluation import evaluate_preferences
from reward_models.training.losses import bradley_terry_loss, preference_metrics

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
    output_dir: str = field(default="reward_model", metadata={"help": "where the trained HF folder is saved"})
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
    lora_rank: int = field(
        default=0,
        metadata={
            "help": "0: full fine-tuning; > 0: freeze the backbone and train rank-r peft LoRA adapters on "
            "lora_target_modules plus the whole head (adapters merged on save)"
        },
    )
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA scale numerator (scale = lora_alpha / lora_rank)"})
    lora_dropout: float = field(
        default=0.0, metadata={"help": "dropout on the LoRA adapters' input while training (needs lora_rank > 0)"}
    )
    lora_target_modules: list[str] = field(
        default_factory=lambda: [ALL_LINEAR],
        metadata={
            "help": "modules that get LoRA adapters: 'all-linear' (every Linear layer except the head) or module "
            "names / name suffixes such as 'query value' (needs lora_rank > 0)"
        },
    )
    eval_steps: int | None = field(
        default=None, metadata={"help": "evaluate every this many steps (None: once per epoch)"}
    )
    metric_for_best_model: Literal["accuracy", "loss"] = field(
        default="accuracy",
        metadata={
            "help": "held-out metric that picks the saved checkpoint: highest accuracy (ties: lowest loss) "
            "or lowest loss"
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
    device: str = field(default="auto", metadata={"help": "'cpu', 'cuda' or 'auto'"})
    seed: int = field(default=0, metadata={"help": "seed for the split, shuffling and head initialisation"})

    def __post_init__(self) -> None:
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        for name in ("max_length", "num_train_epochs", "batch_size", "logging_steps", "normalization_samples"):
            check_positive_int(name, getattr(self, name))
        for name in ("eval_steps", "early_stopping_patience"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be >= 0 (0 = full fine-tuning), got {self.lora_rank}")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if not self.lora_target_modules or not all(self.lora_target_modules):
            raise ValueError(f"lora_target_modules must be non-empty module names, got {self.lora_target_modules!r}")
        if ALL_LINEAR in self.lora_target_modules and len(self.lora_target_modules) > 1:
            raise ValueError(
                f"lora_target_modules is either ['{ALL_LINEAR}'] or a list of module names, got "
                f"{self.lora_target_modules!r}"
            )
        if self.lora_rank == 0 and (self.lora_dropout or self.lora_target_modules != [ALL_LINEAR]):
            raise ValueError(
                f"lora_dropout={self.lora_dropout} and lora_target_modules={self.lora_target_modules!r} only apply "
                "to LoRA training; set lora_rank > 0 or leave them at their defaults"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


@dataclass
class RewardTrainResult:
    """What training produced: the saved folder, the best held-out metrics, and every evaluation."""

    output_dir: Path
    best_metrics: dict[str, float]
    history: list[dict[str, float]]
    steps: int


def split_by_prompt(
    pairs: list[PreferencePair], eval_fraction: float, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Hold out ``eval_fraction`` of the distinct prompts (at least one when the fraction is > 0)."""
    prompts = sorted({p.prompt for p in pairs})
    random.Random(seed).shuffle(prompts)
    count = 0 if eval_fraction == 0 else max(1, round(eval_fraction * len(prompts)))
    if count >= len(prompts) and count:
        raise ValueError(
            f"eval_fraction={eval_fraction} leaves no training prompts ({len(prompts)} distinct "
            "prompts); lower it or pass eval_file"
        )
    held_out = set(prompts[:count])
    return [p for p in pairs if p.prompt not in held_out], [p for p in pairs if p.prompt in held_out]


def _load_pairs(name: str, path: str) -> list[PreferencePair]:
    pairs = load_preferences(path)
    if not pairs:
        raise ValueError(f"{name} {path} holds no preference pairs (an empty file, or every label undone)")
    return pairs


def _add_lora_adapters(model: nn.Module, config: RewardTrainerConfig) -> nn.Module:
    """Wrap a sequence classifier in a ``peft`` LoRA model: the backbone frozen, rank-``lora_rank`` adapters on
    ``lora_target_modules`` and the whole classification head (``classifier`` / ``score``) trainable."""
    from peft import LoraConfig, TaskType, get_peft_model

    targets = config.lora_target_modules
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=ALL_LINEAR if targets == [ALL_LINEAR] else list(targets),
    )
    names = [name for name, _ in model.named_modules()]
    if targets != [ALL_LINEAR] and not any(n == t or n.endswith("." + t) for n in names for t in targets):
        linear_names = sorted({n.rpartition(".")[2] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(
            f"lora_target_modules={targets!r} matches no module of {type(model).__name__}; its Linear layers are "
            f"named {linear_names} (or use '{ALL_LINEAR}')"
        )
    with warnings.catch_warnings():
        # peft 0.21 reads transformers' deprecated `is_gradient_checkpointing` alias in PeftModel.__init__ (a
        # FutureWarning under transformers 5); nothing we pass avoids it, and the flag it reads is not ours to set
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        peft_model = get_peft_model(model, lora)
    if not any("modules_to_save" in name for name, p in peft_model.named_parameters() if p.requires_grad):
        raise ValueError(
            f"{type(model).__name__} has no classification head named 'classifier' or 'score' for peft to train "
            "in full; train it with lora_rank=0 (full fine-tuning)"
        )
    return peft_model


def _load_backbone(config: RewardTrainerConfig) -> HFRewardModel:
    from transformers import AutoModelForSequenceClassification

    path = resolve_model_path(config.model)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, ignore_mismatched_sizes=True)
    return HFRewardModel(
        model,
        load_tokenizer(path),
        include_prompt=config.include_prompt,
        max_length=config.max_length,
        max_batch_size=2 * config.batch_size,
        device=resolve_device(config.device),
        normalize=False,
    )


def train_reward_model(
    config: RewardTrainerConfig,
    train_pairs: list[PreferencePair] | None = None,
    eval_pairs: list[PreferencePair] | None = None,
) -> RewardTrainResult:
    """Train a reward model per ``config`` and save it to ``config.output_dir``.

    ``train_pairs``/``eval_pairs`` override ``config.train_file``/``config.eval_file`` (e.g. data built in code).
    """
    from torch.utils.tensorboard import SummaryWriter

    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    if train_pairs is None:
        train_pairs = _load_pairs("train_file", config.train_file)
    if eval_pairs is None:
        if config.eval_file is not None:
            eval_pairs = _load_pairs("eval_file", config.eval_file)
        else:
            train_pairs, eval_pairs = split_by_prompt(train_pairs, config.eval_fraction, config.seed)
    if not train_pairs:
        raise ValueError("no training pairs")

    reward_model = _load_backbone(config)
    if config.lora_rank:
        reward_model.model = _add_lora_adapters(reward_model.model, config)
    model = reward_model.model
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    parameters = list(trainable.values())
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(train_pairs) // config.batch_size)
    total_steps = steps_per_epoch * config.num_train_epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / total_steps)
    eval_steps = config.eval_steps or steps_per_epoch
    output_dir = Path(config.output_dir)
    writer = SummaryWriter(config.logging_dir or str(output_dir / "runs"))

    best_key, best_state, best_metrics, history = None, None, {}, []
    evaluations_since_best, step, stop = 0, 0, False
    generator = torch.Generator().manual_seed(config.seed)
    bar = tqdm(total=total_steps, desc="reward model", unit="step")
    for epoch in range(config.num_train_epochs):
        order = torch.randperm(len(train_pairs), generator=generator).tolist()
        for start in range(0, len(order), config.batch_size):
            batch = [train_pairs[i] for i in order[start : start + config.batch_size]]
            model.train()
            prompts = [p.prompt for p in batch] * 2
            completions = [p.chosen for p in batch] + [p.rejected for p in batch]
            rewards = reward_model.forward(reward_model.encode(prompts, completions)).float()
            chosen, rejected = rewards[: len(batch)], rewards[len(batch) :]
            margin = (
                torch.tensor([p.margin or 0.0 for p in batch], device=rewards.device) if config.use_margin else None
            )
            loss = bradley_terry_loss(chosen, rejected, margin, config.center_rewards_coefficient)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            train_metrics = {"loss": loss.item(), **preference_metrics(chosen, rejected)}
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{train_metrics['loss']:.3f}", acc=f"{train_metrics['accuracy']:.2f}")
            if step % config.logging_steps == 0:
                for name, value in train_metrics.items():
                    writer.add_scalar(f"train/{name}", value, step)
                writer.add_scalar("train/learning_rate", scheduler.get_last_lr()[0], step)

            if eval_pairs and (step % eval_steps == 0 or step == total_steps):
                model.eval()
                metrics = evaluate_preferences(
                    reward_model.raw_score,
                    eval_pairs,
                    use_margin=config.use_margin,
                    center_rewards_coefficient=config.center_rewards_coefficient,
                )
                metrics.update(step=float(step), epoch=epoch + (start + len(batch)) / len(order))
                history.append(metrics)
                for name in ("loss", "accuracy", "margin"):
                    writer.add_scalar(f"eval/{name}", metrics[name], step)
                key = (
                    (metrics["accuracy"], -metrics["loss"])
                    if config.metric_for_best_model == "accuracy"
                    else (-metrics["loss"],)
                )
                improved = best_key is None or key > best_key
                tqdm.write(
                    f"step {step}: eval loss {metrics['loss']:.4f}  accuracy {metrics['accuracy']:.4f}  "
                    f"margin {metrics['margin']:.3f}{'  (best)' if improved else ''}"
                )
                if improved:
                    best_key, best_metrics, evaluations_since_best = key, metrics, 0
                    best_state = {name: p.detach().clone() for name, p in trainable.items()}
                else:
                    evaluations_since_best += 1
                    stop = (
                        config.early_stopping_patience is not None
                        and evaluations_since_best >= config.early_stopping_patience
                    )
            if stop:
                tqdm.write(
                    f"early stopping at step {step}: no better eval {config.metric_for_best_model} in "
                    f"{config.early_stopping_patience} evaluations"
                )
                break
        if stop:
            break
    bar.close()
    writer.close()

    if best_state is not None:
        with torch.no_grad():
            for name, value in best_state.items():
                trainable[name].copy_(value)
    if config.lora_rank:
        reward_model.model = model.merge_and_unload()
    reward_model.model.eval()
    if config.normalize:
        completions = sorted({(p.prompt, c) for p in train_pairs for c in (p.chosen, p.rejected)})
        random.Random(config.seed).shuffle(completions)
        reference = completions[: config.normalization_samples]
        reward_model.fit_normalization([p for p, _ in reference], [c for _, c in reference])
    reward_model.normalize = config.normalize
    reward_model.save_pretrained(output_dir)
    result = RewardTrainResult(output_dir, best_metrics, history, step)
    (output_dir / "train_results.json").write_text(
        json.dumps(
            {"config": asdict(config), "best_metrics": best_metrics, "history": history, "steps": step}, indent=2
        )
        + "\n"
    )
    return result
