"""TextGenChar-v0 (character tokenizer, prompts, PromptLettersReward) and the LSTM token extractor."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.evaluation import evaluate_policy

import text_gym
from agents.sb3 import LSTMTokenExtractor, SB3VecEnv
from text_gym import PromptLettersReward, char_prompts, char_tokenizer


def test_char_tokenizer_round_trip_and_specials():
    tok = char_tokenizer()
    assert len(tok) == 35 and tok.convert_ids_to_tokens([0, 1, 2]) == ["<pad>", "<unk>", "<eos>"]
    ids = tok("Moon, fish!")["input_ids"]
    assert len(ids) == 11 and tok.decode(ids) == "moon, fish!"
    assert tok.decode(tok("a#b")["input_ids"], skip_special_tokens=True) == "ab"
    with pytest.raises(ValueError, match="distinct characters"):
        char_tokenizer("aab")


def test_prompt_letters_reward():
    reward = PromptLettersReward(length=8)
    scores = reward(
        ["spell with: moon", "write moon!", "use the letters of fish:", "spell with: cake", "!!"],
        ["moonmoon", "mmm", "fish fish", "xyz", "abc"],
    )
    np.testing.assert_allclose(scores, [1.0, 3 / 8, 1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="length must be an integer >= 1"):
        PromptLettersReward(0)


def test_prompt_splits_are_disjoint_and_every_prompt_fits():
    train, test = char_prompts("train"), char_prompts("test")
    assert len(train) == 48 and len(test) == 24 and not set(train) & set(test)
    targets = {p.split()[-1].strip(":!") for p in train} & {p.split()[-1].strip(":!") for p in test}
    assert not targets
    env = gym.make("TextGenChar-v0", prompts=char_prompts("all"))
    assert env.action_space.n == 35


def test_make_and_make_vec_give_the_char_task():
    env = gym.make("TextGenChar-v0")
    obs, info = env.reset(seed=0)
    assert isinstance(env.unwrapped, text_gym.TextGenEnv) and obs["input_ids"].shape == (32,)
    word = info["prompt"].split()[-1].strip(":!")
    tok = env.unwrapped.task.tokenizer
    for token in tok(word * 2)["input_ids"]:
        obs, reward, terminated, _, info = env.step(token)
    assert terminated and reward == min(1.0, 2 * len(word) / 8) and info["stop_reason"] == "length"
    envs = gym.make_vec("TextGenChar-v0", num_envs=3, max_new_tokens=4)
    assert isinstance(envs, text_gym.TextGenVectorEnv) and envs.task.reward_model.length == 4


def test_random_policy_scores_about_eight_percent():
    env = SB3VecEnv("TextGenChar-v0", num_envs=16)
    env.seed(0)
    rng = np.random.default_rng(0)

    class Uniform:
        def predict(self, obs, state=None, episode_start=None, deterministic=False):
            return rng.integers(0, 35, size=16), None

    rewards, _ = evaluate_policy(Uniform(), env, n_eval_episodes=400, return_episode_rewards=True)
    assert 0.03 < np.mean(rewards) < 0.15


def test_lstm_extractor_reads_exactly_the_attended_tokens():
    env = SB3VecEnv("TextGenChar-v0", num_envs=3)
    obs = env.reset()
    obs, *_ = env.step(np.array([5, 6, 7]))
    torch.manual_seed(0)
    extractor = LSTMTokenExtractor(env.observation_space, embed_dim=8, hidden_size=16)
    tensors = {k: torch.as_tensor(v).float() for k, v in obs.items()}
    with torch.no_grad():
        features = extractor(tensors)
        for row in range(3):
            real = torch.as_tensor(obs["input_ids"][row][obs["attention_mask"][row] == 1])
            _, (hidden, _) = extractor.lstm(extractor.embedding(real).unsqueeze(0))
            torch.testing.assert_close(features[row], hidden[-1, 0])
    assert features.shape == (3, 16)
