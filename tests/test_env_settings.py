"""The env construction surface: one checked settings object per env (``env.settings``), and ``rebuilt`` keeps
every setting but the three it changes, for all four env classes; the agents' env copies keep the vocabulary
restriction."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import make_tiny_tokenizer
from gymnasium.vector import AutoresetMode
from tiny_chat import tiny_chat_tokenizer
from transformers import GPT2Config, GPT2LMHeadModel

from agents.common.envs import make_vector_env
from text_gym import (
    TextGenChatEnv,
    TextGenChatSettings,
    TextGenChatVectorEnv,
    TextGenEnv,
    TextGenSettings,
    TextGenVectorEnv,
)
from text_gym.envs.settings import VECTOR_FIELDS

PROMPTS = ["the movie was", "my day was very", "the food is", "i love this"]
TOKENIZER = tiny_chat_tokenizer()
V = 48  # larger than the tokenizer (44 ids), as a padded LM head is
ALLOWED = (2, 5, 16, 17, 44)
END = TOKENIZER.convert_tokens_to_ids("<|end|>")


def count_good(prompts, completions):
    return [c.split().count("good") for c in completions]


def scripted_user(conversations, fields):
    return ["so"] * len(conversations)


def conversation_length(conversations):
    return [float(len(c)) for c in conversations]


def tiny_lm() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=V, n_positions=64, n_embd=16, n_layer=1, n_head=2, bos_token_id=2, eos_token_id=2)
    return GPT2LMHeadModel(config).eval()


MASK_MODEL = tiny_lm()
COMMON = dict(
    tokenizer=TOKENIZER,
    reward_model=count_good,
    prompts=PROMPTS,
    render_mode="ansi",
    text_info=False,
    system_prompt="you love food",
    eos_token_ids=[2, 5],
    pad_token_id=1,
    vocab_size=V,
    truncation="left",
    allowed_tokens=list(ALLOWED),
    mask_top_k=3,
    mask_model=MASK_MODEL,
)
PLAIN = dict(COMMON, max_new_tokens=5, max_prompt_tokens=6, chat_template=True, stop_strings=["great"])
CHAT = dict(
    COMMON,
    max_new_tokens=24,
    max_prompt_tokens=12,
    user=scripted_user,
    max_turns=2,
    max_turn_tokens=4,
    conversation_reward=conversation_length,
)
VECTOR = dict(num_envs=2, autoreset_mode=AutoresetMode.SAME_STEP)
KINDS = {
    "TextGenEnv": lambda: TextGenEnv(**PLAIN),
    "TextGenVectorEnv": lambda: TextGenVectorEnv(**PLAIN, **VECTOR),
    "TextGenChatEnv": lambda: TextGenChatEnv(**CHAT),
    "TextGenChatVectorEnv": lambda: TextGenChatVectorEnv(**CHAT, **VECTOR),
}
# Not varied: the device (CPU only here); in the chat envs the chat template (always on) and stop strings (none).
NOT_VARIED = {"device"}
NOT_VARIED_IN_CHAT = {"chat_template", "stop_strings"}


@pytest.mark.parametrize("kind", KINDS)
def test_the_settings_hold_every_constructor_argument_checked(kind):
    env = KINDS[kind]()
    chat = kind.startswith("TextGenChat")
    settings = env.settings
    assert type(settings) is (TextGenChatSettings if chat else TextGenSettings)
    single = not kind.endswith("VectorEnv")
    passed = {**(CHAT if chat else PLAIN), **({} if single else VECTOR)}
    unvaried = NOT_VARIED | (NOT_VARIED_IN_CHAT if chat else set()) | (set(VECTOR_FIELDS) if single else set())
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if field.name not in unvaried:  # every setting is given a non-default value here, so rebuilt is tested on it
            assert value != field.default, field.name
        if field.name in passed:  # as passed; lists of ids or strings as tuples
            expected = passed[field.name]
            assert value == expected or (field.name != "prompts" and value == tuple(expected)), field.name
    if single:  # one episode on the host, reset by the caller
        vector = (settings.num_envs, settings.device, settings.autoreset_mode)
        assert vector == (1, torch.device("cpu"), AutoresetMode.DISABLED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_new_tokens = 7


@pytest.mark.parametrize("kind", KINDS)
def test_rebuilt_keeps_every_setting_but_the_three_it_changes(kind):
    env = KINDS[kind]()
    new = env.rebuilt(num_envs=3, autoreset_mode="Disabled", device="cpu:0")
    assert isinstance(new, TextGenChatVectorEnv if kind.startswith("TextGenChat") else TextGenVectorEnv)
    assert (new.num_envs, new.autoreset_mode, new.device) == (3, AutoresetMode.DISABLED, torch.device("cpu:0"))
    changed = (new.settings.num_envs, new.settings.autoreset_mode, new.settings.device)
    assert changed == (3, AutoresetMode.DISABLED, torch.device("cpu:0"))
    old = env.settings
    unchanged = dataclasses.replace(
        new.settings, num_envs=old.num_envs, autoreset_mode=old.autoreset_mode, device=old.device
    )
    assert unchanged == old
    assert new.task is env.task  # tokenizer, reward model, prompts and mask model are not loaded again
    if kind.startswith("TextGenChat"):
        assert new.user is scripted_user and (new.max_turns, new.max_turn_tokens) == (2, 4)
    kept = env.rebuilt()  # nothing changed: a new env of the same settings
    assert kept is not env and kept.settings == old.with_vector()

    # The settings act: the restriction, the render mode and the numeric-only info of the original env.
    _, info = new.reset(options={"prompt_index": 1})
    numeric = {"score", "prompt_index", "num_tokens"}
    numeric |= {"num_turns", "turn", "turn_reward"} if kind.startswith("TextGenChat") else set()
    assert set(info) == numeric | {"_" + key for key in numeric} | {"action_mask", "_action_mask"}
    one = KINDS[kind]()
    one.reset(options={"prompt_index": 1})
    expected = one.action_masks()[0] if isinstance(one, TextGenVectorEnv) else one.action_masks()
    assert expected.sum() == 3 and set(np.flatnonzero(expected)) <= set(ALLOWED)
    for row in range(3):
        np.testing.assert_array_equal(new.action_masks()[row], expected)
    assert new.render()[0].startswith("[0] ")
    with pytest.raises(ValueError, match="masked out"):
        new.step(np.array([next(t for t in range(V) if not expected[t])] * 3))


@pytest.mark.parametrize("make", ["make", "make_vec"])
def test_agents_copy_a_restricted_env_with_its_restriction(make):
    kwargs = dict(tokenizer=make_tiny_tokenizer(), reward_model=count_good, prompts=PROMPTS, max_new_tokens=4)
    kwargs.update(max_prompt_tokens=6, allowed_tokens=[2, 12, 13])
    env = gym.make("TextGen-v0", **kwargs) if make == "make" else gym.make_vec("TextGen-v0", num_envs=2, **kwargs)
    copy = make_vector_env(env, n_envs=4, vocab_size=40, device="cpu")
    B = 4 if make == "make" else 2  # a vector env keeps its size
    assert copy.num_envs == B and copy.autoreset_mode == AutoresetMode.DISABLED
    assert copy.settings.allowed_tokens == (2, 12, 13)
    copy.reset(seed=0)
    masks = copy.action_masks()
    assert masks.shape == (B, 40) and (masks.sum(1) == 3).all() and masks[:, [2, 12, 13]].all()
    with pytest.raises(ValueError, match="action 5 is masked out"):
        copy.step(np.array([5] + [12] * (B - 1)))


def test_a_disabled_vector_env_is_used_as_is():
    env = TextGenVectorEnv(
        2,
        tokenizer=make_tiny_tokenizer(),
        reward_model=count_good,
        prompts=PROMPTS,
        max_prompt_tokens=6,
        autoreset_mode="Disabled",
    )
    assert make_vector_env(env, n_envs=2, vocab_size=40, device="cpu") is env


def test_the_keyword_api_builds_the_settings():
    kwargs = dict(tokenizer=make_tiny_tokenizer(), reward_model=count_good, prompts=PROMPTS, max_prompt_tokens=6)
    env = gym.make("TextGen-v0", stop_strings=["good"], **kwargs)
    assert env.unwrapped.settings == TextGenSettings(stop_strings=("good",), autoreset_mode="Disabled", **kwargs)
    envs = gym.make_vec("TextGen-v0", num_envs=2, **kwargs)
    assert envs.settings == TextGenSettings(num_envs=2, **kwargs)
    assert TextGenVectorEnv.from_settings(envs.settings).settings == envs.settings


def test_single_envs_refuse_the_vector_settings():
    for cls in (TextGenEnv, TextGenChatEnv):
        with pytest.raises(TypeError, match=r"got device='cpu', an argument of the vector env \(gym.make_vec\)"):
            cls(tokenizer=TOKENIZER, prompts=PROMPTS, device="cpu")


def test_from_settings_refuses_a_source_of_other_settings():
    env = TextGenVectorEnv(
        2, tokenizer=make_tiny_tokenizer(), reward_model=count_good, prompts=PROMPTS, max_prompt_tokens=6
    )
    other = dataclasses.replace(env.settings, max_new_tokens=3)
    with pytest.raises(ValueError, match=r"source must be an env of the same settings .* it differs in \['"):
        TextGenVectorEnv.from_settings(other, source=env)
    with pytest.raises(TypeError, match="TextGenChatVectorEnv takes TextGenChatSettings, got TextGenSettings"):
        TextGenChatVectorEnv.from_settings(env.settings)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_envs": 0}, ValueError, "num_envs must be an integer >= 1, got 0"),
        ({"vocab_size": 0}, ValueError, "vocab_size must be an integer >= 1, got 0"),
        ({"autoreset_mode": "later"}, ValueError, "autoreset_mode must be one of"),
        ({"render_mode": "rgb"}, ValueError, "render_mode must be None, 'ansi', 'human' or 'rgb_array', got 'rgb'"),
        ({"allowed_tokens": []}, ValueError, "allowed_tokens must be a non-empty list"),
        ({"mask_model": "smollm2"}, ValueError, "mask_top_k and mask_model go together"),
        ({"chat_template": "no"}, TypeError, "chat_template must be True or False, got 'no'"),
        (
            {"eos_token_ids": [2.5]},
            ValueError,
            r"eos_token_ids must be None or token ids \(integers >= 0\), got \(2.5,\)",
        ),
        ({"eos_token_ids": [-1]}, ValueError, "eos_token_ids must be None or token ids"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_loaded(kwargs, error, match):
    with pytest.raises(error, match=match):
        TextGenSettings(tokenizer="no/such-tokenizer", **kwargs)


def test_a_wrapped_single_env_is_run_unwrapped_with_a_warning_naming_the_wrappers():
    import warnings

    from gymnasium.wrappers import TransformReward

    kwargs = dict(tokenizer=make_tiny_tokenizer(), reward_model=count_good, prompts=PROMPTS, max_new_tokens=4)
    made = gym.make("TextGen-v0", max_prompt_tokens=6, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gym.make's own wrappers are no reason to warn
        assert make_vector_env(made, n_envs=2, vocab_size=40, device="cpu").num_envs == 2
    wrapped = TransformReward(made, lambda reward: 2 * reward)
    with pytest.warns(UserWarning, match=r"env is wrapped \(TransformReward\); .* without the wrappers"):
        assert make_vector_env(wrapped, n_envs=2, vocab_size=40, device="cpu").num_envs == 2
