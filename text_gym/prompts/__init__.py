"""Prompt sources: where the prompts of an episode come from.

- ``lists.py``: the project's default prompt set; prompts from lists, ``.txt`` and ``.jsonl`` files.
- ``rows.py``: ``PromptRows``, prompts with per-prompt fields (dataset columns passed to rewards).
- ``generated.py``: ``GeneratedPrompts``, an endless reproducible source (a fresh prompt at every reset).
"""

from text_gym.prompts.generated import GeneratedPrompts
from text_gym.prompts.lists import SPLITS, default_prompts, load_prompts, read_prompt_rows
from text_gym.prompts.rows import PromptRows, load_prompt_source

__all__ = [
    "SPLITS",
    "GeneratedPrompts",
    "PromptRows",
    "default_prompts",
    "load_prompt_source",
    "load_prompts",
    "read_prompt_rows",
]
