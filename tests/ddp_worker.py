"""One process of the data-parallel tests (tests/test_distributed.py), launched by ``torchrun --nproc_per_node 2``.

``update OUT [--lora]``: the DDP update of a saved rollout split across the processes (rank r takes its half),
weights written to ``OUT/update-<rank>.pt``.
``train OUT [--kill-after N] [--resume]``: a short PPO run with checkpoints and tensorboard in ``OUT``; writes
``OUT/train-<rank>.pt`` (weights, sampled prompt indices, counters). ``--kill-after N`` exits with status 3 in
update N+1 (after N checkpoints), as a killed run would.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch
from tiny_lm import tiny_env, tiny_model

from agents import PPO

UPDATE_CONFIG = {"seed": 0, "n_epochs": 1, "kl_coef": 0.1, "learning_rate": 1e-2, "normalize_scores": True}
LORA = {"lora_r": 4, "lora_alpha": 8.0}
TRAIN_CONFIG = {"seed": 0, "learning_rate": 1e-2, "n_epochs": 2, "minibatch_size": 2, "adaptive_kl": True}


def rows(buffer, index: slice):
    """The episodes ``index`` of ``buffer`` as a buffer of their own."""
    values = {}
    for f in dataclasses.fields(buffer):
        value = getattr(buffer, f.name)
        if isinstance(value, torch.Tensor | list) or hasattr(value, "shape"):
            value = value[index]
        values[f.name] = value
    return type(buffer)(**values)


def update(out: Path, lora: bool) -> None:
    buffer = torch.load(out / "rollout.pt", weights_only=False)
    agent = PPO(tiny_model(), tiny_env(4), minibatch_size=4, **UPDATE_CONFIG, **(LORA if lora else {}))
    half = buffer.batch_size // agent.num_processes
    agent._update(rows(buffer, slice(agent.process_index * half, (agent.process_index + 1) * half)))
    torch.save(agent.policy.state_dict(), out / f"update-{agent.process_index}.pt")


def train(out: Path, kill_after: int | None, resume: bool) -> None:
    agent = PPO(
        tiny_model(),
        tiny_env(4),
        checkpoint_dir=str(out / "checkpoints"),
        tensorboard_log=str(out / "tensorboard"),
        **TRAIN_CONFIG,
    )
    prompts = []

    def record(locals_, globals_) -> bool:
        prompts.append(locals_["buffer"].prompt_index.tolist())
        if kill_after is not None and agent.n_updates == kill_after:
            sys.exit(3)
        return True

    agent.learn(4 * 4 * 2 * 5, callback=record, progress_bar=False, resume_from=out / "checkpoints" if resume else None)
    torch.save(
        {
            "weights": agent.policy.state_dict(),
            "prompts": prompts,
            "n_updates": agent.n_updates,
            "num_timesteps": agent.num_timesteps,
            "kl_coef": agent.kl_ctl.value,
        },
        out / f"train-{agent.process_index}.pt",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["update", "train"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--kill-after", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--lora", action="store_true")
    args = parser.parse_args()
    if args.mode == "update":
        update(args.out, args.lora)
    else:
        train(args.out, args.kill_after, args.resume)
