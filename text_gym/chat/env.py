"""TextGenChat-v0: a multi-turn conversation as a token-level env; the agent writes its turns one token per step and
the env appends the simulated user's turns as tokens."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from reward_models import RewardFn
from text_gym.chat.settings import ConversationReward, TextGenChatSettings
from text_gym.chat.users import SimulatedUser
from text_gym.chat.vector import TextGenChatVectorEnv
from text_gym.envs.checks import check_action
from text_gym.envs.rendering import Parts
from text_gym.envs.settings import refuse_vector_fields
from text_gym.envs.single import SingleTextGenEnv


class TextGenChatEnv(SingleTextGenEnv):
    """A conversation of up to ``max_turns`` agent turns with a simulated user; one action is one token id.

    ## Description

    ``reset`` draws a prompt row (uniformly from ``self.np_random``, or ``options={"prompt_index": i}``): its text is
    the user's first message. The context starts with the chat-template render of the system message (if any), that
    message and the assistant generation prompt. Each ``step(action)`` appends the agent's token. The agent's turn
    ends at the template's end-of-turn token (``<|im_end|>`` for SmolLM2's ChatML template), at an EOS id, or after
    ``max_turn_tokens`` agent tokens; after an EOS that is not the end-of-turn token, or at ``max_turn_tokens``, the
    env writes the end-of-turn token itself. On that same step the turn is scored and, unless the episode ends, the
    user is asked for its reply, and the env appends what the chat template renders after the agent's end-of-turn
    token: the user turn and the assistant generation prompt, as tokens (``text_gym.chat.template``). The agent's
    own tokens are never decoded and re-encoded: the tokens it is trained on are the tokens it chose.

    ## Action space

    ``Discrete(V)``, ``V = vocab_size`` (default ``len(tokenizer)``), as in ``text_gym.TextGenEnv``.

    ## Observation space

    ``Dict(input_ids, attention_mask, agent_mask)``, each ``Box(int64, (L,))`` with ``L = max_prompt_tokens +
    max_new_tokens``. ``input_ids`` / ``attention_mask`` have TextGen-v0's layout: the first prompt left-padded into
    the first ``max_prompt_tokens`` slots, everything after it (agent tokens and env-inserted tokens) appended from
    index ``max_prompt_tokens`` on, then padding. ``agent_mask`` is 1 exactly at the tokens the agent's actions
    wrote, 0 on the prompt, on env-inserted tokens (user turns, generation prompts, an end-of-turn token the env
    adds) and on padding. ``max_new_tokens`` is the budget for everything after the first prompt.

    ## Rewards

    - On a step that ends an agent turn: ``reward_model(prompts=[context], completions=[turn])``, where ``context`` is
      the conversation before the turn rendered by the chat template with the generation prompt (the text the agent
      saw) and ``turn`` is the agent's turn text (special tokens skipped), plus the per-prompt fields it asks for.
      Any ``(prompts, completions)`` reward model works.
    - On the step that ends the episode, in addition: ``conversation_reward(conversations, **fields)`` (if given) of
      the final conversation (the ``conversation`` info below), one call for all conversations ending on that step.
    - 0 on every other step. ``info["score"]`` at the end is the episode's return (the sum of all of them).

    ## Episode end

    On the step that ends an agent turn, the episode ends with ``terminated=True`` when that was turn
    ``max_turns`` (``stop_reason="max_turns"``) or the user returned ``None`` (``"user_ended"``: goal reached or gave
    up). It ends with ``truncated=True`` and ``stop_reason="context_full"`` when the context is full: the agent's
    token filled the last slot (the cut turn is still scored), there is no slot for an end-of-turn token the env
    has to add, or the user's reply plus the generation prompt plus one agent token do not fit in what is left of
    ``max_new_tokens`` (the reply is then not appended and not in ``conversation``). The user is not called when the
    episode ends anyway.

    ## Info

    Every ``info`` (``reset`` and every step) has the same keys; each holds ``""``/``0`` (``conversation``: ``[]``)
    until the step it describes:

    - on ``reset`` and every step: ``prompt`` (the first user message), ``prompt_index``, ``num_tokens`` (tokens
      after the first prompt so far, env-inserted ones included), ``num_turns`` (finished agent turns so far);
    - episode keys, set on the step that ends the episode: ``completion`` (everything after the first prompt as
      text, special tokens kept), ``conversation`` (list of ``{"role", "content"}`` messages: system if any, the
      first user message, then agent and user turns; agent turns are their decoded text, special tokens skipped),
      ``score`` (the episode return), ``stop_reason`` (above);
    - turn keys, set on every step that ends an agent turn: ``turn`` (its index, from 0), ``turn_reward`` (the
      reward model's score of it), ``turn_text``, ``turn_end`` (``"end_of_turn"``, ``"eos"``, ``"max_turn_tokens"`` or
      ``"context_full"``);
    - the prompt row's per-prompt fields; ``action_mask`` with a vocabulary restriction.

    ``text_info=False`` keeps the numeric keys only (``score``, ``prompt_index``, ``num_tokens``, ``num_turns``,
    ``turn``, ``turn_reward``) as NumPy scalars.

    ## Arguments

    ``tokenizer``, ``reward_model``, ``prompts``, ``max_new_tokens`` (default 256), ``max_prompt_tokens`` (default
    128), ``render_mode``, ``text_info``, ``system_prompt`` and the other keyword arguments of
    ``text_gym.TextGenEnv`` (``eos_token_ids``, ``pad_token_id``, ``vocab_size``, ``truncation``,
    ``allowed_tokens``, ``mask_top_k``, ``mask_model``) mean the same here; the chat template is always used (the
    tokenizer must have one) and ``stop_strings`` is not supported. Also:

    - ``user``: the simulated user, a callable ``(conversations, fields) -> replies`` (``text_gym.chat.users``) or a
      name for ``text_gym.chat.users.make_user``; it may be ``None`` only with ``max_turns=1``. A user that raises,
      returns the wrong number of replies, or a reply that is neither a non-empty ``str`` nor ``None`` (or contains
      the text of a special token, ``ChatTemplate.special_tokens_in``: user text never creates special tokens)
      makes the step raise an error naming it; the step changes nothing and can be retried.
    - ``max_turns``: agent turns per episode, an integer >= 1 (default 3).
    - ``max_turn_tokens``: agent tokens per turn, an integer in ``[1, max_new_tokens]`` (default ``max_new_tokens``).
    - ``conversation_reward``: optional callable ``(conversations: list[list[Message]], **fields) -> floats``.

    A step that raises (bad action, user, reward model) changes nothing. Implemented as a one-env
    ``text_gym.TextGenChatVectorEnv`` (attribute ``vector_env``), so single and vector envs run the same code.
    The arguments are checked once into ``settings`` (a frozen ``TextGenChatSettings``, shared with ``vector_env``);
    ``rebuilt(num_envs=..., autoreset_mode=..., device=...)`` returns a ``TextGenChatVectorEnv`` of the same
    settings, task and user.
    """

    vector_class = TextGenChatVectorEnv

    def __init__(
        self,
        tokenizer: str | os.PathLike | object | None = None,
        reward_model: str | RewardFn | None = None,
        prompts: Any = None,
        user: str | SimulatedUser | None = None,
        max_turns: int = 3,
        max_turn_tokens: int | None = None,
        max_new_tokens: int = 256,
        max_prompt_tokens: int = 128,
        system_prompt: str | None = None,
        conversation_reward: ConversationReward | None = None,
        render_mode: str | None = None,
        text_info: bool = True,
        **task_options: Any,
    ) -> None:
        refuse_vector_fields("TextGenChatEnv", task_options)
        settings = TextGenChatSettings(
            tokenizer=tokenizer,
            reward_model=reward_model,
            prompts=prompts,
            user=user,
            max_turns=max_turns,
            max_turn_tokens=max_turn_tokens,
            max_new_tokens=max_new_tokens,
            max_prompt_tokens=max_prompt_tokens,
            system_prompt=system_prompt,
            conversation_reward=conversation_reward,
            render_mode=render_mode,
            text_info=text_info,
            autoreset_mode=AutoresetMode.DISABLED,
            **task_options,
        )
        self.vector_env = TextGenChatVectorEnv.from_settings(settings)
        self.task = self.vector_env.task
        self.observation_space = self.vector_env.single_observation_space
        self.action_space = self.vector_env.single_action_space
        self._running = False

    @property
    def settings(self) -> TextGenChatSettings:
        return self.vector_env.settings

    @property
    def _rebuild_source(self) -> TextGenChatVectorEnv:
        return self.vector_env

    @property
    def end_of_turn_id(self) -> int:
        """The chat template's end-of-turn token id."""
        return self.vector_env.end_of_turn_id

    @property
    def conversation(self) -> list[dict[str, str]]:
        """The conversation so far (a copy): system message (if any), the first user message, then the finished
        agent and user turns, as ``{"role", "content"}`` messages (the episode's ``conversation`` info, mid-episode)."""
        return [dict(m) for m in self.vector_env._conversations[0]]

    def _obs(self) -> dict[str, np.ndarray]:
        vector = self.vector_env
        return {key: value[0].cpu().numpy().copy() for key, value in vector._obs().items()}

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        """Row 0 of the vector env's ``info``: the value where its mask is set, else the key's empty value."""
        single: dict[str, Any] = {}
        for key, value in info.items():
            if key.startswith("_") or key == "action_mask":
                continue
            if info["_" + key][0]:
                item = value[0]
            else:
                item = [] if key == "conversation" else "" if value.dtype == object else value.dtype.type(0)
            if self.text_info and isinstance(item, np.generic):
                item = item.item()
            single[key] = item
        if "action_mask" in info:
            single["action_mask"] = info["action_mask"][0].cpu().numpy().copy()
        return single

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        index = self._start(seed, options)
        _, info = self.vector_env.reset_tensors(options={"prompt_index": index})
        self._running = True
        self._render_human()
        return self._obs(), self._info(info)

    def step(self, action):
        self._check_can_step()
        token = check_action(action, self.task.vocab_size)
        _, _, terminated, truncated, info = self.vector_env.step_tensors(torch.tensor([token]))
        terminated, truncated = bool(terminated[0]), bool(truncated[0])
        self._running = not (terminated or truncated)
        self._render_human()
        return self._obs(), float(self.vector_env.last_rewards[0]), terminated, truncated, self._info(info)

    def action_masks(self) -> np.ndarray:
        """bool ``[V]``: the actions allowed in the current observation (all True without a restriction)."""
        return self.vector_env.action_masks()[0]

    def _parts(self) -> Parts:
        return self.vector_env._parts()[0]
