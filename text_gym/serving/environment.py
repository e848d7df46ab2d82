"""A registered text-gym env as an OpenEnv ``Environment``: text messages in, the conversation out.

OpenEnv (``openenv-core``) keeps one ``Environment`` per WebSocket session; this class wraps one Gymnasium env
(``gym.make(env_id, **env_kwargs)``) and turns a text message into the env's token actions. What a text-level
client loses is token-exactness: its text is re-tokenised here, so the tokens the env scores are the tokenizer's
encoding of the text, not the tokens the client's model sampled (docs/libraries.md, "OpenEnv"). What stays: the
env's simulated users (scripted customers, LM users), its per-turn rewards and its gold metric.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from reward_models import RewardFn, call_reward, make_reward_model
from reward_models.common.extras import require_extra
from text_gym.chat.env import TextGenChatEnv
from text_gym.chat.gold import gold_fields
from text_gym.envs.single import SingleTextGenEnv
from text_gym.serving.messages import ConversationObservation, ConversationState, MessageAction

_interfaces = require_extra("openenv.core.env_server.interfaces", "openenv", "serving an env over OpenEnv")


class EpisodeError(RuntimeError):
    """A step that has no episode to act on: before ``reset``, after the episode ended, or for another episode id."""


class TextGymEnvironment(_interfaces.Environment):
    """One session's env behind OpenEnv's server.

    ``reset(seed=None, episode_id=None, prompt_index=None)`` starts an episode (``prompt_index`` picks the prompt
    row) and returns the conversation so far: the system message (if any) and the first user message.
    ``step(MessageAction(message=...))`` writes the message as the agent's turn: its tokens (special-token text
    split into plain tokens), then the chat template's end-of-turn token (chat envs) or the env's first EOS id
    (single-turn envs), one env step per token, until the env ends the turn or the episode. The observation holds
    the conversation after the step (with the user's reply in a chat env), ``reward`` is the sum of the step's
    rewards and ``done`` is ``terminated or truncated``. A message longer than the turn's budget is cut where the
    env ends the turn (``info["tokens_used"]`` < ``info["tokens"]``).

    A message with a token the env does not allow (outside ``vocab_size`` or ``allowed_tokens``) is refused before
    any token is written: the episode is unchanged. If the env raises partway through a message (a user or reward
    model that fails), the episode is ended and the next step must be a ``reset``. A step whose
    ``action.metadata["episode_id"]`` names another episode is refused.

    Args:
        make_env: builds the Gymnasium env (``TextGenChatEnv`` or another ``SingleTextGenEnv``); called once per
            session.
        env_id: the registered id, reported in observations and state.
        gold_reward_model: the gold metric scored at each episode's end (``info["gold"]``), a spec or a reward
            function; ``None`` for none.
    """

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(
        self, make_env: Callable[[], gym.Env], env_id: str, gold_reward_model: str | RewardFn | None = None
    ) -> None:
        super().__init__()
        env = make_env().unwrapped
        if not isinstance(env, SingleTextGenEnv):
            raise TypeError(f"env {env_id!r} is a {type(env).__name__}, not a text-gym env; only text-gym envs serve")
        if env.task.vocabulary_mask is not None and env.task.vocabulary_mask.top_k is not None:
            raise ValueError(
                f"env {env_id!r} masks the vocabulary per step (mask_top_k); a text message cannot be checked "
                "against a mask that depends on the policy's own next-token scores, so it cannot be served"
            )
        self.env = env
        self.env_id = env_id
        self.gold = make_reward_model(gold_reward_model) if gold_reward_model is not None else None
        self._state = ConversationState(env_id=env_id, done=True)  # no episode until reset
        self._messages: list[dict[str, str]] = []
        self._prompt_index = 0

    @property
    def is_chat(self) -> bool:
        return isinstance(self.env, TextGenChatEnv)

    @property
    def state(self) -> ConversationState:
        return self._state

    def reset(
        self, seed: int | None = None, episode_id: str | None = None, prompt_index: int | None = None, **_: Any
    ) -> ConversationObservation:
        options = None if prompt_index is None else {"prompt_index": prompt_index}
        _, info = self.env.reset(seed=seed, options=options)
        self._prompt_index = int(info["prompt_index"])
        self._state = ConversationState(episode_id=episode_id or uuid.uuid4().hex, env_id=self.env_id, done=False)
        self._messages = self._conversation(info)
        return ConversationObservation(env_id=self.env_id, messages=self._messages, done=False, reward=None)

    def step(
        self, action: MessageAction, timeout_s: float | None = None, episode_id: str | None = None, **_: Any
    ) -> ConversationObservation:
        wanted = episode_id if episode_id is not None else action.metadata.get("episode_id")
        if wanted is not None and wanted != self._state.episode_id:
            raise EpisodeError(
                f"unknown episode id {wanted!r}: this session's episode is {self._state.episode_id!r} (OpenEnv keeps "
                "one env per WebSocket session; HTTP /step is stateless)"
            )
        if self._state.episode_id is None:
            raise EpisodeError(
                "no episode to step: reset first (over HTTP each request gets a fresh env, as OpenEnv defines "
                "/step; episodes live in WebSocket sessions, /ws, which openenv.core.EnvClient uses)"
            )
        if self._state.done:
            raise EpisodeError(f"episode {self._state.episode_id!r} has ended: reset first")
        tokens = self._tokens(action.message)
        reward, used, terminated, truncated, info = 0.0, 0, False, False, {}
        try:
            for token in tokens:
                _, step_reward, terminated, truncated, info = self.env.step(token)
                reward += float(step_reward)
                used += 1
                if terminated or truncated or self._turn_ended(info):
                    break
        except Exception:
            self._state.done = True
            raise
        done = bool(terminated or truncated)
        self._state.step_count += 1
        self._state.done = done
        report: dict[str, Any] = {"tokens": len(tokens), "tokens_used": used}
        keys = (("turn", "turn_reward", "turn_end") if self._turn_ended(info) else ()) + (
            ("stop_reason", "score") if done else ()
        )
        report.update({key: _plain(info[key]) for key in keys})
        if self.is_chat:
            self._messages = self._conversation(info) if done else self.env.conversation
        elif done:
            self._messages = [*self._messages, {"role": "assistant", "content": info["completion"]}]
        if done and self.gold is not None:
            report["gold"] = self._gold(info)
        return ConversationObservation(
            env_id=self.env_id, messages=self._messages, done=done, reward=reward, info=report
        )

    def _tokens(self, message: str) -> list[int]:
        """The message's token ids (special-token text split into plain tokens), then the turn's end token."""
        task = self.env.task
        ids = list(task.tokenizer(message, add_special_tokens=False, split_special_tokens=True)["input_ids"])
        if self.is_chat:
            ids.append(self.env.end_of_turn_id)
        elif task.eos_token_ids:
            ids.append(task.eos_token_ids[0])
        bad = [i for i in ids if not 0 <= i < task.vocab_size]
        if task.vocabulary_mask is not None:
            allowed = task.vocabulary_mask.allowed
            bad += [i for i in ids if 0 <= i < task.vocab_size and not allowed[i]]
        if bad:
            raise ValueError(
                f"message {message[:80]!r} encodes to token ids {sorted(set(bad))[:10]} that env {self.env_id!r} does "
                f"not allow (vocab_size {task.vocab_size}"
                + (", allowed_tokens restricted)" if task.vocabulary_mask is not None else ")")
            )
        return ids

    def _turn_ended(self, info: dict[str, Any]) -> bool:
        return self.is_chat and info.get("turn_end", "") != ""

    def _conversation(self, info: dict[str, Any]) -> list[dict[str, str]]:
        if self.is_chat:
            return [dict(m) for m in (info["conversation"] or self.env.conversation)]
        system = self.env.task.system_prompt
        return ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": info["prompt"]}
        ]

    def _gold(self, info: dict[str, Any]) -> float:
        conversation = [dict(m) for m in info["conversation"]] if self.is_chat else None
        fields = gold_fields(self.env.task.prompt_fields([self._prompt_index]), [conversation])
        scores = call_reward(self.gold, [info["prompt"]], [info["completion"]], fields, "gold_reward_model")
        return float(np.asarray(scores, dtype=np.float64)[0])

    def close(self) -> None:
        self.env.close()


def _plain(value: Any) -> Any:
    """A NumPy scalar as its Python value (JSON-serialisable), anything else as is."""
    return value.item() if isinstance(value, np.generic) else value
