"""TextGenVectorEnv: Gymnasium vector API, equivalence with the single env, autoreset modes, batched scoring."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import make_tiny_tokenizer
from gymnasium.vector import AutoresetMode
from test_env import EOS, PROMPTS, count_good

from text_gym import TextGenEnv, TextGenVectorEnv

ENV_KWARGS = dict(reward_model=count_good, prompts=PROMPTS, max_new_tokens=4, max_prompt_tokens=6)


def make_vec(num_envs=3, **kwargs) -> TextGenVectorEnv:
    options = dict(ENV_KWARGS, tokenizer=make_tiny_tokenizer())
    options.update(kwargs)
    return TextGenVectorEnv(num_envs, **options)


def test_make_vec_returns_native_vector_env_and_passes_sanity_checks():
    envs = gym.make_vec("TextGen-v0", num_envs=4, tokenizer=make_tiny_tokenizer(), **ENV_KWARGS)
    assert isinstance(envs, TextGenVectorEnv) and envs.num_envs == 4
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs.single_action_space == gym.spaces.Discrete(40)
    assert envs.action_space == gym.spaces.MultiDiscrete([40] * 4)
    obs, info = envs.reset(seed=0)
    assert obs in envs.observation_space and info["_prompt_index"].all()
    envs.action_space.seed(0)
    for _ in range(12):
        obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert obs in envs.observation_space
        assert rewards.shape == (4,) and rewards.dtype == np.float32
        assert terminated.shape == truncated.shape == (4,) and terminated.dtype == bool and not truncated.any()
        for key in ("completion", "score"):
            if key in info:
                np.testing.assert_array_equal(info["_" + key], terminated)
    envs.close()


def both(obs, row=None):
    """input_ids and attention_mask side by side, of one sub-env when ``row`` is given."""
    return np.concatenate(
        [
            obs["input_ids"] if row is None else obs["input_ids"][row],
            obs["attention_mask"] if row is None else obs["attention_mask"][row],
        ]
    )


def single_episodes(seed, actions, num_episodes):
    """Episodes of one TextGenEnv seeded once, driven by ``actions`` (consumed in order)."""
    env = TextGenEnv(tokenizer=make_tiny_tokenizer(), **ENV_KWARGS)
    episodes, it = [], iter(actions)
    for episode in range(num_episodes):
        obs, info = env.reset(seed=seed if episode == 0 else None)
        observations, rewards = [both(obs)], []
        while True:
            obs, reward, terminated, _, info = env.step(next(it))
            observations.append(both(obs))
            rewards.append(reward)
            if terminated:
                break
        episodes.append((info["prompt_index"], info["completion"], np.array(observations), rewards))
    return episodes


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_matches_single_envs_under_same_seeds_and_actions(mode):
    B, seed, steps = 3, 11, 40
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 40, size=(steps, B))
    actions[rng.random((steps, B)) < 0.2] = EOS  # episodes of different lengths
    envs = make_vec(B, autoreset_mode=mode)
    obs, _ = envs.reset(seed=seed)
    per_env = [[] for _ in range(B)]
    current = [([both(obs, i)], []) for i in range(B)]
    used = [[] for _ in range(B)]
    skip = np.zeros(B, dtype=bool)
    for t in range(steps):
        obs, rewards, terminated, _, info = envs.step(actions[t])
        for i in range(B):
            if skip[i]:  # NEXT_STEP: this step reset sub-env i and ignored its action
                skip[i] = False
                current[i] = ([both(obs, i)], [])
                continue
            used[i].append(actions[t, i])
            final = both(info["final_obs"][i]) if terminated[i] and mode == AutoresetMode.SAME_STEP else both(obs, i)
            current[i][0].append(final)
            current[i][1].append(float(rewards[i]))
            if terminated[i]:
                per_env[i].append(
                    (info["prompt_index"][i], info["completion"][i], np.array(current[i][0]), current[i][1])
                )
                if mode == AutoresetMode.NEXT_STEP:
                    skip[i] = True
                else:
                    current[i] = ([both(obs, i)], [])
    for i in range(B):
        assert len(per_env[i]) >= 5
        expected = single_episodes(seed + i, used[i], len(per_env[i]))
        for got, want in zip(per_env[i], expected, strict=False):
            assert got[0] == want[0] and got[1] == want[1]
            np.testing.assert_array_equal(got[2], want[2])
            assert got[3] == pytest.approx(want[3])


def test_finished_episodes_are_scored_in_one_batched_call():
    calls = []

    def recording(prompts, completions):
        calls.append(len(completions))
        return count_good(prompts, completions)

    envs = make_vec(4, reward_model=recording)
    envs.reset(seed=0)
    good = envs.task.tokenizer.convert_tokens_to_ids("good")
    _, rewards, terminated, _, info = envs.step(np.array([EOS, good, EOS, EOS]))
    assert calls == [3] and terminated.tolist() == [True, False, True, True]
    for _ in range(3):
        _, rewards, terminated, _, info = envs.step(np.full(4, good))
    assert calls == [3, 1] and rewards[1] == 4.0 and info["stop_reason"][1] == "length"


def test_scores_beyond_float32_range_are_rejected_and_its_edges_kept():
    edge = float(np.finfo(np.float32).max)
    envs = make_vec(2, reward_model=lambda p, c: [edge, -edge])
    envs.reset(seed=0)
    _, rewards, *_ = envs.step(np.array([EOS, EOS]))
    assert rewards.tolist() == [edge, -edge]
    envs = make_vec(3, reward_model=lambda p, c: [1.0, -1e39, 2e39])
    envs.reset(seed=0)
    with pytest.raises(
        ValueError,
        match=r"reward_model 'function' returned scores \[-1e\+39, 2e\+39\] at batch "
        r"positions \[1, 2\] outside float32's range \[-3.402823e\+38, "
        r"3.402823e\+38\]",
    ):
        envs.step(np.array([EOS, EOS, EOS]))


def test_disabled_autoreset_freezes_ended_envs_until_masked_reset():
    envs = make_vec(2, autoreset_mode="Disabled")
    assert envs.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    envs.reset(seed=0)
    good = envs.task.tokenizer.convert_tokens_to_ids("good")
    _, rewards, terminated, *_ = envs.step(np.array([EOS, good]))
    assert terminated.tolist() == [True, False] and envs.ended.tolist() == [True, False]
    frozen = envs.input_ids[0].clone()
    _, rewards, terminated, *_ = envs.step(np.array([good, good]))
    assert terminated.tolist() == [False, False] and rewards[0] == 0.0
    assert torch.equal(envs.input_ids[0], frozen)
    _obs, info = envs.reset(options={"reset_mask": np.array([True, False]), "prompt_index": 1})
    assert info["_prompt_index"].tolist() == [True, False] and info["prompt_index"][0] == 1
    assert envs.ended.tolist() == [False, False] and int(envs.num_tokens[1]) == 2


def test_tensor_api_returns_live_device_buffers():
    envs = make_vec(2, autoreset_mode=AutoresetMode.DISABLED)
    obs, _ = envs.reset_tensors(seed=0)
    assert obs["input_ids"] is envs.input_ids and obs["input_ids"].device.type == "cpu"
    obs, rewards, terminated, _truncated, _info = envs.step_tensors(torch.tensor([EOS, 5]))
    assert isinstance(rewards, torch.Tensor) and rewards.dtype == torch.float32
    assert terminated.tolist() == [True, False] and obs["input_ids"][1, 6] == 5


def test_stop_strings_in_vector_env_match_reasons():
    envs = make_vec(2, stop_strings=["!"])
    envs.reset(seed=0)
    tok = envs.task.tokenizer
    bang, good = tok.convert_tokens_to_ids(["!", "good"])
    _, _, terminated, _, info = envs.step(np.array([bang, good]))
    assert terminated.tolist() == [True, False] and info["stop_reason"][0] == "stop_string"


def test_render_ansi_lists_every_sub_env():
    envs = make_vec(2, render_mode="ansi")
    envs.reset(options={"prompt_index": np.array([0, 2])})
    texts = envs.render()
    assert texts == ("[0] the movie was⟦⟧ [0/4 tokens]", "[1] the food is⟦⟧ [0/4 tokens]")


@pytest.mark.parametrize(
    "actions, error, match",
    [
        (np.array([1, 2]), ValueError, r"shape \(3,\)"),
        (np.array([1.0, 2.0, 3.0]), TypeError, "integer token ids"),
        (np.array(["a", "b", "c"]), TypeError, "integer token ids"),
        (torch.tensor([True, False, True]), TypeError, "integer token ids"),
        (np.array([1, 40, 2]), ValueError, r"\[0, 40\), got 40"),
        (np.array([-3, 1, 2]), ValueError, r"\[0, 40\), got -3"),
    ],
)
def test_bad_vector_actions(actions, error, match):
    envs = make_vec(3)
    envs.reset(seed=0)
    before = envs.input_ids.clone()
    with pytest.raises(error, match=match):
        envs.step(actions)
    assert torch.equal(envs.input_ids, before)  # a rejected step changes nothing


def test_bad_vector_arguments():
    with pytest.raises(RuntimeError, match="before reset"):
        make_vec(2).step(np.array([1, 2]))
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1"):
        make_vec(0)
    with pytest.raises(ValueError, match="autoreset_mode must be one of"):
        make_vec(2, autoreset_mode="sometimes")
    envs = make_vec(2)
    with pytest.raises(ValueError, match="list of 2 seeds"):
        envs.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="reset_mask"):
        envs.reset(options={"reset_mask": np.array([1, 0])})
    with pytest.raises(ValueError, match=r"prompt_index'\] must be integers in \[0, 4\)"):
        envs.reset(options={"prompt_index": 7})
    with pytest.raises(ValueError, match="unknown reset options"):
        envs.reset(options={"prompt": "x"})
    with pytest.raises(TypeError, match=r"seed must be an int, None or a list of 2 seeds, got float 1\.5"):
        envs.reset(seed=1.5)  # was "'float' object is not iterable"
    with pytest.raises(ValueError, match=r"prompt_index'\] must be an int or 2 ints, got shape \(3,\)"):
        envs.reset(options={"prompt_index": [0, 1, 2]})  # was numpy's broadcast error
    with pytest.raises(TypeError, match=r"options must be a dict or None, got list"):
        envs.reset(options=[1, 2])


def vector_state(env: TextGenVectorEnv) -> dict:
    """Everything a step may change, copied: buffers, counters, ended flags, prompts and the per-sub-env RNGs."""
    return {
        "input_ids": env.input_ids.clone(),
        "attention_mask": env.attention_mask.clone(),
        "num_tokens": env.num_tokens.clone(),
        "ended": env.ended,
        "ended_dev": env._ended_dev.clone(),
        "prompt_index": env.prompt_index.copy(),
        "rngs": [None if rng is None else rng.bit_generator.state for rng in env._rngs],
    }


def assert_same_state(a: dict, b: dict) -> None:
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        elif isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        else:
            assert a[key] == b[key], key


class FailingOnce:
    """A reward model whose first call raises; later calls count 'good' words."""

    def __init__(self):
        self.calls = 0

    def __call__(self, prompts, completions):
        self.calls += 1
        if self.calls == 1:
            raise OSError("reward server unreachable")
        return count_good(prompts, completions)


@pytest.mark.parametrize("mode", list(AutoresetMode))
def test_a_step_whose_reward_model_raises_changes_nothing(mode):
    """Defect 4: tokens were appended and counts advanced but ``ended`` not set; retrying gave num_tokens N + 1."""
    envs = make_vec(num_envs=2, reward_model=FailingOnce(), autoreset_mode=mode)
    good = envs.task.tokenizer.convert_tokens_to_ids("good")
    envs.reset(seed=3)
    for _ in range(3):
        envs.step(np.array([good, good]))
    before = vector_state(envs)
    with pytest.raises(RuntimeError, match="reward server unreachable"):
        envs.step(np.array([good, EOS]))  # both episodes end: 4 tokens, the length limit
    assert_same_state(before, vector_state(envs))
    _, rewards, terminated, _, info = envs.step(np.array([good, EOS]))  # the retry scores what it should
    assert terminated.all() and info["num_tokens"].tolist() == [4, 4]
    assert rewards.tolist() == [4.0, 3.0] and info["completion"][1] == "good good good"


def test_a_rejected_action_does_not_run_the_pending_autoreset():
    """Defect 5: in NEXT_STEP mode a rejected action still reset the ended sub-envs (drew a prompt, advanced the
    RNG, cleared ``ended``)."""
    envs = make_vec(num_envs=2)
    good = envs.task.tokenizer.convert_tokens_to_ids("good")
    envs.reset(seed=5)
    envs.step(np.array([EOS, good]))  # sub-env 0 ended; its reset is pending
    before = vector_state(envs)
    with pytest.raises(ValueError, match=r"token ids in \[0, 40\), got 99"):
        envs.step(np.array([good, 99]))
    assert_same_state(before, vector_state(envs))
    with pytest.raises(TypeError):
        envs.step(np.array([0.5, 1.5]))
    assert_same_state(before, vector_state(envs))


def test_single_env_step_whose_reward_model_raises_changes_nothing():
    """The single env has the same rule: a step that raises changes nothing, the retry completes the episode."""
    env = TextGenEnv(tokenizer=make_tiny_tokenizer(), **dict(ENV_KWARGS, reward_model=FailingOnce()))
    good = env.task.tokenizer.convert_tokens_to_ids("good")
    env.reset(seed=0)
    for _ in range(3):
        env.step(good)
    before = env._obs(), env._num_tokens, env._running
    with pytest.raises(RuntimeError, match="reward server unreachable"):
        env.step(good)
    after = env._obs(), env._num_tokens, env._running
    np.testing.assert_array_equal(before[0]["input_ids"], after[0]["input_ids"])
    np.testing.assert_array_equal(before[0]["attention_mask"], after[0]["attention_mask"])
    assert before[1:] == after[1:] == (3, True)
    _, reward, terminated, _, info = env.step(good)
    assert terminated and reward == 4.0 and info["num_tokens"] == 4
