"""TextGenReasoning-v0 (text_gym.tasks.reasoning): reasoning-gym datasets as a token-level task, their
score_answer as the reward, a held-out split from generator seeds never drawn for training."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import make_tiny_tokenizer
from test_tasks import CHAT_TEMPLATE, WORDS, tokenizer

import text_gym
from agents import GRPO
from reward_models import MissingExtraError, call_reward, make_reward_model
from text_gym.prompts.generated import GeneratedPrompts
from text_gym.tasks.reasoning import (
    REASONING_SYSTEM_PROMPT,
    ReasoningGymReward,
    answer_completion,
    dataset_names,
    reasoning_prompts,
)

ENV_ID = "TextGenReasoning-v0"
TEST_SIZE = 20
# The datasets this file runs (docs/env.md lists them): each has one oracle answer per item, which scores 1.
DATASETS = [
    "basic_arithmetic",
    "chain_sum",
    "gcd",
    "lcm",
    "count_bits",
    "leg_counting",
    "letter_counting",
    "spell_backward",
    "word_sorting",
    "number_sorting",
    "simple_equations",
    "base_conversion",
    "family_relationships",
    "calendar_arithmetic",
    "fraction_simplification",
    "prime_factorization",
]


def answer_tokenizer(rows):
    """The test tokenizer plus the answer tags and every word of the rows' answers, so a completion can spell them."""
    words = [word for row in rows for word in str(row["entry"]["answer"]).split()]
    tok = make_tiny_tokenizer([*WORDS, "<answer>", "</answer>", *words])
    tok.chat_template = CHAT_TEMPLATE
    return tok


def play(env, words):
    """Step the words' token ids, then EOS; the final reward and info."""
    tok = env.unwrapped.task.tokenizer
    for word in words:
        _, reward, terminated, _, info = env.step(tok.convert_tokens_to_ids(word))
        assert not terminated
    _, reward, terminated, _, info = env.step(tok.eos_token_id)
    assert terminated
    return reward, info


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_resets_and_its_right_answer_scores_one(name):
    train_env = gym.make(ENV_ID, tokenizer=tokenizer(), dataset=name, test_size=TEST_SIZE)
    _, info = train_env.reset(seed=0)
    assert info["prompt"] == info["entry"]["question"] and info["dataset"]["name"] == name
    assert info["entry"]["metadata"]["source_index"] >= TEST_SIZE  # a training item
    rows = reasoning_prompts("test", dataset=name, test_size=TEST_SIZE)
    env = gym.make(ENV_ID, tokenizer=answer_tokenizer(rows[:1]), prompts=rows)  # the held-out rows as prompts
    answer = str(rows[0]["entry"]["answer"]).split()
    env.reset(seed=0, options={"prompt_index": 0})
    reward, info = play(env, ["<answer>", *answer, "</answer>"])
    assert reward == 1.0 and info["completion"].startswith("<answer>")
    env.reset(seed=0, options={"prompt_index": 0})
    wrong, _ = play(env, ["<answer>", "river", "</answer>"])
    env.reset(seed=0, options={"prompt_index": 0})
    untagged, _ = play(env, answer)
    assert wrong < 1.0 and untagged < 1.0  # no <answer> tags: no answer extracted


@pytest.mark.parametrize("name", DATASETS)
def test_the_reward_scores_every_held_out_answer_and_rejects_wrong_ones(name):
    rows = reasoning_prompts("test", dataset=name, test_size=TEST_SIZE)
    reward = make_reward_model("reasoning-gym")
    assert isinstance(reward, ReasoningGymReward)
    fields = {"entry": [row["entry"] for row in rows], "dataset": [row["dataset"] for row in rows]}
    prompts = [row["prompt"] for row in rows]
    right = call_reward(reward, prompts, [answer_completion(row["entry"]) for row in rows], fields)
    wrong = call_reward(reward, prompts, ["<answer>not the answer</answer>"] * len(rows), fields)
    np.testing.assert_array_equal(right, np.ones(len(rows)))
    assert (wrong < 1.0).all() and ((wrong >= 0) & (wrong <= 1)).all()
    # the gold metric is the same exact score
    assert text_gym.gold_reward_spec(ENV_ID) == text_gym.TASKS[ENV_ID].reward_model == "reasoning-gym"


@pytest.mark.parametrize("name", DATASETS)
def test_held_out_items_are_never_drawn_for_training(name):
    test = reasoning_prompts("test", dataset=name, test_size=TEST_SIZE)
    assert [row["entry"]["metadata"]["source_index"] for row in test] == list(range(TEST_SIZE))
    assert test == reasoning_prompts("test", dataset=name, test_size=TEST_SIZE)  # fixed
    train = reasoning_prompts("train", dataset=name, test_size=TEST_SIZE)
    assert isinstance(train, GeneratedPrompts)
    drawn = [train.row(i) for i in range(300)]
    # reasoning-gym seeds item j's generator with seed + j: disjoint item numbers are disjoint generator seeds
    assert min(row["entry"]["metadata"]["source_index"] for row in drawn) >= TEST_SIZE
    assert not {row["prompt"] for row in test} & {row["prompt"] for row in drawn}


def test_a_small_question_space_keeps_test_questions_out_of_training():
    options = {
        "dataset": "basic_arithmetic",
        "dataset_kwargs": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+"]},
        "test_size": 40,
    }
    test_questions = {row["prompt"] for row in reasoning_prompts("test", **options)}
    train = reasoning_prompts("train", **options)
    drawn = [train[i] for i in range(400)]
    assert len(set(drawn)) > 20 and not test_questions & set(drawn)
    # without the question check, training items repeat test questions: the check does something
    from text_gym.tasks.reasoning import _source

    source = _source(options["dataset"], options["dataset_kwargs"], 0, 20_000, 40)
    assert test_questions & {source.row(j)["prompt"] for j in range(40, 440)}


def test_a_weighted_mix_draws_each_dataset_with_its_config():
    options = {
        "dataset": {"basic_arithmetic": 2, "leg_counting": 1},
        "dataset_kwargs": {"leg_counting": {"min_animals": 1, "max_animals": 1}},
        "test_size": TEST_SIZE,
    }
    train = reasoning_prompts("train", **options)
    rows = [train.row(i) for i in range(600)]
    names = [row["dataset"]["name"] for row in rows]
    assert 0.58 < names.count("basic_arithmetic") / len(names) < 0.75
    legs = next(row for row in rows if row["dataset"]["name"] == "leg_counting")
    assert legs["dataset"]["config"] == {"min_animals": 1, "max_animals": 1, "seed": 2, "size": 20_000}
    assert legs["entry"]["metadata"]["animals"] and len(legs["entry"]["metadata"]["animals"]) == 1
    fields = {"entry": [row["entry"] for row in rows], "dataset": [row["dataset"] for row in rows]}
    right = call_reward(
        make_reward_model("reasoning-gym"),
        [row["prompt"] for row in rows],
        [answer_completion(row["entry"]) for row in rows],
        fields,
    )
    np.testing.assert_array_equal(right, np.ones(len(rows)))
    env = gym.make(ENV_ID, tokenizer=tokenizer(), **options)
    _, info = env.reset(seed=3)
    assert info["dataset"]["name"] in options["dataset"]


def test_config_values_that_are_not_plain_json_reach_the_dataset_and_its_scorer():
    from reasoning_gym.algorithmic.word_sorting import TextTransformation

    kwargs = {"transformation": TextTransformation.UPPERCASE, "max_words": 4}
    rows = reasoning_prompts("test", dataset="word_sorting", dataset_kwargs=kwargs, test_size=5)
    assert all(row["entry"]["answer"] == row["entry"]["answer"].upper() for row in rows)
    assert rows[0]["dataset"]["config"]["transformation"] is TextTransformation.UPPERCASE
    fields = {"entry": [row["entry"] for row in rows], "dataset": [row["dataset"] for row in rows]}
    right = [answer_completion(row["entry"]) for row in rows]
    scores = call_reward(make_reward_model("reasoning-gym"), [row["prompt"] for row in rows], right, fields)
    np.testing.assert_array_equal(scores, np.ones(len(rows)))


def test_env_defaults_prompts_and_system_prompt():
    env = gym.make(ENV_ID, tokenizer=tokenizer())  # no arguments: basic_arithmetic, the task's defaults
    task = env.unwrapped.task
    spec = text_gym.TASKS[ENV_ID]
    assert task.max_new_tokens == spec.max_new_tokens == 64 and task.chat_template and task.max_prompt_tokens == 512
    assert spec.system_prompt == REASONING_SYSTEM_PROMPT and "<answer>" in REASONING_SYSTEM_PROMPT
    obs, info = env.reset(seed=1)
    text = task.tokenizer.decode(obs["input_ids"][obs["attention_mask"] == 1])
    assert text.startswith("system :") and text.endswith("assistant :")
    assert info["dataset"]["name"] == "basic_arithmetic"
    _, again = env.reset(options={"prompt_index": info["prompt_index"]})
    assert again["prompt"] == info["prompt"]
    first = [gym.make(ENV_ID, tokenizer=tokenizer()).reset(seed=s)[1]["prompt"] for s in (5, 5, 6)]
    assert first[0] == first[1] != first[2]


def test_vector_env_draws_what_single_envs_with_the_same_seeds_draw():
    kwargs = {"tokenizer": tokenizer(), "dataset": "leg_counting", "test_size": TEST_SIZE}
    envs = gym.make_vec(ENV_ID, num_envs=3, **kwargs)
    _, info = envs.reset(seed=10)
    singles = [gym.make(ENV_ID, **kwargs).reset(seed=10 + i)[1] for i in range(3)]
    assert list(info["prompt"]) == [s["prompt"] for s in singles]
    assert [e["answer"] for e in info["entry"]] == [s["entry"]["answer"] for s in singles]
    eos = envs.unwrapped.task.tokenizer.eos_token_id
    _, rewards, terminated, _, _ = envs.step(np.full(3, eos))
    assert terminated.all() and (rewards == 0).all()  # an empty completion has no answer


def test_grpo_trains_on_the_env():
    from tiny_lm import tiny_model

    tok = make_tiny_tokenizer([*WORDS, "<answer>", "</answer>", *map(str, range(20))])
    tok.chat_template = CHAT_TEMPLATE
    env_kwargs = {
        "tokenizer": tok,
        "dataset": "basic_arithmetic",
        "dataset_kwargs": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+"]},
        "system_prompt": "answer in <answer> </answer> tags",
        "max_prompt_tokens": 24,
        "max_new_tokens": 4,
        "test_size": TEST_SIZE,
    }
    model = tiny_model(vocab_size=len(tok), n_positions=28)
    before = [p.detach().clone() for p in model.parameters()]
    agent = GRPO(
        model, ENV_ID, env_kwargs=env_kwargs, n_envs=4, group_size=2, seed=0, gold_reward_model="reasoning-gym"
    )
    agent.learn(4 * 4, progress_bar=False)
    assert agent.n_updates == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.policy.model.parameters(), strict=True))
    buffer = agent.collect_rollouts()
    assert ((buffer.scores >= 0) & (buffer.scores <= 1)).all()


def test_unknown_dataset_and_bad_options_are_named():
    with pytest.raises(ValueError, match=r"unknown reasoning-gym dataset\(s\) \['nope'\].*'basic_arithmetic'"):
        gym.make(ENV_ID, tokenizer=tokenizer(), dataset="nope")
    assert "leg_counting" in dataset_names() and "composite" not in dataset_names() and len(dataset_names()) > 100
    bad = [
        (
            {"dataset_kwargs": {"max_terms": 0}},
            r"dataset_kwargs are not a valid config of reasoning-gym dataset "
            r"'basic_arithmetic': AssertionError: max_terms must be >= min_terms",
        ),
        ({"dataset_kwargs": {"nope": 1}}, r"dataset_kwargs are not .* TypeError: .*'nope'"),
        ({"dataset_kwargs": {"seed": 1}}, r"may not set \['seed'\]: the env options dataset_seed and dataset_size"),
        ({"dataset": {"gcd": 0}}, r"dataset weight of 'gcd' must be a finite number > 0, got 0"),
        ({"dataset": {}}, r"non-empty mapping name -> weight"),
        ({"dataset": {"gcd": 1}, "dataset_kwargs": {"lcm": {}}}, r"\['lcm'\] are not in the mix \['gcd'\]"),
        (
            {"dataset": {"gcd": 1}, "dataset_kwargs": {"gcd": {"min_numbers": 1}}},
            r"dataset_kwargs\['gcd'\] are not a valid config of reasoning-gym dataset 'gcd'",
        ),
        ({"test_size": 0}, r"test_size must be an integer >= 1, got 0"),
        ({"dataset_size": 100}, r"dataset_size must be an integer >= 101, got 100"),
    ]
    for options, message in bad:
        with pytest.raises(ValueError, match=message):
            reasoning_prompts("train", **options)
    with pytest.raises(ValueError, match="'train' or 'test' for a procedural task"):
        text_gym.task_prompts(ENV_ID, "all")


def test_a_missing_extra_names_the_install_command(monkeypatch):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras["reasoning"] == ["reasoning-gym>=0.1.25"]
    assert "reasoning" in extras["all"][0].split("[")[1].rstrip("]").split(",")
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # as if reasoning-gym were not installed
    message = r'TextGenReasoning-v0 \(reasoning-gym datasets\) needs .*pip install "text-gym\[reasoning\]"'
    with pytest.raises(MissingExtraError, match=message):
        gym.make(ENV_ID, tokenizer=tokenizer())
    with pytest.raises(MissingExtraError, match=message):
        make_reward_model("reasoning-gym")
