"""Extracting a final numeric answer from generated text, and parsing reference answers.

The rules, in order (``extract_answer``):

1. If the text contains ``\\boxed{...}``, the answer is the last number inside the **last** ``\\boxed{}`` (braces
   may nest). A boxed answer with no number in it is no answer: the text scores as unanswered even if other
   numbers appear outside the box.
2. Otherwise the answer is the **last number** in the text.

A number is an optional sign (``-``, ``+`` or the Unicode minus ``−``) followed by digits, with optional thousands
separators (``1,234``; only in groups of three) and an optional decimal part (``3.5``). It must not be glued to
a letter, digit or ``/`` on either side: ``x2``, ``3rd`` and ``3/4`` hold no number, but ``$42``, ``42%``, ``(7)``
and ``42.`` (sentence end) do. A sign counts only at the start of the text or after whitespace, ``(``, ``=`` or
``:``, so ``12-7`` holds ``12`` and ``7``, not ``-7``. Fractions (``3/4``, a boxed ``\\frac``), words ("seven") and
scientific notation are not parsed: such an answer counts as no answer. Full-width digits are read (NFKC).
"""

from __future__ import annotations

import math
import re
import unicodedata

_NUMBER = re.compile(r"(?<![\w.,/])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\w|[.,/]\d)")
_SIGNS = {"-": -1.0, "−": -1.0, "+": 1.0}
_BOXED = "\\boxed{"


def _numbers(text: str) -> list[float]:
    """Every number in ``text`` (see the module docstring), in order."""
    values = []
    for match in _NUMBER.finditer(text):
        value, start = float(match.group().replace(",", "")), match.start()
        if (
            start >= 1
            and text[start - 1] in _SIGNS
            and (start == 1 or text[start - 2].isspace() or text[start - 2] in "(=:")
        ):
            value *= _SIGNS[text[start - 1]]
        values.append(value)
    return values


def _last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (nested braces balanced), or None; an unclosed box is ignored."""
    start = text.rfind(_BOXED)
    while start != -1:
        depth, position = 1, start + len(_BOXED)
        while position < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[position], 0)
            position += 1
        if depth == 0:
            return text[start + len(_BOXED) : position - 1]
        start = text.rfind(_BOXED, 0, start)
    return None


def extract_answer(text: str) -> float | None:
    """The final numeric answer of ``text`` (rules in the module docstring), or None when there is none."""
    text = unicodedata.normalize("NFKC", text)
    boxed = _last_boxed(text)
    if boxed is not None and "\\frac" in boxed:
        return None
    numbers = _numbers(text if boxed is None else boxed)
    return numbers[-1] if numbers else None


def has_boxed_number(text: str) -> bool:
    """True when ``text`` has a ``\\boxed{...}`` holding a number (the format the arithmetic task asks for)."""
    boxed = _last_boxed(unicodedata.normalize("NFKC", text))
    return boxed is not None and bool(_numbers(boxed))


def parse_reference_number(value: object, where: str) -> float:
    """A reference answer as a float: an int/float, or a string holding exactly one number (e.g. ``"1,234"``).

    Raises ``ValueError`` naming ``where`` when ``value`` is None, not finite, or not one number.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and len(numbers := _numbers(unicodedata.normalize("NFKC", value.strip()))) == 1:
        number = numbers[0]
    else:
        raise ValueError(f"{where} = {value!r} is not a number (expected an int, a float or a string like '1,234')")
    if not math.isfinite(number):
        raise ValueError(f"{where} = {value!r} is not a finite number")
    return number


def numbers_equal(a: float, b: float) -> bool:
    """Equal up to a relative tolerance of 1e-9 (integers of up to 15 digits compare exactly)."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
