"""Checkpoints: a run killed at any moment and resumed ends with the same weights as an uninterrupted run;
checkpoints are written atomically; save/load round-trips the agent."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_lm import ScoreRecorder, tiny_env, tiny_model

from agents import PPO, REINFORCE
from agents.common.checkpoint import TRAINING_STATE, list_checkpoints, resolve_checkpoint

TOTAL = 16 * 4 * 6  # about 7 updates of 16 episodes x <= 4 tokens


class Kill(Exception):
    """Stands in for the process being killed."""


def _agent(cls, checkpoint_dir, **config):
    return cls(tiny_model(), tiny_env(16), seed=0, learning_rate=3e-3, checkpoint_dir=str(checkpoint_dir), **config)


def _weights(agent):
    return {k: v.clone() for k, v in agent.policy.state_dict().items()}


@pytest.mark.parametrize(
    "cls,config",
    [
        (PPO, {"n_epochs": 2, "adaptive_kl": True, "normalize_scores": True}),
        (REINFORCE, {"baseline": "moving_average"}),
    ],
)
def test_resume_after_a_kill_reproduces_the_uninterrupted_run_exactly(tmp_path, cls, config):
    full = _agent(cls, tmp_path / "full", **config)
    full.learn(TOTAL, progress_bar=False)
    expected = _weights(full)
    assert full.n_updates >= 5

    killed = _agent(cls, tmp_path / "killed", **config)
    recorder = ScoreRecorder()

    def kill_in_update_4(locals_, globals_):
        recorder.scores.append(0)
        if len(recorder.scores) == 4:  # after update 4's rollout, before its training step
            raise Kill
        return True

    with pytest.raises(Kill):
        killed.learn(TOTAL, callback=kill_in_update_4, progress_bar=False)
    assert [p.name for p in list_checkpoints(tmp_path / "killed")] == ["checkpoint-000002", "checkpoint-000003"]
    # A checkpoint that was being written when the process died is an ignored temporary folder.
    (tmp_path / "killed" / ".checkpoint-000004.tmp-x").mkdir()

    resumed = _agent(cls, tmp_path / "killed", **config)
    resumed.learn(TOTAL, resume_from=tmp_path / "killed", progress_bar=False)
    assert resumed.n_updates == full.n_updates and resumed.num_timesteps == full.num_timesteps
    for name, value in expected.items():
        assert torch.equal(resumed.policy.state_dict()[name], value), name
    assert resumed.kl_ctl.value == full.kl_ctl.value


def test_checkpoint_folder_is_an_hf_folder_with_training_state(tmp_path):
    from transformers import AutoModelForCausalLM

    agent = _agent(PPO, tmp_path, keep_checkpoints=1)
    agent.learn(16 * 4 * 2, progress_bar=False)
    (latest,) = list_checkpoints(tmp_path)
    assert resolve_checkpoint(tmp_path) == latest and resolve_checkpoint(latest) == latest
    assert (latest / TRAINING_STATE).is_file() and (latest / "value_head.safetensors").is_file()
    model = AutoModelForCausalLM.from_pretrained(latest)
    for name, value in model.state_dict().items():
        assert torch.equal(value, agent.policy.model.state_dict()[name])
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]
    with pytest.raises(FileNotFoundError, match="resume_from"):
        resolve_checkpoint(tmp_path / "nothing")


def test_save_and_load_round_trip(tmp_path):
    agent = PPO(tiny_model(), tiny_env(4), seed=0, learning_rate=3e-3, temperature=0.9)
    agent.learn(4 * 4 * 2, progress_bar=False)
    with torch.no_grad():
        agent.policy.value_head.bias.fill_(0.25)
    agent.save(tmp_path / "agent")
    loaded = PPO.load(tmp_path / "agent", env=tiny_env(4))
    assert loaded.config == agent.config
    for name, value in agent.policy.state_dict().items():
        assert torch.equal(loaded.policy.state_dict()[name], value), name
    obs, _ = agent.env.reset(options={"prompt_index": np.arange(4)})
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    with pytest.raises(ValueError, match="PPO agent"):
        REINFORCE.load(tmp_path / "agent")
    assert Path(tmp_path / "agent" / "tokenizer.json").is_file()


def test_a_failing_checkpoint_write_names_the_checkpoint_and_keeps_the_earlier_ones(tmp_path):
    """Defect 8: an I/O error while writing a checkpoint surfaced with no file name."""
    import errno

    from reward_models import write_folder_atomically as write_atomically

    write_atomically(tmp_path / "checkpoint-000001", lambda folder: (folder / TRAINING_STATE).write_text("1"))

    def disk_full(folder):
        (folder / "model.safetensors").write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"could not write .*checkpoint-000002.*No space left on device"):
        write_atomically(tmp_path / "checkpoint-000002", disk_full)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-000001"]  # no temporary folder left, the earlier one intact
    assert list_checkpoints(tmp_path) == [tmp_path / "checkpoint-000001"]


def test_temporary_folders_left_by_a_kill_are_removed_by_the_next_checkpoint(tmp_path):
    """Defect 10: a kill during a write left .checkpoint-*.tmp-* folders (up to ~1.6 GB each) forever."""
    from reward_models import write_folder_atomically as write_atomically

    for stale in (".checkpoint-000001.tmp-ab12_x9z", ".checkpoint-000002.old-q1w2e3r4"):
        (tmp_path / stale).mkdir()
        (tmp_path / stale / "model.safetensors").write_bytes(b"x" * 100)
    (tmp_path / ".keep-me").mkdir()  # not ours
    write_atomically(tmp_path / "checkpoint-000003", lambda folder: (folder / TRAINING_STATE).write_text("3"))
    assert sorted(os.listdir(tmp_path)) == [".keep-me", "checkpoint-000003"]


def test_resume_without_a_checkpoint_starts_fresh_with_a_notice(tmp_path):
    """Defect 10: ``--resume`` before the first checkpoint failed instead of starting the run."""
    from agents.common.checkpoint import checkpoint_to_resume

    with pytest.warns(UserWarning, match=r"no checkpoint in .*run yet; starting from scratch"):
        assert checkpoint_to_resume(tmp_path / "run") is None
    (tmp_path / "run" / "checkpoint-000004").mkdir(parents=True)
    (tmp_path / "run" / "checkpoint-000004" / TRAINING_STATE).write_text("4")
    assert checkpoint_to_resume(tmp_path / "run") == tmp_path / "run" / "checkpoint-000004"


def test_checkpoints_print_no_transformers_progress_bars(tmp_path, capsys):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    agent = _agent(PPO, tmp_path, keep_checkpoints=1)
    agent.learn(16 * 4, progress_bar=False)
    agent.load_checkpoint(tmp_path)
    captured = capsys.readouterr()
    assert "Writing model shards" not in captured.err + captured.out
    assert "Loading weights" not in captured.err + captured.out
    assert hf_logging.is_progress_bar_enabled()  # the user's setting is restored


def test_a_checkpoint_holds_accelerates_state_and_refuses_another_process_count_before_restoring(tmp_path):
    agent = _agent(REINFORCE, tmp_path / "run", keep_checkpoints=1)
    agent.learn(16 * 4, progress_bar=False)
    (latest,) = list_checkpoints(tmp_path / "run")
    files = set(os.listdir(latest))
    assert {"optimizer.bin", "random_states_0.pkl", "text_gym_agent.json", "model.safetensors"} <= files
    assert sorted(f for f in files if f.startswith("custom_checkpoint_")) == [
        f"custom_checkpoint_{k}.pkl" for k in range(5)
    ]
    assert torch.load(latest / TRAINING_STATE, weights_only=True) == {"num_processes": 1}

    fresh = _agent(REINFORCE, tmp_path / "other")
    before = _weights(fresh)
    with pytest.raises(ValueError, match="is a checkpoint of a REINFORCE agent; resume it with a REINFORCE agent"):
        _agent(PPO, tmp_path / "ppo").load_checkpoint(latest)
    torch.save({"num_processes": 2}, latest / TRAINING_STATE)
    with pytest.raises(ValueError, match="written by a run with 2 processes; resume it with 2 processes, not 1"):
        fresh.load_checkpoint(latest)
    torch.save({"optimizer": {}, "rng": []}, latest / TRAINING_STATE)  # what earlier versions wrote
    with pytest.raises(ValueError, match="checkpoint of an earlier text-gym version"):
        fresh.load_checkpoint(latest)
    assert fresh.n_updates == 0 and all(torch.equal(fresh.policy.state_dict()[k], v) for k, v in before.items())
