"""``text-gym bench env``: env-only stepping speed (no model) of TextGenEnv and TextGenVectorEnv, the chat env's
cost as conversations grow, and stock SB3 PPO's cost per agent token on the chat env against our PPO's.

Single-turn envs: actions are pre-drawn random token ids, so the figures are the env's own cost per token:
writing the token, the termination check, and at episode end decoding and scoring (with a constant reward, so the
reward model costs nothing). Reported as tokens (env steps x sub-envs) per second.

Chat env (``--chat-turns``, ``--chat-batch-sizes``; scripts/bench/chat.py): ``TextGenSupport-v0``'s scripted
customer, per-turn proxy and conversation reward, with fixed agent turns of ``--chat-turn-tokens`` tokens and the
customer's patience out of reach, so each conversation runs exactly its number of turns; reported as env
microseconds per agent token, its growth over the fewest turns (target: within 1.5x from 1 to 8 turns), the env's
token buffers and the peak Python allocations of one batch of episodes.

SB3 vs ours (``--agent-cases``; scripts/bench/chat.py): a few PPO iterations on ``TextGenSupport-v0`` with the
same policy (``tiny``: a 2-layer, 64-wide GPT-2 with SmolLM2's tokenizer), each case in a fresh process; reported
as seconds of training (rollout + update) per agent token and peak memory. ``--doc`` also replaces the generated
``bench-env`` section of a markdown file (e.g. docs/benchmarks.md).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reward_models.common import check_positive_int
from scripts.bench.chat import AGENT_CASES, ChatAgentSettings
from scripts.bench.cli import Benchmark, check_positive_ints, command_line
from scripts.bench.models import zero_reward
from scripts.bench.report import machine_line, write_doc, write_rows


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
    chat_turns: list[int] = field(
        default_factory=lambda: [1, 2, 4, 8],
        metadata={"help": "chat env: agent turns per conversation to time"},
    )
    chat_batch_sizes: list[int] = field(
        default_factory=lambda: [1, 16, 64], metadata={"help": "chat env: vector env sizes to time"}
    )
    chat_turn_tokens: int = field(default=32, metadata={"help": "chat env: agent tokens per turn"})
    chat_tokens: int = field(
        default=4000, metadata={"help": "chat env: agent tokens to step per measurement (at least 2 batches)"}
    )
    agent_cases: list[str] = field(
        default_factory=lambda: list(AGENT_CASES),
        metadata={"help": f"PPO on the chat env, from {AGENT_CASES} (sb3: stock SB3 PPO); 'none': skip"},
    )
    agent_policy: str = field(
        default="tiny",
        metadata={
            "help": "policy of the agent cases: 'tiny' (a 2-layer, 64-wide GPT-2 with SmolLM2's tokenizer), "
            "'smollm2', or a folder"
        },
    )
    agent_batch: int = field(default=4, metadata={"help": "agent cases: conversations per iteration"})
    agent_turns: int = field(default=2, metadata={"help": "agent cases: agent turns per conversation (at most)"})
    agent_turn_tokens: int = field(default=16, metadata={"help": "agent cases: agent tokens per turn (at most)"})
    agent_iterations: int = field(
        default=3, metadata={"help": "agent cases: PPO iterations per case (the first is a warm-up)"}
    )
    threads: int | None = field(
        default=None, metadata={"help": "torch threads of the agent cases (none: torch's default)"}
    )
    output: str | None = field(default=None, metadata={"help": "also write the results as JSON to this path"})
    doc: str | None = field(
        default=None,
        metadata={
            "help": "markdown file whose bench-env section is replaced with the results (e.g. docs/benchmarks.md)"
        },
    )

    def __post_init__(self) -> None:
        check_positive_ints("batch_sizes", self.batch_sizes)
        check_positive_int("max_new_tokens", self.max_new_tokens)
        check_positive_int("tokens", self.tokens)
        if self.agent_cases == ["none"]:  # the command line's way to skip the agent cases
            self.agent_cases = []
        check_positive_ints("chat_turns", self.chat_turns)
        check_positive_ints("chat_batch_sizes", self.chat_batch_sizes)
        check_positive_int("chat_turn_tokens", self.chat_turn_tokens, minimum=2)
        for name in ("chat_tokens", "agent_batch", "agent_turns"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("agent_turn_tokens", self.agent_turn_tokens, minimum=2)
        check_positive_int("agent_iterations", self.agent_iterations, minimum=2)  # the first is a warm-up
        if self.threads is not None:
            check_positive_int("threads", self.threads)
        if any(c not in AGENT_CASES for c in self.agent_cases) or len(set(self.agent_cases)) != len(self.agent_cases):
            raise ValueError(f"agent_cases must be distinct cases from {AGENT_CASES}, got {self.agent_cases}")


def run_benchmark(config: BenchEnvConfig) -> dict[str, list[dict[str, Any]]]:
    """Time the single-turn env variants (``single``: one row per variant and batch with ``tokens_per_s``), the chat
    env (``chat``: ``scripts.bench.chat.chat_env_rows``) and the agent cases (``agents``:
    ``scripts.bench.chat.chat_agent_rows``)."""
    from reward_models.common import load_tokenizer
    from scripts.bench.chat import chat_agent_rows, chat_env_rows

    tokenizer = load_tokenizer(config.tokenizer)
    results = {"single": single_turn_rows(config, tokenizer)}
    turns, batches, turn_tokens = config.chat_turns, config.chat_batch_sizes, config.chat_turn_tokens
    results["chat"] = chat_env_rows(tokenizer, turns, batches, turn_tokens, config.chat_tokens, config.device)
    results["agents"] = []
    if config.agent_cases:
        with tempfile.TemporaryDirectory(prefix="text-gym-bench-env-") as folder:
            settings = ChatAgentSettings(
                policy_dir=_agent_policy(config, Path(folder)),
                batch=config.agent_batch,
                turns=config.agent_turns,
                turn_tokens=config.agent_turn_tokens,
                iterations=config.agent_iterations,
                minibatch_size=config.agent_batch,
                threads=config.threads,
                device=config.device,
            )
            results["agents"] = chat_agent_rows(config.agent_cases, settings)
    return results


def _agent_policy(config: BenchEnvConfig, folder: Path) -> str:
    """The agent cases' policy folder: ``tiny`` is built in ``folder`` with positions for the whole chat context."""
    from reward_models.common import resolve_model_path
    from scripts.bench.chat import chat_context_length
    from scripts.bench.models import save_tiny_policy
    from text_gym import TextGenSettings

    if config.agent_policy != "tiny":
        return resolve_model_path(config.agent_policy)
    tokens = chat_context_length(config.agent_turns, config.agent_turn_tokens) - TextGenSettings.max_prompt_tokens
    return save_tiny_policy(resolve_model_path(config.tokenizer), folder / "tiny_policy", tokens, seed=0)


def single_turn_rows(config: BenchEnvConfig, tokenizer: Any) -> list[dict[str, Any]]:
    """``TextGenEnv`` and ``TextGenVectorEnv`` (``step`` and ``step_tensors``): one row per variant and batch with
    ``tokens_per_s``."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from text_gym import TextGenEnv, TextGenVectorEnv

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


def chat_table(rows: list[dict]) -> str:
    """Markdown: the chat env's microseconds per agent token, growth and memory per batch and turns."""
    lines = [
        "| batch | turns | env µs / agent token | vs 1 turn | token buffers (KiB) | Python peak (KiB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['batch']} | {r['turns']} | {r['env_us_per_token']:,.1f} | {r['growth']:.2f}x | "
        f"{r['buffer_kib']:,.0f} | {r['python_peak_kib']:,.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def agents_table(rows: list[dict]) -> str:
    """Markdown: seconds per agent token and peak memory of each agent case."""
    lines = ["| case | ms / agent token | vs ours | peak memory (GiB) |", "| --- | ---: | ---: | ---: |"]
    for r in rows:
        ratio = "" if r["vs_ours"] is None else f"{r['vs_ours']:.1f}x"
        lines.append(f"| {r['case']} | {1000 * r['s_per_token']:,.1f} | {ratio} | {r['peak_memory_gib']:.2f} |")
    return "\n".join(lines)


def report(config: BenchEnvConfig, results: dict[str, list[dict]]) -> str:
    """The printed report and the doc section: the command, the machine and the three tables."""
    command = command_line("env", BenchEnvConfig, asdict(config), skip=("output", "doc"))
    parts = [
        f"`{command}` ({machine_line()})",
        f"Single-turn envs, {config.max_new_tokens}-token episodes of random tokens:",
        markdown_table(results["single"]),
        f"Chat env (TextGenSupport-v0's scripted customer and rewards, {config.chat_turn_tokens}-token agent "
        "turns, patience out of reach):",
        chat_table(results["chat"]),
    ]
    if results["agents"]:
        parts += [
            f"PPO on TextGenSupport-v0 ({config.agent_batch} conversations x at most {config.agent_turns} turn(s) x "
            f"{config.agent_turn_tokens} tokens per iteration, policy {config.agent_policy}, no KL penalty, "
            f"{config.agent_iterations - 1} timed iterations after a warm-up; sb3: stock SB3 PPO without a KV cache):",
            agents_table(results["agents"]),
        ]
    return "\n\n".join(parts)


def main(config: BenchEnvConfig) -> int:
    """Time the env variants and agent cases, print the tables, write ``config.output`` and ``config.doc``."""
    results = run_benchmark(config)
    text = report(config, results)
    print(text)
    write_rows(config.output, config, [results])
    if config.doc is not None:
        write_doc(Path(config.doc), "env", text, [])
    return 0


BENCHMARK = Benchmark("env", BenchEnvConfig, main, "env-only stepping speed (tokens/s, no model)", __doc__)
