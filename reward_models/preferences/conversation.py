"""Conversation preference pairs: the prompt is a conversation, the completions are the next assistant turn.

JSONL representation (TRL's conversational preference format)::

    {"prompt": [{"role": "system", "content": str},      # optional, first only
                {"role": "user", "content": str},
                {"role": "assistant", "content": str}, ...,
                {"role": "user", "content": str}],         # the conversation so far, ending with a user turn
     "chosen": [{"role": "assistant", "content": str}],   # exactly one assistant message
     "rejected": [{"role": "assistant", "content": str}]}

and a ranking row's ``"ranking"`` is a list of such one-message lists. In Python a ``PreferencePair`` holds the
conversation as a ``Conversation`` (a tuple of ``(role, content)`` pairs, hashable) and ``chosen``/``rejected`` as
the assistant messages' text.

Scoring. A reward model scores a conversation pair as the text pair ``(context, turn)``: ``context`` is the chat
template's render of the conversation with the assistant generation prompt (``render_context``), by the chat env's
(the policy's) tokenizer, and ``turn`` is the assistant message's text. That is exactly what a chat env
(``text_gym.TextGenChatEnv``) passes its ``reward_model`` for an agent turn, so a reward model trained on these pairs
(``render_pairs``) scores turns in the env the way it was trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reward_models.preferences.pairs import PreferencePair

ROLES = ("system", "user", "assistant")
"""The roles a conversation prompt's messages may have."""

Conversation = tuple[tuple[str, str], ...]
"""A conversation prompt as ``((role, content), ...)``: system message (optional, first), then user and assistant
turns, ending with a user turn."""


def parse_conversation(value: object, key: str = "prompt") -> Conversation:
    """Validate a conversation prompt given as a list of ``{"role", "content"}`` messages.

    Args:
        value: the JSON value.
        key: the field name, for the error message.

    Returns:
        The conversation as a ``Conversation``.

    Raises:
        ValueError: not a non-empty list of messages with string ``role`` / ``content`` (and no other keys), a role
            outside ``ROLES``, a system message other than the first, no user turn, or a last message that is not a
            user turn (the completions answer it).
    """
    if not isinstance(value, list) or not value:
        raise ValueError(f"field {key!r} must be a string or a non-empty list of {{'role', 'content'}} messages")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise ValueError(
                f"field {key!r}, message {index}: expected {{'role': str, 'content': str}}, got {message!r}"[:300]
            )
        role, content = message["role"], message["content"]
        if not isinstance(role, str) or not isinstance(content, str):
            raise ValueError(f"field {key!r}, message {index}: 'role' and 'content' must be strings")
        if role not in ROLES:
            raise ValueError(f"field {key!r}, message {index}: unknown role {role!r} (roles: {', '.join(ROLES)})")
        if role == "system" and index:
            raise ValueError(f"field {key!r}, message {index}: a system message may only be the first message")
        messages.append((role, content))
    if not any(role == "user" for role, _ in messages):
        raise ValueError(f"field {key!r}: the conversation has no user turn (roles {[r for r, _ in messages]})")
    if messages[-1][0] != "user":
        raise ValueError(
            f"field {key!r}: the conversation must end with a user turn (the completions answer it), "
            f"its last message is {messages[-1][0]!r}"
        )
    return tuple(messages)


def parse_reply(value: object, key: str) -> str:
    """The text of a completion given as ``[{"role": "assistant", "content": str}]``; ``ValueError`` otherwise."""
    if (
        not isinstance(value, list)
        or len(value) != 1
        or not isinstance(value[0], dict)
        or set(value[0]) != {"role", "content"}
        or value[0]["role"] != "assistant"
        or not isinstance(value[0]["content"], str)
    ):
        raise ValueError(
            f"field {key!r} of a conversation pair must be [{{'role': 'assistant', 'content': str}}] (one "
            f"assistant message), got {str(value)[:120]}"
        )
    return value[0]["content"]


def conversation_messages(conversation: Conversation) -> list[dict[str, str]]:
    """``conversation`` as a list of ``{"role", "content"}`` messages (what chat templates and JSONL rows take)."""
    return [{"role": role, "content": content} for role, content in conversation]


def reply_message(text: str) -> list[dict[str, str]]:
    """A completion's text as a conversation pair's ``chosen``/``rejected`` value: one assistant message."""
    return [{"role": "assistant", "content": text}]


def row_fields(prompt: str | Conversation, fields: dict) -> dict:
    """The JSONL fields of a label of ``prompt``: ``{"prompt", **fields}`` with ``fields`` holding ``chosen`` /
    ``rejected`` or ``ranking`` as texts; for a conversation prompt its messages and each completion as one assistant
    message (the module docstring's format). Other keys of ``fields`` are kept as they are."""
    if not isinstance(prompt, tuple):
        return {"prompt": prompt, **fields}
    row = {"prompt": conversation_messages(prompt), **fields}
    for key in ("chosen", "rejected"):
        if key in row:
            row[key] = reply_message(row[key])
    if "ranking" in row:
        row["ranking"] = [reply_message(text) for text in row["ranking"]]
    return row


def as_conversation(messages: Sequence[dict[str, str]]) -> Conversation:
    """A list of ``{"role", "content"}`` messages (e.g. ``TextGenChatEnv.conversation``) as a validated
    ``Conversation``."""
    return parse_conversation([dict(m) for m in messages])


def render_context(conversation: Conversation, tokenizer) -> str:
    """The text a chat env scores an agent turn in: ``tokenizer``'s chat-template render of ``conversation`` with
    the assistant generation prompt."""
    return tokenizer.apply_chat_template(
        conversation_messages(conversation), tokenize=False, add_generation_prompt=True
    )


def render_pairs(pairs: Sequence[PreferencePair], tokenizer) -> list[PreferencePair]:
    """``pairs`` with every conversation prompt replaced by its ``render_context`` text (text pairs unchanged).

    Raises:
        ValueError: there are conversation pairs and ``tokenizer`` is None, or it has no chat template.
    """
    from dataclasses import replace

    if not any(isinstance(p.prompt, tuple) for p in pairs):
        return list(pairs)
    if tokenizer is None:
        raise ValueError(
            "the preference data has conversation pairs (a 'prompt' list of messages); pass chat_tokenizer, the "
            "chat env's (the policy's) tokenizer whose chat template renders them, e.g. 'smollm2'"
        )
    if getattr(tokenizer, "chat_template", None) is None:
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise ValueError(f"chat_tokenizer {name!r} has no chat template to render conversation prompts with")
    rendered: dict[Conversation, str] = {}
    result = []
    for pair in pairs:
        if isinstance(pair.prompt, tuple):
            if pair.prompt not in rendered:
                rendered[pair.prompt] = render_context(pair.prompt, tokenizer)
            pair = replace(pair, prompt=rendered[pair.prompt])
        result.append(pair)
    return result
