"""The recipes of docs/libraries.md run as written (the RL Zoo commands with fewer steps) against the installed
SB3, RL Zoo, Tianshou, TorchRL and a CleanRL-style script, and give sensible numbers."""

from __future__ import annotations

import re
import runpy
import shlex
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torchrl.envs import GymWrapper
from torchrl.envs.utils import check_env_specs

import text_gym  # noqa: F401  (the recipes import it themselves; the SAME_STEP test needs the ids)

DOC = Path(__file__).resolve().parents[1] / "docs" / "libraries.md"
RECIPES = dict(re.findall(r"<!-- recipe: (\w+) -->\n```(?:python|bash)\n(.*?)```", DOC.read_text(), re.S))


def run_recipe(name: str, tmp_path, monkeypatch) -> dict:
    """Execute the python recipe ``name`` in a fresh namespace inside ``tmp_path``; return its namespace."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    namespace: dict = {"__name__": "__recipe__"}
    try:
        exec(compile(RECIPES[name], f"{DOC}:{name}", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    return namespace


def test_doc_has_every_recipe():
    assert set(RECIPES) == {"sb3", "zoo", "tianshou", "torchrl", "cleanrl"}


def test_sb3_make_vec_env_vecnormalize_evaluate_policy(tmp_path, monkeypatch):
    ns = run_recipe("sb3", tmp_path, monkeypatch)
    assert ns["model"].num_timesteps >= 256
    assert len(ns["scores"]) == 8 and all(0 <= s <= 1 for s in ns["scores"])
    # raw PromptLettersReward scores: multiples of 1/8 (VecNormalize does not touch evaluation rewards)
    np.testing.assert_allclose(np.array(ns["scores"]) * 8, np.round(np.array(ns["scores"]) * 8))
    assert all(1 <= n <= 8 for n in ns["lengths"])
    assert ns["frame"].shape == (2 * 256, 2 * 512, 3) and ns["frame"].dtype == np.uint8


def run_command(command: str, monkeypatch) -> None:
    """Run one ``python -m module ...`` or ``python -c code ...`` line of the doc in this process."""
    words = shlex.split(command)
    assert words[0] == "python" and words[1] in ("-m", "-c"), command
    if words[1] == "-m":
        monkeypatch.setattr(sys, "argv", [words[2], *words[3:]])
        runpy.run_module(words[2], run_name="__main__", alter_sys=True)
    else:
        monkeypatch.setattr(sys, "argv", ["-c", *words[3:]])
        exec(compile(words[2], "<doc -c>", "exec"), {"__name__": "__main__"})


def test_rl_zoo_trains_with_the_shipped_hyperparameters_and_records_a_video(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, record = [line for line in RECIPES["zoo"].splitlines() if line.strip()]
    threads = torch.get_num_threads()
    try:
        run_command(train + " -n 512", monkeypatch)  # the doc trains 30k steps; a later -n wins
        run_command(record, monkeypatch)
    finally:
        torch.set_num_threads(threads)
    run = tmp_path / "logs" / "ppo" / "TextGenChar-v0_1"
    assert (run / "TextGenChar-v0.zip").is_file()
    config = (run / "TextGenChar-v0" / "config.yml").read_text()
    assert "LSTMTokenExtractor" in config and "MultiInputPolicy" in config
    videos = list((run / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


def test_tianshou_high_level_ppo_with_flatten_observation(tmp_path, monkeypatch):
    # Building an experiment JIT-compiles Tianshou's numba functions (buffer indexing, returns): ~10 s of CPU, four
    # times the toy training. Run them as plain Python (same results at this size); set before Tianshou's import.
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    if "numba" in sys.modules:
        monkeypatch.setattr(sys.modules["numba"].config, "DISABLE_JIT", True)
    ns = run_recipe("tianshou", tmp_path, monkeypatch)
    result = ns["result"]
    assert result.train_step >= 256 and result.train_episode >= 256 // 8
    assert 0 <= result.best_reward <= 1


def test_torchrl_gym_env_and_native_vector_env(tmp_path, monkeypatch):
    ns = run_recipe("torchrl", tmp_path, monkeypatch)
    assert ns["single_rollout"].batch_size == (16,)
    rollout = ns["rollout"]
    assert rollout.batch_size == (4, 24)
    ended = ns["ended"]
    # DISABLED autoreset: TorchRL resets ended sub-envs, so every sub-env finishes at least two 8-token episodes
    assert (ended.sum(1) >= 2).all()
    reward = rollout["next", "reward"].squeeze(-1)
    torch.testing.assert_close(rollout["next", "score"].float(), torch.where(ended, reward, 0.0))
    assert (rollout["next", "num_tokens"][ended] >= 1).all() and (rollout["next", "num_tokens"][~ended] == 0).all()


def test_cleanrl_style_ppo_over_make_vec_learns(tmp_path, monkeypatch):
    ns = run_recipe("cleanrl", tmp_path, monkeypatch)
    assert ns["first"] < 0.2  # about random: 0.08
    assert ns["last"] > 0.6


def test_torchrl_same_step_autoreset_reads_the_numeric_info():
    vector = GymWrapper(
        gym.make_vec("TextGenChar-v0", num_envs=2, autoreset_mode=AutoresetMode.SAME_STEP, text_info=False)
    )
    check_env_specs(vector)
    vector.set_seed(0)
    rollout = vector.rollout(16, break_when_any_done=False)
    ended = rollout["next", "terminated"].squeeze(-1)
    assert (ended.sum(1) >= 2).all()
    torch.testing.assert_close(
        rollout["next", "score"].float(), torch.where(ended, rollout["next", "reward"].squeeze(-1), 0.0)
    )
