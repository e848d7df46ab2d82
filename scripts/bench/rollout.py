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

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import get_args

from reward_models.common import check_positive_int
from reward_models.common.devices import DTypeName
from scripts.bench.cli import Benchmark, check_positive_ints, run_as_script
from scripts.bench.models import zero_reward
from scripts.bench.report import machine_line, write_rows

DTYPES = get_args(DTypeName)


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

    def __post_init__(self) -> None:
        check_positive_ints("batch_sizes", self.batch_sizes)
        check_positive_ints("new_tokens", self.new_tokens)
        check_positive_int("repeats", self.repeats)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")


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


def run_benchmark(config: BenchRolloutConfig, on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """Time both sides at every batch size x completion length; returns one row per setting (tokens/s of each
    side and their ratio), each also given to ``on_row`` as it is measured."""
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
                reward_model=zero_reward,
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
            if on_row is not None:
                on_row(rows[-1])
    return rows


def markdown_table(rows: list[dict], header: bool = True) -> str:
    """Markdown: tokens/s of both sides and their ratio per setting (``header``: with the table's head)."""
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


def main(config: BenchRolloutConfig) -> int:
    """Print the rows as they are measured and write ``config.output``."""
    print(f"{machine_line()}, policy {config.policy}, {config.dtype}")
    write_rows(config.output, config, run_benchmark(config))
    return 0


BENCHMARK = Benchmark(
    "rollout", BenchRolloutConfig, main, "rollout tokens/s through the env vs model.generate", __doc__
)


if __name__ == "__main__":
    run_as_script("rollout")
