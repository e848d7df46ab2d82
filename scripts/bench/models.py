"""The models and env settings the benchmarks build: a constant reward, a reward-model folder on a policy's
backbone, a tiny GPT-2 folder, a randomly initialised copy of a policy, and ``TextGen-v0`` as the training cases
use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reward_models.common import hf_progress_bars_disabled
from reward_models.common.quiet import expected_load_report_silenced


def zero_reward(prompts: list[str], completions: list[str]) -> list[float]:
    """A reward of 0 for every completion (scoring then costs nothing)."""
    return [0.0] * len(completions)


def save_reward_model(policy_dir: str, out: Path, seed: int) -> str:
    """A sequence classifier with a scalar head on the policy's backbone (head seeded), saved with its tokenizer to
    ``out``; returns the folder."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    torch.manual_seed(seed)
    with hf_progress_bars_disabled(), expected_load_report_silenced():  # the new score head is reported missing
        model = AutoModelForSequenceClassification.from_pretrained(policy_dir, num_labels=1)
        model.config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def save_tiny_policy(policy_dir: str, out: Path, new_tokens: int, seed: int) -> str:
    """A 2-layer, 64-wide GPT-2 with the policy's tokenizer (long enough for the env's default prompt width +
    ``new_tokens`` tokens), saved to ``out``; returns the folder."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from text_gym import TextGenSettings

    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=TextGenSettings.max_prompt_tokens + new_tokens,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with hf_progress_bars_disabled():
        GPT2LMHeadModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def save_random_init_policy(policy: str, out: Path, seed: int) -> str:
    """The architecture of ``policy`` (its ``config.json``) with random float32 weights, saved with its tokenizer
    to ``out``; returns the folder."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from reward_models.common import resolve_model_path

    path = resolve_model_path(policy)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path), dtype=torch.float32)
    with hf_progress_bars_disabled():
        model.save_pretrained(out)
    AutoTokenizer.from_pretrained(path).save_pretrained(out)
    return str(out)


def textgen_env_kwargs(policy_dir: str, reward_model: Any, new_tokens: int) -> dict[str, Any]:
    """``TextGen-v0`` as every training case of ours uses it: ``reward_model`` (a spec or a reward model object),
    exactly ``new_tokens`` tokens per episode (no EOS ids), the default train prompts and the policy's
    tokenizer."""
    from text_gym import default_prompts

    return {
        "reward_model": reward_model,
        "max_new_tokens": new_tokens,
        "eos_token_ids": [],
        "prompts": default_prompts("train"),
        "tokenizer": policy_dir,
    }


def reward_model_spec(reward_dir: str) -> str:
    """Our ``hf:`` reward model spec of the reward folder: the sequence classifier scoring prompt + completion."""
    return f"hf:{reward_dir}?include_prompt=true"
