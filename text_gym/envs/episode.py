"""What one TextGen episode is: tokenizer, tokenized prompts, spaces, termination rules and reward scoring.

Shared by every TextGen env (built from its ``text_gym.envs.settings.TextGenSettings``), so they define the same
task.

Observation layout (length ``L = max_prompt_tokens + max_new_tokens``)::

    input_ids      = [pad ... pad, prompt tokens | completion tokens, pad ... pad]
    attention_mask = [0   ...   0, 1    ...    1 | 1       ...     1, 0   ...   0]

The prompt is left-padded into the first ``max_prompt_tokens`` slots, so the first generated token is always at
index ``max_prompt_tokens`` and token ``t`` of the completion at ``max_prompt_tokens + t``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from reward_models import call_reward, check_fields_available, check_scores, make_reward_model
from reward_models.common import load_tokenizer
from text_gym.envs.masking import make_vocabulary_mask
from text_gym.prompts.generated import CACHE_SIZE, GeneratedPrompts, LazyColumn
from text_gym.prompts.rows import load_prompt_source

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from text_gym.envs.settings import TextGenSettings

DEFAULT_TOKENIZER = "smollm2"
DEFAULT_REWARD_MODEL = "sentiment"
MAX_REWARD = float(np.finfo(np.float32).max)
"""Largest reward magnitude an env accepts: vector envs store rewards as float32."""


def _drop_appended_special_tokens(ids: list[int], plain: list[int], special: set[int]) -> list[int]:
    """``ids`` (a text tokenized with special tokens) without the special tokens added after the text: a prompt is
    an unfinished text, so an EOS or SEP there would be wrong. ``plain``: the text tokenized without them."""

    def trailing(tokens: list[int]) -> int:
        return next((k for k, token in enumerate(reversed(tokens)) if token not in special), len(tokens))

    extra = trailing(ids) - trailing(plain)
    return ids[: len(ids) - extra] if extra > 0 else ids


def check_rewards(scores: object, expected: int, source: str) -> np.ndarray:
    """``scores`` as float64 ``[expected]``; raise ``ValueError`` naming ``source`` when they are not ``expected``
    finite numbers (``reward_models.check_scores``) or one lies outside float32's range ``[-MAX_REWARD,
    MAX_REWARD]`` (it would turn into inf in a vector env's float32 rewards)."""
    scores = check_scores(scores, expected, source=source)
    bad = np.flatnonzero(np.abs(scores) > MAX_REWARD)
    if bad.size:
        raise ValueError(
            f"{source} returned scores {scores[bad[:5]].tolist()} at batch positions "
            f"{bad[:5].tolist()} outside float32's range [{-MAX_REWARD:.7g}, {MAX_REWARD:.7g}]; "
            "rewards are stored as float32, so scores must lie in that range"
        )
    return scores


def load_settings_tokenizer(settings: TextGenSettings) -> PreTrainedTokenizerBase:
    """The tokenizer of ``settings`` (the packaged SmolLM2 tokenizer when it is ``None``)."""
    return load_tokenizer(DEFAULT_TOKENIZER if settings.tokenizer is None else settings.tokenizer)


class TextGenTask:
    """Tokenized prompts, spaces and scoring of a TextGen env, built from its checked ``settings`` (see
    ``text_gym.TextGenEnv`` for what each means). It does not depend on ``num_envs``, ``device`` or
    ``autoreset_mode``, so envs that differ only in those share one (``env.rebuilt``).

    Raises:
        ValueError, TypeError: when the tokenizer, reward model, prompts or mask model cannot be loaded, or a
            setting does not fit them (EOS / pad ids or ``allowed_tokens`` outside ``[0, vocab_size)``, pad equal
            to an EOS id, a prompt longer than ``max_prompt_tokens`` with ``truncation="error"``).
    """

    def __init__(self, settings: TextGenSettings, tokenizer: PreTrainedTokenizerBase | None = None) -> None:
        """``tokenizer``: ``settings.tokenizer`` already loaded (``reward_models.load_tokenizer``), for a caller that
        checks it before the prompts are tokenized."""
        self.max_new_tokens = settings.max_new_tokens
        self.max_prompt_tokens = settings.max_prompt_tokens
        self.seq_len = self.max_prompt_tokens + self.max_new_tokens
        self.tokenizer = load_settings_tokenizer(settings) if tokenizer is None else tokenizer
        reward_model = settings.reward_model
        self.reward_model = make_reward_model(DEFAULT_REWARD_MODEL if reward_model is None else reward_model)
        self.reward_name = (
            reward_model
            if isinstance(reward_model, str)
            else (DEFAULT_REWARD_MODEL if reward_model is None else type(reward_model).__name__)
        )

        self.vocab_size = len(self.tokenizer) if settings.vocab_size is None else settings.vocab_size
        eos_token_ids = settings.eos_token_ids
        if eos_token_ids is None:
            eos = self.tokenizer.eos_token_id
            eos_token_ids = [] if eos is None else [eos]
        self.eos_token_ids = np.array(sorted({int(i) for i in eos_token_ids}), dtype=np.int64)
        self.pad_token_id = self._choose_pad(settings.pad_token_id)
        for name, ids in (("eos_token_ids", self.eos_token_ids), ("pad_token_id", [self.pad_token_id])):
            if len(ids) and (min(ids) < 0 or max(ids) >= self.vocab_size):
                raise ValueError(f"{name} {list(map(int, ids))} must lie in [0, vocab_size={self.vocab_size})")

        self.stop_strings = settings.stop_strings
        # Enough trailing tokens to contain any stop string: every token decodes to at least one character.
        self.stop_window = max((len(s) for s in self.stop_strings), default=0) + 1

        self.prompt_source = load_prompt_source(settings.prompts)
        self.prompts = self.prompt_source.prompts
        self.field_names = self.prompt_source.field_names
        check_fields_available(self.reward_model, self.field_names, f"reward_model {self.reward_name!r}")
        self.chat_template = settings.chat_template
        self.system_prompt = settings.system_prompt
        truncation = settings.truncation
        if isinstance(self.prompt_source, GeneratedPrompts):  # tokenized on first use, like the rows themselves
            encode = functools.lru_cache(maxsize=CACHE_SIZE)(
                lambda i: self._tokenize_prompts([self.prompts[i]], truncation, offset=i)
            )
            self.prompt_ids = LazyColumn(lambda i: encode(i)[0][0], np.stack)
            self.prompt_lengths = LazyColumn(lambda i: encode(i)[1][0], np.array)
            self.scored_prompts = LazyColumn(lambda i: encode(i)[2][0], list)
        else:
            self.prompt_ids, self.prompt_lengths, self.scored_prompts = self._tokenize_prompts(self.prompts, truncation)

        self.observation_space = spaces.Dict(
            {
                "input_ids": spaces.Box(0, self.vocab_size - 1, shape=(self.seq_len,), dtype=np.int64),
                "attention_mask": spaces.Box(0, 1, shape=(self.seq_len,), dtype=np.int64),
            }
        )
        self.action_space = spaces.Discrete(self.vocab_size)
        self.vocabulary_mask = make_vocabulary_mask(
            self.vocab_size, settings.allowed_tokens, settings.mask_top_k, settings.mask_model
        )

    def _choose_pad(self, pad_token_id: int | None) -> int:
        eos = set(self.eos_token_ids.tolist())
        if pad_token_id is not None:
            if pad_token_id in eos:
                raise ValueError(
                    f"pad_token_id={pad_token_id} equals an EOS id {sorted(eos)}; pad must differ from EOS"
                )
            return int(pad_token_id)
        tok = self.tokenizer
        candidates = [tok.pad_token_id, tok.unk_token_id, *tok.all_special_ids, *range(self.vocab_size)]
        return next(int(i) for i in candidates if i is not None and i not in eos)

    def _prompt_text(self, prompt: str) -> str:
        if not self.chat_template:
            return prompt
        if self.tokenizer.chat_template is None:
            raise ValueError("chat_template=True but the tokenizer has no chat template")
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": prompt})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _tokenize_prompts(
        self, prompts: Sequence[str], truncation: str, offset: int = 0
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Left-padded ids ``[num_prompts, max_prompt_tokens]``, lengths ``[num_prompts]``, and the prompt texts
        the reward model sees: the raw prompt, or the decoded kept part of a plain prompt cut by truncation.
        ``offset`` is the index of ``prompts[0]`` in the env's prompts (for error messages)."""
        texts = [self._prompt_text(p) for p in prompts]
        scored = list(prompts)
        encoded = self.tokenizer(texts, add_special_tokens=not self.chat_template)["input_ids"]
        if not self.chat_template:  # keep what the tokenizer puts before a text (BOS), not after it (EOS, SEP)
            plain = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
            special = set(self.tokenizer.all_special_ids)
            encoded = [_drop_appended_special_tokens(i, p, special) for i, p in zip(encoded, plain, strict=True)]
        ids = np.full((len(texts), self.max_prompt_tokens), self.pad_token_id, dtype=np.int64)
        lengths = np.zeros(len(texts), dtype=np.int64)
        for index, tokens in enumerate(encoded, start=offset):
            if len(tokens) == 0:
                raise ValueError(f"prompts[{index}] tokenizes to zero tokens")
            if len(tokens) > self.max_prompt_tokens:
                if truncation == "error":
                    raise ValueError(
                        f"prompts[{index}] has {len(tokens)} tokens, more than max_prompt_tokens="
                        f"{self.max_prompt_tokens}; raise max_prompt_tokens or pass truncation='left' to keep "
                        "the last max_prompt_tokens tokens"
                    )
                tokens = tokens[-self.max_prompt_tokens :]
                if not self.chat_template:
                    scored[index - offset] = self.tokenizer.decode(tokens)
            if max(tokens) >= self.vocab_size:
                raise ValueError(f"prompts[{index}] has token id {max(tokens)} >= vocab_size={self.vocab_size}")
            ids[index - offset, self.max_prompt_tokens - len(tokens) :] = tokens
            lengths[index - offset] = len(tokens)
        return ids, lengths, scored

    def decode(self, completion_ids: Sequence[int]) -> str:
        """Completion text: special tokens (EOS) are skipped, as are ids >= len(tokenizer) (LM-head padding)."""
        known = len(self.tokenizer)
        return self.tokenizer.decode([int(i) for i in completion_ids if i < known], skip_special_tokens=True)

    def hits_stop_string(self, completion_ids: Sequence[int]) -> bool:
        """True when the decoded tail of the completion contains one of ``stop_strings``."""
        if not self.stop_strings:
            return False
        tail = self.decode(completion_ids[-self.stop_window :])
        return any(s in tail for s in self.stop_strings)

    def stop_reason(self, completion_ids: Sequence[int]) -> str | None:
        """Why an episode whose completion so far is ``completion_ids`` (the newest token last) ends now: ``"eos"``
        (the newest token is an EOS id), ``"stop_string"``, ``"length"`` (``max_new_tokens`` reached), or None."""
        if completion_ids[-1] in self.eos_token_ids:
            return "eos"
        if self.hits_stop_string(completion_ids):
            return "stop_string"
        if len(completion_ids) >= self.max_new_tokens:
            return "length"
        return None

    def prompt_fields(self, prompt_indices: Sequence[int]) -> dict[str, list]:
        """The per-prompt fields of ``prompt_indices``: ``{field: [value per index]}`` (empty without fields)."""
        return self.prompt_source.fields(prompt_indices)

    def fields_of(self, prompt_index: int) -> dict[str, Any]:
        """The per-prompt fields of one prompt, ``{field: value}`` (what a single env's ``info`` holds): a deep
        copy, so two infos never share a mutable value (a dict field) with each other or with the prompt source."""
        return copy.deepcopy({name: values[0] for name, values in self.prompt_fields([prompt_index]).items()})

    def score(
        self, prompt_indices: Sequence[int], completions: Sequence[str], prompts: Sequence[str] | None = None
    ) -> np.ndarray:
        """Score finished episodes with one reward-model call; returns float64 ``[batch]``. The reward model gets
        ``prompts`` (default: the scored prompt texts of ``prompt_indices``) and the prompts' fields it asks for as
        keyword arguments (``reward_models.fields``).

        Raises ``ValueError`` naming the reward model when a score is not finite or lies outside float32's range
        ``[-MAX_REWARD, MAX_REWARD]`` (it would turn into inf in a vector env's float32 rewards)."""
        if prompts is None:
            prompts = [self.scored_prompts[int(i)] for i in prompt_indices]
        try:
            scores = call_reward(self.reward_model, prompts, completions, self.prompt_fields(prompt_indices))
        except Exception as error:
            raise RuntimeError(
                f"reward_model {self.reward_name!r} raised while scoring {len(prompts)} completions: "
                f"{type(error).__name__}: {error}"
            ) from error
        return check_rewards(scores, len(prompts), f"reward_model {self.reward_name!r}")
