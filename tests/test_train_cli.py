"""``text-gym train`` end to end on a tiny local model: evaluation before/after, final agent, resume."""

import json

import pytest
from tiny_lm import PROMPTS, tiny_model, tiny_tokenizer

from scripts.cli import main


def test_train_cli_evaluates_saves_and_resumes(tmp_path, capsys):
    tiny_model().save_pretrained(tmp_path / "policy")
    tiny_tokenizer().save_pretrained(tmp_path / "policy")
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS))
    out = tmp_path / "run"
    argv = [
        "train",
        "--algo",
        "rloo",
        "--policy",
        str(tmp_path / "policy"),
        "--reward-model",
        "vader",
        "--prompts",
        str(tmp_path / "prompts.txt"),
        "--eval-prompts",
        str(tmp_path / "prompts.txt"),
        "--max-new-tokens",
        "4",
        "--max-prompt-tokens",
        "5",
        "--n-envs",
        "4",
        "--group-size",
        "2",
        "--output-dir",
        str(out),
        "--no-progress-bar",
        "--learning-rate",
        "1e-3",
    ]
    with pytest.warns(UserWarning, match="no checkpoint in .* yet; starting from scratch"):
        assert main([*argv, "--total-timesteps", "32", "--resume"]) == 0  # nothing to resume yet: a fresh start
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algo"] == "rloo" and summary["timesteps"] >= 32
    for key in ("proxy_before", "proxy_after", "gold_before", "gold_after"):
        assert -1.0 <= summary[key] <= 1.0
    printed = capsys.readouterr().out
    assert "before: proxy" in printed and "after: proxy" in printed
    assert (out / "final" / "config.json").is_file() and (out / "final" / "text_gym_agent.json").is_file()
    assert json.loads((out / "final" / "text_gym_agent.json").read_text())["config"]["baseline"] == "rloo"
    assert list((out / "tensorboard").iterdir())

    updates = summary["updates"]
    assert main([*argv, "--total-timesteps", "64", "--resume"]) == 0
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["timesteps"] >= 64 and resumed["updates"] > updates
