"""TextGenChatSettings: the settings of the chat envs, TextGenSettings plus the user and turn settings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from reward_models.common import check_positive_int
from text_gym.chat.users import SimulatedUser
from text_gym.envs.settings import TextGenSettings

ConversationReward = Callable[..., Sequence[float]]
"""``conversation_reward(conversations: list[list[Message]], **fields) -> one float per conversation``."""


@dataclass(frozen=True)
class TextGenChatSettings(TextGenSettings):
    """The constructor settings of ``TextGenChat-v0``'s envs (meanings on ``text_gym.TextGenChatEnv``):
    those of ``text_gym.envs.settings.TextGenSettings`` with the chat defaults (``max_new_tokens`` 256,
    ``max_prompt_tokens`` 128, the chat template always on, no ``stop_strings``), plus ``user`` (as passed: a
    name is resolved by the env), ``max_turns``, ``max_turn_tokens`` (``None`` becomes ``max_new_tokens``) and
    ``conversation_reward``.

    Raises:
        ValueError, TypeError: at construction, naming the argument, the value and the valid range.
    """

    max_new_tokens: int = 256
    max_prompt_tokens: int = 128
    chat_template: bool = True
    user: str | SimulatedUser | None = None
    max_turns: int = 3
    max_turn_tokens: int | None = None
    conversation_reward: ConversationReward | None = None

    def __post_init__(self) -> None:
        if not self.chat_template:
            raise ValueError(
                "chat_template is not an argument of the chat envs: chat envs always render turns with the "
                "tokenizer's chat template"
            )
        if self.stop_strings:
            raise ValueError(
                "stop_strings is not an argument of the chat envs: a turn ends at the chat template's end-of-turn "
                "token, an EOS id or max_turn_tokens"
            )
        super().__post_init__()
        set_field = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen dataclass)
        set_field("max_turns", check_positive_int("max_turns", self.max_turns))
        N, max_turn_tokens = self.max_new_tokens, self.max_turn_tokens
        if max_turn_tokens is None:
            max_turn_tokens = N
        if isinstance(max_turn_tokens, bool) or not isinstance(max_turn_tokens, (int, np.integer)):
            raise TypeError(f"max_turn_tokens must be None or an integer in [1, {N}], got {max_turn_tokens!r}")
        if not 1 <= max_turn_tokens <= N:
            raise ValueError(f"max_turn_tokens must be an integer in [1, max_new_tokens={N}], got {max_turn_tokens}")
        set_field("max_turn_tokens", int(max_turn_tokens))
        if self.conversation_reward is not None and not callable(self.conversation_reward):
            raise TypeError(
                "conversation_reward must be None or a callable (conversations, **fields) -> scores, got "
                f"{type(self.conversation_reward).__name__} {self.conversation_reward!r}"
            )
        if self.user is None and self.max_turns > 1:
            raise ValueError(
                f"user is None, but max_turns={self.max_turns} needs a simulated user to write the user turns; pass "
                "a callable (conversations, fields) -> replies, a user name, or max_turns=1"
            )
        if self.user is not None and not isinstance(self.user, str) and not callable(self.user):
            raise TypeError(
                f"user must be a callable (conversations, fields) -> replies, a user name or None, got "
                f"{type(self.user).__name__} {self.user!r}"
            )
