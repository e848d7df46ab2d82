"""Preference data: the pair format and its JSONL files (``pairs.py``), conversation pairs (``conversation.py``), and
simulated labelling by a gold
labeller (``labelling.py``)."""

from reward_models.preferences.conversation import Conversation, as_conversation, render_context, render_pairs
from reward_models.preferences.labelling import LabelConfig, label_preferences, rank_pairs
from reward_models.preferences.pairs import (
    PreferenceDataError,
    PreferencePair,
    PreferenceWriter,
    append_preferences,
    expand_row,
    load_preferences,
    parse_row,
    read_preference_rows,
)

__all__ = [
    "Conversation",
    "LabelConfig",
    "PreferenceDataError",
    "PreferencePair",
    "PreferenceWriter",
    "append_preferences",
    "as_conversation",
    "expand_row",
    "label_preferences",
    "load_preferences",
    "parse_row",
    "rank_pairs",
    "read_preference_rows",
    "render_context",
    "render_pairs",
]
