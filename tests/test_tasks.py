"""The benchmark task suite (text_gym.tasks.suite): every id builds offline, rewards have the documented shape."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from conftest import make_tiny_tokenizer
from gymnasium.utils.env_checker import check_env

import text_gym
from reward_models import call_reward, make_reward_model
from text_gym.prompts.generated import GeneratedPrompts
from text_gym.tasks.rewards import PromptKeywordReward
from text_gym.tasks.suite import keyword_prompts

WORDS = [
    "the",
    "a",
    "i",
    "we",
    "my",
    "was",
    "is",
    "it",
    "very",
    "good",
    "river",
    "garden",
    "music",
    ".",
    ",",
    "!",
    "?",
    "user",
    "assistant",
    "system",
    ":",
    "'",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)


def tokenizer():
    tok = make_tiny_tokenizer(WORDS)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def zero_reward(prompts, completions):
    return np.zeros(len(completions))


def test_suite_ids_are_registered_with_documented_defaults():
    assert set(text_gym.TASKS) == {
        "TextGenSentiment-v0",
        "TextGenKeyword-v0",
        "TextGenStory-v0",
        "TextGenDialogue-v0",
        "TextGenInstruct-v0",
        "TextGenArithmetic-v0",
        "TextGenReasoning-v0",
        "TextGenSafety-v0",
    }
    for env_id in text_gym.TASKS:
        assert env_id in gym.registry
    assert text_gym.gold_reward_spec("TextGenSentiment-v0") == "vader"
    assert text_gym.gold_reward_spec("TextGenKeyword-v0") == "prompt-keyword"
    with pytest.raises(ValueError, match="unknown task 'TextGen-v0'"):
        text_gym.gold_reward_spec("TextGen-v0")


@pytest.mark.parametrize("env_id", sorted(text_gym.TASKS))
def test_each_task_makes_offline_and_passes_check_env(env_id):
    spec = text_gym.TASKS[env_id]
    env = gym.make(env_id, tokenizer=tokenizer(), reward_model=zero_reward)
    task = env.unwrapped.task
    assert task.max_new_tokens == spec.max_new_tokens
    assert task.chat_template == spec.chat_template
    train = text_gym.task_prompts(env_id, "train")
    if isinstance(train, GeneratedPrompts):  # procedural: the same endless source
        assert [task.prompts[i] for i in range(5)] == [train[i] for i in range(5)]
    else:  # a list of prompts, or of rows with fields
        assert task.prompts == [row["prompt"] if isinstance(row, dict) else row for row in train]
    check_env(env.unwrapped, skip_render_check=True)
    vec = gym.make_vec(env_id, num_envs=3, tokenizer=tokenizer(), reward_model=zero_reward)
    assert vec.num_envs == 3 and vec.task.max_new_tokens == spec.max_new_tokens


PROCEDURAL = {"TextGenInstruct-v0", "TextGenArithmetic-v0", "TextGenReasoning-v0"}


# procedural: test_verifiable_tasks.py, test_reasoning_env.py; the safety task's rows: test_safety_task.py
@pytest.mark.parametrize("env_id", sorted(set(text_gym.TASKS) - PROCEDURAL - {"TextGenSafety-v0"}))
def test_train_and_test_prompts_are_disjoint(env_id):
    train, test = text_gym.task_prompts(env_id, "train"), text_gym.task_prompts(env_id, "test")
    assert train and test and not set(train) & set(test)
    assert sorted(train + test) == sorted(text_gym.task_prompts(env_id, "all"))


def test_dialogue_wraps_user_turns_in_the_chat_template():
    env = gym.make("TextGenDialogue-v0", tokenizer=tokenizer(), reward_model=zero_reward)
    obs, _info = env.reset(seed=0, options={"prompt_index": 0})
    text = env.unwrapped.task.tokenizer.decode(obs["input_ids"][obs["attention_mask"] == 1])
    assert text.startswith("system :") and text.endswith("assistant :")


def test_prompt_keyword_reward_is_exact():
    reward = make_reward_model("prompt-keyword")
    assert isinstance(reward, PromptKeywordReward)
    prompts = ["Write one sentence that uses the word 'river':"] * 4 + ["no quoted word"]
    completions = ["The River was calm.", "riverside walk", "rivers and river", "nothing here", "river"]
    np.testing.assert_array_equal(reward(prompts, completions), [1.0, 0.0, 1.0, 0.0, 0.0])
    assert all("'" in p for p in keyword_prompts("all"))


def test_keyword_env_pays_one_exactly_when_the_keyword_is_written():
    tok = tokenizer()
    env = gym.make("TextGenKeyword-v0", tokenizer=tok, prompts=["use the word 'river' :"], max_new_tokens=2)
    for words, expected in ((["river", "."], 1.0), (["music", "."], 0.0)):
        env.reset(seed=0)
        rewards = [env.step(tok.convert_tokens_to_ids(w))[1] for w in words]
        assert rewards == [0.0, expected]


@pytest.mark.slow
@pytest.mark.parametrize("env_id", sorted(text_gym.TASKS))
def test_each_task_runs_with_its_real_reward_and_gold(env_id):
    env = gym.make(env_id)  # the packaged SmolLM2 tokenizer and the task's own reward model
    env.reset(seed=0)
    terminated, reward = False, 0.0
    while not terminated:
        _, reward, terminated, _, info = env.step(env.action_space.sample())
    assert np.isfinite(reward)
    fields = {name: [info[name]] for name in env.unwrapped.task.field_names}
    gold = call_reward(
        make_reward_model(text_gym.gold_reward_spec(env_id)), [info["prompt"]], [info["completion"]], fields
    )
    assert np.isfinite(gold).all()
