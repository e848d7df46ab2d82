"""Bradley–Terry reward-model training on preference pairs with ``transformers.Trainer``.

Loss per pair: ``-log σ(r(prompt, chosen) − r(prompt, rejected) − margin)`` (+ optional reward centering, TRL's
``center_rewards_coefficient``). The model is any ``AutoModelForSequenceClassification`` backbone with a fresh
scalar head (``num_labels=1``), fully fine-tuned, or frozen with ``peft`` LoRA adapters on its linear layers and
the head trained in full (peft's ``modules_to_save``). ``transformers.Trainer`` runs the loop: seeding, AdamW with
a linear decay to 0, gradient clipping, evaluation every ``eval_steps`` (default: each epoch, and always at the
end), the best checkpoint by ``metric_for_best_model`` (``load_best_model_at_end``), ``EarlyStoppingCallback``
and ``TensorBoardCallback``. The best model is saved as a Hugging Face folder (full fine-tuning) or a peft adapter
folder (LoRA), either of which ``HFRewardModel`` loads, with its scoring settings and normalisation in
``reward_model.json`` and the run in ``train_results.json``.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from reward_models.common.devices import check_trainer_device, resolve_device
from reward_models.common.packaged import load_tokenizer, resolve_model_path
from reward_models.common.quiet import hf_progress_bars_disabled, peft_checkpointing_warning_silenced
from reward_models.models.hf import HFRewardModel
from reward_models.preferences.conversation import render_pairs
from reward_models.preferences.pairs import PreferencePair, load_preferences
from reward_models.training.config import ALL_LINEAR, RewardTrainerConfig

__all__ = ["RewardTrainResult", "RewardTrainerConfig", "split_by_prompt", "train_reward_model"]

_EVAL_METRICS = ("loss", "accuracy", "margin", "num_pairs")


@dataclass
class RewardTrainResult:
    """What training produced: the saved folder, the best held-out metrics, every evaluation, the steps run, and
    the trained model as it was saved (for a LoRA run the peft model, adapters unmerged)."""

    output_dir: Path
    best_metrics: dict[str, float]
    history: list[dict[str, float]]
    steps: int
    reward_model: HFRewardModel


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
    """Wrap a sequence classifier in a ``peft`` LoRA model: the backbone frozen, rank-``lora_r`` adapters on
    ``lora_target_modules`` and the whole classification head (``classifier`` / ``score``) trainable."""
    from peft import LoraConfig, TaskType, get_peft_model

    targets = config.lora_target_modules
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
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
    with peft_checkpointing_warning_silenced():
        peft_model = get_peft_model(model, lora)
    if not any("modules_to_save" in name for name, p in peft_model.named_parameters() if p.requires_grad):
        raise ValueError(
            f"{type(model).__name__} has no classification head named 'classifier' or 'score' for peft to train "
            "in full; train it with lora_r=0 (full fine-tuning)"
        )
    return peft_model


def _name_adapter_base(folder: Path, model: str) -> None:
    """Name the adapter's base as the user did: ``"minilm"`` (or a hub id) then resolves offline on any machine,
    where the resolved folder (peft's default, which its save checks for ``config.json``) is this machine's path; a
    local folder is named by its absolute path, so the adapter loads from any working directory."""
    from peft import PeftConfig

    adapter = PeftConfig.from_pretrained(str(folder))
    adapter.base_model_name_or_path = str(Path(model).resolve()) if Path(model).is_dir() else model
    adapter.save_pretrained(str(folder))


def _load_backbone(config: RewardTrainerConfig, device: torch.device) -> HFRewardModel:
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    path = resolve_model_path(config.model)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the new scalar head is reported as newly initialised: that is the point here
    try:
        with hf_progress_bars_disabled():
            model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, ignore_mismatched_sizes=True)
    finally:
        logging.set_verbosity(verbosity)
    return HFRewardModel(
        model,
        load_tokenizer(path),
        include_prompt=config.include_prompt,
        max_length=config.max_length,
        max_batch_size=2 * config.batch_size,
        device=device,
        normalize=False,
    )


def _training_arguments(config: RewardTrainerConfig, checkpoints: str, device: torch.device, evaluate: bool):
    """``TrainingArguments`` for ``config``: checkpoints (model only, the best and the latest) in ``checkpoints``,
    evaluation and checkpointing at the same times (none when not ``evaluate``), transformers' console silent."""
    from transformers import TrainingArguments

    if not evaluate:
        strategy, every = "no", {}
    elif config.eval_steps is None:
        strategy, every = "epoch", {}
    else:
        strategy, every = "steps", {"eval_steps": config.eval_steps, "save_steps": config.eval_steps}
    args = TrainingArguments(
        output_dir=checkpoints,
        num_train_epochs=config.num_train_epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        optim="adamw_torch",
        eval_strategy=strategy,
        save_strategy=strategy,
        **every,
        save_only_model=True,
        save_total_limit=1,
        load_best_model_at_end=evaluate,
        metric_for_best_model=config.metric_for_best_model,
        logging_steps=config.logging_steps,
        report_to="none",  # tensorboard: the TensorBoardCallback added in train_reward_model, into logging_dir
        disable_tqdm=True,
        log_level="warning",
        label_names=[],
        remove_unused_columns=False,
        dataloader_pin_memory=False,  # the collator's tensors are already on the training device
        use_cpu=device.type == "cpu",
        seed=config.seed,
        data_seed=config.seed,
    )
    check_trainer_device(args.device, device, config.device)
    return args


def train_reward_model(
    config: RewardTrainerConfig,
    train_pairs: list[PreferencePair] | None = None,
    eval_pairs: list[PreferencePair] | None = None,
) -> RewardTrainResult:
    """Train a reward model per ``config`` and save it to ``config.output_dir``.

    Args:
        config: the run's settings.
        train_pairs, eval_pairs: override ``config.train_file`` / ``config.eval_file`` (e.g. data built in code).

    Conversation pairs (a list of messages as ``prompt``) are scored as the text pair (``config.chat_tokenizer``'s
    chat-template render of the conversation with the generation prompt, the assistant turn's text): what a chat env
    passes its ``reward_model`` for an agent turn (``reward_models.render_pairs``).

    Returns:
        The saved folder, the best evaluation's metrics (``loss``, ``accuracy``, ``margin``, ``num_pairs``, ``step``,
        ``epoch``; empty without held-out pairs), every evaluation's, the number of optimisation steps run, and the
        trained model.
    """
    from torch.utils.tensorboard import SummaryWriter
    from transformers import EarlyStoppingCallback, PrinterCallback, TrainerCallback, set_seed
    from transformers.integrations import TensorBoardCallback

    from reward_models.training.bradley_terry_trainer import (
        BradleyTerryTrainer,
        ConsoleProgress,
        PreferenceCollator,
        compute_metrics,
    )

    set_seed(config.seed)
    chat_tokenizer = None if config.chat_tokenizer is None else load_tokenizer(config.chat_tokenizer)
    if train_pairs is None:
        train_pairs = _load_pairs("train_file", config.train_file)
    train_pairs = render_pairs(train_pairs, chat_tokenizer)
    if eval_pairs is None:
        if config.eval_file is not None:
            eval_pairs = render_pairs(_load_pairs("eval_file", config.eval_file), chat_tokenizer)
        else:
            train_pairs, eval_pairs = split_by_prompt(train_pairs, config.eval_fraction, config.seed)
    else:
        eval_pairs = render_pairs(eval_pairs, chat_tokenizer)
    if not train_pairs:
        raise ValueError("no training pairs")
    if not eval_pairs and config.early_stopping_patience is not None:
        raise ValueError(
            f"early_stopping_patience={config.early_stopping_patience} needs held-out pairs: pass eval_file or "
            "set eval_fraction > 0"
        )

    device = resolve_device(config.device)
    reward_model = _load_backbone(config, device)
    if config.lora_r:
        reward_model.model = _add_lora_adapters(reward_model.model, config)
    output_dir = Path(config.output_dir)
    with tempfile.TemporaryDirectory(prefix="reward-checkpoints-") as checkpoints:
        args = _training_arguments(config, checkpoints, device, evaluate=bool(eval_pairs))
        callbacks: list[TrainerCallback] = [
            TensorBoardCallback(SummaryWriter(config.logging_dir or str(output_dir / "runs"))),
            ConsoleProgress(config.metric_for_best_model, config.early_stopping_patience),
        ]
        if config.early_stopping_patience is not None:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
        trainer = BradleyTerryTrainer(
            model=reward_model.model,
            args=args,
            data_collator=PreferenceCollator(reward_model, config.use_margin),
            train_dataset=train_pairs,
            eval_dataset=eval_pairs or None,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
            reward_model=reward_model,
            center_rewards_coefficient=config.center_rewards_coefficient,
        )
        trainer.remove_callback(PrinterCallback)  # it prints every log dict; ConsoleProgress is our console
        trainer.train()  # ends with the best checkpoint's weights loaded into reward_model.model (if evaluated)
    history = [
        {
            **{name: float(entry[f"eval_{name}"]) for name in _EVAL_METRICS},
            "step": float(entry["step"]),
            "epoch": float(entry["epoch"]),
        }
        for entry in trainer.state.log_history
        if "eval_loss" in entry
    ]
    best_metrics = next((h for h in history if h["step"] == trainer.state.best_global_step), {})

    reward_model.model.eval()
    if config.normalize:
        completions = sorted({(p.prompt, c) for p in train_pairs for c in (p.chosen, p.rejected)})
        random.Random(config.seed).shuffle(completions)
        reference = completions[: config.normalization_samples]
        reward_model.fit_normalization([p for p, _ in reference], [c for _, c in reference])
    reward_model.normalize = config.normalize
    reward_model.save_pretrained(output_dir)
    if config.lora_r:
        _name_adapter_base(output_dir, config.model)
        reward_model.model.get_base_model().config.save_pretrained(output_dir)  # num_labels, pad token: for loading
    steps = trainer.state.global_step
    (output_dir / "train_results.json").write_text(
        json.dumps(
            {"config": asdict(config), "best_metrics": best_metrics, "history": history, "steps": steps}, indent=2
        )
        + "\n"
    )
    return RewardTrainResult(output_dir, best_metrics, history, steps, reward_model)
