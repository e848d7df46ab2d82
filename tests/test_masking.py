"""Vocabulary restriction: allowed_tokens / top-k of a reference LM, as action_masks() and info["action_mask"]."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_tiny_tokenizer
from test_env import EOS, PROMPTS, count_good
from transformers import GPT2Config, GPT2LMHeadModel

from reward_models.common.lm import last_token_hidden, next_token_logits
from text_gym import TextGenEnv, TextGenVectorEnv, VocabularyMask

V = 40  # the tiny tokenizer's size


def tiny_lm(seed: int = 0, vocab_size: int = V) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    return GPT2LMHeadModel(
        GPT2Config(
            vocab_size=vocab_size, n_positions=32, n_embd=32, n_layer=2, n_head=2, bos_token_id=EOS, eos_token_id=EOS
        )
    ).eval()


def make_env(**kwargs) -> TextGenEnv:
    return TextGenEnv(
        tokenizer=make_tiny_tokenizer(),
        reward_model=count_good,
        prompts=PROMPTS,
        max_new_tokens=4,
        max_prompt_tokens=6,
        **kwargs,
    )


def make_vec(num_envs=3, **kwargs) -> TextGenVectorEnv:
    return TextGenVectorEnv(
        num_envs,
        tokenizer=make_tiny_tokenizer(),
        reward_model=count_good,
        prompts=PROMPTS,
        max_new_tokens=4,
        max_prompt_tokens=6,
        **kwargs,
    )


def reference_next_logits(model, input_ids: np.ndarray, attention_mask: np.ndarray) -> torch.Tensor:
    """Independent check: run the LM on each row's real tokens alone (no padding) and take the last logits."""
    rows = []
    for ids, mask in zip(input_ids, attention_mask, strict=False):
        real = torch.as_tensor(ids[mask == 1]).unsqueeze(0)
        with torch.no_grad():
            rows.append(model(real).logits[0, -1])
    return torch.stack(rows)


def test_next_token_logits_match_unpadded_forward():
    model = tiny_lm()
    envs = make_vec(4)
    obs, _ = envs.reset(seed=0)
    for action in ([5, 6, 7, 8], [9, EOS, 10, 11]):
        obs, *_ = envs.step(np.array(action))
    with torch.no_grad():
        ours = next_token_logits(
            model, torch.as_tensor(obs["input_ids"]).float(), torch.as_tensor(obs["attention_mask"]).float()
        )
    expected = reference_next_logits(model, obs["input_ids"], obs["attention_mask"])
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    ids, mask = torch.as_tensor(obs["input_ids"]), torch.as_tensor(obs["attention_mask"])
    hidden = last_token_hidden(model.base_model, ids, mask)
    assert hidden.shape == (4, 32)


def test_allowed_tokens_single_env_mask_info_and_error():
    tok = make_tiny_tokenizer()
    allowed = tok.convert_tokens_to_ids(["good", "bad", "<eos>"])
    env = make_env(allowed_tokens=allowed)
    expected = np.zeros(V, dtype=bool)
    expected[allowed] = True
    _, info = env.reset(seed=0)
    np.testing.assert_array_equal(info["action_mask"], expected)
    np.testing.assert_array_equal(env.action_masks(), expected)
    with pytest.raises(ValueError, match="action 5 is masked out"):
        env.step(5)
    _obs, _reward, _terminated, _, info = env.step(allowed[0])
    np.testing.assert_array_equal(info["action_mask"], expected)
    *_, info = env.step(EOS)
    assert info["completion"] == "good" and "action_mask" in info


def test_unrestricted_env_masks_are_all_true_and_info_has_no_mask():
    env = make_env()
    _, info = env.reset(seed=0)
    assert "action_mask" not in info and env.action_masks().all() and env.action_masks().shape == (V,)
    envs = make_vec(2)
    _, info = envs.reset(seed=0)
    assert "action_mask" not in info and envs.action_masks().shape == (2, V) and envs.action_masks().all()


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_allowed_tokens_vector_env(mode):
    allowed = [EOS, 5, 6]
    envs = make_vec(3, allowed_tokens=allowed, autoreset_mode=mode)
    _, info = envs.reset(seed=0)
    expected = np.zeros((3, V), dtype=bool)
    expected[:, allowed] = True
    np.testing.assert_array_equal(info["action_mask"], expected)
    assert info["_action_mask"].all()
    _obs, _, terminated, _, info = envs.step(np.array([EOS, 5, 6]))
    assert terminated.tolist() == [True, False, False]
    np.testing.assert_array_equal(envs.action_masks(), expected)
    with pytest.raises(ValueError, match="action 7 is masked out"):
        envs.step(np.array([5, 7, 6]))


def test_tensor_api_gives_the_device_mask_and_the_numpy_api_a_host_array():
    envs = make_vec(2, allowed_tokens=[EOS, 5], autoreset_mode="Disabled")
    expected = torch.zeros(2, V, dtype=torch.bool)
    expected[:, [EOS, 5]] = True
    _, info = envs.reset_tensors(seed=0)
    assert isinstance(info["action_mask"], torch.Tensor) and info["action_mask"].device == envs.device
    assert torch.equal(info["action_mask"], expected) and info["_action_mask"].all()
    *_, info = envs.step_tensors(torch.tensor([5, 5]))
    assert isinstance(info["action_mask"], torch.Tensor) and torch.equal(info["action_mask"], expected)
    *_, info = envs.step(np.array([EOS, 5]))
    assert isinstance(info["action_mask"], np.ndarray)
    np.testing.assert_array_equal(info["action_mask"], expected.numpy())
    _, info = envs.reset(seed=0)
    assert isinstance(info["action_mask"], np.ndarray)
    np.testing.assert_array_equal(envs.action_masks(), expected.numpy())


def test_top_k_of_reference_model_per_step():
    model = tiny_lm(seed=3)
    envs = make_vec(3, mask_top_k=4, mask_model=model, autoreset_mode="SameStep")
    obs, info = envs.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(6):
        logits = reference_next_logits(model, obs["input_ids"], obs["attention_mask"])
        expected = torch.zeros(3, V, dtype=torch.bool).scatter_(1, logits.topk(4).indices, True).numpy()
        np.testing.assert_array_equal(info["action_mask"], expected)
        np.testing.assert_array_equal(envs.action_masks(), expected)
        actions = np.array([rng.choice(np.flatnonzero(row)) for row in expected])
        obs, _, _, _, info = envs.step(actions)


def test_top_k_among_allowed_tokens_single_env():
    model = tiny_lm(seed=4)
    allowed = list(range(10, 30))
    env = make_env(allowed_tokens=allowed, mask_top_k=3, mask_model=model)
    obs, info = env.reset(seed=0)
    logits = reference_next_logits(model, obs["input_ids"][None], obs["attention_mask"][None])[0]
    restricted = torch.full((V,), float("-inf"))
    restricted[allowed] = logits[allowed]
    assert set(np.flatnonzero(info["action_mask"])) == set(restricted.topk(3).indices.tolist())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"allowed_tokens": []}, "allowed_tokens must be a non-empty list"),
        ({"allowed_tokens": [1, 40]}, r"allowed_tokens must be token ids in \[0, vocab_size=40\), got 40"),
        ({"allowed_tokens": [1.5]}, "allowed_tokens must be a non-empty list of integer"),
        ({"mask_top_k": 3}, "mask_top_k and mask_model go together"),
        ({"mask_top_k": 0, "mask_model": "x"}, "mask_top_k must be an integer >= 1"),
    ],
)
def test_bad_mask_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_env(**kwargs)


def test_bad_mask_model_type():
    with pytest.raises(TypeError, match="mask_model must be a causal LM"):
        VocabularyMask(V, top_k=2, model=torch.nn.Linear(2, 2))
