"""The procedural verifiable-reward tasks: TextGenArithmetic-v0 and TextGenInstruct-v0 (text_gym.tasks.arithmetic,
text_gym.tasks.instruct, text_gym.prompts.generated)."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
from test_tasks import tokenizer, zero_reward

import text_gym
from reward_models import CONSTRAINTS, call_reward, make_reward_model
from text_gym.prompts.generated import GeneratedPrompts
from text_gym.tasks.arithmetic import LEVELS, TEST_PER_LEVEL, arithmetic_problem
from text_gym.tasks.instruct import _CONFLICTS, TEST_SIZE, instruct_row

PROCEDURAL = ["TextGenArithmetic-v0", "TextGenInstruct-v0"]


def make(env_id, **kwargs):
    return gym.make(env_id, tokenizer=tokenizer(), reward_model=zero_reward, **kwargs)


def prompts_after_resets(env, seed, count=6):
    prompts = [env.reset(seed=seed)[1]["prompt"]]
    prompts += [env.reset()[1]["prompt"] for _ in range(count - 1)]
    return prompts


@pytest.mark.parametrize("env_id", PROCEDURAL)
def test_seeded_prompts_are_reproducible_and_differ_across_seeds(env_id):
    first, second = make(env_id), make(env_id)
    assert prompts_after_resets(first, 3) == prompts_after_resets(second, 3)
    assert prompts_after_resets(first, 3) != prompts_after_resets(first, 4)
    assert len(set(prompts_after_resets(first, 5, count=20))) >= 15  # fresh problems, not a short list


@pytest.mark.parametrize("env_id", PROCEDURAL)
def test_vector_env_draws_what_single_envs_with_the_same_seeds_draw(env_id):
    envs = gym.make_vec(env_id, num_envs=3, tokenizer=tokenizer(), reward_model=zero_reward)
    _, info = envs.reset(seed=10)
    singles = [make(env_id).reset(seed=10 + i)[1] for i in range(3)]
    assert list(info["prompt"]) == [s["prompt"] for s in singles]
    field = "answer" if env_id == "TextGenArithmetic-v0" else "constraints"
    assert list(info[field]) == [s[field] for s in singles]


@pytest.mark.parametrize("env_id", PROCEDURAL)
def test_prompt_index_replays_a_problem(env_id):
    env = make(env_id)
    _, info = env.reset(seed=1)
    _, again = env.reset(options={"prompt_index": info["prompt_index"]})
    assert again == info
    obs_a = make(env_id).reset(options={"prompt_index": 123456})[0]
    obs_b = make(env_id).reset(options={"prompt_index": 123456})[0]
    np.testing.assert_array_equal(obs_a["input_ids"], obs_b["input_ids"])


@pytest.mark.parametrize("env_id", PROCEDURAL)
def test_test_split_is_fixed_and_never_drawn_for_training(env_id):
    test = text_gym.task_prompts(env_id, "test")
    assert test == text_gym.task_prompts(env_id, "test") and all(isinstance(row, dict) for row in test)
    assert len(test) == (len(LEVELS) * TEST_PER_LEVEL if env_id == "TextGenArithmetic-v0" else TEST_SIZE)
    train = text_gym.task_prompts(env_id, "train")
    assert isinstance(train, GeneratedPrompts)
    test_prompts = {row["prompt"] for row in test}
    assert not test_prompts & {train[i] for i in range(3000)}
    with pytest.raises(ValueError, match="'train' or 'test' for a procedural task"):
        text_gym.task_prompts(env_id, "all")
    env = gym.make(env_id, tokenizer=tokenizer(), reward_model=zero_reward, prompts=test)
    assert env.unwrapped.task.prompts == [row["prompt"] for row in test]


def _evaluate(problem: str) -> int:
    """The answer of a generated problem, computed independently of the generator."""
    if problem.startswith("What is "):
        expression = problem[len("What is ") : problem.index("?")].replace("×", "*").replace("÷", "/")
        value = eval(expression, {"__builtins__": {}})  # digits, + - * / ( ) only
        assert value == int(value)
        return int(value)
    start, packs, per_pack, given = map(int, re.findall(r"\d+", problem.split("How many")[0]))
    return start + packs * per_pack - given


def test_arithmetic_answers_are_right_at_every_level():
    rng = np.random.default_rng(0)
    for level in LEVELS:
        for _ in range(200):
            row = arithmetic_problem(rng, (level,))
            assert row["level"] == level and row["prompt"].endswith("Give the final answer as \\boxed{number}.")
            assert _evaluate(row["prompt"]) == row["answer"] and row["answer"] >= 0


def test_arithmetic_levels_option():
    env = make("TextGenArithmetic-v0", levels=[1])
    infos = [env.reset(seed=s)[1] for s in range(10)]
    assert all(info["level"] == 1 and 0 <= info["answer"] <= 18 for info in infos)
    test = text_gym.task_prompts("TextGenArithmetic-v0", "test", levels=[2, 3])
    assert {row["level"] for row in test} == {2, 3}
    for levels in ([0], [], [1, 1], [6]):
        with pytest.raises(ValueError, match="levels must be a non-empty list of distinct difficulty levels"):
            make("TextGenArithmetic-v0", levels=levels)
    with pytest.raises(ValueError, match=r"cannot be combined with prompts="):
        make("TextGenArithmetic-v0", levels=[1], prompts=["What is 1 + 1?"])
    with pytest.raises(ValueError, match=r"takes no option\(s\) \['levels'\]"):
        text_gym.task_prompts("TextGenInstruct-v0", "test", levels=[1])


def test_arithmetic_env_pays_the_exact_reward_for_the_right_number():
    tok = tokenizer()
    tok.add_tokens([str(n) for n in range(200)])
    env = gym.make("TextGenArithmetic-v0", tokenizer=tok, levels=[1], max_new_tokens=2)
    _, info = env.reset(seed=0)
    right, wrong = str(info["answer"]), str(info["answer"] + 1)
    for word, expected in ((right, 1.0), (wrong, 0.0), (".", 0.0)):  # "." holds no number: the documented zero
        env.reset(seed=0)
        env.step(tok.convert_tokens_to_ids(word))
        _, reward, terminated, _, final = env.step(tok.eos_token_id)
        assert terminated and reward == expected and final["answer"] == info["answer"]


def test_instruct_rows_have_one_to_three_compatible_constraints():
    rng = np.random.default_rng(0)
    counts, kinds = set(), set()
    for _ in range(500):
        row = instruct_row(rng, ["the moon"])
        constraints = row["constraints"]
        counts.add(len(constraints))
        types = [c["type"] for c in constraints]
        kinds.update(types)
        assert len(set(types)) == len(types)
        assert all(frozenset((a, b)) not in _CONFLICTS for a in types for b in types if a != b)
        assert row["prompt"].startswith(("Write", "Tell", "Give")) and "the moon" in row["prompt"]
    assert counts == {1, 2, 3} and kinds == set(CONSTRAINTS)


def test_instruct_info_carries_the_constraints_and_reward_is_the_fraction_met():
    env = make("TextGenInstruct-v0", max_new_tokens=1)
    _, info = env.reset(seed=2)
    constraints = info["constraints"]
    assert isinstance(constraints, list) and all("type" in c for c in constraints)
    _, _, terminated, _, final = env.step(tokenizer().eos_token_id)
    assert terminated and final["constraints"] == constraints
    reward = make_reward_model("instruction-constraints")
    rows = [{"type": "lowercase"}, {"type": "include_words", "words": ["moon"]}, {"type": "no_commas"}]
    fields = {"constraints": [rows]}
    np.testing.assert_allclose(call_reward(reward, ["p"], ["the sun, the stars"], fields), [1 / 3])


@pytest.mark.parametrize("env_id", PROCEDURAL)
def test_gold_spec_and_proxy_reward_of_the_procedural_tasks(env_id):
    spec = text_gym.TASKS[env_id]
    assert spec.chat_template
    assert (
        text_gym.gold_reward_spec(env_id)
        == {
            "TextGenArithmetic-v0": "numeric-match",
            "TextGenInstruct-v0": "instruction-constraints:all",
        }[env_id]
    )
    env = gym.make(env_id, tokenizer=tokenizer())  # the task's own reward model, which reads the fields
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(tokenizer().eos_token_id)
    assert terminated and reward == 0.0 and info["completion"] == ""


def test_evaluation_refuses_an_endless_prompt_source():
    from agents import evaluate_lm

    envs = gym.make_vec("TextGenArithmetic-v0", num_envs=2, tokenizer=tokenizer(), reward_model=zero_reward)
    with pytest.raises(ValueError, match="fixed prompt list"):
        evaluate_lm(None, envs)
