"""Reading JSONL files whose every non-blank line must be one JSON object.

Lines end at ``"\\n"`` only (a ``"\\r"`` before it is dropped): JSON strings may hold U+2028, U+2029, U+0085 and
other characters :meth:`str.splitlines` would split at, and ``json.dumps(..., ensure_ascii=False)`` writes them raw.
Each line is decoded as strict UTF-8: invalid bytes are an error naming the file, line and byte, never replaced.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path


def parse_json_object(line: str) -> dict:
    """Parse one JSONL line that must hold a JSON object; ``ValueError`` says what is wrong."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    return row


def decode_line(raw: bytes) -> str:
    """One line's bytes as text, a trailing ``"\\r"`` dropped; ``ValueError`` names the first invalid UTF-8 byte."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"invalid UTF-8 at byte {error.start} of the line ({error.reason})") from None
    return text.removesuffix("\r")


def read_text_lines(path: str | os.PathLike, what: str = "file") -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every line of ``path`` (see the module docstring for what a line is).

    A missing file raises ``FileNotFoundError``; invalid UTF-8 raises ``ValueError`` naming ``what``, the file and
    the line number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            yield number, decode_line(raw)
        except ValueError as error:
            raise ValueError(f"{what} {path}, line {number}: {error}") from None


def read_jsonl_objects(path: str | os.PathLike, what: str = "JSONL file") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line of ``path`` (numbered from 1).

    A missing file raises ``FileNotFoundError``; a line that is not UTF-8 or not a JSON object raises ``ValueError``
    naming ``what``, the file and the line number.
    """
    for number, line in read_text_lines(path, what):
        if not line.strip():
            continue
        try:
            row = parse_json_object(line)
        except ValueError as error:
            raise ValueError(f"{what} {path}, line {number}: {error}") from None
        yield number, row
