"""The SFT loss mask: a conversation as the token context a chat env builds, labelled on the assistant's tokens.

``assistant_labels`` renders a conversation the way ``text_gym.TextGenChatEnv`` does (``text_gym.chat.template``):
the chat-template render of the messages before the first assistant turn with the generation prompt, tokenized
without added special tokens; then, per assistant turn, its content tokenized on its own plus the template's
end-of-turn token (``<|im_end|>`` for ChatML / SmolLM2), and between turns the tokens the template renders after
that end-of-turn token (the user turn and the next generation prompt, ``ChatTemplate.reply_ids``). So for a
conversation played in the env the ids are the env's context token for token, and the labelled tokens are exactly
the agent's actions (``agent_mask``) when it wrote each turn as its content's tokens and the end-of-turn token.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.sft.conversations import check_messages
from text_gym.chat.template import ChatTemplate
from text_gym.chat.users import Message

IGNORE_INDEX = -100
"""The label of a token the loss skips (the system, user and template tokens): transformers' and torch's default."""


def assistant_labels(tokenizer: object, messages: Sequence[Message]) -> tuple[list[int], list[int]]:
    """The token ids of ``messages`` as a chat env's context, and their labels.

    Args:
        tokenizer: a tokenizer with a chat template, or a ``text_gym.ChatTemplate`` of one (reuse it for many
            conversations: building it renders probe conversations).
        messages: a conversation of the chat-env shape (``agents.sft.conversations.check_messages``).

    Returns:
        ``(input_ids, labels)``, two lists of the same length ``S``: ``labels[i]`` is ``input_ids[i]`` at the
        assistant's tokens (each turn's content and its end-of-turn token) and ``IGNORE_INDEX`` at every other
        token (system, user, role markers, generation prompts).

    Raises:
        ValueError: the tokenizer has no usable chat template (``ChatTemplate``), the conversation has another
            shape, or a message contains the end-of-turn token's text (it would end the turn inside the message).
    """
    template = tokenizer if isinstance(tokenizer, ChatTemplate) else ChatTemplate(tokenizer)
    messages = check_messages(list(messages))
    for index, message in enumerate(messages):
        if template.end_of_turn_text in message["content"]:
            raise ValueError(
                f"messages[{index}] ({message['role']}) contains the end-of-turn token {template.end_of_turn_text!r}: "
                "it would end the turn inside the message"
            )

    def encode(text: str) -> list[int]:
        return list(template.tokenizer(text, add_special_tokens=False)["input_ids"])

    first = next(i for i, m in enumerate(messages) if m["role"] == "assistant")
    input_ids = encode(template.render(messages[:first], add_generation_prompt=True))
    labels = [IGNORE_INDEX] * len(input_ids)
    for index in range(first, len(messages), 2):
        turn = [*encode(messages[index]["content"]), template.end_of_turn_id]
        input_ids += turn
        labels += turn
        if index + 1 < len(messages):  # the user's reply and the next generation prompt, as the env appends them
            reply = template.reply_ids(messages[: index + 1], messages[index + 1]["content"])
            input_ids += reply
            labels += [IGNORE_INDEX] * len(reply)
    return input_ids, labels
