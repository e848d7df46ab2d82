"""``text-gym bench algos`` at toy size: a tiny GPT-2 on two suite tasks; the outputs have the right structure, the
before-evaluation is shared and exact, worker processes give the same numbers, and sb3-ppo runs end to end."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import make_tiny_tokenizer
from tiny_lm import tiny_model

from scripts.bench.algos import DOC_BEGIN, DOC_END, BenchAlgosConfig, StartJoin, run_benchmark, setting_line

ROOT = Path(__file__).resolve().parents[1]

WORDS = [
    "the",
    "a",
    "i",
    "we",
    "it",
    "was",
    "is",
    "very",
    "good",
    "great",
    "happy",
    "bad",
    "sad",
    "river",
    "garden",
    "music",
    "word",
    "use",
    "write",
    "sentence",
    ".",
    ",",
    "!",
    "?",
]
TASKS = ["TextGenSentiment-v0", "TextGenKeyword-v0"]
ENV_KWARGS = {"max_prompt_tokens": 16, "truncation": "left"}


def tiny_policy(seed: int):
    return tiny_model(len(WORDS) + 3, seed=seed, n_positions=64)


def toy_config(output_dir, **overrides) -> BenchAlgosConfig:
    options = dict(
        algos=["ppo", "rloo", "sb3-ppo"],
        tasks=TASKS,
        seeds=[0, 1],
        total_timesteps=32,
        n_envs=4,
        max_new_tokens=4,
        eval_rows=0,
        workers=1,
        device="cpu",
        output_dir=str(output_dir),
        progress_bar=False,
    )
    options.update(overrides)
    return BenchAlgosConfig(**options)


def env_kwargs():
    return {"tokenizer": make_tiny_tokenizer(WORDS), **ENV_KWARGS}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """One in-process (workers=1) benchmark: 2 tasks x {ppo, rloo, sb3-ppo} x 2 seeds, with a doc section."""
    root = tmp_path_factory.mktemp("bench_algos")
    doc = root / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nkept above\n\n{DOC_BEGIN}\nold results\n{DOC_END}\n\nkept below\n")
    config = toy_config(root / "out", doc=str(doc))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = run_benchmark(config, tiny_policy, env_kwargs())
    finally:
        torch.set_num_threads(threads)
    return config, results, root


def test_bench_algos_writes_results_table_plots_and_doc_section(toy):
    config, results, root = toy
    runs = results["runs"]
    assert [(r["task"], r["algo"], r["seed"]) for r in runs] == [
        (t, a, s) for t in config.tasks for a in config.algos for s in config.seeds
    ]
    for run in runs:
        curve = run["curve"]
        assert set(curve) == {"tokens", "proxy", "gold", "kl"}
        assert run["updates"] == len(curve["tokens"]) >= 2  # at most 4 envs x 4 tokens = 16 tokens per update
        assert all(0 < b - a <= 16 for a, b in zip([0.0] + curve["tokens"], curve["tokens"], strict=False))
        assert curve["tokens"][-1] == run["tokens"] >= 32
        assert all(math.isfinite(v) for key in ("proxy", "gold", "kl") for v in curve[key])
        if run["task"] == "TextGenKeyword-v0":  # exact task: proxy and gold are the same 0/1 reward
            assert curve["proxy"] == curve["gold"] and all(0.0 <= v <= 1.0 for v in curve["proxy"])
            assert run["proxy_after"] == run["gold_after"]
        assert run["learn_s"] > 0
    sb3 = [run for run in runs if run["algo"] == "sb3-ppo"]
    # 2 rollouts of 4 x 4 steps; the KL reference is the initial policy, so the first rollout's KL is 0
    assert all(run["tokens"] == 32 and abs(run["curve"]["kl"][0]) < 1e-5 for run in sb3)
    assert len(results["summary"]) == 6
    for row in results["summary"]:
        assert row["seeds"] == 2 and row["tokens"]["mean"] >= 32
        assert row["gold_after"]["std"] >= 0
    out = root / "out"
    saved = json.loads((out / "results.json").read_text())
    assert saved["summary"] == results["summary"] and saved["machine"]["device"] == "cpu"
    assert saved["before_eval"]["shared"] is True
    assert [(e["task"], e["seed"]) for e in saved["before_eval"]["evals"]] == [(t, s) for t in TASKS for s in [0, 1]]
    table = (out / "results.md").read_text().split("\n\n")[0].splitlines()
    assert len(table) == 2 + 6 and table[0].startswith("| task | algo | seeds | gold before | gold after | gold gain")
    for name in ("curves_TextGenSentiment-v0.png", "curves_TextGenKeyword-v0.png", "overoptimisation.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (root / name).is_file()  # copied next to the doc
    logs = {path.name for path in (out / "tensorboard" / "TextGenKeyword-v0").iterdir()}
    assert {"ppo_s0_1", "rloo_s1_1", "sb3-ppo_s0_1", "sb3-ppo_s1_1"} <= logs
    text = (root / "benchmarks.md").read_text()
    assert "kept above" in text and "kept below" in text and "old results" not in text
    assert "| TextGenKeyword-v0 | sb3-ppo | 2 |" in text and "![overoptimisation](overoptimisation.png)" in text


def test_the_report_gives_iqm_intervals_improvement_probabilities_and_rankings(toy):
    from scripts.bench.statistics import probability_of_improvement

    config, results, root = toy
    runs = results["runs"]
    for row in results["summary"]:
        group = [r for r in runs if (r["task"], r["algo"]) == (row["task"], row["algo"])]
        gains = [r["gold_after"] - r["gold_before"] for r in group]
        assert row["gold_gain"]["mean"] == pytest.approx(sum(gains) / 2)
        rollout = [sum(r["curve"]["gold"]) / len(r["curve"]["gold"]) for r in group]
        assert row["rollout_gold"]["mean"] == pytest.approx(sum(rollout) / 2)
        for key in ("gold_before", "gold_after", "gold_gain", "rollout_gold"):
            stat = row[key]
            assert stat["iqm"] == pytest.approx(stat["mean"])  # two seeds: nothing trimmed
            assert stat["low"] <= stat["iqm"] + 1e-12 and stat["iqm"] <= stat["high"] + 1e-12
    comparisons = results["comparisons"]
    assert [c["task"] for c in comparisons] == config.tasks
    for c in comparisons:
        assert [(p["x"], p["y"]) for p in c["pairs"]] == [("ppo", "rloo"), ("ppo", "sb3-ppo"), ("rloo", "sb3-ppo")]
        after = {a: [r["gold_after"] for r in runs if (r["task"], r["algo"]) == (c["task"], a)] for a in config.algos}
        for pair in c["pairs"]:
            assert pair["p"] == pytest.approx(probability_of_improvement(after[pair["x"]], after[pair["y"]]))
            assert 0.0 <= pair["low"] <= pair["p"] <= pair["high"] <= 1.0
        assert sorted(r["algo"] for r in c["ranking"]) == sorted(config.algos)
        assert [r["rank"] for r in c["ranking"]] == [1, 2, 3] and c["ranking_text"].startswith("1. ")
    keyword = next(c for c in comparisons if c["task"] == "TextGenKeyword-v0")
    assert "overlap" in keyword["ranking_text"]  # tiny runs: the intervals cannot separate the algorithms
    text = (root / "benchmarks.md").read_text()
    assert "**TextGenKeyword-v0** (ranked by held-out gold after" in text and "| X | Y | P(X > Y) [95 % CI] |" in text
    assert "95 % stratified-bootstrap intervals" in text


def test_before_evaluation_is_shared_and_equals_a_separate_evaluation_of_each_algorithm(toy):
    from stable_baselines3 import PPO as SB3PPO

    from agents import PPO, REINFORCE, evaluate, evaluate_lm
    from agents.common.envs import make_vector_env
    from agents.sb3 import LMActorCriticPolicy, SB3VecEnv
    from text_gym import gold_reward_spec, task_prompts

    _, results, _ = toy
    for before in results["before_eval"]["evals"]:
        runs = [r for r in results["runs"] if (r["task"], r["seed"]) == (before["task"], before["seed"])]
        assert len(runs) == 3 and {(r["proxy_before"], r["gold_before"]) for r in runs} == {
            (before["proxy"], before["gold"])
        }
    # Separately: each algorithm's own initial policy (PPO's has a value head), evaluated the pre-sharing way.
    task, seed = "TextGenSentiment-v0", 1
    expected = next(e for e in results["before_eval"]["evals"] if (e["task"], e["seed"]) == (task, seed))
    kwargs = {**env_kwargs(), "max_new_tokens": 4}
    eval_kwargs = {**kwargs, "prompts": task_prompts(task, "test"), "vocab_size": len(WORDS) + 3}
    agents = [
        PPO(tiny_policy(seed), task, env_kwargs=kwargs, seed=seed, n_envs=4, device="cpu"),
        REINFORCE(tiny_policy(seed), task, env_kwargs=kwargs, seed=seed, n_envs=4, device="cpu"),
    ]
    assert agents[0].policy.value_head is not None
    for agent in agents:
        eval_env = make_vector_env(task, 4, agent.policy.vocab_size, "cpu", eval_kwargs)
        result = evaluate(agent, eval_env, gold_reward_spec(task), seed=seed)
        assert (result.score_mean, result.gold_mean) == (expected["proxy"], expected["gold"])
    sb3 = SB3PPO(
        LMActorCriticPolicy,
        SB3VecEnv(task, 4, **kwargs, vocab_size=len(WORDS) + 3),
        n_steps=4,
        batch_size=16,
        policy_kwargs={"model": tiny_policy(seed)},
        seed=seed,
        device="cpu",
    )
    result = evaluate_lm(sb3.policy.lm_policy(), eval_env, gold_reward_spec(task), seed=seed)
    assert (result.score_mean, result.gold_mean) == (expected["proxy"], expected["gold"])


def test_two_workers_give_the_same_numbers_as_one_process(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the same thread count, hence the same float arithmetic
    config, results, _ = toy
    parallel = run_benchmark(toy_config(tmp_path, seeds=[0], workers=2), tiny_policy, env_kwargs())
    assert [(r["task"], r["algo"]) for r in parallel["runs"]] == [(t, a) for t in TASKS for a in config.algos]
    timing = {"learn_s", "wall_s"}
    for run in parallel["runs"]:
        reference = next(
            r for r in results["runs"] if (r["task"], r["algo"], r["seed"]) == (run["task"], run["algo"], 0)
        )
        assert {k: v for k, v in run.items() if k not in timing} == {
            k: v for k, v in reference.items() if k not in timing
        }
    assert [e["proxy"] for e in parallel["before_eval"]["evals"]] == [
        e["proxy"] for e in results["before_eval"]["evals"] if e["seed"] == 0
    ]


def _run(task: str, seed: int, algo: str) -> dict:
    return {
        "task": task,
        "algo": algo,
        "algorithm": algo,
        "seed": seed,
        "curve": {},
        "tokens": 8,
        "updates": 1,
        "gold_after": 0.5,
    }


def test_a_run_is_joined_to_its_before_evaluation_whichever_finishes_first():
    join = StartJoin()
    early = _run("A", 0, "ppo")
    assert join.add("run", early) == []  # its before-evaluation is not in yet
    assert join.add("run", _run("A", 1, "ppo")) == []
    assert join.add("before", {"task": "A", "seed": 0, "proxy": 0.25, "gold": 0.125}) == [
        {**early, "proxy_before": 0.25, "gold_before": 0.125}
    ]
    late = join.add("run", _run("A", 0, "grpo"))
    assert late == [{**_run("A", 0, "grpo"), "proxy_before": 0.25, "gold_before": 0.125}]
    assert list(late[0])[7:9] == ["proxy_before", "gold_before"]  # after "updates", as in results.json
    assert [r["algo"] for r in join.add("before", {"task": "A", "seed": 1, "proxy": 0.0, "gold": 0.0})] == ["ppo"]
    assert join.add("before", {"task": "B", "seed": 0, "proxy": 1.0, "gold": 1.0}) == []
    with pytest.raises(ValueError, match=r"a second before-evaluation of \(task, seed\) \('A', 0\)"):
        join.add("before", {"task": "A", "seed": 0, "proxy": 0.0, "gold": 0.0})
    with pytest.raises(ValueError, match="kind must be 'before' or 'run', got 'after'"):
        join.add("after", _run("A", 0, "ppo"))


_ORPHAN_PARENT = """
import multiprocessing, os, time
from concurrent.futures import ProcessPoolExecutor
from scripts.bench.algos import _init_worker

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                               initargs=(1, os.getpid()))
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 60)
    time.sleep(60)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an ended process nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_ends_when_the_benchmark_process_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(_ORPHAN_PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    worker = int(parent.stdout.readline())
    assert _running(worker)  # its 60 s task
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not _running(worker):
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    pytest.fail(f"worker {worker} still ran 20 s after its parent was killed")


def test_kl_coef_learning_rate_and_minibatch_size_override_every_algorithms_default(toy, tmp_path):
    _, results, _ = toy
    defaults = {(run["kl_coef"], run["learning_rate"], run["minibatch_size"]) for run in results["runs"]}
    assert defaults == {(0.05, 5e-5, 4)}  # the defaults; minibatches of 8 hold the rollout's 4 episodes
    config = toy_config(
        tmp_path, tasks=["TextGenKeyword-v0"], seeds=[0], kl_coef=0.0, learning_rate=1e-5, minibatch_size=2
    )
    free = run_benchmark(config, tiny_policy, env_kwargs())
    assert [(run["algo"], run["kl_coef"], run["learning_rate"], run["minibatch_size"]) for run in free["runs"]] == [
        ("ppo", 0.0, 1e-5, 2),
        ("rloo", 0.0, 1e-5, 2),
        ("sb3-ppo", 0.0, 1e-5, 2),
    ]
    assert (free["config"]["kl_coef"], free["config"]["learning_rate"], free["config"]["minibatch_size"]) == (
        0.0,
        1e-5,
        2,
    )
    assert "KL coefficient 0.0, learning rate 1e-05, minibatch 2 episodes;" in setting_line(config, free)
    assert "learning rate each default, minibatch each default;" in setting_line(toy_config(tmp_path), results)


def test_the_setting_line_names_the_held_out_rows_evaluated_not_the_rows_asked_for(toy, tmp_path):
    _, results, _ = toy
    config = toy_config(tmp_path, eval_rows=48)  # more than a split holds: all its rows

    def with_rows(*counts: int) -> dict:
        evals = [dict(results["before_eval"]["evals"][0], task=f"T{i}", eval_rows=n) for i, n in enumerate(counts)]
        return {**results, "before_eval": {"evals": evals}}

    assert ", 30 held-out rows per task, " in setting_line(config, with_rows(30, 30))
    assert ", held-out rows T0 30, T1 12, " in setting_line(config, with_rows(30, 12))
    assert ", 48 held-out rows per task, " in setting_line(config, {**results, "before_eval": {"evals": []}})


def test_bench_algos_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="algos must be a non-empty list"):
        run_benchmark(BenchAlgosConfig(algos=["dqn"], output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="tasks must be a non-empty list"):
        run_benchmark(BenchAlgosConfig(tasks=["TextGen-v0"], output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="seeds must be a non-empty list"):
        run_benchmark(BenchAlgosConfig(seeds=[0, 0], output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="kl_coef must be None or >= 0, got -1"):
        run_benchmark(BenchAlgosConfig(kl_coef=-1.0, output_dir=str(tmp_path)))
    for bad in (0.0, -1e-5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=f"learning_rate must be None or a finite number > 0, got {bad}"):
            BenchAlgosConfig(learning_rate=bad)
    for bad in (0, 9, 2.0, True):
        with pytest.raises(
            ValueError, match=rf"minibatch_size must be None or an integer in \[1, n_envs=8\], got {bad}"
        ):
            BenchAlgosConfig(n_envs=8, minibatch_size=bad)
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        run_benchmark(BenchAlgosConfig(workers=0, output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="policy_factory, env_kwargs and the arms must be picklable"):
        run_benchmark(BenchAlgosConfig(workers=2, output_dir=str(tmp_path)), lambda seed: tiny_policy(seed))
    with pytest.raises(ValueError, match="support_seeds must be a non-empty list"):
        BenchAlgosConfig(support_seeds=[])
    with pytest.raises(ValueError, match="eval_rows must be an integer >= 0"):
        BenchAlgosConfig(eval_rows=-1)
    with pytest.raises(ValueError, match="scale must be one of"):
        BenchAlgosConfig(scale="tpu")
    with pytest.raises(ValueError, match="warm_start='sft' starts TextGenInstruct-v0 from its SFT policy"):
        BenchAlgosConfig(policy="gpt2")
    assert BenchAlgosConfig(policy="gpt2", tasks=["TextGenSentiment-v0"]).policy == "gpt2"  # no recipe: no warm start


def test_the_scale_fills_the_fields_left_at_none_and_the_task_decides_seeds_and_start():
    from agents import TASK_SFT_RECIPES
    from scripts.bench.algos import SCALES, eval_prompts, initial_policy, task_seeds
    from text_gym import task_prompts

    cpu, gpu = BenchAlgosConfig(), BenchAlgosConfig(scale="gpu", n_envs=4)
    assert {name: getattr(cpu, name) for name in SCALES["cpu"]} == SCALES["cpu"]
    assert gpu.n_envs == 4 and gpu.total_timesteps == SCALES["gpu"]["total_timesteps"] > 100 * 32 * 24
    assert len(task_seeds(cpu, "TextGenSupport-v0")) >= 5 and len(task_seeds(cpu, "TextGenArithmetic-v0")) >= 3
    assert "TextGenSupport-v0" in TASK_SFT_RECIPES
    assert initial_policy(cpu, "TextGenSupport-v0") == "sft:TextGenSupport-v0"
    assert initial_policy(cpu, "TextGenSentiment-v0") == "smollm2"
    assert initial_policy(BenchAlgosConfig(warm_start="none"), "TextGenSupport-v0") == "smollm2"
    rows = eval_prompts(cpu, "TextGenArithmetic-v0")
    test = task_prompts("TextGenArithmetic-v0", "test")
    assert len(rows) == 16 and rows[0] == test[0] and rows[-1] == test[-1] and len({str(r) for r in rows}) == 16
    assert eval_prompts(gpu, "TextGenArithmetic-v0") == test


def test_bench_algos_on_the_verifiable_tasks_passes_the_fields_to_proxy_and_gold(tmp_path):
    """The procedural tasks: their rewards read per-prompt fields (answer, constraints), in the env (proxy), in the
    agents' and the evaluation's gold metric, and in the SB3 path's gold callback."""
    tokenizer = make_tiny_tokenizer(WORDS)
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    tasks = ["TextGenArithmetic-v0", "TextGenInstruct-v0"]
    config = toy_config(tmp_path, algos=["grpo", "sb3-ppo"], tasks=tasks, seeds=[0], total_timesteps=16)
    results = run_benchmark(config, tiny_policy, {"tokenizer": tokenizer, **ENV_KWARGS})
    assert [(r["task"], r["algo"]) for r in results["runs"]] == [(t, a) for t in tasks for a in config.algos]
    for run in results["runs"]:
        assert all(0.0 <= v <= 1.0 for key in ("proxy", "gold") for v in run["curve"][key])
        if run["task"] == "TextGenArithmetic-v0":  # exact task: the gold metric is the reward itself
            assert run["curve"]["proxy"] == run["curve"]["gold"] and run["proxy_after"] == run["gold_after"]
        else:  # gold (all constraints met) can never exceed the reward (fraction met)
            assert all(g <= p for p, g in zip(run["curve"]["proxy"], run["curve"]["gold"], strict=True))
            assert run["gold_after"] <= run["proxy_after"]


SUPPORT_WORDS = [*WORDS, "your", "email", "order", "number", "please", "reset", "cancel", "refund", "thanks"]
SUPPORT_SCENARIOS = ["password_reset", "cancel_subscription"]


def tiny_support_policy(seed: int):
    from tiny_chat import tiny_chat_tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel

    vocab_size = len(tiny_chat_tokenizer(SUPPORT_WORDS))
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size, n_positions=256, n_embd=32, n_layer=2, n_head=2, bos_token_id=2, eos_token_id=2
    )
    return GPT2LMHeadModel(config)


def test_bench_algos_on_the_support_desk_scores_conversations_in_its_short_configuration(tmp_path):
    """TextGenSupport-v0 in its own short configuration (not --max-new-tokens), on a subset of scenarios: gold is
    support_success of the held-out conversations, exactly, in [0, 1]."""
    from tiny_chat import tiny_chat_tokenizer

    from agents import LMPolicy, evaluate_lm
    from agents.common.envs import make_vector_env
    from text_gym import support_rows, support_success

    turns, turn_tokens = 3, 5
    config = toy_config(
        tmp_path,
        algos=["ppo", "grpo"],
        tasks=["TextGenSupport-v0"],
        support_seeds=[0],
        total_timesteps=40,
        max_new_tokens=2,  # the single-turn tasks' length: not applied to the support desk
        support_max_turns=turns,
        support_max_turn_tokens=turn_tokens,
        support_scenarios=SUPPORT_SCENARIOS,
    )
    tokenizer = tiny_chat_tokenizer(SUPPORT_WORDS)
    results = run_benchmark(config, tiny_support_policy, {"tokenizer": tokenizer})
    assert [(r["task"], r["algo"]) for r in results["runs"]] == [("TextGenSupport-v0", a) for a in config.algos]
    for run in results["runs"]:
        steps = [b - a for a, b in zip([0.0] + run["curve"]["tokens"], run["curve"]["tokens"], strict=False)]
        assert all(0 < step <= config.n_envs * turns * turn_tokens for step in steps)
        assert max(steps) > config.n_envs * config.max_new_tokens
        assert all(0.0 <= v <= 1.0 for v in [*run["curve"]["gold"], run["gold_before"], run["gold_after"]])

    # the shared before-evaluation's gold is support_success over the initial policy's held-out conversations
    test_rows = support_rows("test", scenarios=SUPPORT_SCENARIOS)
    policy = LMPolicy.from_pretrained(tiny_support_policy(0))
    env_kwargs = {
        "tokenizer": tokenizer,
        "vocab_size": policy.vocab_size,
        "prompts": test_rows,
        "max_turns": turns,
        "max_turn_tokens": turn_tokens,
        "max_new_tokens": turns * turn_tokens + (turns - 1) * 64,
        "conversation_reward": None,
    }
    env = make_vector_env("TextGenSupport-v0", config.n_envs, policy.vocab_size, "cpu", env_kwargs)
    result = evaluate_lm(policy, env, "support-success", seed=0)
    fields = {name: [row[name] for row in test_rows] for name in ("facts", "required", "solution", "patience")}
    expected = support_success(result.conversations, **fields)
    assert len(result.conversations) == len(test_rows) == 6
    assert result.gold_scores.tolist() == expected.tolist()
    (before,) = results["before_eval"]["evals"]
    assert (before["proxy"], before["gold"]) == (result.score_mean, result.gold_mean)


def test_a_reasoning_gym_task_trains_on_its_train_items_and_evaluates_on_its_held_out_ones(tmp_path):
    from test_tasks import CHAT_TEMPLATE

    from scripts.bench.algos import REASONING_MAX_NEW_TOKENS, REASONING_TASKS

    task = "TextGenReasoning-v0:leg_counting"
    tokenizer = make_tiny_tokenizer(WORDS)
    tokenizer.chat_template = CHAT_TEMPLATE
    config = toy_config(tmp_path, algos=["grpo"], tasks=[task], seeds=[0], max_new_tokens=None, total_timesteps=16)
    kwargs = {"tokenizer": tokenizer, "truncation": "left"}
    results = run_benchmark(config, lambda seed: tiny_model(len(WORDS) + 3, seed=seed, n_positions=144), kwargs)
    (run,) = results["runs"]
    assert run["task"] == task and run["updates"] == 1
    assert 4 * 4 < run["tokens"] <= 4 * REASONING_MAX_NEW_TOKENS  # episodes of the reasoning tasks' length
    assert run["proxy_after"] == run["gold_after"]  # exact task: proxy = gold
    assert REASONING_TASKS[task]["test_size"] == 50
    with pytest.raises(ValueError, match="TextGenReasoning-v0:gcd"):
        toy_config(tmp_path, tasks=["TextGenReasoning-v0:nope"])
