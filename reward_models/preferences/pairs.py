"""Preference data: JSONL rows ``{"prompt", "chosen", "rejected"}`` (+ optional ``"margin"``), loaded and appended
safely.

Schema (one JSON object per line, strict UTF-8: invalid bytes are an error of their line). Three kinds of row::

    {"prompt": str, "chosen": str, "rejected": str, "margin": float (optional, finite)}  # a pair
    {"prompt": str, "ranking": [str, str, ...]}                                         # a ranking, best first
    {"undo": str}                                                    # retracts the row whose "id" is that string

A *conversation pair* has a list of ``{"role", "content"}`` messages as ``prompt`` and one-assistant-message lists as
``chosen``/``rejected`` (and ranking entries): TRL's conversational preference format, ``conversation.py``.

``chosen`` is the completion the labeller preferred; ``margin`` is an optional offset for the Bradley–Terry loss
(``-log σ(r⁺ − r⁻ − margin)``). A ranking of k distinct completions expands at load time into its k(k−1)/2 pairs
(each earlier one chosen over each later one). Any row may carry an ``"id"`` (a string, unique in the file); an
undo row names an earlier id and the loader drops that row, so a label is retracted by appending, never by
rewriting the file. Other keys (``annotator``, ``timestamp``, ``mode``, ...) are allowed and ignored. Blank lines are
skipped.

Crash safety. ``PreferenceWriter`` writes every row as one complete ``...\\n`` line with a single ``write`` to
a file opened in append mode, then flushes and ``fsync``s it. A crash can therefore only leave a *torn final line*:
bytes of the row being written, without the closing newline. Earlier rows are never touched. The torn line is

- **ignored** (with a warning) by ``load_preferences``, and
- **set aside** by ``PreferenceWriter`` when it opens the file: its bytes are appended to ``<path>.torn``
  (with a warning) and cut from the file, so the new rows start on a fresh line. Nothing is deleted: a torn row was
  never acknowledged as written, and any other unterminated line that is not a valid row is kept there for a person
  to look at.

A last line that has no newline but *is* a complete, valid row (e.g. a hand-edited file) is kept by both.
"""

from __future__ import annotations

import json
import math
import os
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reward_models.common.jsonl import decode_line, parse_json_object
from reward_models.preferences.conversation import Conversation, parse_conversation, parse_reply, row_fields

REQUIRED_FIELDS = ("prompt", "chosen", "rejected")


@dataclass(frozen=True)
class PreferencePair:
    """One labelled comparison: ``chosen`` was preferred over ``rejected`` as a completion of ``prompt`` (a text, or
    a ``Conversation`` whose next assistant turn the completions are)."""

    prompt: str | Conversation
    chosen: str
    rejected: str
    margin: float | None = None

    def to_json(self) -> str:
        row = row_fields(self.prompt, {"chosen": self.chosen, "rejected": self.rejected})
        if self.margin is not None:
            row["margin"] = self.margin
        return json.dumps(row, ensure_ascii=False)


class PreferenceDataError(ValueError):
    """A preference file has invalid rows; ``errors`` lists ``(line_number, reason)`` for each one."""

    def __init__(self, path: str | os.PathLike, errors: list[tuple[int, str]]) -> None:
        self.path = str(path)
        self.errors = errors
        shown = "\n".join(f"  line {number}: {reason}" for number, reason in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(
            f"{path}: {len(errors)} invalid preference row(s) (schema: one JSON object per line with "
            f"string fields {', '.join(REQUIRED_FIELDS)} and an optional finite number 'margin'; or "
            f"'prompt' and a 'ranking' list; or 'undo'; conversation pairs: a 'prompt' list of messages and "
            f"one-assistant-message lists):\n"
            f"{shown}{more}"
        )


def _check_string(row: dict, key: str) -> None:
    if not isinstance(row[key], str):
        raise ValueError(f"field {key!r} must be a string, got {type(row[key]).__name__}")


def _is_finite_float(number: int | float) -> bool:
    try:
        return math.isfinite(float(number))
    except OverflowError:  # an int beyond float's range, e.g. 400 digits
        return False


def _is_conversation_row(row: dict) -> bool:
    """Whether a pair or ranking row is a conversation pair (its ``prompt`` is a list of messages)."""
    return isinstance(row.get("prompt"), list)


def _texts(row: dict, key: str) -> list[str]:
    """The completion texts of a validated row's ``key`` (``"ranking"``) or ``[row[key]]`` (``chosen``/``rejected``)."""
    values = row[key] if key == "ranking" else [row[key]]
    if _is_conversation_row(row):
        return [value[0]["content"] for value in values]
    return list(values)


def parse_row(line: str) -> dict:
    """Parse and validate one JSONL line of any kind (pair, ranking or undo, with a text or a conversation prompt);
    return the JSON object.

    Raises ``ValueError`` saying what is wrong.
    """
    row = parse_json_object(line)
    conversation = _is_conversation_row(row)
    if conversation:
        parse_conversation(row["prompt"])
    if "id" in row and (not isinstance(row["id"], str) or not row["id"]):
        raise ValueError(f"field 'id' must be a non-empty string, got {row['id']!r}")
    if "undo" in row:
        if not isinstance(row["undo"], str) or not row["undo"]:
            raise ValueError(f"field 'undo' must be the non-empty id of an earlier row, got {row['undo']!r}")
        return row
    if "ranking" in row:
        if "prompt" not in row:
            raise ValueError("missing field(s) 'prompt'")
        if not conversation:
            _check_string(row, "prompt")
        if "chosen" in row or "rejected" in row:
            raise ValueError("a row has either 'ranking' or 'chosen'/'rejected', not both")
        ranking = row["ranking"]
        if conversation and isinstance(ranking, list):
            ranking = [parse_reply(entry, f"ranking[{index}]") for index, entry in enumerate(ranking)]
        if not isinstance(ranking, list) or len(ranking) < 2 or not all(isinstance(text, str) for text in ranking):
            raise ValueError("field 'ranking' must be a list of at least 2 strings (best first)")
        if len(set(ranking)) != len(ranking):
            raise ValueError("field 'ranking' has identical completions, which carry no preference")
        return row
    missing = [key for key in REQUIRED_FIELDS if key not in row]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(map(repr, missing))}")
    if conversation:
        chosen, rejected = parse_reply(row["chosen"], "chosen"), parse_reply(row["rejected"], "rejected")
    else:
        for key in REQUIRED_FIELDS:
            _check_string(row, key)
        chosen, rejected = row["chosen"], row["rejected"]
    if chosen == rejected:
        raise ValueError("'chosen' and 'rejected' are identical, so the pair carries no preference")
    margin = row.get("margin")
    if margin is not None and (
        isinstance(margin, bool) or not isinstance(margin, (int, float)) or not _is_finite_float(margin)
    ):
        raise ValueError(f"field 'margin' must be a finite number or absent, got {str(margin)[:40]}")
    return row


def expand_row(row: dict) -> list[PreferencePair]:
    """The pairs a validated pair or ranking row stands for (a ranking of k: k(k−1)/2 pairs, better one chosen); a
    conversation row's prompt as a ``Conversation``, its completions as their text."""
    prompt = parse_conversation(row["prompt"]) if _is_conversation_row(row) else row["prompt"]
    if "ranking" in row:
        ranking = _texts(row, "ranking")
        return [
            PreferencePair(prompt, better, worse)
            for index, better in enumerate(ranking)
            for worse in ranking[index + 1 :]
        ]
    margin = row.get("margin")
    chosen, rejected = _texts(row, "chosen")[0], _texts(row, "rejected")[0]
    return [PreferencePair(prompt, chosen, rejected, None if margin is None else float(margin))]


def read_preference_rows(path: str | os.PathLike, skip_invalid: bool = False) -> list[dict]:
    """The live pair and ranking rows of a preference file, in file order: undo rows applied (the rows they retract
    dropped) and themselves left out.

    Errors are handled like ``load_preferences`` does; besides schema errors, a duplicate ``id`` and an undo
    naming no earlier live row are errors of their line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"preference file {path} does not exist")
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn_possible = not data.endswith(b"\n")
    rows: dict[int, dict] = {}
    line_of_id: dict[str, int] = {}
    errors: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            row = parse_row(decode_line(raw))
            if row.get("id") in line_of_id:
                raise ValueError(f"duplicate id {row['id']!r} (first used on line {line_of_id[row['id']]})")
            if "undo" in row and line_of_id.get(row["undo"]) not in rows:
                raise ValueError(f"undo of {row['undo']!r}, which is no earlier row's id or is already undone")
        except ValueError as error:
            if torn_possible and number == len(lines):
                warnings.warn(
                    f"{path}: ignoring a torn final line {number} (no newline, {error}); it is what a crash "
                    "during a write leaves, and PreferenceWriter moves it to <file>.torn before appending",
                    stacklevel=2,
                )
                continue
            errors.append((number, str(error)))
            continue
        if "id" in row:
            line_of_id[row["id"]] = number
        if "undo" in row:
            del rows[line_of_id[row["undo"]]]
        else:
            rows[number] = row
    if errors:
        if not skip_invalid:
            raise PreferenceDataError(path, errors)
        warnings.warn(str(PreferenceDataError(path, errors)) + "\n(skipped)", stacklevel=2)
    return list(rows.values())


def load_preferences(path: str | os.PathLike, skip_invalid: bool = False) -> list[PreferencePair]:
    """Read a preference JSONL file into pairs: rankings expanded, undone rows dropped (see the module docstring).

    Every invalid row is reported with its 1-based line number: by raising ``PreferenceDataError`` listing
    all of them (default), or with ``skip_invalid=True`` by a warning, keeping the valid rows. A torn final line
    left by a crash (no trailing newline, not parseable) is ignored with a warning either way.
    """
    return [pair for row in read_preference_rows(path, skip_invalid) for pair in expand_row(row)]


def _set_aside_torn_tail(path: Path) -> None:
    """End the file with a newline before appending: keep an unterminated final line that is a valid row (closing
    it), and move one that is not (a crash remnant, or a line in doubt) to ``<path>.torn`` — never delete it."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return
        start = data.rfind(b"\n") + 1
        try:
            parse_row(decode_line(data[start:]))
        except ValueError as error:
            side = path.with_name(path.name + ".torn")
            with open(side, "ab") as aside:
                aside.write(data[start:] + b"\n")
                aside.flush()
                os.fsync(aside.fileno())
            handle.truncate(start)
            number = data.count(b"\n") + 1
            warnings.warn(
                f"{path}: moved the unterminated final line {number} ({len(data) - start} bytes, "
                f"{error}) to {side} before appending; a crash during a write leaves such a line",
                stacklevel=3,
            )
        else:
            handle.write(b"\n")
        handle.flush()
        os.fsync(handle.fileno())


class PreferenceWriter:
    """Append preference rows to a JSONL file, crash-safely (see the module docstring).

    Use as a context manager::

        with PreferenceWriter("prefs.jsonl") as writer:
            writer.write(PreferencePair(prompt, chosen, rejected))

    ``fsync=False`` skips the per-row ``fsync`` (faster, still never corrupts earlier rows on a process crash;
    only a power loss may drop the last rows).

    A write that fails (disk full, file-size limit, I/O error) raises ``OSError`` and leaves the file as it was: the
    bytes of the partial row are truncated away. Should even that fail, the writer refuses every later write.
    """

    def __init__(self, path: str | os.PathLike, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _set_aside_torn_tail(self.path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self._failed: str | None = None  # why the writer refuses further writes (a failed append not rolled back)
        self.rows_written = 0

    def write(self, pair: PreferencePair) -> None:
        """Validate ``pair`` and append it as one line (one ``write`` call, then flush + fsync)."""
        self._append(pair.to_json())

    def write_row(self, row: dict) -> None:
        """Validate a row of any kind (pair, ranking, undo; extra keys kept) and append it like ``write``."""
        self._append(json.dumps(row, ensure_ascii=False))

    def _append(self, line: str) -> None:
        parse_row(line)
        data = (line + "\n").encode("utf-8")
        with self._lock:  # threads sharing a writer never interleave parts of lines
            if self._fd is None:
                raise ValueError(f"PreferenceWriter for {self.path} is closed")
            if self._failed is not None:
                raise OSError(
                    f"PreferenceWriter for {self.path} refuses to write: an earlier failed append could not be "
                    f"rolled back ({self._failed}); open a new writer once the disk works (it sets that line aside)"
                )
            size = os.fstat(self._fd).st_size
            try:
                view = memoryview(data)
                while view:  # a short write is finished, so the row is complete
                    view = view[os.write(self._fd, view) :]
                if self.fsync:
                    os.fsync(self._fd)
            except OSError as error:
                self._roll_back(size, error)
                raise OSError(
                    error.errno,
                    f"could not append a row to {self.path} ({error.strerror or error}); the file is unchanged",
                ) from error
            self.rows_written += 1

    def _roll_back(self, size: int, error: OSError) -> None:
        """Cut what a failed append wrote, so the file is as it was (or refuse every later write if that fails).
        The next append's ``fsync`` makes the cut durable with it."""
        try:
            os.ftruncate(self._fd, size)
        except OSError as truncate_error:
            self._failed = f"{error}; then truncating back to {size} bytes: {truncate_error}"
            raise OSError(error.errno, f"could not append a row to {self.path}: {self._failed}") from error

    def write_all(self, pairs: Iterable[PreferencePair]) -> None:
        for pair in pairs:
            self.write(pair)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> PreferenceWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def append_preferences(path: str | os.PathLike, pairs: Iterable[PreferencePair], fsync: bool = True) -> int:
    """Append ``pairs`` to ``path`` with a ``PreferenceWriter``; returns the number of rows written."""
    with PreferenceWriter(path, fsync=fsync) as writer:
        writer.write_all(pairs)
        return writer.rows_written
