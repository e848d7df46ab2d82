"""Verifiable instruction constraints (IFEval-style): a checker and an instruction sentence per constraint type.

A constraint is a JSON-able dict ``{"type": <name>, **parameters}``, e.g. ``{"type": "word_count", "min": 10,
"max": 40}``. ``check_constraint`` says whether a response meets it (strict: no loosened retries);
``describe_constraint`` is the instruction a prompt states for it. ``InstructionConstraintsReward`` scores
a response by the fraction of its prompt's constraints met (or 1.0 only when all are, ``all_required=True``); it
reads them from the per-prompt field ``constraints`` (a list of constraint dicts per prompt).

Shared definitions: a *word* is a run of Unicode word characters, joined by inner apostrophes or hyphens
(``don't``, ``well-known`` and ``café`` are one word each); word comparisons are case-insensitive (case-folded).
Leading and trailing whitespace of the response never matters.

====================  =========================  =====================================================================
type                  parameters                 met when
====================  =========================  =====================================================================
``word_count``        ``min``, ``max``           ``min <= words <= max``
``include_words``     ``words`` (list)           every listed word occurs as a whole word
``exclude_words``     ``words`` (list)           no listed word occurs as a whole word
``keyword_frequency`` ``word``, ``min``          the word occurs as a whole word at least ``min`` times
``lowercase``         (none)                     there is a letter and no uppercase letter (any script)
``uppercase``         (none)                     there is a letter and no lowercase letter (any script)
``start_with``        ``phrase``                 the response starts with the phrase (case-insensitive, whole words)
``end_with``          ``phrase``                 the response ends with the phrase (case-insensitive; its
                                                 punctuation counts)
``no_commas``         (none)                     no comma: neither ``,`` nor a full-width / ideographic one
                                                 (``，`` ``、`` ``､`` ``﹐``)
``bullet_points``     ``count``                  exactly ``count`` lines are bullets: ``*``, ``-`` or ``•``, then space
``sentence_count``    ``min``, ``max``           ``min <= sentences <= max`` (see ``count_sentences``)
``json_keys``         ``keys`` (list)            the response (optionally in a ````` fence) is a JSON object with
                                                 every key
``title``             (none)                     a title in double angle brackets, ``<<like this>>``, on one line
``postscript``        ``marker``                 a line starts with the marker (e.g. ``P.S.``) followed by text
``repeat_request``    ``text``                   the response starts with ``text`` (case and whitespace runs ignored)
``quotation``         (none)                     the response is wrapped in double quotes (``"..."`` or ``“...”``)
====================  =========================  =====================================================================
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from reward_models.base import BaseRewardModel

_WORD = re.compile(r"\w+(?:['’-]\w+)*")
_COMMAS = ",，、､﹐"
_BULLET = re.compile(r"^\s*[*\-•]\s+\S", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)|[。！？]+")
_TITLE = re.compile(r"<<[^<>\n]*\S[^<>\n]*>>")
_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)


def words(text: str) -> list[str]:
    """The case-folded words of ``text`` (module docstring)."""
    return [w.casefold() for w in _WORD.findall(text)]


def _occurrences(text: str, word: str) -> int:
    """Whole-word occurrences of ``word`` (one or more words) in ``text``, case-insensitive."""
    target, found = words(word), words(text)
    n = len(target)
    return sum(found[i : i + n] == target for i in range(len(found) - n + 1)) if n else 0


def count_sentences(text: str) -> int:
    """Sentences in ``text``: pieces separated by ``.``, ``!``, ``?`` or ``…`` runs (optionally followed by closing
    quotes or brackets) before whitespace or the end, or by ``。！？``; pieces without a word character do not count.
    ``3.5`` does not end a sentence; abbreviations such as ``e.g.`` followed by a space do (a known limit)."""
    return sum(1 for piece in _SENTENCE_END.split(text) if re.search(r"\w", piece))


def _casefold_words(text: str) -> str:
    return " ".join(text.split()).casefold()


# ------------------------------------------------------------------------------------------------ checkers
def word_count(text: str, min: int, max: int) -> bool:
    """Between ``min`` and ``max`` words, inclusive."""
    return min <= len(words(text)) <= max


def include_words(text: str, words: Sequence[str]) -> bool:
    """Every one of ``words`` occurs as a whole word (case-insensitive)."""
    return all(_occurrences(text, w) > 0 for w in words)


def exclude_words(text: str, words: Sequence[str]) -> bool:
    """None of ``words`` occurs as a whole word (case-insensitive)."""
    return not any(_occurrences(text, w) > 0 for w in words)


def keyword_frequency(text: str, word: str, min: int) -> bool:
    """``word`` occurs as a whole word at least ``min`` times."""
    return _occurrences(text, word) >= min


def lowercase(text: str) -> bool:
    """At least one letter, and no uppercase letter."""
    return any(c.isalpha() for c in text) and not any(c.isupper() for c in text)


def uppercase(text: str) -> bool:
    """At least one letter, and no lowercase letter."""
    return any(c.isalpha() for c in text) and not any(c.islower() for c in text)


def start_with(text: str, phrase: str) -> bool:
    """Starts with ``phrase``, ignoring leading whitespace and case; a phrase ending in a letter or digit must end a
    word there ("Sure" is not met by "Surely")."""
    body, phrase = text.lstrip().casefold(), phrase.strip().casefold()
    rest = body[len(phrase) : len(phrase) + 1]
    return body.startswith(phrase) and not (phrase[-1:].isalnum() and rest.isalnum())


def end_with(text: str, phrase: str) -> bool:
    """Ends with ``phrase``, ignoring trailing whitespace and case; the phrase's punctuation must be there too, and
    a phrase starting with a letter or digit must start a word there."""
    body, phrase = text.rstrip().casefold(), phrase.strip().casefold()
    before = body[-len(phrase) - 1 : -len(phrase)] if len(body) > len(phrase) else ""
    return body.endswith(phrase) and not (phrase[:1].isalnum() and before.isalnum())


def no_commas(text: str) -> bool:
    """No ASCII, full-width or ideographic comma."""
    return not any(c in _COMMAS for c in text)


def bullet_points(text: str, count: int) -> bool:
    """Exactly ``count`` bullet lines: optional indentation, ``*``, ``-`` or ``•``, whitespace, then text."""
    return len(_BULLET.findall(text)) == count


def sentence_count(text: str, min: int, max: int) -> bool:
    """Between ``min`` and ``max`` sentences (``count_sentences``), inclusive."""
    return min <= count_sentences(text) <= max


def json_keys(text: str, keys: Sequence[str]) -> bool:
    """The whole response, optionally inside a Markdown code fence, is a JSON object containing every key."""
    body = text.strip()
    fenced = _FENCE.match(body)
    try:
        value = json.loads(fenced.group(1) if fenced else body)
    except json.JSONDecodeError:
        return False
    return isinstance(value, dict) and all(key in value for key in keys)


def title(text: str) -> bool:
    """Contains a non-blank title in double angle brackets on one line, e.g. ``<<A day at sea>>``."""
    return _TITLE.search(text) is not None


def postscript(text: str, marker: str) -> bool:
    """A line starts (after indentation) with ``marker``, case-insensitive, followed by some text."""
    return re.search(rf"^\s*{re.escape(marker)}\s*\S", text, re.MULTILINE | re.IGNORECASE) is not None


def repeat_request(text: str, text_to_repeat: str) -> bool:
    """Starts with ``text_to_repeat``, comparing case-folded with whitespace runs collapsed."""
    return _casefold_words(text).startswith(_casefold_words(text_to_repeat))


def quotation(text: str) -> bool:
    """Wrapped in double quotes, straight (``"..."``) or curly (``“...”``)."""
    body = text.strip()
    return len(body) >= 2 and (body[0], body[-1]) in (('"', '"'), ("“", "”"))


# ------------------------------------------------------------------------------------------- instructions
def _list(items: Sequence[str]) -> str:
    quoted = [f'"{item}"' for item in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _word_s(items: Sequence[str]) -> str:
    return "word" if len(items) == 1 else "words"


def _range(low: int, high: int, unit: str) -> str:
    if low == high:
        return f"exactly {low} {unit}"
    return f"at most {high} {unit}" if low == 0 else f"between {low} and {high} {unit}"


class Constraint(NamedTuple):
    """One constraint type: its checker ``check(text, **parameters) -> bool`` and its instruction sentence."""

    check: Callable[..., bool]
    describe: Callable[..., str]


CONSTRAINTS: dict[str, Constraint] = {
    "word_count": Constraint(word_count, lambda min, max: f"Answer in {_range(min, max, 'words')}."),
    "include_words": Constraint(include_words, lambda words: f"Include the {_word_s(words)} {_list(words)}."),
    "exclude_words": Constraint(exclude_words, lambda words: f"Do not use the {_word_s(words)} {_list(words)}."),
    "keyword_frequency": Constraint(
        keyword_frequency, lambda word, min: f'Use the word "{word}" at least {min} times.'
    ),
    "lowercase": Constraint(lowercase, lambda: "Write everything in lowercase letters; no capital letters at all."),
    "uppercase": Constraint(uppercase, lambda: "Write everything in capital letters."),
    "start_with": Constraint(start_with, lambda phrase: f'Start your answer with "{phrase}".'),
    "end_with": Constraint(
        end_with, lambda phrase: f'End your answer with the exact phrase "{phrase}" and nothing after it.'
    ),
    "no_commas": Constraint(no_commas, lambda: "Do not use any commas."),
    "bullet_points": Constraint(
        bullet_points, lambda count: f"Answer with exactly {count} bullet points, each on its own line starting with *."
    ),
    "sentence_count": Constraint(sentence_count, lambda min, max: f"Answer in {_range(min, max, 'sentences')}."),
    "json_keys": Constraint(json_keys, lambda keys: f"Answer only with a JSON object that has the keys {_list(keys)}."),
    "title": Constraint(title, lambda: "Give your answer a title wrapped in double angle brackets, like <<title>>."),
    "postscript": Constraint(postscript, lambda marker: f"End with a postscript starting with {marker}"),
    "repeat_request": Constraint(
        repeat_request,
        lambda text_to_repeat: "First repeat the request word for word without change, then give your answer.",
    ),
    "quotation": Constraint(quotation, lambda: "Wrap your entire answer in double quotation marks."),
}
"""Every constraint type, by name."""


def _split(constraint: object) -> tuple[Constraint, dict[str, Any]]:
    """The type's entry and the parameters of ``constraint``; ``ValueError`` when either is invalid."""
    if not isinstance(constraint, Mapping) or "type" not in constraint:
        raise ValueError(f"a constraint must be a dict with a 'type' key, got {constraint!r}")
    kind = constraint["type"]
    if kind not in CONSTRAINTS:
        raise ValueError(f"unknown constraint type {kind!r}; valid: {sorted(CONSTRAINTS)}")
    parameters = {key: value for key, value in constraint.items() if key != "type"}
    entry = CONSTRAINTS[kind]
    try:
        inspect.signature(entry.check).bind("", **parameters)
    except TypeError as error:
        expected = list(inspect.signature(entry.check).parameters)[1:]
        raise ValueError(
            f"constraint {dict(constraint)!r}: {error}; type {kind!r} takes the parameters {expected}"
        ) from None
    return entry, parameters


def check_constraint(text: str, constraint: Mapping[str, Any]) -> bool:
    """Whether ``text`` meets ``constraint`` (``{"type": ..., **parameters}``); ``ValueError`` if it is invalid."""
    entry, parameters = _split(constraint)
    return bool(entry.check(text, **parameters))


def describe_constraint(constraint: Mapping[str, Any]) -> str:
    """The instruction sentence that asks for ``constraint``."""
    entry, parameters = _split(constraint)
    return entry.describe(**parameters)


class InstructionConstraintsReward(BaseRewardModel):
    """Fraction of the prompt's ``constraints`` the completion meets, in [0, 1] (``all_required=False``), or 1.0 when
    it meets all of them and 0.0 otherwise (``all_required=True``, the gold metric of ``TextGenInstruct-v0``).

    A completion without a word character (empty, blank or punctuation only) scores 0.0: it would trivially meet
    "no commas", "at most 20 words" or "do not use the word ...", and an empty answer follows no instruction.

    ``constraints`` holds one non-empty list of constraint dicts per completion; an empty list or an invalid
    constraint raises ``ValueError`` naming its batch position.
    """

    def __init__(self, all_required: bool = False) -> None:
        self.all_required = all_required

    def score(
        self, prompts: Sequence[str], completions: Sequence[str], constraints: Sequence[Sequence[Mapping[str, Any]]]
    ) -> np.ndarray:
        scores = np.zeros(len(completions))
        for index, (completion, row) in enumerate(zip(completions, constraints, strict=True)):
            if not isinstance(row, (list, tuple)) or not row:
                raise ValueError(f"constraints[{index}] must be a non-empty list of constraint dicts, got {row!r}")
            try:
                met = [check_constraint(completion, constraint) for constraint in row]
            except ValueError as error:
                raise ValueError(f"constraints[{index}]: {error}") from None
            if not words(completion):
                continue
            scores[index] = float(all(met)) if self.all_required else sum(met) / len(met)
        return scores
