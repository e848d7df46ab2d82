"""Conversations to fine-tune on: the ``messages`` JSONL format (TRL's conversational format, the hub datasets')
and the shape a chat env plays.

One JSON object per line with ``"messages": [{"role": ..., "content": ...}, ...]``; other keys of a row (and of a
message) are ignored. A conversation has the shape ``TextGenChatEnv`` produces: an optional ``system`` message,
then ``user`` and ``assistant`` messages alternating, starting with ``user`` and ending with ``assistant``.
"""

from __future__ import annotations

import os
from typing import Any

from reward_models.common.jsonl import read_jsonl_objects
from text_gym.chat.users import Message

ROLES = ("system", "user", "assistant")


def check_messages(messages: Any, where: str = "messages") -> list[Message]:
    """``messages`` as a list of ``{"role", "content"}`` dicts (other keys dropped) if it is a conversation of the
    chat-env shape (module docstring).

    Args:
        messages: the conversation, a list of ``{"role": str, "content": str}``.
        where: what to call it in errors (e.g. ``"data demos.jsonl, line 3"``).

    Raises:
        ValueError: naming ``where``, the message index and what is wrong (a role outside ``ROLES``, content that
            is not a string, or the order of the roles).
    """
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{where}: 'messages' must be a non-empty list of messages, got {messages!r}"[:300])
    checked: list[Message] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(
                f"{where}: messages[{index}] must be an object with 'role' and 'content', got {message!r}"[:300]
            )
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise ValueError(f"{where}: messages[{index}] has role {role!r}; roles are {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise ValueError(
                f"{where}: messages[{index}] ({role}) has content of type {type(content).__name__}; it must be a string"
            )
        checked.append({"role": role, "content": content})
    roles = [m["role"] for m in checked]
    body = roles[1:] if roles[0] == "system" else roles
    expected = ["user" if k % 2 == 0 else "assistant" for k in range(len(body))]
    if body != expected or not body or body[-1] != "assistant":
        if "assistant" not in roles:
            problem = "it has no assistant message (nothing to learn)"
        else:
            problem = f"its roles are {roles}"
        raise ValueError(
            f"{where}: {problem}; a conversation is an optional system message, then user and assistant messages "
            "alternating, starting with user and ending with assistant"
        )
    return checked


def read_conversations(path: str | os.PathLike) -> list[tuple[str, list[Message]]]:
    """The conversations of the ``messages`` JSONL file ``path``, each checked by ``check_messages``, with where
    each comes from (``"data <path>, line <n>"``, for errors about it).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: naming the file and line: a line that is not a JSON object, a row without ``"messages"``, a
            conversation of another shape; or a file without conversations.
    """
    conversations = []
    for number, row in read_jsonl_objects(path, "data"):
        where = f"data {path}, line {number}"
        if "messages" not in row:
            raise ValueError(f"{where}: no 'messages' key (the row has {sorted(row)})"[:300])
        conversations.append((where, check_messages(row["messages"], where)))
    if not conversations:
        raise ValueError(f"data {path} holds no conversations (an empty file)")
    return conversations


def load_conversations(path: str | os.PathLike) -> list[list[Message]]:
    """The conversations of the ``messages`` JSONL file ``path`` (``read_conversations`` without the sources)."""
    return [messages for _, messages in read_conversations(path)]
