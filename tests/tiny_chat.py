"""A tiny offline chat tokenizer (word-level, with a chat template) and scripted users for the chat-env tests."""

from __future__ import annotations

from conftest import TINY_WORDS, make_tiny_tokenizer
from tokenizers import decoders

ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
END_OF_TURN = "<|end|>"
# Turns separated by single spaces: the word-level decoder joins tokens with single spaces, so a conversation that
# ends with a turn decodes to its render. The generation prompt ends with the space an assistant message starts with.
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if not loop.first %} {% endif %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|>"
    "{% endfor %}{% if add_generation_prompt %} <|assistant|> {% endif %}"
)


def tiny_chat_tokenizer(words=TINY_WORDS):
    """Word-level tokenizer (ids 0-2 <pad>, <unk>, <eos>, then ``words``) plus the special tokens ``<|system|>``,
    ``<|user|>``, ``<|assistant|>``, ``<|end|>`` and a chat template whose end-of-turn token is ``<|end|>`` (not
    EOS)."""
    tokenizer = make_tiny_tokenizer(words)
    tokenizer.add_special_tokens({"additional_special_tokens": [*ROLE_TOKENS, END_OF_TURN]})
    tokenizer.backend_tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # keep "was ." as is
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def echo_user(conversations, fields):
    """Replies with the agent's last message ("ok" when it is empty) until the conversation has 3 agent turns."""
    replies = []
    for conversation in conversations:
        agent_turns = sum(m["role"] == "assistant" for m in conversation)
        replies.append(None if agent_turns >= 3 else (conversation[-1]["content"] or "ok"))
    return replies


def fixed_user(reply: str):
    """A user that always answers ``reply``."""

    def user(conversations, fields):
        return [reply] * len(conversations)

    user.__name__ = f"fixed_user({reply!r})"
    return user
