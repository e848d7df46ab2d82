"""Supervised fine-tuning of a policy on conversations with ``transformers.Trainer``, the loss on the assistant's
tokens only.

The policy is loaded as the RL agents load theirs (``LMPolicy.from_pretrained``: a hub id, a folder, ``"smollm2"``,
a saved agent or adapter folder; LoRA adapters from the ``lora_*`` fields by ``peft_config_for``; the base weights
in ``weight_dtype``). Each conversation becomes the token context a chat env builds, labelled on the assistant's
tokens (``agents.sft.masking.assistant_labels``); ``transformers.Trainer`` runs the loop (AdamW, linear decay to 0,
gradient clipping and accumulation, the causal-LM loss averaged over the labelled tokens of each optimizer step,
mixed precision from ``compute_dtype``), checkpoints every ``save_steps`` into ``<output_dir>/checkpoints`` and
logs the loss to ``<output_dir>/tensorboard``. Rerun with the same ``output_dir`` (and the same settings and data),
a killed run resumes from its last complete checkpoint: weights, optimizer, schedule, data order and random
state, the global step continuing. The trained policy is written atomically to ``<output_dir>/final``: a plain HF
folder (full fine-tuning) or a peft adapter folder naming its base by absolute path or hub id (LoRA), either of
which loads wherever a policy is asked for (``--policy``, ``PPO(path, env)``, the labelling page); with
``merge_lora`` also the merged full model in ``<output_dir>/final-merged``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from agents.common.model_setup import peft_config_for
from agents.common.policy import LMPolicy
from agents.sft.config import SFTConfig
from agents.sft.conversations import check_messages, read_conversations
from agents.sft.masking import IGNORE_INDEX, assistant_labels
from reward_models.common import load_tokenizer, resolve_device, resolve_dtype, write_folder_atomically
from reward_models.common.devices import check_trainer_device
from reward_models.common.quiet import hf_progress_bars_disabled
from text_gym.chat.template import ChatTemplate
from text_gym.chat.users import Message

CHECKPOINTS = "checkpoints"
FINAL = "final"
MERGED = "final-merged"
TENSORBOARD = "tensorboard"
SUMMARY = "summary.json"
RUN_RECORD = "sft_run.json"
"""In ``<output_dir>/checkpoints``: the settings and data digest of the run the checkpoints belong to (a resumed
run must match them)."""
_NOT_RECORDED = ("output_dir", "data", "progress_bar", "merge_lora")  # the data is recorded by its digest


@dataclass
class SFTResult:
    """What ``train_sft`` produced.

    Attributes:
        output_dir: the trained policy's folder (``<output_dir>/final``).
        merged_dir: with ``merge_lora``, the merged full model's folder (``<output_dir>/final-merged``); else None.
        steps: optimizer steps of the whole run (a resumed run counts the steps before the kill too).
        train_loss: Trainer's ``training_loss``: the mean training loss over the steps this call ran.
        loss_history: ``{"step", "loss"}`` of every logged step of the whole run.
        resumed_from: the checkpoint this call resumed from, or None.
        num_conversations: conversations trained on.
        num_labelled_tokens: assistant tokens (the ones in the loss) over all conversations, one epoch.
        policy: the trained policy in memory (its adapters unmerged for LoRA).
    """

    output_dir: Path
    merged_dir: Path | None
    steps: int
    train_loss: float
    loss_history: list[dict[str, float]]
    resumed_from: Path | None
    num_conversations: int
    num_labelled_tokens: int
    policy: LMPolicy


@dataclass
class PaddingCollator:
    """Batch ``{"input_ids", "labels"}`` rows of different lengths: right-padded to the longest row ``S``, as
    ``{"input_ids", "attention_mask", "labels"}`` long tensors ``[batch, S]`` (padding: ``pad_token_id``, mask 0,
    label ``IGNORE_INDEX``)."""

    pad_token_id: int

    def __call__(self, rows: Sequence[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(row["input_ids"]) for row in rows)
        batch = {
            "input_ids": torch.full((len(rows), width), self.pad_token_id, dtype=torch.long),
            "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
            "labels": torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long),
        }
        for k, row in enumerate(rows):
            length = len(row["input_ids"])
            batch["input_ids"][k, :length] = torch.tensor(row["input_ids"])
            batch["attention_mask"][k, :length] = 1
            batch["labels"][k, :length] = torch.tensor(row["labels"])
        return batch


def encode_conversations(
    template: ChatTemplate, sources: Sequence[tuple[str, list[Message]]], max_length: int, truncation: str
) -> list[dict[str, list[int]]]:
    """``{"input_ids", "labels"}`` of each ``(where, messages)`` (``assistant_labels``), cut or refused at
    ``max_length`` tokens per ``truncation``.

    Args:
        template: the policy tokenizer's chat template.
        sources: the conversations, each with where it comes from (named in errors).
        max_length: tokens per conversation.
        truncation: ``"error"``: a longer conversation is an error; ``"right"``: its first ``max_length`` tokens.

    Raises:
        ValueError: naming the conversation: a bad message (``assistant_labels``), a conversation over
            ``max_length`` (``truncation="error"``), or one cut before its first assistant token.
    """
    rows = []
    for where, messages in sources:
        try:
            input_ids, labels = assistant_labels(template, messages)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if len(input_ids) > max_length:
            if truncation == "error":
                raise ValueError(
                    f"{where}: the conversation has {len(input_ids)} tokens, more than max_length={max_length}; "
                    "raise max_length or pass truncation='right' to keep its first max_length tokens"
                )
            input_ids, labels = input_ids[:max_length], labels[:max_length]
            if all(label == IGNORE_INDEX for label in labels):
                raise ValueError(
                    f"{where}: its first assistant token lies beyond max_length={max_length} tokens, so nothing of "
                    "it is left to learn; raise max_length"
                )
        rows.append({"input_ids": input_ids, "labels": labels})
    return rows


def check_positions(
    model: torch.nn.Module, rows: Sequence[dict[str, list[int]]], sources: Sequence[tuple[str, Any]]
) -> None:
    """``ValueError`` naming the first row longer than ``model``'s position limit (``max_position_embeddings`` /
    ``n_positions``, when its config has one)."""
    config = model.config
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if positions is None:
        return
    for row, (where, _) in zip(rows, sources, strict=True):
        if len(row["input_ids"]) > positions:
            raise ValueError(
                f"{where}: the conversation has {len(row['input_ids'])} tokens, more than the policy's {positions} "
                f"positions; pass max_length={positions} and truncation='right', or leave it out"
            )


def _run_record(config: SFTConfig, rows: list[dict[str, list[int]]]) -> dict[str, Any]:
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_RECORDED}
    digest = hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()
    return {"config": settings, "data_sha256": digest}


def _step_of(folder: Path) -> int | None:
    """The step of a complete Trainer checkpoint folder ``checkpoint-<step>``, None for anything else. Trainer
    writes ``trainer_state.json`` last: a folder without a readable one is a checkpoint cut short by a kill."""
    name, _, step = folder.name.partition("-")
    if name != "checkpoint" or not step.isdigit() or not folder.is_dir():
        return None
    try:
        state = json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return None
    return int(step) if state.get("global_step") == int(step) else None


def checkpoint_to_resume(checkpoints: Path, record: dict[str, Any]) -> Path | None:
    """The last complete checkpoint in ``checkpoints`` to resume from (None: start afresh), after removing the
    checkpoint folders a kill cut short.

    Raises:
        ValueError: the checkpoints belong to a run with other settings or data (``record`` differs from the
            recorded one), naming what differs.
    """
    if not checkpoints.is_dir():
        return None
    folders = [f for f in checkpoints.iterdir() if f.name.startswith("checkpoint-") and f.is_dir()]
    complete = [f for f in folders if _step_of(f) is not None]
    if not complete:
        return None
    path = checkpoints / RUN_RECORD
    if not path.is_file():
        raise ValueError(
            f"{checkpoints} holds checkpoints that text-gym sft did not write (no {RUN_RECORD}); pass another "
            "output_dir"
        )
    saved = json.loads(path.read_text())
    if saved != record:
        differences = [
            f"{name}: {saved['config'].get(name)!r} there, {value!r} here"
            for name, value in record["config"].items()
            if saved["config"].get(name) != value
        ]
        if saved["data_sha256"] != record["data_sha256"]:
            differences.append("the conversations differ")
        raise ValueError(
            f"{checkpoints.parent} holds checkpoints of an SFT run with other settings ({'; '.join(differences)}); "
            "rerun with those settings to resume it, or pass another output_dir"
        )
    for folder in set(folders) - set(complete):
        shutil.rmtree(folder, ignore_errors=True)
    return max(complete, key=_step_of)


def _training_arguments(config: SFTConfig, checkpoints: Path, device: torch.device):
    """``TrainingArguments`` of ``config``: checkpoints with the optimizer, schedule and RNG states (for resume)
    every ``save_steps`` in ``checkpoints``, transformers' own console output off."""
    from transformers import TrainingArguments

    args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.num_train_epochs,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        bf16=config.compute_dtype == "bfloat16",
        fp16=config.compute_dtype == "float16",
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.keep_checkpoints,
        logging_steps=config.logging_steps,
        report_to="none",  # tensorboard: the TensorBoardCallback added in train_sft, into <output_dir>/tensorboard
        disable_tqdm=False,  # True would add PrinterCallback, which prints every log dict
        log_level="error",
        label_names=["labels"],
        remove_unused_columns=False,
        dataloader_pin_memory=False,
        use_cpu=device.type == "cpu",
        seed=config.seed,
        data_seed=config.seed,
    )
    check_trainer_device(args.device, device, config.device)
    return args


def train_sft(
    config: SFTConfig, conversations: Sequence[Sequence[Message]] | None = None, callbacks: Sequence[Any] = ()
) -> SFTResult:
    """Fine-tune ``config.policy`` on conversations and save it to ``<config.output_dir>/final``.

    Args:
        config: the run's settings.
        conversations: conversations given in code (lists of ``{"role", "content"}`` messages) instead of the
            ``config.data`` file.
        callbacks: more ``transformers.TrainerCallback`` instances for the Trainer (to log, or to stop the run).

    Returns:
        The ``SFTResult``: the saved folder, the steps, the losses and the trained policy.

    Raises:
        FileNotFoundError: no ``config.data`` file.
        ValueError: a bad row or conversation (naming its file and line), a tokenizer without a chat template,
            a conversation too long (``max_length``), or checkpoints in ``output_dir`` of a run with other settings.
            Nothing is written before the data and the checkpoints are checked.
    """
    from accelerate.utils import extract_model_from_parallel
    from torch.utils.tensorboard import SummaryWriter
    from transformers import PrinterCallback, ProgressCallback, Trainer, set_seed
    from transformers.integrations import TensorBoardCallback

    from agents.sft.progress import LossProgressCallback

    start = time.perf_counter()
    if conversations is None:
        sources = read_conversations(config.data)
    else:
        sources = [
            (f"conversations[{i}]", check_messages(c, f"conversations[{i}]")) for i, c in enumerate(conversations)
        ]
        if not sources:
            raise ValueError("conversations is empty")
    template = ChatTemplate(load_tokenizer(config.policy))
    rows = encode_conversations(template, sources, config.max_length, config.truncation)
    output = Path(config.output_dir)
    checkpoints = output / CHECKPOINTS
    record = _run_record(config, rows)
    resume = checkpoint_to_resume(checkpoints, record)

    set_seed(config.seed)  # the LoRA initialisation
    device = resolve_device(config.device)
    policy = LMPolicy.from_pretrained(
        config.policy,
        dtype=resolve_dtype(config.weight_dtype),
        peft_config=peft_config_for(config.policy, None, config),
    )
    check_positions(policy.causal_lm, rows, sources)
    args = _training_arguments(config, checkpoints, device)
    checkpoints.mkdir(parents=True, exist_ok=True)
    (checkpoints / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    pad = template.tokenizer.pad_token_id
    trainer = Trainer(
        model=policy.model,
        args=args,
        data_collator=PaddingCollator(0 if pad is None else int(pad)),
        train_dataset=rows,
        callbacks=[TensorBoardCallback(SummaryWriter(str(output / TENSORBOARD))), *callbacks],
    )
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    if config.progress_bar:
        trainer.add_callback(LossProgressCallback())
    with hf_progress_bars_disabled():
        run = trainer.train(resume_from_checkpoint=None if resume is None else str(resume))
    # Mixed precision patched the model's forward with autocast; the returned policy computes as its saved folder.
    extract_model_from_parallel(policy.model, keep_fp32_wrapper=False)
    final = output / FINAL
    history = [{"step": e["step"], "loss": e["loss"]} for e in trainer.state.log_history if "loss" in e]
    result = SFTResult(
        output_dir=final,
        merged_dir=output / MERGED if config.merge_lora else None,
        steps=trainer.state.global_step,
        train_loss=float(run.training_loss),
        loss_history=history,
        resumed_from=resume,
        num_conversations=len(rows),
        num_labelled_tokens=sum(sum(label != IGNORE_INDEX for label in row["labels"]) for row in rows),
        policy=policy,
    )
    if trainer.is_world_process_zero():
        write_folder_atomically(final, policy.save_pretrained)
        if result.merged_dir is not None:
            write_folder_atomically(result.merged_dir, functools.partial(policy.save_pretrained, merge_adapters=True))
        summary = {
            "saved_to": str(final),
            "merged_to": None if result.merged_dir is None else str(result.merged_dir),
            "steps": result.steps,
            "train_loss": result.train_loss,
            "resumed_from": None if resume is None else str(resume),
            "conversations": result.num_conversations,
            "labelled_tokens": result.num_labelled_tokens,
            "wall_s": round(time.perf_counter() - start, 1),
            "config": dataclasses.asdict(config),
            "loss_history": history,
        }
        (output / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return result
