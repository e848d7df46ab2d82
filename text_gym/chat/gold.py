"""The fields a gold reward model gets for a chat env's episodes: the per-prompt fields plus the conversations."""

from __future__ import annotations

CONVERSATIONS_FIELD = "conversations"
"""The field that carries a chat env's episodes (lists of ``{"role", "content"}`` messages) to a gold reward model."""


def gold_fields(fields: dict[str, list], conversations: list) -> dict[str, list]:
    """``fields`` (per-prompt, one value per episode) plus ``CONVERSATIONS_FIELD`` when the episodes are
    conversations (a chat env's; ``None`` entries: single-turn episodes, no field added).

    Raises:
        ValueError: the prompts already have a field named ``CONVERSATIONS_FIELD``.
    """
    if any(conversation is None for conversation in conversations):
        return fields
    if CONVERSATIONS_FIELD in fields:
        raise ValueError(
            f"the prompts have a field named {CONVERSATIONS_FIELD!r}, which a chat env's gold reward model gets the "
            "episodes' conversations in; rename that field"
        )
    return {**fields, CONVERSATIONS_FIELD: list(conversations)}
