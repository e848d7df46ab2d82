"""``text-gym bench speed`` at toy size: a tiny GPT-2 folder as the policy; every comparison runs and the outputs
have the right structure and sane values (not speed)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from scripts.bench.group import GroupSettings, run_group_case
from scripts.bench.iteration import IterationSettings, run_case
from scripts.bench.models import save_reward_model
from scripts.bench.phases import PHASES, phase_times
from scripts.bench.report import doc_markers
from scripts.bench.speed import BenchSpeedConfig, per_token_growth, run_benchmark


def _has_trl_ppo() -> bool:
    try:
        from trl.experimental.ppo import PPOTrainer  # noqa: F401
    except ImportError:
        return False
    return True


def test_bench_speed_writes_every_comparison_and_the_doc_section(tiny_policy_dir, tmp_path):
    begin, end = doc_markers("speed")
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nkept above\n\n{begin}\nold results\n{end}\n\nkept below\n")
    config = BenchSpeedConfig(
        policy=tiny_policy_dir,
        batch_sizes=[1, 2],
        new_tokens=[2, 4],
        repeats=2,
        grpo_cases=["ours", "trl"],
        rloo_cases=[],
        kl_coefs=[0.04],
        group_prompts=2,
        group_size=2,
        group_new_tokens=3,
        group_iterations=2,
        ppo_cases=["ours"],
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

    runs = results["group_runs"]
    assert [r["case"] for r in runs] == ["ours", "trl", "trl", "ours"]  # alternating order (ABBA)
    for run in runs:
        assert len(run["iteration_s"]) == 2 and run["median_s"] == run["iteration_s"][1] > 0
        assert 0 < run["peak_memory_gib"] <= run["peak_rss_gib"]
    group = results["group"]
    assert [(r["algorithm"], r["kl_coef"], r["case"]) for r in group] == [("grpo", 0.04, "ours"), ("grpo", 0.04, "trl")]
    for row in group:
        processes = [r for r in runs if r["case"] == row["case"]]
        medians = sorted(r["median_s"] for r in processes)
        assert row["processes"] == 2 and row["median_s_range"] == medians
        assert math.isclose(row["median_s"], sum(medians) / 2)
        assert math.isclose(row["peak_memory_gib"], sum(r["peak_memory_gib"] for r in processes) / 2)
        assert set(row["phase_median_s"]) == set(PHASES) and row["phase_median_s"]["reference"] > 0
    ours, trl = group
    assert trl["time_vs_trl"] == 1.0 and trl["memory_vs_trl"] == 1.0
    assert math.isclose(ours["time_vs_trl"], ours["median_s"] / trl["median_s"])
    assert math.isclose(ours["memory_vs_trl"], ours["peak_memory_gib"] / trl["peak_memory_gib"])

    rows = results["iterations"]
    assert [(r["model"], r["case"]) for r in rows] == [
        (Path(tiny_policy_dir).name, "ours"),
        ("tiny-gpt2", "ours"),
        ("tiny-gpt2", "sb3"),
    ]
    for row in rows:
        assert len(row["iteration_s"]) == 2 and all(t > 0 for t in row["iteration_s"])
        assert row["median_s"] == row["iteration_s"][1]
        assert 0 < row["peak_memory_gib"] <= row["peak_rss_gib"]
    assert rows[0]["time_vs_trl"] is None and rows[0]["time_vs_ours"] == 1.0  # TRL's old PPO case was not run
    assert rows[1]["time_vs_trl"] is None and math.isclose(
        rows[1]["time_vs_sb3"], rows[1]["median_s"] / rows[2]["median_s"]
    )

    out = tmp_path / "out"
    assert json.loads((out / "results.json").read_text())["iterations"][0]["case"] == "ours"
    for name in ("speed_rollout.png", "speed_group.png", "speed_iteration.png"):
        assert (out / name).stat().st_size > 10_000
        assert (tmp_path / name).exists()  # copied beside the doc
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nkept above\n") and text.rstrip().endswith("kept below")
    assert "old results" not in text and text.count(begin) == 1
    section = text.split(begin)[1].split(end)[0]
    assert "| 2 | 4 |" in section and "| tiny-gpt2 | sb3 |" in section
    spread = f"{ours['median_s_range'][0]:.2f}–{ours['median_s_range'][1]:.2f}"
    assert f"| GRPO | 0.04 | ours | 2 | {ours['median_s']:.2f} | {spread} | {ours['time_vs_trl']:.2f} |" in section
    assert "| GRPO | 0.04 | trl |" in section and "| algorithm | KL coef | case | generation |" in section
    assert f"- GRPO ours, KL 0.04: iteration ≤ 0.65× TRL's time: {ours['time_vs_trl']:.2f}×" in section
    assert "![speed_rollout](speed_rollout.png)" in section


def test_iteration_cases_train_the_requested_iterations_with_growing_memory(tiny_policy_dir, tmp_path):
    reward = save_reward_model(tiny_policy_dir, tmp_path / "rm", 0)
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


def test_none_skips_a_comparison():
    config = BenchSpeedConfig(grpo_cases=["none"], rloo_cases=["none"], ppo_cases=["none"], tiny_cases=["none"])
    assert config.grpo_cases == config.rloo_cases == config.ppo_cases == config.tiny_cases == []
    assert BenchSpeedConfig(grpo_cases=["none"], rloo_cases=["none"], kl_coefs=[]).kl_coefs == []  # unused then


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_sizes": []}, "batch_sizes must be a non-empty list"),
        ({"new_tokens": [0]}, "new_tokens must be an integer >= 1, got 0"),
        ({"ppo_iterations": 1}, "ppo_iterations must be an integer >= 2"),
        ({"ppo_cases": ["ppo2"]}, "ppo_cases must be distinct cases from"),
        ({"grpo_cases": ["ours", "ours"]}, "grpo_cases must be distinct cases from"),
        ({"grpo_cases": ["none", "trl"]}, "grpo_cases must be distinct cases from"),
        ({"rloo_cases": ["sb3"]}, "rloo_cases must be distinct cases from"),
        ({"kl_coefs": [-0.1]}, r"kl_coefs must be numbers >= 0, got \[-0.1\]"),
        ({"kl_coefs": []}, "kl_coefs must list at least one"),
        ({"group_size": 1}, "group_size must be an integer >= 2"),
        ({"group_iterations": 1}, "group_iterations must be an integer >= 2"),
        ({"threads": 0}, "threads must be an integer >= 1, got 0"),
        ({"ppo_batch": 10}, "ppo_batch=10 must be a multiple of ppo_minibatch_size=8"),
        ({"repeats": 0}, "repeats must be an integer >= 1"),
    ],
)
def test_bench_speed_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BenchSpeedConfig(**kwargs)


def test_the_old_trl_ppo_case_is_refused_without_trl_below_1_13(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "trl.experimental.ppo", None)  # as with trl >= 1.13, which removed it
    with pytest.raises(ImportError, match=r'--ppo-cases trl.*pip install "text-gym\[bench-trl-ppo\]"'):
        run_benchmark(BenchSpeedConfig(ppo_cases=["trl"], output_dir=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_trl_group_cases_without_trl_are_refused_before_running_anything(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "trl", None)
    with pytest.raises(ImportError, match=r'pip install "text-gym\[bench-trl\]"'):
        run_benchmark(BenchSpeedConfig(grpo_cases=[], rloo_cases=["trl-lora"], output_dir=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not _has_trl_ppo(), reason='needs trl < 1.13 (pip install "text-gym[bench-trl-ppo]")')
def test_the_old_trl_ppo_case_trains(tiny_policy_dir, tmp_path):
    reward = save_reward_model(tiny_policy_dir, tmp_path / "rm", 0)
    settings = IterationSettings(
        policy_dir=tiny_policy_dir, reward_dir=reward, batch=4, new_tokens=3, iterations=2, n_epochs=1, minibatch_size=2
    )
    row = run_case("trl", settings, str(tmp_path))
    assert len(row["iteration_s"]) == 2 and all(t > 0 for t in row["iteration_s"]) and row["peak_memory_gib"] > 0


@pytest.mark.parametrize(
    "algorithm, case, kl_coef",
    [("rloo", "trl-lora", 0.0), ("rloo", "ours-lora", 0.04), ("grpo", "trl-lora", 0.04), ("grpo", "ours", 0.0)],
)
def test_group_cases_time_every_phase(tiny_policy_dir, tmp_path, algorithm, case, kl_coef):
    reward = save_reward_model(tiny_policy_dir, tmp_path / "rm", 0)
    settings = GroupSettings(
        tiny_policy_dir, reward, algorithm, prompts=2, group_size=2, new_tokens=3, iterations=2, kl_coef=kl_coef
    )
    row = run_group_case(case, settings, str(tmp_path / "out"))
    assert (row["case"], row["algorithm"], row["kl_coef"]) == (case, algorithm, kl_coef)
    assert len(row["iteration_s"]) == len(row["phases_s"]) == 2 and row["peak_memory_gib"] > 0
    for iteration_s, phases in zip(row["iteration_s"], row["phases_s"], strict=True):
        assert all(phases[p] >= 0 for p in PHASES) and phases["generation"] > 0 and phases["reward"] > 0
        assert math.isclose(sum(phases.values()), iteration_s, rel_tol=1e-9)
        assert (phases["reference"] > 0) == (kl_coef > 0)  # no reference forward at all without a KL penalty
        # TRL's RLOO runs a no-grad policy forward for the ratio; ours keeps the sampling log-probs
        assert (phases["old_logprobs"] > 0) == (case.startswith("trl") and algorithm == "rloo")
    with pytest.raises(ValueError, match="case must be one of"):
        run_group_case("trl-ppo", settings, str(tmp_path))


def test_phase_times_split_each_iteration_by_hand():
    events = [
        ("old_logprobs", 3.0, 3.5),
        ("reference", 3.5, 4.25),
        ("reward", 4.5, 5.0),
        ("update", 5.0, 5.0),  # the first training forward: the update starts here
        ("reward", 6.0, 6.5),  # after the update started: part of the update
        ("reward", 11.0, 11.5),
        ("update", 12.0, 12.0),
    ]
    rows = phase_times(events, [0.0, 8.0], 14.0)
    assert rows == [
        {"generation": 3.25, "old_logprobs": 0.5, "reference": 0.75, "reward": 0.5, "update": 3.0},
        {"generation": 3.5, "old_logprobs": 0.0, "reference": 0.0, "reward": 0.5, "update": 2.0},
    ]
    assert list(rows[0]) == list(PHASES)
    # an iteration without a training forward is all generation
    assert phase_times([("reward", 1.0, 2.0)], [0.0], 4.0) == [
        {"generation": 3.0, "old_logprobs": 0.0, "reference": 0.0, "reward": 1.0, "update": 0.0}
    ]
