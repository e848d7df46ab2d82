"""``text-gym bench env`` at toy size: the chat-env rows time conversations of exactly the turns they claim and
report their fields; the SB3-vs-ours agent cases train on the chat env and report seconds per agent token; the
report and the doc section are written (not speed)."""

from __future__ import annotations

import json

import pytest

from reward_models.common import load_tokenizer
from scripts.bench.chat import (
    ChatAgentSettings,
    _agent_turn,
    _run_episodes,
    chat_context_length,
    chat_env_kwargs,
    chat_env_rows,
    run_chat_agent_case,
)
from scripts.bench.env import BenchEnvConfig, _agent_policy, main
from scripts.bench.report import doc_markers


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("smollm2")


def test_chat_env_rows_step_whole_conversations_of_each_length(tokenizer):
    rows = chat_env_rows(tokenizer, [1, 3], [1, 2], turn_tokens=4, tokens=20)
    assert [(r["batch"], r["turns"]) for r in rows] == [(1, 1), (1, 3), (2, 1), (2, 3)]
    for row in rows:
        per_batch = row["batch"] * row["turns"] * 4
        assert row["agent_tokens"] == per_batch * max(2, -(-20 // per_batch))  # whole batches, at least 2
        assert row["env_us_per_token"] == pytest.approx(1e6 * row["seconds"] / row["agent_tokens"])
        length = chat_context_length(row["turns"], 4)
        assert row["buffer_kib"] == pytest.approx(3 * row["batch"] * length * 8 / 1024)
        assert row["python_peak_kib"] > 0
    assert [r["growth"] for r in rows if r["turns"] == 1] == [1.0, 1.0]
    first, longest = rows[2], rows[3]
    assert longest["growth"] == pytest.approx(longest["env_us_per_token"] / first["env_us_per_token"])


def test_the_fixed_agent_turns_run_every_conversation_to_max_turns(tokenizer):
    from gymnasium.vector import AutoresetMode

    from text_gym.chat.vector import TextGenChatVectorEnv

    env = TextGenChatVectorEnv(3, autoreset_mode=AutoresetMode.DISABLED, **chat_env_kwargs(tokenizer, 4, 6))
    turn = _agent_turn(env, 6)
    assert len(turn) == 6 and turn[-1] == env.end_of_turn_id and env.end_of_turn_id not in turn[:-1]
    assert _run_episodes(env, turn, 4) == 3 * 4 * 6
    assert env._turns.tolist() == [4, 4, 4]
    for conversation in env._conversations:
        assert [m["role"] for m in conversation[-8:]] == ["user", "assistant"] * 4
    with pytest.raises(RuntimeError, match="did not all end at max_turns=5"):
        _run_episodes(env, turn, 5)  # one turn more than the env's max_turns: the episodes end a turn early


@pytest.mark.parametrize("case", ["ours", "sb3"])
def test_chat_agent_case_reports_seconds_per_agent_token(case, tmp_path):
    config = BenchEnvConfig(agent_turns=1, agent_turn_tokens=3)
    settings = ChatAgentSettings(
        policy_dir=_agent_policy(config, tmp_path), batch=2, turns=1, turn_tokens=3, iterations=2, minibatch_size=2
    )
    row = run_chat_agent_case(case, settings)
    assert row["case"] == case and len(row["iteration_s"]) == len(row["tokens"]) == 2
    assert all(0 < tokens <= 2 * 3 for tokens in row["tokens"])  # at most batch x turns x turn tokens
    assert row["s_per_token"] == pytest.approx(row["iteration_s"][1] / row["tokens"][1])
    assert row["peak_memory_gib"] >= 0


def test_bench_env_writes_the_tables_and_the_doc_section(tmp_path, capsys):
    begin, end = doc_markers("env")
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nkept above\n\n{begin}\nold results\n{end}\n\nkept below\n")
    config = BenchEnvConfig(
        batch_sizes=[2],
        max_new_tokens=4,
        tokens=16,
        chat_turns=[1, 2],
        chat_batch_sizes=[2],
        chat_turn_tokens=3,
        chat_tokens=12,
        agent_cases=["none"],
        output=str(tmp_path / "env.json"),
        doc=str(doc),
    )
    assert config.agent_cases == []
    assert main(config) == 0
    printed = capsys.readouterr().out
    assert "text-gym bench env --batch-sizes 2 --max-new-tokens 4" in printed and "--agent-cases none" not in printed
    assert "| 2 | 2 |" in printed and "vs 1 turn" in printed
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nkept above\n\n") and text.endswith(f"{end}\n\nkept below\n")
    assert "old results" not in text and "| 2 | 1 |" in text
    results = json.loads((tmp_path / "env.json").read_text())["results"][0]
    assert [r["turns"] for r in results["chat"]] == [1, 2] and results["agents"] == []
    assert len(results["single"]) == 3  # TextGenEnv, and the vector env's step and step_tensors at batch 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chat_turns": [0]}, "chat_turns must be an integer >= 1"),
        ({"chat_turn_tokens": 1}, "chat_turn_tokens must be an integer >= 2"),
        ({"agent_cases": ["ppo"]}, "agent_cases must be distinct cases from ('ours', 'sb3')"),
        ({"agent_iterations": 1}, "agent_iterations must be an integer >= 2"),
    ],
)
def test_bench_env_config_refuses_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BenchEnvConfig(**kwargs)
