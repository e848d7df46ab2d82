"""``text-gym bench speed`` at toy size: a tiny GPT-2 folder as the policy; every comparison runs and the outputs
have the right structure and sane values (not speed)."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch
from conftest import make_tiny_tokenizer

from scripts.bench_iteration import IterationSettings, run_case
from scripts.bench_report import doc_markers
from scripts.bench_speed import BenchSpeedConfig, per_token_growth, run_benchmark


@pytest.fixture(scope="module")
def tiny_policy_dir(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = make_tiny_tokenizer()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=96,
            n_embd=32,
            n_layer=2,
            n_head=2,
            bos_token_id=2,
            eos_token_id=2,
            pad_token_id=0,
        )
    )
    folder = tmp_path_factory.mktemp("tiny_policy")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_bench_speed_writes_every_comparison_and_the_doc_section(tiny_policy_dir, tmp_path):
    begin, end = doc_markers("speed")
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nkept above\n\n{begin}\nold results\n{end}\n\nkept below\n")
    config = BenchSpeedConfig(
        policy=tiny_policy_dir,
        batch_sizes=[1, 2],
        new_tokens=[2, 4],
        ppo_cases=["ours", "ours-separate-critic", "trl"],
        ppo_batch=4,
        ppo_new_tokens=3,
        ppo_iterations=2,
        ppo_epochs=1,
        ppo_minibatch_size=2,
        tiny_cases=["ours", "sb3"],
        tiny_batch=2,
        tiny_new_tokens=3,
        tiny_iterations=2,
        device="cpu",
        output_dir=str(tmp_path / "out"),
        doc=str(doc),
    )
    results = run_benchmark(config)

    assert [(r["batch"], r["new_tokens"]) for r in results["rollout"]] == [(1, 2), (1, 4), (2, 2), (2, 4)]
    for row in results["rollout"]:
        assert row["env_tokens_per_s"] > 0 and row["generate_tokens_per_s"] > 0
        assert math.isclose(row["ratio"], row["env_tokens_per_s"] / row["generate_tokens_per_s"])
    assert [(g["batch"], g["short"], g["long"]) for g in results["per_token_growth"]] == [(1, 2, 4), (2, 2, 4)]

    rows = results["iterations"]
    assert [(r["model"], r["case"]) for r in rows] == [
        ("tiny_policy0", "ours"),
        ("tiny_policy0", "ours-separate-critic"),
        ("tiny_policy0", "trl"),
        ("tiny-gpt2", "ours"),
        ("tiny-gpt2", "sb3"),
    ]
    for row in rows:
        assert len(row["iteration_s"]) == 2 and all(t > 0 for t in row["iteration_s"])
        assert row["median_s"] == row["iteration_s"][1]
        assert 0 < row["peak_memory_gib"] <= row["peak_rss_gib"]
    trl = rows[2]
    assert trl["time_vs_trl"] == 1.0 and trl["memory_vs_trl"] == 1.0
    assert math.isclose(rows[0]["time_vs_trl"], rows[0]["median_s"] / trl["median_s"])
    assert rows[3]["time_vs_trl"] is None and math.isclose(
        rows[3]["time_vs_sb3"], rows[3]["median_s"] / rows[4]["median_s"]
    )

    out = tmp_path / "out"
    assert json.loads((out / "results.json").read_text())["iterations"][0]["case"] == "ours"
    for name in ("speed_rollout.png", "speed_iteration.png"):
        assert (out / name).stat().st_size > 10_000
        assert (tmp_path / name).exists()  # copied beside the doc
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nkept above\n") and text.rstrip().endswith("kept below")
    assert "old results" not in text and text.count(begin) == 1
    section = text.split(begin)[1].split(end)[0]
    assert "| 2 | 4 |" in section and "| tiny-gpt2 | sb3 |" in section and "PPO iteration ≤ 0.5× TRL's time" in section
    assert "![speed_rollout](speed_rollout.png)" in section


def test_iteration_cases_train_the_requested_iterations_with_growing_memory(tiny_policy_dir, tmp_path):
    from scripts.bench_speed import _save_reward_model

    reward = _save_reward_model(tiny_policy_dir, tmp_path / "rm", 0)
    settings = IterationSettings(
        policy_dir=tiny_policy_dir, reward_dir=reward, batch=4, new_tokens=3, iterations=3, n_epochs=1, minibatch_size=2
    )
    row = run_case("ours", settings, str(tmp_path))
    assert len(row["iteration_s"]) == 3 and row["setup_s"] > 0
    assert row["peak_rss_gib"] >= row["baseline_rss_gib"]
    with pytest.raises(ValueError, match="case must be one of"):
        run_case("trpo", settings, str(tmp_path))


def test_per_token_growth_compares_longest_with_shortest():
    rows = [{"batch": 1, "new_tokens": n, "env_tokens_per_s": tps} for n, tps in ((16, 100.0), (128, 80.0), (32, 90.0))]
    assert per_token_growth(rows) == [{"batch": 1, "short": 16, "long": 128, "growth": 1.25}]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_sizes": []}, "batch_sizes must be a non-empty list"),
        ({"new_tokens": [0]}, "new_tokens must be an integer >= 1, got 0"),
        ({"ppo_iterations": 1}, "ppo_iterations must be an integer >= 2"),
        ({"ppo_cases": ["ppo2"]}, "ppo_cases must be cases from"),
        ({"ppo_batch": 10}, "ppo_batch=10 must be a multiple of ppo_minibatch_size=8"),
        ({"repeats": 0}, "repeats must be an integer >= 1"),
    ],
)
def test_bench_speed_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BenchSpeedConfig(**kwargs)


def test_bench_speed_without_trls_ppo_fails_before_running_anything(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "trl.experimental.ppo", None)  # as if trl >= 1.13 or not installed
    with pytest.raises(ImportError, match=r'pip install "text-gym\[bench\]"'):
        run_benchmark(BenchSpeedConfig(output_dir=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()
