"""``text-gym bench credit`` at toy size: a tiny GPT-2 on the support desk, every arm, two seeds. The arms share the
harness's before-evaluation, the conversation-level arms train on the conversation reward alone (their rollout
return is the gold success), and the report has success and sample efficiency with intervals, the comparisons and
the plot."""

from __future__ import annotations

import pytest
import torch
from test_bench_algos import SUPPORT_SCENARIOS, SUPPORT_WORDS, tiny_support_policy
from tiny_chat import tiny_chat_tokenizer

from scripts.bench.algos import SCALES
from scripts.bench.credit import CREDIT_ARMS, BenchCreditConfig, credit_arms, no_turn_reward, run_study
from scripts.bench.report import doc_markers


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_credit")
    config = BenchCreditConfig(
        seeds=[0, 1],
        total_timesteps=30,
        n_envs=4,
        eval_rows=0,
        workers=1,
        support_max_turns=3,
        support_max_turn_tokens=5,
        support_scenarios=SUPPORT_SCENARIOS,
        device="cpu",
        output_dir=str(root / "out"),
        doc=str(root / "benchmarks.md"),
        progress_bar=False,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = run_study(config, tiny_support_policy, {"tokenizer": tiny_chat_tokenizer(SUPPORT_WORDS)})
    finally:
        torch.set_num_threads(threads)
    return config, results, root


def test_every_arm_runs_from_the_shared_start_with_its_own_training_reward(study):
    _, results, _ = study
    runs = results["runs"]
    assert [(r["algo"], r["seed"]) for r in runs] == [(a, s) for a in CREDIT_ARMS for s in [0, 1]]
    assert [r["algorithm"] for r in runs[::2]] == ["ppo", "ppo", "rloo", "grpo", "reinforce"]
    assert {r["task"] for r in runs} == {"TextGenSupport-v0"}
    for seed in (0, 1):
        before = {(r["proxy_before"], r["gold_before"]) for r in runs if r["seed"] == seed}
        assert len(before) == 1  # one before-evaluation per seed, shared by every arm
    for run in runs:
        assert run["tokens"] >= 30 and run["updates"] >= 1
        if run["algo"].endswith("-conversation"):  # no per-turn reward: the episode return is support_success
            assert run["curve"]["proxy"] == pytest.approx(run["curve"]["gold"])
    arms = {arm["name"]: arm["train_env"] for arm in results["arms"]}
    assert arms["ppo-turn"] == [] and arms["ppo-conversation"] == ["conversation_reward", "reward_model"]


def test_the_report_gives_success_and_sample_efficiency_with_intervals(study):
    _, results, root = study
    summary = results["summary"]
    assert [row["algo"] for row in summary] == list(CREDIT_ARMS)
    for row in summary:
        assert row["seeds"] == 2
        for key in ("gold_after", "gold_gain", "rollout_gold"):
            assert row[key]["low"] <= row[key]["iqm"] + 1e-12 <= row[key]["high"] + 2e-12
            assert 0.0 <= row["rollout_gold"]["iqm"] <= 1.0
    (comparison,) = results["comparisons"]
    assert comparison["key"] == "gold_after" and len(comparison["pairs"]) == 10  # 5 arms: every pair once
    assert [r["algo"] for r in comparison["ranking"]] and comparison["ranking_text"].startswith("1. ")
    begin, end = doc_markers("credit")
    text = (root / "benchmarks.md").read_text()
    assert begin in text and end in text and "text-gym bench credit --doc" in begin
    section = text.split(begin)[1].split(end)[0]
    assert "| arm | seeds | held-out success after | gain over the SFT start | mean rollout success" in section
    assert "By sample efficiency (mean rollout success over the run):" in section
    assert "| ppo-turn | ppo-conversation |" in section and "![credit](credit.png)" in section
    assert (root / "out" / "credit.png").read_bytes()[:4] == b"\x89PNG" and (root / "credit.png").is_file()


def test_the_arms_and_bad_arguments():
    arms = credit_arms(["ppo-conversation", "reinforce-turn"])
    assert [(a.name, a.algo) for a in arms] == [("ppo-conversation", "ppo"), ("reinforce-turn", "reinforce")]
    assert arms[0].train_env_kwargs["reward_model"] is no_turn_reward and arms[1].train_env_kwargs == {}
    assert no_turn_reward(["a", "b"], ["c", "d"]).tolist() == [0.0, 0.0]
    harness = BenchCreditConfig(arms=["grpo-conversation", "ppo-turn", "ppo-conversation"]).algos_config()
    assert harness.algos == ["grpo", "ppo"] and harness.tasks == ["TextGenSupport-v0"]
    assert harness.support_seeds == [0, 1, 2, 3, 4] and harness.total_timesteps == SCALES["cpu"]["total_timesteps"]
    assert BenchCreditConfig(minibatch_size=2, learning_rate=2e-5).algos_config().minibatch_size == 2
    with pytest.raises(ValueError, match=r"minibatch_size must be None or an integer in \[1, n_envs=8\], got 9"):
        BenchCreditConfig(minibatch_size=9)
    with pytest.raises(ValueError, match="arms must be a non-empty list of distinct names"):
        BenchCreditConfig(arms=["ppo-gold"])
    with pytest.raises(ValueError, match="seeds must be a non-empty list of distinct seeds, got \\[\\]"):
        BenchCreditConfig(seeds=[])
