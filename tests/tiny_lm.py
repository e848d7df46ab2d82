"""Tiny offline models and tasks for the agent tests: a word-level tokenizer, a 2-layer GPT-2, and a toy reward
(the fraction of completion words that are "positive") that a tiny policy can learn in a few updates."""

from __future__ import annotations

import numpy as np
import torch
from conftest import make_tiny_tokenizer

WORDS = [
    "good",
    "great",
    "nice",
    "bad",
    "awful",
    "sad",
    "the",
    "a",
    "is",
    "was",
    "it",
    "day",
    "food",
    "movie",
    "and",
    "very",
    "not",
    "so",
]
POSITIVE = {"good", "great", "nice"}
PROMPTS = ["the movie was", "the food is", "it was a", "the day is", "it is so", "the food was very"]


def tiny_tokenizer():
    """Word-level tokenizer: ids 0-2 are <pad>, <unk>, <eos>, then WORDS."""
    return make_tiny_tokenizer(WORDS)


def tiny_model(
    vocab_size: int = len(WORDS) + 3, seed: int = 0, n_positions: int = 32, n_embd: int = 32, n_layer: int = 2
):
    """A randomly initialised GPT-2 (2 heads; pad 0, bos = eos = 2), seeded by ``seed``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=2,
        bos_token_id=2,
        eos_token_id=2,
        pad_token_id=0,
    )
    return GPT2LMHeadModel(config)


def tiny_llama(vocab_size: int = len(WORDS) + 3, seed: int = 0):
    """A 2-layer, 32-wide Llama (rotary positions, grouped-query attention: 4 heads, 2 key/value heads)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
        bos_token_id=2,
        eos_token_id=2,
        pad_token_id=0,
    )
    return LlamaForCausalLM(config)


def positive_fraction(prompts, completions) -> np.ndarray:
    """Toy reward in [0, 1]: the fraction of completion words in POSITIVE (0 for an empty completion)."""
    scores = []
    for text in completions:
        words = text.split()
        scores.append(sum(w in POSITIVE for w in words) / len(words) if words else 0.0)
    return np.array(scores)


def zero_reward(prompts, completions) -> np.ndarray:
    return np.zeros(len(completions))


def tiny_env(num_envs: int = 16, reward_model=positive_fraction, max_new_tokens: int = 4, **kwargs):
    from gymnasium.vector import AutoresetMode

    from text_gym import TextGenVectorEnv

    return TextGenVectorEnv(
        num_envs,
        tokenizer=tiny_tokenizer(),
        reward_model=reward_model,
        prompts=PROMPTS,
        max_new_tokens=max_new_tokens,
        max_prompt_tokens=5,
        autoreset_mode=AutoresetMode.DISABLED,
        **kwargs,
    )


class ScoreRecorder:
    """SB3 callback recording the mean score of every rollout (``buffer`` is in the learn loop's locals)."""

    def __new__(cls):
        from stable_baselines3.common.callbacks import BaseCallback

        class _Recorder(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.scores: list[float] = []

            def _on_step(self) -> bool:
                self.scores.append(float(self.locals["buffer"].scores.mean()))
                return True

        return _Recorder()


def exact_kl(agent, buffer) -> float:
    """Mean over the buffer's generated tokens of the full-vocabulary KL(policy || reference) at each position."""
    ids, mask, start = buffer.sequences()
    with torch.no_grad():
        policy = torch.log_softmax(agent.policy.model(ids, attention_mask=mask).logits[:, start - 1 : -1], -1)
        reference = torch.log_softmax(agent.ref_policy.model(ids, attention_mask=mask).logits[:, start - 1 : -1], -1)
    kl = (policy.exp() * (policy - reference)).sum(-1)
    return float((kl * buffer.response_mask).sum() / buffer.response_mask.sum())


def check_kl_penalty_pulls_back_to_reference(cls, **config) -> None:
    """With zero task reward, a policy pushed away from its reference returns towards it only through the KL
    penalty: KL falls with kl_coef=1 and stays exactly the same with kl_coef=0."""
    results = {}
    for kl_coef in (0.0, 1.0):
        # No EOS: every episode has 6 tokens, so the penalty cannot be dodged by ending episodes early.
        env = tiny_env(16, reward_model=zero_reward, max_new_tokens=6, eos_token_ids=[])
        agent = cls(tiny_model(), env, seed=0, kl_coef=kl_coef, measure_kl=True, **config)  # keeps the reference
        with torch.no_grad():
            agent.policy.model.transformer.ln_f.weight.mul_(4.0)  # a sharper policy than the reference
        fixed = agent.collect_rollouts()
        before = exact_kl(agent, fixed)
        agent.learn(16 * 6 * 10, progress_bar=False)
        results[kl_coef] = (before, exact_kl(agent, fixed))
    before, after = results[1.0]
    assert before > 0.1
    assert after < 0.7 * before, results
    assert results[0.0][1] == results[0.0][0], results


def check_learns_toy_task(cls, updates: int = 15, threshold: float = 0.6, **config) -> list[float]:
    """The policy learns to emit positive words: mean score of the last 3 rollouts > threshold (start ~0.15)."""
    agent = cls(tiny_model(), tiny_env(16), seed=0, kl_coef=0.01, **config)
    recorder = ScoreRecorder()
    agent.learn(16 * 4 * updates, progress_bar=False, callback=recorder)
    scores = recorder.scores
    assert np.mean(scores[:2]) < 0.3, scores
    assert np.mean(scores[-3:]) > threshold, scores
    return scores
