"""TextGen-v0: one episode is one completion of one prompt, one action is one token id."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from reward_models import RewardFn
from text_gym.envs.checks import check_action
from text_gym.envs.episode import TextGenTask
from text_gym.envs.masking import check_allowed
from text_gym.envs.rendering import Parts
from text_gym.envs.settings import TextGenSettings, refuse_vector_fields
from text_gym.envs.single import SingleTextGenEnv
from text_gym.envs.vector import TextGenVectorEnv


class TextGenEnv(SingleTextGenEnv):
    """Generate a completion for a prompt, one token per step; the reward model scores the finished text.

    Args:
        tokenizer: hub id, local folder, ``"smollm2"`` (default: the packaged SmolLM2-135M-Instruct tokenizer,
            no download), or a ``PreTrainedTokenizerBase``.
        reward_model: a spec string (``reward_models.registered_reward_models()``; default ``"sentiment"``, the
            learned offline MiniLM sentiment model), a reward-model object, or any callable
            ``(prompts: list[str], completions: list[str]) -> floats``.
            It must return one finite float per completion; anything else raises ``ValueError``, and an
            exception inside it is re-raised as ``RuntimeError`` naming the reward model. A step that raises (bad
            action, reward model) changes nothing: the same step can be retried.
        prompts: list of strings, a ``.txt`` (one per line) or ``.jsonl`` (``prompt`` field) path, or
            ``"default:train|test|all"``; default: the project's train prompts. ``reset`` draws one uniformly
            from ``self.np_random`` unless ``options={"prompt_index": i}`` picks it. Prompts with per-prompt
            fields (dataset columns: a list of dicts, JSONL rows with more keys, a ``datasets.Dataset``,
            ``"hf:<dataset id>"``, or a procedural source; ``text_gym.prompts.rows``) pass those fields to a
            reward model that asks for them, as keyword arguments (TRL's convention, ``reward_models.fields``).
        max_new_tokens: episode length limit in tokens (default 32). Reaching it ends the episode with
            ``terminated=True`` and the cut text is scored: the length limit is part of the task.
        max_prompt_tokens: prompt slots in the observation (default 64).
        render_mode: ``"ansi"`` (``render()`` returns the text), ``"human"`` (prints it) or ``"rgb_array"``
            (``render()`` returns the prompt and completion drawn as uint8 ``[256, 512, 3]``, see
            ``text_gym.envs.rendering``; for video recorders).
        text_info: ``info`` holds the text keys ``prompt``, ``completion``, ``stop_reason`` (default True); False
            keeps only the numeric keys (see Info below).
        chat_template: wrap each prompt as a user turn with the tokenizer's chat template (default False).
        system_prompt: optional system turn, used with ``chat_template=True``.
        stop_strings: the episode also ends at the step whose token completes one of these strings; the
            completion keeps that token. Costs a decode of the last few tokens per step.
        eos_token_ids: token ids that end the episode (default: the tokenizer's EOS id).
        pad_token_id: padding id in observations; must differ from every EOS id (default: the tokenizer's pad
            id if it is not EOS, else its unk id, else its first non-EOS special token).
        vocab_size: size ``V`` of the action space ``Discrete(V)``; pass the policy's LM-head size
            (``model.get_output_embeddings().weight.shape[0]``), which can exceed ``len(tokenizer)``. Default
            ``len(tokenizer)``. Ids ``>= len(tokenizer)`` are legal actions that decode to no text.
        truncation: a prompt longer than ``max_prompt_tokens`` raises ``ValueError`` at construction
            (``"error"``, default) or keeps its last ``max_prompt_tokens`` tokens (``"left"``).
        allowed_tokens, mask_top_k, mask_model: vocabulary restriction, see ``text_gym.envs.masking``. The mask of
            the current observation is ``action_masks()`` and ``info["action_mask"]`` (bool ``[V]``); a masked
            action raises ``ValueError``.

    The arguments are checked once into ``settings`` (a frozen ``TextGenSettings``); ``rebuilt(num_envs=...,
    autoreset_mode=..., device=...)`` returns a ``TextGenVectorEnv`` of the same settings and task. The single env
    stays its own class, not a one-env vector env: stepping it costs far less than a vector env of one (``text-gym
    bench env``).

    Observation: ``{"input_ids": int64 [L], "attention_mask": int64 [L]}``, ``L = max_prompt_tokens +
    max_new_tokens``, see ``text_gym.envs.episode`` for the layout. Reward: 0 on every step but the last, then the
    reward model's score.

    Info: every ``info`` (``reset`` and every ``step``) has the same keys, ``EPISODE_KEYS`` (plus ``action_mask``
    with a vocabulary restriction): ``prompt`` (the text the reward model sees), ``prompt_index``, ``num_tokens``
    (completion tokens so far), and ``completion``, ``score``, ``stop_reason`` (``"eos"``, ``"length"`` or
    ``"stop_string"``), which hold ``""``, ``0.0``, ``""`` until the step that ends the episode: ``stop_reason != ""``
    marks that step, as ``terminated`` does. ``text_info=False`` keeps only the numeric keys ``score``,
    ``prompt_index`` and ``num_tokens``, as NumPy scalars (float64, int64): for libraries that turn every info value
    into a tensor (TorchRL's ``auto_register_info_dict``).
    The ``info`` of ``reset`` and of every step also holds the current prompt's per-prompt fields, one key per
    field (e.g. ``answer``), unless ``text_info=False``.
    """

    vector_class = TextGenVectorEnv

    def __init__(
        self,
        tokenizer: str | os.PathLike | object | None = None,
        reward_model: str | RewardFn | None = None,
        prompts: str | os.PathLike | Sequence[str] | None = None,
        max_new_tokens: int = 32,
        max_prompt_tokens: int = 64,
        render_mode: str | None = None,
        text_info: bool = True,
        **task_options: Any,
    ) -> None:
        refuse_vector_fields("TextGenEnv", task_options)
        self.settings = TextGenSettings(
            tokenizer=tokenizer,
            reward_model=reward_model,
            prompts=prompts,
            max_new_tokens=max_new_tokens,
            max_prompt_tokens=max_prompt_tokens,
            render_mode=render_mode,
            text_info=text_info,
            autoreset_mode=AutoresetMode.DISABLED,
            **task_options,
        )
        self.task = TextGenTask(self.settings)
        self.observation_space = self.task.observation_space
        self.action_space = self.task.action_space
        self._input_ids = np.full(self.task.seq_len, self.task.pad_token_id, dtype=np.int64)
        self._attention_mask = np.zeros(self.task.seq_len, dtype=np.int64)
        self._prompt_index = -1
        self._num_tokens = 0
        self._running = False
        self._action_mask: np.ndarray | None = None

    def _obs(self) -> dict[str, np.ndarray]:
        return {"input_ids": self._input_ids.copy(), "attention_mask": self._attention_mask.copy()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        task = self.task
        index = self._start(seed, options)
        self._prompt_index = int(index)
        self._input_ids[: task.max_prompt_tokens] = task.prompt_ids[index]
        self._input_ids[task.max_prompt_tokens :] = task.pad_token_id
        self._attention_mask[:] = 0
        self._attention_mask[task.max_prompt_tokens - task.prompt_lengths[index] : task.max_prompt_tokens] = 1
        self._num_tokens = 0
        self._running = True
        self._render_human()
        info = self._info()
        self._update_action_mask(info)
        return self._obs(), info

    def step(self, action):
        self._check_can_step()
        task = self.task
        token = check_action(action, task.vocab_size)
        check_allowed(token, self._action_mask)
        # Everything that can raise (the checks above, stop strings, the reward model) runs before any state
        # changes, so a step that raises changes nothing.
        position = task.max_prompt_tokens + self._num_tokens
        completion_ids = np.append(self._input_ids[task.max_prompt_tokens : position], token)
        stop_reason = task.stop_reason(completion_ids)
        completion, reward = "", 0.0
        if stop_reason is not None:
            completion = task.decode(completion_ids)
            reward = float(task.score([self._prompt_index], [completion])[0])
            self._running = False
        self._input_ids[position] = token
        self._attention_mask[position] = 1
        self._num_tokens += 1
        info = self._info(completion, reward, stop_reason or "")
        self._render_human()
        self._update_action_mask(info)
        return self._obs(), reward, stop_reason is not None, False, info

    def _info(self, completion: str = "", score: float = 0.0, stop_reason: str = "") -> dict[str, Any]:
        """The ``EPISODE_KEYS`` info of the current episode; ``completion``, ``score``, ``stop_reason`` at its end."""
        if not self.text_info:
            return {
                "score": np.float64(score),
                "prompt_index": np.int64(self._prompt_index),
                "num_tokens": np.int64(self._num_tokens),
            }
        return {
            "prompt": self.task.scored_prompts[self._prompt_index],
            "completion": completion,
            "score": score,
            "prompt_index": self._prompt_index,
            "num_tokens": self._num_tokens,
            "stop_reason": stop_reason,
            **self.task.fields_of(self._prompt_index),
        }

    def _update_action_mask(self, info: dict[str, Any]) -> None:
        mask = self.task.vocabulary_mask
        if mask is not None:
            obs = {key: torch.from_numpy(value)[None] for key, value in self._obs().items()}
            self._action_mask = mask(obs["input_ids"], obs["attention_mask"])[0].numpy()
            info["action_mask"] = self._action_mask.copy()

    def action_masks(self) -> np.ndarray:
        """bool ``[V]``: the actions allowed in the current observation (all True without a restriction)."""
        if self._action_mask is None:
            return np.ones(self.task.vocab_size, dtype=bool)
        return self._action_mask.copy()

    def _parts(self) -> Parts:
        """(prompt, completion so far, ``"n/N tokens"``) of the current episode."""
        task = self.task
        if self._prompt_index < 0:
            return "(no episode: call reset())", "", ""
        completion = task.decode(self._input_ids[task.max_prompt_tokens : task.max_prompt_tokens + self._num_tokens])
        return task.scored_prompts[self._prompt_index], completion, f"{self._num_tokens}/{task.max_new_tokens} tokens"
