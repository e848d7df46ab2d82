"""Simulated preference labelling: sample k completions per prompt from a policy, rank them with a gold labeller.

Conversations of a chat env (``env``): ``text_gym.chat.labelling.label_conversations``, called by ``text-gym reward
label --env``.

Stands in for human annotators (the "gold" labeller of Gao et al. 2022): every pair of the k completions whose
gold scores differ by more than ``min_gold_gap`` becomes a row ``{"prompt", "chosen", "rejected"}`` with the
higher-scored completion as ``chosen``, appended crash-safely with ``PreferenceWriter``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from reward_models.base import check_scores
from reward_models.common.devices import resolve_device
from reward_models.common.lm import load_causal_lm
from reward_models.common.packaged import resolve_model_path
from reward_models.common.validation import check_positive_int
from reward_models.preferences.pairs import PreferencePair, PreferenceWriter
from reward_models.registry import make_reward_model


@dataclass
class LabelConfig:
    """Simulated labelling: sample completions from a policy and write gold-ranked preference pairs."""

    output: str = field(default="preferences.jsonl", metadata={"help": "preference JSONL file to append to"})
    prompts: str | None = field(
        default=None,
        metadata={
            "help": "prompt source, resolved by the CLI: a .txt (one per line) or .jsonl ('prompt' field) file, or "
            "text_gym's 'default:train|test|all'; none: default:train, or with env the env's own first messages"
        },
    )
    env: str | None = field(
        default=None,
        metadata={
            "help": "a chat env id (TextGenChat-v0, TextGenSupport-v0): label the next agent turn of conversations "
            "played through it with the policy, one per prompt and repeat, written as conversation pairs"
        },
    )
    policy: str = field(
        default="smollm2",
        metadata={"help": "causal LM that writes the completions: hub id, local folder or 'smollm2' (packaged)"},
    )
    gold: str = field(default="vader", metadata={"help": "reward-model spec string of the gold labeller"})
    completions_per_prompt: int = field(default=4, metadata={"help": "k completions sampled per prompt (>= 2)"})
    repeats: int = field(default=1, metadata={"help": "passes over the prompt list (each samples k new completions)"})
    max_new_tokens: int = field(
        default=24, metadata={"help": "tokens sampled per completion (with env: the env's max_turn_tokens)"}
    )
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (> 0)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus-sampling mass in (0, 1]"})
    min_gold_gap: float = field(
        default=0.0,
        metadata={"help": "write a pair only when |gold(chosen) - gold(rejected)| > this (ties are never written)"},
    )
    write_margin: bool = field(
        default=False,
        metadata={"help": "store the gold-score gap as the row's 'margin' (used by the Bradley-Terry loss if enabled)"},
    )
    batch_size: int = field(
        default=32, metadata={"help": "sequences generated per forward pass (text prompts only, not with env)"}
    )
    device: str = field(default="auto", metadata={"help": "'cpu', 'cuda', or 'auto'"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})

    def __post_init__(self) -> None:
        for name, low in (("completions_per_prompt", 2), ("repeats", 1), ("max_new_tokens", 1), ("batch_size", 1)):
            check_positive_int(name, getattr(self, name), minimum=low)
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.min_gold_gap < 0:
            raise ValueError(f"min_gold_gap must be >= 0, got {self.min_gold_gap}")
        if self.env is not None and self.batch_size != 32:
            raise ValueError(
                f"batch_size={self.batch_size} does not apply with env={self.env!r}: a chat env's candidate turns are "
                "sampled one conversation at a time"
            )


def load_policy(policy: str | object, device: torch.device) -> tuple[torch.nn.Module, object]:
    """Load a causal LM and its tokenizer (left padding, a pad token set) for batched sampling."""
    from transformers import AutoTokenizer

    path = resolve_model_path(str(policy))
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_causal_lm(path, device=device)
    return model, tokenizer


@torch.inference_mode()
def sample_completions(
    model: torch.nn.Module, tokenizer, prompts: Sequence[str], config: LabelConfig, progress: tqdm | None = None
) -> list[str]:
    """Sample one completion per entry of ``prompts`` (repeat a prompt to get several), ``batch_size`` at a time."""
    device = next(model.parameters()).device
    completions: list[str] = []
    for start in range(0, len(prompts), config.batch_size):
        chunk = list(prompts[start : start + config.batch_size])
        batch = tokenizer(chunk, return_tensors="pt", padding=True).to(device)
        output = model.generate(
            **batch,
            do_sample=True,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=0,
            max_new_tokens=config.max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
        )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        completions.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        if progress is not None:
            progress.update(len(chunk))
    return completions


def rank_pairs(
    prompt: str,
    completions: Sequence[str],
    gold_scores: np.ndarray,
    min_gold_gap: float = 0.0,
    write_margin: bool = False,
) -> list[PreferencePair]:
    """All pairs of ``completions`` whose gold scores differ by more than ``min_gold_gap``, higher one chosen."""
    pairs = []
    for i, j in itertools.combinations(range(len(completions)), 2):
        gap = float(gold_scores[i] - gold_scores[j])
        if abs(gap) <= min_gold_gap or completions[i] == completions[j]:
            continue
        chosen, rejected = (i, j) if gap > 0 else (j, i)
        pairs.append(
            PreferencePair(prompt, completions[chosen], completions[rejected], abs(gap) if write_margin else None)
        )
    return pairs


def label_preferences(config: LabelConfig, prompts: Sequence[str], policy: tuple | None = None) -> int:
    """Sample ``completions_per_prompt`` completions for each prompt (``repeats`` times), rank them with the gold
    labeller, and append the pairs to ``config.output``. Returns the number of rows written.

    ``policy`` may be a loaded ``(model, tokenizer)`` (tokenizer padding on the left); default: load
    ``config.policy``. Rows are written after each generated batch of prompts, so an interrupted run keeps them.
    """
    if not prompts:
        raise ValueError("prompts must be a non-empty list of strings")
    torch.manual_seed(config.seed)
    model, tokenizer = policy if policy is not None else load_policy(config.policy, resolve_device(config.device))
    gold = make_reward_model(config.gold)
    k = config.completions_per_prompt
    prompts_per_batch = max(1, config.batch_size // k)
    work = [p for _ in range(config.repeats) for p in prompts]
    written = 0
    with PreferenceWriter(config.output) as writer, tqdm(total=len(work) * k, desc="sampling", unit="compl") as bar:
        for start in range(0, len(work), prompts_per_batch):
            group = work[start : start + prompts_per_batch]
            repeated = [p for p in group for _ in range(k)]
            completions = sample_completions(model, tokenizer, repeated, config, progress=bar)
            scores = check_scores(gold(repeated, completions), len(repeated), source=f"gold {config.gold!r}")
            for index, prompt in enumerate(group):
                rows = slice(index * k, (index + 1) * k)
                pairs = rank_pairs(prompt, completions[rows], scores[rows], config.min_gold_gap, config.write_margin)
                writer.write_all(pairs)
                written += len(pairs)
            bar.set_postfix(pairs=written)
    return written
