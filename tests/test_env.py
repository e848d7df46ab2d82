"""TextGenEnv: spaces, episode rules, seeding, rendering and every bad input, with a tiny offline tokenizer."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import make_tiny_tokenizer
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import text_gym
from text_gym import TextGenEnv

PROMPTS = ["the movie was", "my day was very", "the food is", "i love this"]
EOS = 2


def count_good(prompts, completions):
    """Toy reward: number of 'good' words in the completion."""
    return [c.split().count("good") for c in completions]


def make_env(**kwargs) -> TextGenEnv:
    options = dict(
        tokenizer=make_tiny_tokenizer(), reward_model=count_good, prompts=PROMPTS, max_new_tokens=5, max_prompt_tokens=6
    )
    options.update(kwargs)
    return TextGenEnv(**options)


def run_episode(env, actions, seed=None):
    obs, info = env.reset(seed=seed)
    steps = [(obs, 0.0, False, info)]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert truncated is False
        steps.append((obs, reward, terminated, info))
        if terminated:
            break
    return steps


def episode_hash(steps) -> str:
    digest = hashlib.sha256()
    for obs, reward, terminated, info in steps:
        digest.update(obs["input_ids"].tobytes() + obs["attention_mask"].tobytes())
        digest.update(repr((reward, terminated, sorted(info.items()))).encode())
    return digest.hexdigest()


def test_gymnasium_and_sb3_checkers_pass():
    env = gym.make(
        "TextGen-v0",
        tokenizer=make_tiny_tokenizer(),
        reward_model=count_good,
        prompts=PROMPTS,
        max_new_tokens=5,
        max_prompt_tokens=6,
    )
    gym_check_env(env.unwrapped, skip_render_check=False)
    sb3_check_env(env.unwrapped, warn=True)
    assert env.spec.id == "TextGen-v0" and env.spec.max_episode_steps is None


def test_make_with_module_prefix_works_without_prior_import():
    code = (
        "import gymnasium as gym, sys; sys.path.insert(0, 'tests'); from conftest import make_tiny_tokenizer; "
        "env = gym.make('text_gym:TextGen-v0', tokenizer=make_tiny_tokenizer(), reward_model=lambda p, c: [1.0]*len(p),"
        " prompts=['the movie was'], max_new_tokens=2, max_prompt_tokens=4); "
        "o, _ = env.reset(seed=0); print(type(env.unwrapped).__name__, o['input_ids'].shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "TextGenEnv (6,)"


def test_spaces_and_observation_layout():
    env = make_env(vocab_size=50)
    assert env.action_space == gym.spaces.Discrete(50)
    assert env.observation_space["input_ids"].shape == (11,)
    obs, info = env.reset(options={"prompt_index": 0})
    assert info == {
        "prompt": "the movie was",
        "completion": "",
        "score": 0.0,
        "prompt_index": 0,
        "num_tokens": 0,
        "stop_reason": "",
    }
    tok = env.task.tokenizer
    prompt_ids = tok("the movie was")["input_ids"]
    pad = env.task.pad_token_id
    np.testing.assert_array_equal(obs["input_ids"], [pad] * 3 + prompt_ids + [pad] * 5)
    np.testing.assert_array_equal(obs["attention_mask"], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0])
    obs, *_ = env.step(tok.convert_tokens_to_ids("good"))
    assert obs["input_ids"][6] == tok.convert_tokens_to_ids("good") and obs["attention_mask"][6] == 1
    assert obs in env.observation_space


def test_episode_ends_on_eos_with_score_and_zero_reward_before():
    env = make_env()
    tok = env.task.tokenizer
    good, great = tok.convert_tokens_to_ids(["good", "great"])
    steps = run_episode(env, [good, great, good, EOS, good], seed=1)
    rewards = [s[1] for s in steps[1:]]
    assert rewards == [0.0, 0.0, 0.0, 2.0]
    assert [s[2] for s in steps[1:]] == [False, False, False, True]
    info = steps[-1][3]
    assert info["completion"] == "good great good" and info["score"] == 2.0
    assert info["stop_reason"] == "eos" and info["num_tokens"] == 4
    assert info["prompt"] == PROMPTS[info["prompt_index"]]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(good)


def test_episode_ends_at_length_limit_and_scores_cut_text():
    env = make_env(max_new_tokens=3)
    good = env.task.tokenizer.convert_tokens_to_ids("good")
    steps = run_episode(env, [good] * 10, seed=0)
    assert len(steps) == 4 and steps[-1][2] is True
    assert steps[-1][1] == 3.0 and steps[-1][3]["stop_reason"] == "length"


def test_stop_strings_end_the_episode_and_keep_the_token():
    env = make_env(stop_strings=["!"])
    tok = env.task.tokenizer
    steps = run_episode(env, tok.convert_tokens_to_ids(["good", "!", "good"]), seed=0)
    assert steps[-1][2] and steps[-1][3]["stop_reason"] == "stop_string"
    assert steps[-1][3]["completion"] == "good!"  # the tokenizer cleans up the space


def test_seeded_determinism_survives_global_rng_stirring():
    def hashes(seed):
        env = make_env()
        rng = np.random.default_rng(123)
        out = []
        for episode in range(6):
            actions = rng.integers(0, env.action_space.n, size=5)
            out.append(episode_hash(run_episode(env, actions, seed=seed if episode == 0 else None)))
        return out

    first = hashes(7)
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    np.random.rand(10), random.random(), torch.rand(3)
    assert hashes(7) == first
    assert hashes(8) != first


def test_reset_draws_prompts_from_np_random():
    env = make_env()
    env.reset(seed=3)
    expected = np.random.default_rng(3).integers(len(PROMPTS))  # gymnasium seeds np_random with PCG64(seed)
    env2 = make_env()
    _, info = env2.reset(seed=3)
    assert info["prompt_index"] == expected


def test_pad_differs_from_eos_when_tokenizer_pads_with_eos():
    tok = make_tiny_tokenizer()
    tok.pad_token = tok.eos_token
    env = make_env(tokenizer=tok)
    assert env.task.pad_token_id != EOS and env.task.pad_token_id == tok.unk_token_id
    with pytest.raises(ValueError, match="pad_token_id=2 equals an EOS id"):
        make_env(pad_token_id=EOS)


def test_vocab_size_beyond_tokenizer_is_legal_and_decodes_to_nothing():
    env = make_env(vocab_size=64)
    env.reset(seed=0)
    env.step(63)
    *_, info = env.step(EOS)
    assert info["completion"] == "" and info["num_tokens"] == 2


def test_prompt_files(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("the movie was\n\nmy day was\n")
    assert make_env(prompts=str(txt)).task.prompts == ["the movie was", "my day was"]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(json.dumps({"prompt": "the food is"}) + "\n" + json.dumps({"prompt": "i love"}) + "\n")
    assert make_env(prompts=jsonl).task.prompts == ["the food is", "i love"]
    jsonl.write_text(json.dumps({"prompt": "ok"}) + "\n{oops\n")
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        make_env(prompts=jsonl)
    jsonl.write_text(json.dumps({"text": "ok"}) + "\n")
    with pytest.raises(ValueError, match="line 1: expected an object with a string 'prompt'"):
        make_env(prompts=jsonl)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="prompts is empty"):
        make_env(prompts=empty)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_env(prompts=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match=r"must end in \.txt"):
        (tmp_path / "p.csv").write_text("x")
        make_env(prompts=tmp_path / "p.csv")


def test_default_prompt_splits_are_disjoint():
    train, test = text_gym.default_prompts("train"), text_gym.default_prompts("test")
    assert len(train) == 384 and len(test) == 96 and not set(train) & set(test)
    assert make_env(prompts="default:test", max_prompt_tokens=32).task.prompts == test


def test_long_prompts_error_or_truncate_left():
    long_prompt = "the movie was very very good and i love it"
    with pytest.raises(ValueError, match=r"prompts\[1\] has 10 tokens, more than max_prompt_tokens=6"):
        make_env(prompts=["the food", long_prompt])
    env = make_env(prompts=[long_prompt], truncation="left")
    obs, _ = env.reset(seed=0)
    kept = env.task.tokenizer("very good and i love it")["input_ids"]
    np.testing.assert_array_equal(obs["input_ids"][:6], kept)
    *_, info = env.step(EOS)
    assert info["prompt"] == "very good and i love it"


def test_chat_template_wraps_prompts():
    tok = make_tiny_tokenizer()
    tok.chat_template = (
        "{% for m in messages %}{{ m['content'] }} {% endfor %}{% if add_generation_prompt %}so{% endif %}"
    )
    env = make_env(tokenizer=tok, chat_template=True, system_prompt="i", max_prompt_tokens=8)
    obs, info = env.reset(options={"prompt_index": 0})
    ids = obs["input_ids"][:8][obs["attention_mask"][:8] == 1]
    assert tok.decode(ids) == "i the movie was so"
    *_, info = env.step(EOS)
    assert info["prompt"] == "the movie was"
    with pytest.raises(ValueError, match="no chat template"):
        make_env(chat_template=True)


def test_render_modes(capsys):
    env = make_env(render_mode="ansi")
    env.reset(options={"prompt_index": 0})
    env.step(env.task.tokenizer.convert_tokens_to_ids("good"))
    assert env.render() == "the movie was⟦good⟧ [1/5 tokens]"
    human = make_env(render_mode="human")
    human.reset(options={"prompt_index": 2})
    assert "the food is⟦⟧" in capsys.readouterr().out
    with pytest.raises(ValueError, match="render_mode"):
        make_env(render_mode="rgb")


@pytest.mark.parametrize(
    "action, error, match",
    [
        (-1, ValueError, r"\[0, 40\), got -1"),
        (40, ValueError, r"\[0, 40\), got 40"),
        (1.5, TypeError, "integer token id"),
        ("3", TypeError, "integer token id"),
        (True, TypeError, "integer token id"),
        (np.array([1, 2]), TypeError, "integer token id"),
    ],
)
def test_bad_actions(action, error, match):
    env = make_env()
    env.reset(seed=0)
    with pytest.raises(error, match=match):
        env.step(action)


def test_integer_like_actions_are_accepted():
    env = make_env()
    env.reset(seed=0)
    for action in (np.int64(5), np.array(5), np.array([5]), torch.tensor(5)):
        env.step(action)


def test_step_before_reset():
    with pytest.raises(RuntimeError, match="before reset"):
        make_env().step(3)


@pytest.mark.parametrize(
    "reward_model, error, match",
    [
        (lambda p, c: [1.0, 2.0], ValueError, "returned 2 scores for 1"),
        (lambda p, c: [float("nan")], ValueError, "non-finite scores"),
        (lambda p, c: [float("inf")], ValueError, "non-finite scores"),
        (lambda p, c: [1e39], ValueError, r"scores \[1e\+39\] at batch positions \[0\] outside float32's range"),
        (lambda p, c: "x", ValueError, "sequence of 1 floats"),
        (lambda p, c: ["x"], ValueError, r"must return numbers, got str 'x' at batch position 0"),
        (lambda p, c: [10**400], ValueError, r"integer of 401 digits at batch position 0"),  # was OverflowError
        (lambda p, c: ["1.5"], ValueError, r"must return numbers, got str '1.5' at batch position 0"),
        (lambda p, c: [True], ValueError, r"must return numbers, got bool True at batch position 0"),
        (lambda p, c: np.array([True]), ValueError, r"must return numbers, got an array of dtype bool"),
        (lambda p, c: np.array(["2"]), ValueError, r"must return numbers, got an array of dtype <U1"),
        (lambda p, c: 1 / 0, RuntimeError, "raised while scoring 1 completions: ZeroDivisionError"),
    ],
)
def test_bad_reward_models(reward_model, error, match):
    env = make_env(reward_model=reward_model)
    env.reset(seed=0)
    with pytest.raises(error, match=match):
        env.step(EOS)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"prompts": []}, ValueError, "prompts is empty"),
        ({"prompts": ["ok", "  "]}, ValueError, r"prompts\[1\] is blank"),
        ({"prompts": ["ok", 3]}, TypeError, r"prompts\[1\] must be a string"),
        ({"prompts": ["ok", "a \ud800"]}, ValueError, r"prompts\[1\] holds a lone surrogate '\\ud800' at 2"),
        ({"max_new_tokens": 0}, ValueError, "max_new_tokens must be an integer >= 1"),
        ({"max_prompt_tokens": 2.5}, ValueError, "max_prompt_tokens must be an integer >= 1"),
        ({"truncation": "right"}, ValueError, "truncation must be one of"),
        ({"reward_model": "no-such-rm"}, ValueError, "unknown reward_model spec 'no-such-rm'; valid names:"),
        ({"reward_model": 3}, TypeError, "reward_model must be a spec string"),
        ({"tokenizer": 3}, TypeError, "tokenizer must be a hub id"),
        ({"vocab_size": 2}, ValueError, r"must lie in \[0, vocab_size=2\)"),
        ({"stop_strings": [""]}, ValueError, "stop_strings must be non-empty strings"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_env(**kwargs)


def test_bad_prompt_index_option():
    env = make_env()
    with pytest.raises(ValueError, match=r"prompt_index'\] must be an integer in \[0, 4\)"):
        env.reset(options={"prompt_index": 4})


def test_bad_reset_options_are_refused():
    env = make_env()
    with pytest.raises(TypeError, match=r"options must be a dict or None, got list \[1, 2\]"):  # was AttributeError
        env.reset(options=[1, 2])
    with pytest.raises(ValueError, match=r"unknown reset options \['prompt'\]; valid: 'prompt_index'"):
        env.reset(options={"prompt": "x"})  # was silently ignored


def test_default_make_works_offline():
    """No arguments: packaged SmolLM2 tokenizer, the project's prompts, the default reward model."""
    env = gym.make("TextGen-v0")
    obs, info = env.reset(seed=0)
    assert env.action_space.n == 49152 and obs["input_ids"].shape == (96,)
    assert env.unwrapped.task.pad_token_id != env.unwrapped.task.tokenizer.eos_token_id
    assert info["prompt"] in text_gym.default_prompts("train")
    tok = env.unwrapped.task.tokenizer
    for token in tok(" wonderful, I loved it")["input_ids"]:
        obs, reward, terminated, _, info = env.step(token)
    obs, reward, terminated, _, info = env.step(tok.eos_token_id)
    assert terminated and info["completion"] == " wonderful, I loved it" and reward > 0.3


def test_prompts_keep_prepended_special_tokens_but_not_appended_ones():
    """Defect 10: prompts were tokenised with special tokens added, so with a tokenizer like ByT5 every prompt
    ended with EOS inside the observation. Prepended ones (BOS, here <unk> standing in) are kept."""
    from tokenizers.processors import TemplateProcessing
    from transformers import ByT5Tokenizer

    byt5 = ByT5Tokenizer()
    env = TextGenEnv(tokenizer=byt5, reward_model=count_good, prompts=["hi"], max_new_tokens=2, max_prompt_tokens=4)
    obs, _ = env.reset(options={"prompt_index": 0})
    assert obs["input_ids"][:4].tolist() == [0, 0, *byt5("hi", add_special_tokens=False)["input_ids"]]
    assert obs["attention_mask"][:4].tolist() == [0, 0, 1, 1]

    tokenizer = make_tiny_tokenizer()
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single="<unk> $A <eos>", special_tokens=[("<unk>", 1), ("<eos>", 2)]
    )
    assert tokenizer("the movie")["input_ids"] == [1, 3, 5, 2]
    env = make_env(tokenizer=tokenizer, prompts=["the movie"])
    obs, _ = env.reset(options={"prompt_index": 0})
    assert obs["input_ids"][:6].tolist() == [0, 0, 0, 1, 3, 5]
