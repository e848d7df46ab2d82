"""Demonstrations from the tasks' own rules: the scripted support agent played through TextGenSupport-v0 succeeds
under the gold rule (imperfect ones fail as intended) with the env's exact tokens; worked arithmetic answers and
constraint-built instruct answers score as intended; train split only; deterministic; bad inputs refused."""

from __future__ import annotations

import json
import re

import gymnasium as gym
import numpy as np
import pytest

from reward_models import check_constraint, load_tokenizer, make_reward_model
from reward_models.common.jsonl import read_jsonl_objects
from text_gym import task_demonstrations
from text_gym.chat.users import Script, ScriptedUser, agent_turns, run_script
from text_gym.tasks.arithmetic import arithmetic_prompts, arithmetic_test_rows
from text_gym.tasks.instruct import instruct_prompts
from text_gym.tasks.suite import TASKS
from text_gym.tasks.support import FACT_QUESTIONS, NEXT_STEPS, support_rows, support_success


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("smollm2")  # the env's default tokenizer (no model weights)


@pytest.fixture(scope="module")
def support_demos(tokenizer):
    return task_demonstrations("TextGenSupport-v0", 90, seed=0, imperfect=0.5, tokenizer=tokenizer)


def n_tokens(tokenizer, text):
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


# ------------------------------------------------------------------------------------------ support desk
def test_the_agent_phrasings_match_the_customer_rules():
    for row in support_rows("train"):
        script = Script.from_row(row)
        values = {fact.name: fact.value for fact in script.facts}
        for fact in script.facts:
            for phrase in FACT_QUESTIONS[fact.name]:
                assert fact in script.asked(f"Could you tell me {phrase}?"), (row["scenario"], phrase)
        for step in NEXT_STEPS[row["scenario"]]:
            text = step.format(**values)
            assert script.solves(text) and script.asked(text) == [], (row["scenario"], text)


def test_perfect_support_demos_succeed_and_imperfect_ones_fail_as_intended(support_demos):
    rows, held_out = support_rows("train"), support_rows("test")
    assert sorted(d["row"] for d in support_demos) == list(range(90))  # every train row once
    kinds = [d["imperfection"] for d in support_demos]
    assert kinds.count(None) == 45 and {"skipped_fact", "premature_step"} == set(kinds) - {None}
    for demo in support_demos:
        row, messages = rows[demo["row"]], demo["messages"]
        assert demo["env_id"] == "TextGenSupport-v0"
        assert (messages[1]["content"], row["facts"]) not in [(r["prompt"], r["facts"]) for r in held_out]
        assert [m["role"] for m in messages[:3]] == ["system", "user", "assistant"] and messages[-1]["role"] == (
            "assistant"
        )
        fields = {name: [row[name]] for name in row if name != "prompt"}
        gold = support_success([messages], **fields)[0]
        assert demo["gold"] == gold == float(demo["imperfection"] is None)
        script = Script.from_row(row)
        turns = agent_turns(messages)
        outcome = run_script(script, turns)
        assert ScriptedUser().reply(messages, row) is None  # the customer ended the conversation
        if demo["imperfection"] is None:
            assert outcome.status == "success" and outcome.turns == len(turns) <= len(row["required"]) + 1
        elif demo["imperfection"] == "skipped_fact":
            assert len(set(row["required"]) - set(outcome.asked)) == 1 and outcome.status == "gave_up"
        else:  # premature_step: the step in the first turn, and never a question
            assert any(step.split("{")[0].strip(" .") in turns[0] for step in NEXT_STEPS[row["scenario"]])
            assert outcome.asked == () and outcome.status == "gave_up"


def test_support_demos_vary_their_wording_and_fit_the_turn_budget(support_demos, tokenizer):
    first_turns = {d["messages"][2]["content"] for d in support_demos}
    assert len(first_turns) >= 30
    for demo in support_demos:
        for turn in agent_turns(demo["messages"]):
            assert n_tokens(tokenizer, turn) + 1 <= 48  # TextGenSupport-v0's max_turn_tokens, end-of-turn included


def test_support_messages_are_the_env_context_token_for_token(support_demos, tokenizer):
    env = gym.make("TextGenSupport-v0", tokenizer=tokenizer)
    end = env.unwrapped.end_of_turn_id
    for demo in [support_demos[i] for i in (0, 1, 2)] + [d for d in support_demos if d["imperfection"]][:2]:
        obs, _ = env.reset(options={"prompt_index": demo["row"]})
        for turn in agent_turns(demo["messages"]):
            for action in [*tokenizer(turn, add_special_tokens=False)["input_ids"], end]:
                obs, *_, info = env.step(action)
        assert info["conversation"] == demo["messages"]
        context = obs["input_ids"][obs["attention_mask"] == 1].tolist()
        rendered = tokenizer.apply_chat_template(demo["messages"], tokenize=True, return_dict=False)
        rendered = rendered[: len(rendered) - rendered[::-1].index(end)]  # up to the last end-of-turn token
        assert context == rendered


# ---------------------------------------------------------------------------------------------- arithmetic
def test_arithmetic_demos_are_worked_boxed_answers_with_exact_reward(tokenizer):
    demos = task_demonstrations("TextGenArithmetic-v0", 120, seed=3, imperfect=0.25, tokenizer=tokenizer)
    source, test_prompts = arithmetic_prompts("train"), {r["prompt"] for r in arithmetic_test_rows()}
    exact, boxed = make_reward_model("numeric-match"), make_reward_model("answer-format")
    prompts = [d["messages"][0]["content"] for d in demos]
    answers = [d["messages"][1]["content"] for d in demos]
    rows = [source.row(d["row"]) for d in demos]
    assert prompts == [row["prompt"] for row in rows] and not set(prompts) & test_prompts
    scores = exact(prompts, answers, answer=[row["answer"] for row in rows])
    perfect = np.array([d["imperfection"] is None for d in demos])
    assert perfect.sum() == 90 and {d["imperfection"] for d in demos} == {None, "wrong_answer"}
    np.testing.assert_array_equal(scores, perfect.astype(float))
    np.testing.assert_array_equal([d["gold"] for d in demos], scores)
    np.testing.assert_array_equal(boxed(prompts, answers), np.ones(len(demos)))
    assert all(n_tokens(tokenizer, a) < TASKS["TextGenArithmetic-v0"].max_new_tokens for a in answers)
    assert sum("," in a for a in answers) > 10  # multi-step problems show their steps
    for answer, row, ok in zip(answers, rows, perfect, strict=True):
        boxed_number = re.search(r"= ?\\boxed\{(-?\d+)\}$", answer)  # the last step's result, boxed
        assert boxed_number and (int(boxed_number.group(1)) == row["answer"]) == ok


# ----------------------------------------------------------------------------------------------- instruct
def test_instruct_demos_meet_their_constraints_or_miss_exactly_one(tokenizer):
    demos = task_demonstrations("TextGenInstruct-v0", 120, seed=5, imperfect=0.25, tokenizer=tokenizer)
    source = instruct_prompts("train")
    test_prompts = {row["prompt"] for row in instruct_prompts("test")}
    gold = make_reward_model("instruction-constraints:all")
    for demo in demos:
        row = source.row(demo["row"])
        prompt, answer = (m["content"] for m in demo["messages"])
        assert prompt == row["prompt"] and prompt not in test_prompts
        missed = [c["type"] for c in row["constraints"] if not check_constraint(answer, c)]
        assert len(missed) == (demo["imperfection"] is not None)
        assert demo["gold"] == gold([prompt], [answer], constraints=[row["constraints"]])[0] == float(not missed)
        assert n_tokens(tokenizer, answer) < TASKS["TextGenInstruct-v0"].max_new_tokens
    assert sum(d["imperfection"] is None for d in demos) == 90
    assert len({d["row"] for d in demos}) == 120


@pytest.mark.parametrize("env_id", ["TextGenArithmetic-v0", "TextGenInstruct-v0"])
def test_procedural_demos_play_through_their_env_token_for_token(env_id, tokenizer):
    demos = task_demonstrations(env_id, 8, seed=7, imperfect=0.5, tokenizer=tokenizer)
    env = gym.make(env_id, tokenizer=tokenizer)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for demo in demos:
        obs, _ = env.reset(options={"prompt_index": demo["row"]})
        for action in [*tokenizer(demo["messages"][-1]["content"], add_special_tokens=False)["input_ids"], end]:
            obs, reward, terminated, truncated, info = env.step(action)
        assert (terminated, truncated, info["stop_reason"]) == (True, False, "eos")  # within the env's budget
        assert info["prompt"] == demo["messages"][-2]["content"]
        if env_id == "TextGenArithmetic-v0":
            assert reward == demo["gold"]  # the env's reward is the exact numeric match
        else:  # the env's reward is the fraction of constraints met: all, or all but one
            k = len(instruct_prompts("train").row(demo["row"])["constraints"])
            assert reward == pytest.approx(1.0 if demo["imperfection"] is None else (k - 1) / k)
        context = obs["input_ids"][obs["attention_mask"] == 1].tolist()
        rendered = tokenizer.apply_chat_template(demo["messages"], tokenize=True, return_dict=False)
        assert context == rendered[: len(rendered) - rendered[::-1].index(end)]


# ------------------------------------------------------------------------------------------ determinism, errors
def test_demonstrations_are_deterministic(tokenizer):
    def run(seed):
        return task_demonstrations("TextGenSupport-v0", 6, seed, imperfect=0.5, tokenizer=tokenizer)

    assert run(1) == run(1) and run(1) != run(2)
    one = task_demonstrations("TextGenInstruct-v0", 8, 4, tokenizer=tokenizer)
    assert one == task_demonstrations("TextGenInstruct-v0", 8, 4, tokenizer=tokenizer)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("TextGen-v0", 4, 0, 0.0), r"env_id must be one of \['TextGenSupport-v0', 'TextGenArithmetic-v0', 'TextGen"),
        (("TextGenArithmetic-v0", 0, 0, 0.0), "count must be an integer >= 1, got 0"),
        (("TextGenArithmetic-v0", 4, -1, 0.0), "seed must be an integer >= 0, got -1"),
        (("TextGenArithmetic-v0", 4, 0, 1.5), r"imperfect must be a fraction in \[0, 1\], got 1.5"),
        (("TextGenArithmetic-v0", 4, 0, -0.1), r"imperfect must be a fraction in \[0, 1\], got -0.1"),
    ],
)
def test_bad_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        task_demonstrations(*arguments)


def test_cli_writes_the_demonstrations_as_jsonl(tmp_path, capsys):
    from scripts.cli import main

    output = tmp_path / "out" / "demos.jsonl"
    argv = ["sft", "demos", "--env", "TextGenArithmetic-v0", "--count", "5", "--seed", "2", "--imperfect", "0.4"]
    assert main([*argv, "--output", str(output)]) == 0
    written = [row for _, row in read_jsonl_objects(output)]
    assert written == json.loads(json.dumps(task_demonstrations("TextGenArithmetic-v0", 5, 2, 0.4)))
    assert "wrote 5 demonstrations of TextGenArithmetic-v0" in capsys.readouterr().out
    assert [p.name for p in output.parent.iterdir()] == ["demos.jsonl"]  # no temporary file left
    assert main(["sft", "demos", "--count", "0", "--output", str(output)]) == 1
    assert "count must be an integer >= 1, got 0" in capsys.readouterr().err
