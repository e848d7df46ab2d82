"""The examples in docs/sb3.md run as written; the DQN and LSTM-policy examples learn TextGenChar-v0."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

DOC = Path(__file__).resolve().parents[1] / "docs" / "sb3.md"


def examples(kind: str) -> list[str]:
    """The python blocks of docs/sb3.md marked ``<!-- example: kind -->``."""
    blocks = re.findall(r"<!-- example: (\w+) -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    return [code for marker, code in blocks if marker == kind]


def run_example(code: str, tmp_path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    namespace: dict = {"__name__": "__doc_example__"}
    try:
        exec(compile(code, str(DOC), "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    return namespace


def test_doc_has_the_examples():
    assert len(examples("fast")) == 2 and len(examples("slow")) == 2
    assert "MEASURED_TABLE" not in DOC.read_text()


@pytest.mark.parametrize("index", [0, 1], ids=["dqn-lstm", "ppo-lstm"])
def test_small_vocabulary_examples_learn(index, tmp_path, monkeypatch):
    namespace = run_example(examples("fast")[index], tmp_path, monkeypatch)
    assert namespace["mean_reward"] >= 0.8  # a uniformly random policy scores about 0.08


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1], ids=["ppo-kl-smollm2", "maskable-topk-smollm2"])
def test_smollm2_examples_run(index, tmp_path, monkeypatch):
    namespace = run_example(examples("slow")[index], tmp_path, monkeypatch)
    assert namespace["algo"].num_timesteps >= 32
    if index == 0:
        assert (tmp_path / "ppo-smollm2" / "config.json").is_file()
