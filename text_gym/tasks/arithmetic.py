"""``TextGenArithmetic-v0``: arithmetic problems generated at every reset, at five difficulty levels.

=====  =====================================================  =========================================
level  problem                                                example
=====  =====================================================  =========================================
1      single-digit addition                                  What is 3 + 5?
2      two-digit addition or subtraction (result >= 0)        What is 47 - 18?
3      multiplication (one- by two-digit) or exact division   What is 7 × 23?
4      two operations with precedence or brackets (>= 0)      What is (12 + 7) × 3?
5      multi-step word problem                                Mia has 12 stickers. She buys 3 packs ...
=====  =====================================================  =========================================

Each prompt ends with "Give the final answer as \\boxed{number}."; the row's fields are ``answer`` (int) and
``level``. Answers are extracted by ``reward_models.extract_answer`` (the last ``\\boxed{}``, else the last
number), so an unboxed final number still counts for the exact reward ``numeric-match``; ``answer-format`` rewards
the boxed format (``composite:1*numeric-match+0.2*answer-format`` adds it as a bonus).
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from text_gym.prompts.generated import GeneratedPrompts

LEVELS = (1, 2, 3, 4, 5)
ANSWER_INSTRUCTION = "Give the final answer as \\boxed{number}."
TEST_PER_LEVEL = 10
TRAIN_SALT, TEST_SALT = 0xA817, 0x7E57

_NAMES = [("Mia", "She"), ("Leo", "He"), ("Ana", "She"), ("Sam", "He"), ("Zoe", "She"), ("Omar", "He")]
_ITEMS = ["stickers", "marbles", "apples", "stamps", "pencils", "cards"]


def _int(rng: np.random.Generator, low: int, high: int) -> int:
    """Uniform integer in [low, high]."""
    return int(rng.integers(low, high + 1))


def _level1(rng: np.random.Generator) -> tuple[str, int]:
    a, b = _int(rng, 0, 9), _int(rng, 0, 9)
    return f"What is {a} + {b}?", a + b


def _level2(rng: np.random.Generator) -> tuple[str, int]:
    a, b = _int(rng, 10, 99), _int(rng, 10, 99)
    if rng.random() < 0.5:
        return f"What is {a} + {b}?", a + b
    a, b = max(a, b), min(a, b)
    return f"What is {a} - {b}?", a - b


def _level3(rng: np.random.Generator) -> tuple[str, int]:
    a, b = _int(rng, 2, 9), _int(rng, 11, 99)
    if rng.random() < 0.5:
        return f"What is {a} × {b}?", a * b
    return f"What is {a * b} ÷ {a}?", b


def _level4(rng: np.random.Generator) -> tuple[str, int]:
    a, b, c = _int(rng, 2, 20), _int(rng, 2, 20), _int(rng, 2, 9)
    form = int(rng.integers(3))
    if form == 0:
        return f"What is ({a} + {b}) × {c}?", (a + b) * c
    if form == 1:
        return f"What is {a} + {b} × {c}?", a + b * c
    b = min(b, a * c)  # a non-negative result
    return f"What is {a} × {c} - {b}?", a * c - b


def _level5(rng: np.random.Generator) -> tuple[str, int]:
    name, pronoun = _NAMES[int(rng.integers(len(_NAMES)))]
    item = _ITEMS[int(rng.integers(len(_ITEMS)))]
    start, packs, per_pack = _int(rng, 5, 30), _int(rng, 2, 6), _int(rng, 2, 10)
    given = _int(rng, 1, start)
    problem = (
        f"{name} has {start} {item}. {pronoun} buys {packs} packs of {per_pack} {item} and then gives {given} "
        f"{item} to a friend. How many {item} does {name} have now?"
    )
    return problem, start + packs * per_pack - given


_GENERATORS: dict[int, Callable[[np.random.Generator], tuple[str, int]]] = {
    1: _level1,
    2: _level2,
    3: _level3,
    4: _level4,
    5: _level5,
}


def _check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    levels = tuple(levels)
    if not levels or any(level not in LEVELS for level in levels) or len(set(levels)) < len(levels):
        raise ValueError(f"levels must be a non-empty list of distinct difficulty levels from {LEVELS}, got {levels}")
    return levels


def arithmetic_problem(rng: np.random.Generator, levels: Sequence[int] = LEVELS) -> dict[str, Any]:
    """One problem row ``{"prompt", "answer", "level"}``: the level uniform over ``levels``, then its numbers."""
    level = int(levels[int(rng.integers(len(levels)))])
    problem, answer = _GENERATORS[level](rng)
    return {"prompt": f"{problem} {ANSWER_INSTRUCTION}", "answer": answer, "level": level}


def _level_problem(level: int) -> Callable[[np.random.Generator], dict[str, Any]]:
    return lambda rng: arithmetic_problem(rng, (level,))


def arithmetic_test_rows(levels: Sequence[int] = LEVELS) -> list[dict[str, Any]]:
    """The held-out test set: ``TEST_PER_LEVEL`` distinct problems of each level, fixed (its own seed stream)."""
    rows: list[dict[str, Any]] = []
    for level in _check_levels(levels):
        source = GeneratedPrompts(_level_problem(level), ("answer", "level"), salt=TEST_SALT + level)
        seen: dict[str, dict[str, Any]] = {}
        number = 0
        while len(seen) < TEST_PER_LEVEL:
            row = source.row(number)
            seen.setdefault(row["prompt"], row)
            number += 1
        rows += seen.values()
    return rows


def arithmetic_prompts(split: str = "train", levels: Sequence[int] = LEVELS) -> GeneratedPrompts | list[dict]:
    """``train``: the endless procedural source (the test problems excluded); ``test``: the fixed test rows."""
    levels = _check_levels(levels)
    if split == "test":
        return arithmetic_test_rows(levels)
    if split != "train":
        raise ValueError(f"split must be 'train' or 'test' for a procedural task, got {split!r}")
    test_prompts = {row["prompt"] for row in arithmetic_test_rows(levels)}
    return GeneratedPrompts(
        lambda rng: arithmetic_problem(rng, levels), ("answer", "level"), salt=TRAIN_SALT, exclude=test_prompts
    )


# ------------------------------------------------------------------------------------------ worked answers
_OPERATIONS: dict[type, tuple[str, Callable[[int, int], int]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("×", operator.mul),
    ast.Div: ("÷", operator.floordiv),  # the generated divisions are exact
}
_WORD_PROBLEM = re.compile(
    r"has (\d+) \w+\. \w+ buys (\d+) packs of (\d+) \w+ and then gives (\d+) \w+ to a friend\. How many"
)
_EXPRESSION = re.compile(r"^What is ([\d +\-×÷()]+)\?")


def _expression(prompt: str) -> str:
    """The arithmetic expression of a generated problem (the word problem of level 5 written as one)."""
    word = _WORD_PROBLEM.search(prompt)
    if word:
        start, packs, per_pack, given = word.groups()
        return f"{start} + {packs} × {per_pack} - {given}"
    plain = _EXPRESSION.match(prompt)
    if plain is None:
        raise ValueError(f"not a problem of TextGenArithmetic-v0's generators: {prompt!r}")
    return plain.group(1)


def _steps(node: ast.expr, steps: list[tuple[int, str, int, int]]) -> int:
    """Evaluate ``node``, appending each operation as ``(left, symbol, right, result)`` in the order done."""
    if isinstance(node, ast.Constant):
        return int(node.value)
    left, right = _steps(node.left, steps), _steps(node.right, steps)
    symbol, operation = _OPERATIONS[type(node.op)]
    result = operation(left, right)
    steps.append((left, symbol, right, result))
    return result


def worked_answers(prompt: str, final: int | None = None) -> list[str]:
    """Worked answers to a generated problem, most detailed first: every step spaced (``"12 + 7 = 19, 19 × 3 =
    \\boxed{57}"``), every step compact (``"12+7=19, 19×3=\\boxed{57}"``), the compact last steps (all but the
    first, ..., the last one) and the boxed answer alone. Each ends in ``\\boxed{answer}``, the format
    ``numeric-match`` and ``answer-format`` accept.

    Args:
        prompt: a problem text of ``arithmetic_problem``.
        final: the answer to write in the box and as the last step's result; default the right one (another value
            makes a wrong answer whose last step is the slip).

    Raises:
        ValueError: when ``prompt`` is not a generated problem.
    """
    tree = ast.parse(_expression(prompt).replace("×", "*").replace("÷", "/"), mode="eval")
    steps: list[tuple[int, str, int, int]] = []
    result = _steps(tree.body, steps)
    final = result if final is None else final
    steps[-1] = (*steps[-1][:3], final)

    def written(step: tuple[int, str, int, int], space: str, last: bool) -> str:
        left, symbol, right, value = step
        return space.join([str(left), symbol, str(right), "=", f"\\boxed{{{value}}}" if last else str(value)])

    def chain(chosen: list[tuple[int, str, int, int]], space: str) -> str:
        return ", ".join(written(step, space, i == len(chosen) - 1) for i, step in enumerate(chosen))

    compact = [chain(steps[-count:], "") for count in range(len(steps), 0, -1)]
    return [chain(steps, " "), *compact, f"\\boxed{{{final}}}"]
