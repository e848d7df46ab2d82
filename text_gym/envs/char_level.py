"""TextGenChar-v0: a small-vocabulary TextGen task (one action per character) for DQN and small recurrent policies.

- Tokenizer: ``char_tokenizer``, built in memory: ``<pad>``, ``<unk>``, ``<eos>``, then one id per character of
  ``CHAR_ALPHABET`` (lower-case letters, space, ``.,!?'``): 35 actions. Input is lower-cased.
- Prompts: ``char_prompts``, written for this project: an instruction that names a target word, e.g.
  ``"spell with: moon"``; 16 train words, 8 held-out test words, 3 instruction frames each.
- Reward: ``PromptLettersReward``: the number of completion characters that are letters of the prompt's last
  word, divided by ``length`` (default 8, the default ``max_new_tokens``) and capped at 1. The best policy writes
  8 letters of the target word ("moonmoon" scores 1.0); a uniformly random policy scores about 0.08. Solving it
  means reading the prompt: each word has its own letter set.

``gym.make("TextGenChar-v0")`` / ``gym.make_vec("TextGenChar-v0", num_envs=N)`` build a ``TextGenEnv`` /
``TextGenVectorEnv`` with these defaults; every ``TextGenEnv`` keyword can still be overridden.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from reward_models.common import check_positive_int
from text_gym.envs.text_gen import TextGenEnv
from text_gym.envs.vector import TextGenVectorEnv

CHAR_ALPHABET = "abcdefghijklmnopqrstuvwxyz .,!?'"
CHAR_SPECIAL_TOKENS = ("<pad>", "<unk>", "<eos>")
_TRAIN_WORDS = [
    "moon",
    "tree",
    "salt",
    "hand",
    "rain",
    "blue",
    "fish",
    "door",
    "cake",
    "wolf",
    "mint",
    "gold",
    "sky",
    "pond",
    "jump",
    "vex",
]
_TEST_WORDS = ["lamp", "snow", "crab", "fig", "kite", "drum", "quiz", "yarn"]
_FRAMES = ["spell with: {w}", "use the letters of {w}:", "write {w}!"]
SPLITS = ("train", "test", "all")


def char_tokenizer(alphabet: str = CHAR_ALPHABET) -> PreTrainedTokenizerFast:
    """Character-level tokenizer: ids 0-2 are ``<pad>``, ``<unk>``, ``<eos>``, then one id per character of
    ``alphabet`` in order; text is lower-cased, characters outside ``alphabet`` become ``<unk>``."""
    if not alphabet or len(set(alphabet)) != len(alphabet):
        raise ValueError(f"alphabet must be a non-empty string of distinct characters, got {alphabet!r}")
    vocab = {token: index for index, token in enumerate(CHAR_SPECIAL_TOKENS)}
    for char in alphabet:
        vocab[char] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>")


def char_prompts(split: str = "train") -> list[str]:
    """The TextGenChar prompts: 3 frames x 16 train words (48 prompts) or x 8 held-out test words (24)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    words = {"train": _TRAIN_WORDS, "test": _TEST_WORDS, "all": _TRAIN_WORDS + _TEST_WORDS}[split]
    return [frame.format(w=word) for word in words for frame in _FRAMES]


class PromptLettersReward:
    """Score in [0, 1]: completion characters that are letters of the prompt's last word, over ``length``, capped
    at 1. A prompt with no letters gives every completion 0."""

    def __init__(self, length: int = 8) -> None:
        check_positive_int("length", length)
        self.length = length

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        scores = np.zeros(len(completions))
        for index, (prompt, completion) in enumerate(zip(prompts, completions, strict=False)):
            words = re.findall(r"[a-z]+", prompt.lower())
            letters = set(words[-1]) if words else set()
            scores[index] = min(1.0, sum(c in letters for c in completion.lower()) / self.length)
        return scores


def _char_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    options = dict(tokenizer=char_tokenizer(), prompts=char_prompts("train"), max_new_tokens=8, max_prompt_tokens=24)
    options.update(kwargs)
    options.setdefault("reward_model", PromptLettersReward(options["max_new_tokens"]))
    return options


def make_char_env(**kwargs: Any) -> TextGenEnv:
    """``TextGenChar-v0``: a ``TextGenEnv`` with the character tokenizer, prompts and reward above."""
    return TextGenEnv(**_char_defaults(kwargs))


def make_char_vector_env(num_envs: int = 1, **kwargs: Any) -> TextGenVectorEnv:
    """Vector entry point of ``TextGenChar-v0``: a ``TextGenVectorEnv`` with the same defaults."""
    return TextGenVectorEnv(num_envs, **_char_defaults(kwargs))
