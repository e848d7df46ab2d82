"""What a ``text-gym`` command prints is its own: no third-party load reports, progress bars or Future /
Deprecation warnings in the middle of its progress bars."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tiny_lm import PROMPTS, tiny_llama, tiny_tokenizer

from scripts.bench.models import save_reward_model

ROOT = Path(__file__).resolve().parents[1]
FOREIGN = ("LOAD REPORT", "FutureWarning", "DeprecationWarning", "Writing model shards", "Loading weights")


def foreign_lines(text: str) -> list[str]:
    return [line for line in text.replace("\r", "\n").splitlines() if any(word in line for word in FOREIGN)]


def test_a_lora_training_command_on_a_tiny_model_prints_nothing_foreign(tmp_path):
    """``text-gym train grpo --lora-r 2`` as a user runs it (own process, Python's default warning filters):
    peft wraps the model, our agent trains, evaluates and saves."""
    policy = tmp_path / "policy"
    tiny_llama().save_pretrained(policy)
    tiny_tokenizer().save_pretrained(policy)
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS))
    argv = ["train", "grpo", "--policy", str(policy), "--reward-model", "vader", "--lora-r", "2"]
    argv += ["--prompts", str(tmp_path / "prompts.txt"), "--eval-prompts", str(tmp_path / "prompts.txt")]
    argv += ["--max-new-tokens", "4", "--max-prompt-tokens", "5", "--n-envs", "4", "--group-size", "2"]
    argv += ["--total-timesteps", "8", "--output-dir", str(tmp_path / "run")]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": ""}
    done = subprocess.run(
        [sys.executable, "-m", "scripts.cli", *argv], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "after: proxy" in done.stdout and "GRPO" in done.stderr  # its own results and progress bar
    assert foreign_lines(done.stdout + done.stderr) == []


def test_the_benchmarks_reward_model_folder_is_built_quietly(tmp_path, capfd):
    """``text-gym bench speed`` builds a reward model on the policy's backbone: the new head's load report and
    transformers' save bar stayed on the console."""
    policy = tmp_path / "policy"
    tiny_llama().save_pretrained(policy)
    tiny_tokenizer().save_pretrained(policy)
    capfd.readouterr()
    folder = save_reward_model(str(policy), tmp_path / "reward", seed=0)
    captured = capfd.readouterr()
    assert foreign_lines(captured.out + captured.err) == []
    assert (Path(folder) / "model.safetensors").is_file() and (Path(folder) / "tokenizer.json").is_file()
