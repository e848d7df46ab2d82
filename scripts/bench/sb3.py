"""``text-gym bench sb3``: env steps per second of stock SB3 / sb3-contrib algorithms on TextGen envs.

Each row times ``algorithm.learn(total_timesteps)`` from start to end (rollouts *and* updates, like SB3's
``time/fps``) after a warm-up ``learn`` of one rollout. Policies: ``tiny`` is a 2-layer GPT-2 (n_embd 32) built
from a config, on ``TextGenChar-v0``; ``smollm2`` is the packaged SmolLM2-135M on ``TextGen-v0`` (8 new tokens;
``topk``: the next token restricted to SmolLM2's own top 20 each step); ``lstm`` is
``agents.sb3.LSTMTokenExtractor`` on ``TextGenChar-v0``.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field

from reward_models.common import check_positive_int
from scripts.bench.cli import Benchmark
from scripts.bench.report import write_rows

CASES = (
    "ppo-tiny",
    "a2c-tiny",
    "maskable-ppo-tiny",
    "ppo-kl-tiny",
    "ppo-lstm",
    "dqn-lstm",
    "ppo-smollm2",
    "ppo-kl-smollm2",
    "maskable-ppo-topk-smollm2",
)


@dataclass
class BenchSB3Config:
    """SB3 algorithms on TextGen envs: env steps per second."""

    cases: list[str] = field(
        default_factory=lambda: [c for c in CASES if "smollm2" not in c],
        metadata={"help": f"what to time, from {CASES}"},
    )
    total_timesteps: int = field(default=4096, metadata={"help": "env steps timed per case (smollm2: a tenth)"})
    n_envs: int = field(default=16, metadata={"help": "sub-envs (smollm2: 4)"})
    threads: int = field(default=1, metadata={"help": "torch.set_num_threads (1 is fastest for the tiny models)"})
    output: str | None = field(default=None, metadata={"help": "also write the results as JSON to this path"})

    def __post_init__(self) -> None:
        unknown = set(self.cases) - set(CASES)
        if unknown or not self.cases:
            raise ValueError(f"cases must be a non-empty list of cases from {CASES}, got {self.cases}")
        for name in ("total_timesteps", "n_envs", "threads"):
            check_positive_int(name, getattr(self, name))


def _make(case: str, n_envs: int):
    """(algorithm, timesteps scale) for one case."""
    import torch
    from stable_baselines3 import A2C, DQN, PPO
    from transformers import GPT2Config, GPT2LMHeadModel

    from agents.sb3 import LMActorCriticPolicy, LSTMTokenExtractor, SB3VecEnv
    from reward_models.common import require_extra
    from text_gym import char_tokenizer

    if case.startswith("maskable-ppo"):
        from agents.sb3 import MaskableLMActorCriticPolicy

        MaskablePPO = require_extra("sb3_contrib", "sb3", "the MaskablePPO benchmark cases").MaskablePPO

    if case == "maskable-ppo-topk-smollm2":
        env = SB3VecEnv("TextGen-v0", num_envs=4, max_new_tokens=8, mask_top_k=20, mask_model="smollm2")
        return MaskablePPO(
            MaskableLMActorCriticPolicy, env, n_steps=8, batch_size=16, n_epochs=1, policy_kwargs={"model": "smollm2"}
        ), 0.1
    if case.endswith("smollm2"):
        env = SB3VecEnv("TextGen-v0", num_envs=4, max_new_tokens=8)
        return PPO(
            LMActorCriticPolicy, env, n_steps=8, batch_size=16, n_epochs=1, policy_kwargs={"model": "smollm2"}
        ), 0.1
    if case.endswith("lstm"):
        env = SB3VecEnv("TextGenChar-v0", num_envs=n_envs)
        kwargs = dict(
            features_extractor_class=LSTMTokenExtractor,
            features_extractor_kwargs=dict(embed_dim=16, hidden_size=64),
            net_arch=[64],
        )
        if case == "dqn-lstm":
            return DQN(
                "MultiInputPolicy", env, learning_starts=0, batch_size=64, train_freq=1, policy_kwargs=kwargs
            ), 1.0
        return PPO("MultiInputPolicy", env, n_steps=16, batch_size=128, n_epochs=4, policy_kwargs=kwargs), 1.0
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(char_tokenizer()),
            n_positions=32,
            n_embd=32,
            n_layer=2,
            n_head=2,
            bos_token_id=2,
            eos_token_id=2,
        )
    )
    if case == "maskable-ppo-tiny":
        env = SB3VecEnv("TextGenChar-v0", num_envs=n_envs, allowed_tokens=list(range(2, 30)))
        return MaskablePPO(
            MaskableLMActorCriticPolicy, env, n_steps=16, batch_size=128, n_epochs=4, policy_kwargs={"model": lm}
        ), 1.0
    env = SB3VecEnv("TextGenChar-v0", num_envs=n_envs)
    if case == "a2c-tiny":
        return A2C(LMActorCriticPolicy, env, n_steps=16, policy_kwargs={"model": lm}), 1.0
    return PPO(LMActorCriticPolicy, env, n_steps=16, batch_size=128, n_epochs=4, policy_kwargs={"model": lm}), 1.0


def run_benchmark(config: BenchSB3Config) -> list[dict]:
    """Time each case; returns one row per case with ``env_steps_per_s``."""
    import torch
    from tqdm import tqdm

    from agents.sb3 import KLPenaltyCallback

    torch.set_num_threads(config.threads)
    rows = []
    for case in tqdm(config.cases, desc="sb3 cases"):
        algo, scale = _make(case, config.n_envs)
        callback = KLPenaltyCallback(kl_coef=0.05) if "-kl-" in case else None
        warmup = getattr(algo, "n_steps", 16) * algo.n_envs
        algo.learn(warmup, callback=callback)
        steps = max(int(config.total_timesteps * scale), warmup)
        start = time.perf_counter()
        algo.learn(steps, callback=callback, reset_num_timesteps=False)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "case": case,
                "n_envs": algo.n_envs,
                "env_steps": steps,
                "seconds": round(seconds, 2),
                "env_steps_per_s": round(steps / seconds, 1),
            }
        )
    return rows


def main(config: BenchSB3Config) -> int:
    """Time the cases, print the table and write ``config.output``."""
    rows = run_benchmark(config)
    cpu = platform.processor() or platform.machine()
    print(f"| case | n_envs | env steps/s |  ({cpu}, {config.threads} thread(s))")
    print("| --- | --- | --- |")
    for row in rows:
        print(f"| {row['case']} | {row['n_envs']} | {row['env_steps_per_s']} |")
    write_rows(config.output, config, rows, key="rows")
    return 0


BENCHMARK = Benchmark("sb3", BenchSB3Config, main, "env steps/s of SB3 algorithms on TextGen envs", __doc__)
