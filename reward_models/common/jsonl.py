"""Reading JSONL files whose every non-blank line must be one JSON object, and writing them atomically.

Lines end at ``"\\n"`` only (a ``"\\r"`` before it is dropped): JSON strings may hold U+2028, U+2029, U+0085 and
other characters ``str.splitlines`` would split at, and ``json.dumps(..., ensure_ascii=False)`` writes them raw.
Each line is decoded as strict UTF-8: invalid bytes are an error naming the file, line and byte, never replaced.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

# A lone surrogate can only come from a \\uD800-\\uDFFF escape, or from a str built in Python.
_MAYBE_SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89abAB]|\\u[dD][c-fC-F]")


def parse_json_object(line: str) -> dict:
    """Parse one JSONL line that must hold a JSON object; ``ValueError`` says what is wrong.

    Besides invalid JSON, refused: nesting too deep for Python's parser, and strings (values or keys) holding a lone
    UTF-16 surrogate (``"\\ud800"`` is valid JSON but no text: it cannot be encoded, tokenized or written back).
    """
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise ValueError("nested too deeply for Python's JSON parser") from None
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if _MAYBE_SURROGATE.search(line):
        _refuse_lone_surrogates(row)
    return row


def _refuse_lone_surrogates(row: dict) -> None:
    stack: list[tuple[str, object]] = [(repr(key), value) for key, value in row.items()]
    stack += [("a key", key) for key in row]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                raise ValueError(
                    f"lone surrogate {value[error.start]!r} at {error.start} of field {where}, which is no text"
                ) from None
        elif isinstance(value, dict):
            stack += [(f"{where}[{key!r}]", item) for key, item in value.items()]
            stack += [(f"a key in {where}", key) for key in value]
        elif isinstance(value, list):
            stack += [(f"{where}[{index}]", item) for index, item in enumerate(value)]


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


def write_jsonl_objects(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    """Write ``rows`` as a JSONL file, one JSON object a line (UTF-8, ``ensure_ascii=False``), atomically: to a
    temporary file beside ``path``, then renamed into place, so a reader never sees half a file and a failed write
    leaves what was at ``path`` intact. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            for row in rows:
                file.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
