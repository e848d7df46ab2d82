"""Tokens/s of PPO training in 1 vs N processes (data parallel).

Run ``python -m scripts.bench.processes`` for one process and ``torchrun --nproc_per_node N -m
scripts.bench.processes`` for N; the main process prints one JSON line: generated tokens of all processes per
second of ``learn`` (rollout + update), after one warm-up update. Setting: PPO with LoRA (r=16, alpha 32) on the
packaged SmolLM2, 8 episodes x 16 tokens (no EOS stop) per process and update, 1 epoch, CPU.
"""

from __future__ import annotations

import json
import time


def main(updates: int = 4) -> dict[str, float] | None:
    """Train ``updates`` updates (the first is a warm-up); returns the figures on the main process."""
    from agents import PPO
    from scripts.bench.phases import PhaseClock

    agent = PPO(
        "smollm2",
        "TextGen-v0",
        env_kwargs={"max_new_tokens": 16, "eos_token_ids": []},
        n_envs=8,
        minibatch_size=8,
        n_epochs=1,
        lora_r=16,
        lora_alpha=32.0,
        device="cpu",
        seed=0,
    )
    per_update = 8 * 16 * agent.num_processes  # episodes x tokens (no EOS stop) of every process
    clock = PhaseClock(cuda=False)
    agent.learn(per_update * updates, callback=clock.sb3_callback(), progress_bar=False)
    end = time.perf_counter()
    start = clock.starts[1]  # after the warm-up update
    if not agent.is_main_process:
        return None
    tokens = agent.num_timesteps - per_update
    return {
        "processes": agent.num_processes,
        "tokens": tokens,
        "seconds": end - start,
        "tokens_per_s": tokens / (end - start),
    }


if __name__ == "__main__":
    result = main()
    if result is not None:
        print(json.dumps(result))
