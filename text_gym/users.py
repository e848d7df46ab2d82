"""Simulated users of the multi-turn chat envs: who writes the user turns of a conversation.

A simulated user is any callable ``user(conversations, fields) -> replies``, called once per env step with every
conversation whose agent turn just ended (one batch across sub-envs):

- ``conversations``: one list of :data:`Message` per conversation, the conversation so far (a system message if
  any, the first user message, ..., the agent's turn that just ended last).
- ``fields``: the per-prompt fields of those conversations, ``{name: [value per conversation]}`` (the columns of
  the prompt rows, as reward models get them; a scenario's persona, goal and hidden facts live there).
- returns one item per conversation: the next user message (a non-empty ``str``), or ``None`` to end the
  conversation (goal reached, or the user gave up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

Message = dict[str, str]
"""One chat message in Hugging Face's format: ``{"role": "system" | "user" | "assistant", "content": str}``."""


class SimulatedUser(Protocol):
    """The interface of a simulated user (see the module docstring)."""

    def __call__(
        self, conversations: Sequence[Sequence[Message]], fields: Mapping[str, Sequence[Any]]
    ) -> Sequence[str | None]: ...
