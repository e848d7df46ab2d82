"""``text-gym bench rollout``: rollout speed through the env (agents' KV-cached collector) vs ``model.generate``.

Both sides use the same model, prompts (the first ``batch`` default train prompts, left-padded), batch size,
number of new tokens and sampling (temperature 1, no top-k / top-p). Every episode runs the full length: the env
is built without EOS ids and ``generate`` gets ``min_new_tokens = max_new_tokens``. The env side is the agents'
``collect_rollout`` (policy forward with KV cache, sampling, log-prob bookkeeping, ``env.step_tensors``, and at
the end decoding and scoring with a constant reward). The two are timed alternately in the same process, and
the best of ``repeats`` runs of each is reported (the least disturbed by other load on the machine); one
untimed round of the first setting warms both up.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scripts.args import add_config_command, config_from_args
from scripts.bench.env import _zero_reward


@dataclass
class BenchRolloutConfig:
    """Rollout-through-the-env vs generate benchmark."""

    policy: str = field(default="smollm2", metadata={"help": "hub id, local folder or 'smollm2'"})
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8, 32], metadata={"help": "batch sizes to time"})
    new_tokens: list[int] = field(default_factory=lambda: [32, 128], metadata={"help": "completion lengths to time"})
    repeats: int = field(default=3, metadata={"help": "timed runs of each side per setting (best is reported)"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda', ..."})
    dtype: str = field(default="float32", metadata={"help": "model dtype: float32, bfloat16 or float16"})
    output: str | None = field(default=None, metadata={"help": "also write the results as JSON to this path"})


def generate_tokens(model, encoded: dict, new_tokens: int, pad_id: int, **kwargs) -> int:
    """Sample exactly ``new_tokens`` tokens after each of the left-padded prompts ``encoded`` (``input_ids`` /
    ``attention_mask`` ``[B, P]``) with ``model.generate`` at temperature 1 (no top-k / top-p; ``kwargs`` go to
    ``generate``); returns the number of generated tokens, ``B * new_tokens``."""
    import torch

    with torch.no_grad():
        out = model.generate(
            **encoded,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            pad_token_id=pad_id,
            **kwargs,
        )
    return (out.shape[1] - encoded["input_ids"].shape[1]) * out.shape[0]


def run_benchmark(config: BenchRolloutConfig) -> list[dict]:
    import numpy as np
    import torch
    from gymnasium.vector import AutoresetMode

    from agents import LMPolicy, collect_rollout, resolve_device
    from text_gym import TextGenVectorEnv, default_prompts

    device = resolve_device(config.device)
    policy = LMPolicy.from_pretrained(config.policy, dtype=getattr(torch, config.dtype)).to(device).eval()
    model, tokenizer = policy.model, policy.tokenizer
    tokenizer.padding_side = "left"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    rows = []
    for batch in config.batch_sizes:
        prompts = default_prompts("train")[:batch]
        for new_tokens in config.new_tokens:
            env = TextGenVectorEnv(
                batch,
                tokenizer=tokenizer,
                reward_model=_zero_reward,
                prompts=prompts,
                max_new_tokens=new_tokens,
                eos_token_ids=[],
                vocab_size=policy.vocab_size,
                device=device,
                autoreset_mode=AutoresetMode.DISABLED,
            )
            encoded = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
            generator = torch.Generator(device).manual_seed(0)

            def env_rollout() -> int:
                return collect_rollout(policy, env, np.arange(batch), generator).num_tokens

            def generate() -> int:
                return generate_tokens(model, encoded, new_tokens, pad_id)

            times = {"env": [], "generate": []}
            warmup = not rows  # one untimed round of the first setting warms up both sides
            for repeat in range(config.repeats + warmup):
                for name, fn in (("env", env_rollout), ("generate", generate)):
                    sync()
                    start = time.perf_counter()
                    tokens = fn()
                    sync()
                    if repeat >= warmup:
                        times[name].append(time.perf_counter() - start)
                    assert tokens == batch * new_tokens, (name, tokens)
            env_tps, gen_tps = (batch * new_tokens / min(times[k]) for k in ("env", "generate"))
            rows.append(
                {
                    "batch": batch,
                    "new_tokens": new_tokens,
                    "env_tokens_per_s": env_tps,
                    "generate_tokens_per_s": gen_tps,
                    "ratio": env_tps / gen_tps,
                }
            )
            print(markdown_table(rows[-1:], header=not rows[:-1]), flush=True)
    return rows


def markdown_table(rows: list[dict], header: bool = True) -> str:
    lines = (
        ["| batch | new tokens | env rollout tok/s | generate tok/s | ratio |", "| ---: | ---: | ---: | ---: | ---: |"]
        if header
        else []
    )
    lines += [
        f"| {r['batch']} | {r['new_tokens']} | {r['env_tokens_per_s']:,.1f} | {r['generate_tokens_per_s']:,.1f} "
        f"| {r['ratio']:.2f} |"
        for r in rows
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch

    config = config_from_args(BenchRolloutConfig, args)
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, policy {config.policy}, {config.dtype}"
    )
    rows = run_benchmark(config)
    if config.output:
        Path(config.output).write_text(json.dumps({"config": asdict(config), "results": rows}, indent=2))
    return 0


def add_parser(subparsers) -> None:
    add_config_command(
        subparsers,
        "rollout",
        BenchRolloutConfig,
        run,
        "rollout tokens/s through the env vs model.generate",
        description=__doc__,
    )


if __name__ == "__main__":
    import sys

    from scripts.cli import main

    sys.exit(main(["bench", "rollout", *sys.argv[1:]]))
