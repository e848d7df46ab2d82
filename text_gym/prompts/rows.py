"""Prompt sources with per-prompt fields (dataset columns), which reach reward functions as keyword arguments.

``load_prompt_source`` accepts everything ``text_gym.load_prompts`` does, plus:

- a list of dicts, each with a string ``prompt`` and the same other keys (the fields), e.g.
  ``[{"prompt": "2 + 3 =", "answer": 5}, ...]``;
- a ``.jsonl`` file whose objects have keys besides ``prompt`` (every object must have the same keys);
- a ``datasets.Dataset`` with a ``prompt`` column (every other column is a field);
- ``"hf:<dataset id>"`` with optional ``?split=<split>&name=<config>`` (default split ``train``): the hub dataset,
  loaded with ``datasets.load_dataset`` (needs the hub; tests use local data);
- a ``GeneratedPrompts`` (a procedural source).

Field names may not be one of ``reward_models.RESERVED_FIELDS`` (``prompt``, ``completion``, ``score``, ...). A row
that lacks a field other rows have (or has an extra one) is an error naming the row and the field. A
``datasets.Dataset`` stores a value missing from some rows as ``None``; the rewards document what ``None`` scores.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from reward_models import RESERVED_FIELDS
from reward_models.common import require_extra
from text_gym.prompts.generated import GeneratedPrompts
from text_gym.prompts.lists import load_prompts, read_prompt_rows

HUB_PREFIX = "hf:"
_HUB_OPTIONS = ("split", "name")


@dataclass
class PromptRows:
    """A fixed list of prompts and their fields: ``columns[name][i]`` belongs to ``prompts[i]``."""

    prompts: list[str]
    columns: dict[str, list] = field(default_factory=dict)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def fields(self, indices: Sequence[int]) -> dict[str, list]:
        """``{field: [value of each index]}`` for the prompts ``indices``."""
        return {name: [column[int(i)] for i in indices] for name, column in self.columns.items()}


def rows_to_prompt_rows(rows: Sequence[Mapping[str, Any]], what: str = "prompts") -> PromptRows:
    """Check that every row is a dict with a string ``prompt`` and the same fields as row 0; split into columns."""
    if not rows:
        raise ValueError(f"{what} is empty; the env needs at least one prompt")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping) or not isinstance(row.get("prompt"), str):
            raise ValueError(f"{what} row {index}: expected a dict with a string 'prompt' field, got {row!r}")
    names = [key for key in rows[0] if key != "prompt"]
    reserved = sorted(set(names) & RESERVED_FIELDS)
    if reserved:
        raise ValueError(
            f"{what}: field names {reserved} are reserved; rename them (reserved: {sorted(RESERVED_FIELDS)})"
        )
    for index, row in enumerate(rows):
        missing, extra = sorted(set(names) - set(row)), sorted(set(row) - {"prompt", *names})
        if missing or extra:
            problem = f"lacks the field(s) {missing}" if missing else f"has field(s) {extra}"
            raise ValueError(
                f"{what} row {index} {problem} that row 0 does not; every row needs the same fields (row 0: {names})"
            )
    prompts = load_prompts([row["prompt"] for row in rows])  # the checks every prompt list gets
    return PromptRows(prompts, {name: [row[name] for row in rows] for name in names})


def _load_hub_dataset(spec: str) -> PromptRows:
    dataset_id, _, query = spec[len(HUB_PREFIX) :].partition("?")
    if not dataset_id:
        raise ValueError(f"prompts {spec!r}: give a dataset id after 'hf:', e.g. 'hf:trl-lib/tldr?split=train'")
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    unknown = sorted(set(options) - set(_HUB_OPTIONS))
    if unknown:
        raise ValueError(f"prompts {spec!r}: unknown option(s) {unknown}; valid: {list(_HUB_OPTIONS)}")
    datasets = require_extra("datasets", "data", "prompts from a hub dataset")
    dataset = datasets.load_dataset(dataset_id, options.get("name"), split=options.get("split", "train"))
    return _dataset_rows(dataset, f"prompts {spec!r}")


def _dataset_rows(dataset: Any, what: str) -> PromptRows:
    if "prompt" not in dataset.column_names:
        raise ValueError(f"{what} has no 'prompt' column (columns: {dataset.column_names})")
    return rows_to_prompt_rows(dataset.to_list(), what)


def load_prompt_source(prompts: Any) -> PromptRows | GeneratedPrompts:
    """Resolve ``prompts`` (module docstring) to a ``PromptRows`` or a ``GeneratedPrompts``."""
    if isinstance(prompts, (PromptRows, GeneratedPrompts)):
        return prompts
    datasets = sys.modules.get("datasets")
    if datasets is not None and isinstance(prompts, datasets.Dataset):
        return _dataset_rows(prompts, "prompts dataset")
    if isinstance(prompts, str) and prompts.startswith(HUB_PREFIX):
        return _load_hub_dataset(prompts)
    if isinstance(prompts, (str, os.PathLike)) and Path(prompts).suffix == ".jsonl" and Path(prompts).is_file():
        return rows_to_prompt_rows(read_prompt_rows(prompts), f"prompts file {prompts}")
    if isinstance(prompts, Sequence) and not isinstance(prompts, str) and any(isinstance(p, Mapping) for p in prompts):
        return rows_to_prompt_rows(prompts)
    return PromptRows(load_prompts(prompts))
