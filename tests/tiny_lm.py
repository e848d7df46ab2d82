"""Tiny offline models and tasks for the agent tests: a word-level tokenizer, a 2-layer GPT-2, and a toy reward
(the fraction of completion words that are "positive") that a tiny policy can learn in a few updates."""

from __future__ import annotations

import numpy as np
import torch

WORDS = ["good", "great", "nice", "bad", "awful", "sad", "the", "a", "is", "was", "it", "day", "food", "movie",
         "and", "very", "not", "so"]
POSITIVE = {"good", "great", "nice"}
PROMPTS = ["the movie was", "the food is", "it was a", "the day is", "it is so", "the food was very"]


def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                   eos_token="[EOS]")


def tiny_model(vocab_size: int = len(WORDS) + 3, seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_positions=32, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=2, eos_token_id=2, pad_token_id=0)
    return GPT2LMHeadModel(config)


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

    return TextGenVectorEnv(num_envs, tokenizer=tiny_tokenizer(), reward_model=reward_model, prompts=PROMPTS,
                            max_new_tokens=max_new_tokens, max_prompt_tokens=5, autoreset_mode=AutoresetMode.DISABLED, **kwargs)


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
