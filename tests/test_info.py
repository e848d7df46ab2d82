"""The same info keys on every reset/step (what Tianshou's collector and TorchRL's info reader need), Gymnasium's
``_key`` masks in the vector env, and the numeric-only ``text_info=False``."""

from __future__ import annotations

import numpy as np
import pytest
from test_env import EOS, make_env
from test_vector import make_vec

from agents.common.envs import make_vector_env
from text_gym.envs.vector import EPISODE_KEYS


def test_single_env_info_has_the_same_keys_on_every_step():
    env = make_env()
    _, info = env.reset(options={"prompt_index": 1})
    infos = [info]
    for action in (5, 6, EOS):
        infos.append(env.step(action)[-1])
    assert all(set(info) == set(EPISODE_KEYS) for info in infos)
    assert [info["num_tokens"] for info in infos] == [0, 1, 2, 3]
    assert all(info["prompt"] == "my day was very" and info["prompt_index"] == 1 for info in infos)
    assert [(i["completion"], i["score"], i["stop_reason"]) for i in infos[:-1]] == [("", 0.0, "")] * 3
    assert infos[-1]["stop_reason"] == "eos" and infos[-1]["completion"] == env.task.decode([5, 6, EOS])


def test_vector_env_info_has_the_same_keys_on_every_step_with_masks():
    envs = make_vec(2)
    _, info = envs.reset(options={"prompt_index": np.array([0, 1])})
    keys = set(info)
    assert keys == set(EPISODE_KEYS) | {"_" + key for key in EPISODE_KEYS}
    assert info["_prompt"].all() and not info["_completion"].any() and info["completion"].tolist() == ["", ""]
    _, _, terminated, _, info = envs.step(np.array([EOS, 5]))
    assert set(info) == keys and terminated.tolist() == [True, False]
    for key in ("completion", "score", "num_tokens", "stop_reason"):
        assert info["_" + key].tolist() == [True, False]
    assert info["stop_reason"].tolist() == ["eos", ""] and info["num_tokens"].tolist() == [1, 0]
    _, _, _, _, info = envs.step(np.array([5, 5]))  # NEXT_STEP: sub-env 0 is reset
    assert set(info) == keys and info["_prompt_index"].tolist() == [True, False] and not info["_completion"].any()


def test_text_info_false_keeps_the_numeric_keys_as_numpy_values():
    env = make_env(text_info=False)
    _, info = env.reset(options={"prompt_index": 1})
    *_, last = env.step(EOS)
    for item in (info, last):
        assert set(item) == {"score", "prompt_index", "num_tokens"}
        assert all(isinstance(value, (np.float64, np.int64)) for value in item.values())
    assert last["num_tokens"] == 1 and last["prompt_index"] == 1 and last["score"] == 0.0
    envs = make_vec(2, text_info=False)
    _, info = envs.reset(options={"prompt_index": np.array([0, 1])})
    _, rewards, _, _, step_info = envs.step(np.array([EOS, 5]))
    numeric = {"score", "prompt_index", "num_tokens"}
    assert set(info) == set(step_info) == numeric | {"_" + key for key in numeric}
    assert step_info["_score"].tolist() == [True, False] and step_info["score"][0] == rewards[0]


@pytest.mark.parametrize("make", [make_env, make_vec], ids=["single", "vector"])
def test_text_info_must_be_a_bool(make):
    with pytest.raises(TypeError, match="text_info must be True or False, got 'no'"):
        make(text_info="no")


def test_same_step_autoreset_gives_the_ended_episodes_in_final_info():
    envs = make_vec(2, autoreset_mode="SameStep")
    envs.reset(options={"prompt_index": np.array([0, 1])})
    _, rewards, terminated, _, info = envs.step(np.array([5, EOS]))
    assert terminated.tolist() == [False, True] and info["_final_info"].tolist() == [False, True]
    final = info["final_info"]
    assert set(final) == set(EPISODE_KEYS) | {"_" + key for key in EPISODE_KEYS}
    assert final["_score"].tolist() == [False, True] and final["score"][1] == rewards[1]
    assert final["stop_reason"].tolist() == ["", "eos"] and final["prompt_index"][1] == 1
    _, _, _, _, info = envs.step(np.array([5, 5]))
    assert "final_info" not in info  # only on steps where an episode ends, as in Gymnasium's vector envs


def test_agents_refuse_a_numeric_only_env():
    envs = make_vec(2, autoreset_mode="Disabled", text_info=False)
    with pytest.raises(ValueError, match="text_info=True"):
        make_vector_env(envs, n_envs=2, vocab_size=40, device="cpu")
