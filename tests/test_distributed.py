"""Data-parallel training on CPU (gloo), two processes spawned with torchrun (tests/ddp_worker.py): the DDP update
of a split rollout equals the single-process update of the whole one; a 2-process run keeps both ranks'
weights bit-identical, samples different prompts per rank, writes logs and checkpoints from rank 0 only, and
resumes after a kill exactly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ddp_worker import LORA, TRAIN_CONFIG, UPDATE_CONFIG
from tiny_lm import tiny_env, tiny_model

from agents import PPO

TESTS = Path(__file__).parent


def torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{TESTS.parent}{os.pathsep}{TESTS}", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return subprocess.run(
        [*command, str(TESTS / "ddp_worker.py"), *args], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("lora", [False, True])
def test_ddp_update_of_a_split_rollout_equals_the_single_process_update(tmp_path, lora):
    collector = PPO(tiny_model(), tiny_env(8), seed=3)
    buffer = collector.collect_rollouts()
    torch.save(buffer, tmp_path / "rollout.pt")
    single = PPO(tiny_model(), tiny_env(8), minibatch_size=8, **UPDATE_CONFIG, **(LORA if lora else {}))
    initial = {name: value.clone() for name, value in single.policy.state_dict().items()}
    single._update(buffer)
    run = torchrun("update", str(tmp_path), *(["--lora"] if lora else []))
    assert run.returncode == 0, run.stderr[-3000:]
    rank0 = torch.load(tmp_path / "update-0.pt")
    rank1 = torch.load(tmp_path / "update-1.pt")
    changed = 0
    for name, value in single.policy.state_dict().items():
        assert torch.equal(rank0[name], rank1[name]), name
        # Adam steps of lr=1e-2 amplify float rounding in near-zero gradients to ~1e-6.
        torch.testing.assert_close(rank0[name], value, atol=1e-5, rtol=1e-5, msg=lambda m, name=name: f"{name}: {m}")
        changed += not torch.equal(value, initial[name])
    assert changed > 0


def test_two_process_run_and_its_resume_after_a_kill(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    run = torchrun("train", str(full))
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [torch.load(full / f"train-{rank}.pt") for rank in range(2)]
    for name, value in ranks[0]["weights"].items():
        assert torch.equal(ranks[1]["weights"][name], value), name
    assert ranks[0]["prompts"] != ranks[1]["prompts"]  # each process samples its own prompts
    n = ranks[0]["n_updates"]
    assert ranks[1]["n_updates"] == n >= 5
    assert ranks[0]["num_timesteps"] == ranks[1]["num_timesteps"]  # tokens of both processes
    assert ranks[0]["kl_coef"] == ranks[1]["kl_coef"] != TRAIN_CONFIG.get("kl_coef", 0.05)  # one global controller
    # Only rank 0 wrote: one tensorboard run with one event file, one set of checkpoints.
    (run_dir,) = (full / "tensorboard").iterdir()
    assert len(list(run_dir.iterdir())) == 1
    assert sorted(p.name for p in (full / "checkpoints").iterdir()) == [f"checkpoint-{k:06d}" for k in (n - 1, n)]

    crashed = torchrun("train", str(killed), "--kill-after", "3")
    assert crashed.returncode != 0
    assert sorted(p.name for p in (killed / "checkpoints").iterdir()) == ["checkpoint-000002", "checkpoint-000003"]
    resumed = torchrun("train", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for rank in range(2):
        again = torch.load(killed / f"train-{rank}.pt")
        assert again["n_updates"] == n and again["num_timesteps"] == ranks[rank]["num_timesteps"]
        assert again["prompts"] == ranks[rank]["prompts"][3:]  # each rank's own RNG state was restored
        for name, value in ranks[rank]["weights"].items():
            assert torch.equal(again["weights"][name], value), name
