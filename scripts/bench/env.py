"""``text-gym bench env``: env-only stepping speed (no model) of TextGenEnv and TextGenVectorEnv.

Actions are pre-drawn random token ids, so the figures are the env's own cost per token: writing the token,
the termination check, and at episode end decoding and scoring (with a constant reward, so the reward model
costs nothing). Reported as tokens (env steps x sub-envs) per second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from reward_models.common import check_positive_int
from scripts.bench.cli import Benchmark, check_positive_ints
from scripts.bench.models import zero_reward
from scripts.bench.report import machine_line, write_rows


@dataclass
class BenchEnvConfig:
    """Env-only stepping benchmark."""

    batch_sizes: list[int] = field(
        default_factory=lambda: [1, 16, 64, 256], metadata={"help": "vector env sizes to time"}
    )
    max_new_tokens: int = field(default=32, metadata={"help": "episode length in tokens"})
    tokens: int = field(default=100_000, metadata={"help": "tokens to step per measurement (at least 4 episodes)"})
    tokenizer: str = field(default="smollm2", metadata={"help": "tokenizer (decode cost at episode end)"})
    device: str = field(default="cpu", metadata={"help": "device of the vector env's token buffers"})
    output: str | None = field(default=None, metadata={"help": "also write the results as JSON to this path"})

    def __post_init__(self) -> None:
        check_positive_ints("batch_sizes", self.batch_sizes)
        check_positive_int("max_new_tokens", self.max_new_tokens)
        check_positive_int("tokens", self.tokens)


def run_benchmark(config: BenchEnvConfig) -> list[dict]:
    """Time each env variant; returns one row per (variant, batch) with ``tokens_per_s``."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from reward_models.common import load_tokenizer
    from text_gym import TextGenEnv, TextGenVectorEnv

    tokenizer = load_tokenizer(config.tokenizer)
    common = dict(tokenizer=tokenizer, reward_model=zero_reward, max_new_tokens=config.max_new_tokens)
    rng = np.random.default_rng(0)
    eos = tokenizer.eos_token_id
    rows = []

    def draw(shape):
        actions = rng.integers(0, len(tokenizer), size=shape)
        actions[actions == eos] = eos + 1  # full-length episodes: the worst case for the env
        return actions

    def timed(name, batch, step, actions):
        start = time.perf_counter()
        for action in tqdm(actions, desc=f"{name} B={batch}", leave=False):
            step(action)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "env": name,
                "batch": batch,
                "tokens": len(actions) * batch,
                "seconds": seconds,
                "tokens_per_s": len(actions) * batch / seconds,
            }
        )

    env = TextGenEnv(**common)
    env.reset(seed=0)

    def single_step(action):
        if env.step(action)[2]:
            env.reset()

    timed("TextGenEnv", 1, single_step, draw(max(config.tokens // 10, 4 * config.max_new_tokens)).tolist())
    for batch in config.batch_sizes:
        steps = max(config.tokens // batch, 4 * config.max_new_tokens)
        for api in ("numpy", "tensor"):
            venv = TextGenVectorEnv(batch, device=config.device, **common)
            venv.reset(seed=0)
            actions = draw((steps, batch))
            if api == "tensor":
                actions = torch.as_tensor(actions, device=config.device)
            timed(
                f"TextGenVectorEnv.step{'_tensors' if api == 'tensor' else ''}",
                batch,
                venv.step_tensors if api == "tensor" else venv.step,
                actions,
            )
    return rows


def markdown_table(rows: list[dict]) -> str:
    """Markdown: tokens/s per env variant and batch."""
    lines = ["| env | batch | tokens/s |", "| --- | ---: | ---: |"]
    lines += [f"| {r['env']} | {r['batch']} | {r['tokens_per_s']:,.0f} |" for r in rows]
    return "\n".join(lines)


def main(config: BenchEnvConfig) -> int:
    """Time the env variants, print the table and write ``config.output``."""
    rows = run_benchmark(config)
    print(f"{machine_line()}, max_new_tokens={config.max_new_tokens}")
    print(markdown_table(rows))
    write_rows(config.output, config, rows)
    return 0


BENCHMARK = Benchmark("env", BenchEnvConfig, main, "env-only stepping speed (tokens/s, no model)", __doc__)
