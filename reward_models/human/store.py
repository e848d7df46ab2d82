"""The label store: human judgements appended durably to a preference JSONL file, and where each labeller resumes.

Every label is one row written by ``PreferenceWriter`` (one ``write`` of a complete line, then
``fsync``) *before* the request that made it is answered, so every acknowledged label is on disk and a crash can
leave at most a torn final line, which the loader ignores and the writer moves to ``<file>.torn`` on the next
start. Rows:

- pick (``mode: "pair"``) and edit (``mode: "edit"``): a pair row ``prompt, chosen, rejected`` (an edit is chosen
  over the original completion);
- rank (``mode: "rank"``): ``prompt, ranking`` (best first), expanded into pairs when loaded;
- a conversation item's label is a conversation pair (its messages as ``prompt``, each completion as one assistant
  message: ``reward_models.preferences.conversation``);
- undo: ``{"undo": <id>}`` retracts the labeller's latest live label. The file is never rewritten.

Label rows also carry ``id`` (unique), ``item`` (the item key), ``mode``, ``annotator`` and ``timestamp`` (UTC,
ISO 8601). On start the store reads the file back, so each labeller resumes after their last label, and undo reaches
labels from earlier sessions too.
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

from reward_models.human.items import Item
from reward_models.preferences.conversation import row_fields
from reward_models.preferences.pairs import PreferenceWriter, read_preference_rows


class LabelConflict(ValueError):
    """The labeller already labelled this item (e.g. from a second browser tab)."""


class LabelStore:
    """Appends labels to ``path`` and tracks, per annotator, the items labelled and the order (for undo).

    Thread-safe: a lock serialises the check, the write and the bookkeeping of each label.
    """

    def __init__(self, path: str | os.PathLike, fsync: bool = True) -> None:
        self.path = Path(path)
        self._writer = PreferenceWriter(self.path, fsync=fsync)  # sets a torn final line aside first
        self._lock = threading.Lock()
        self._labelled: dict[str, dict[str, str]] = {}  # annotator -> item key -> label id
        self._history: dict[str, list[dict]] = {}  # annotator -> live label rows, oldest first
        for row in read_preference_rows(self.path):
            if all(key in row for key in ("id", "item", "mode", "annotator")):
                self._remember(row)

    def _remember(self, row: dict) -> None:
        self._labelled.setdefault(row["annotator"], {})[row["item"]] = row["id"]
        self._history.setdefault(row["annotator"], []).append(row)

    def is_labelled(self, annotator: str, key: str) -> bool:
        return key in self._labelled.get(annotator, {})

    def count(self, annotator: str, keys: set[str]) -> int:
        """How many of the item ``keys`` ``annotator`` has labelled."""
        return len(keys & self._labelled.get(annotator, {}).keys())

    def add(self, annotator: str, item: Item, fields: dict) -> dict:
        """Append the label ``fields`` (``chosen``/``rejected`` or ``ranking``) of ``item`` by ``annotator``; return
        the row as written. Raises ``LabelConflict`` if ``annotator`` already labelled ``item``."""
        row = {
            **row_fields(item.prompt, fields),
            "id": uuid.uuid4().hex,
            "item": item.key,
            "mode": item.mode,
            "annotator": annotator,
            "timestamp": _now(),
        }
        with self._lock:
            if self.is_labelled(annotator, item.key):
                raise LabelConflict(f"annotator {annotator!r} already labelled item {item.key}")
            self._writer.write_row(row)
            self._remember(row)
        return row

    def undo(self, annotator: str) -> dict | None:
        """Retract ``annotator``'s latest live label by appending an undo row; return the retracted row, or None
        if they have nothing left to undo."""
        with self._lock:
            history = self._history.get(annotator)
            if not history:
                return None
            row = history[-1]
            self._writer.write_row({"undo": row["id"], "annotator": annotator, "timestamp": _now()})
            history.pop()
            del self._labelled[annotator][row["item"]]
        return row

    def close(self) -> None:
        self._writer.close()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
