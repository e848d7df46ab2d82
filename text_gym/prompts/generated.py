"""An endless, reproducible prompt source: prompt ``i`` is generated from a random generator seeded by ``i``.

Procedural tasks (``TextGenArithmetic-v0``, ``TextGenInstruct-v0``) have no fixed prompt list. A reset draws a
problem number ``i`` from the env's RNG (``np_random``, so a seeded env is reproducible and different seeds give
different problems), and the problem is ``generate(np.random.default_rng([salt, i]))``: the same number always
gives the same problem, so ``options={"prompt_index": i}`` replays it and an agent can sample a group of
completions for it. Rows are generated on first use and kept in an LRU cache.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from reward_models import RESERVED_FIELDS

DEFAULT_SIZE = 2**31 - 1
"""Problem numbers per source: draws repeat a problem number with probability about B / 2**31 per reset."""
CACHE_SIZE = 8192
"""Generated rows (and their tokenizations, in the task) kept per source."""
MAX_TRIES = 1000


class GeneratedPrompts(Sequence[str]):
    """``len`` problem numbers; ``self[i]`` is the prompt text of problem ``i``, ``row`` the whole row.

    Args:
        generate: ``rng -> {"prompt": str, **fields}``, drawing everything from ``rng`` (a
            ``np.random.Generator``); it must return the same field names every time.
        field_names: the per-prompt fields each row has besides ``prompt`` (e.g. ``("answer",)``).
        salt: mixed into every seed, so two sources with different salts (a train and a test stream) differ.
        size: how many problem numbers there are.
        exclude: prompts never produced (e.g. a held-out test set): a row whose prompt is in it is drawn again
            from the same generator (deterministic), at most ``MAX_TRIES`` times.
    """

    def __init__(
        self,
        generate: Callable[[np.random.Generator], dict[str, Any]],
        field_names: Sequence[str],
        salt: int = 0,
        size: int = DEFAULT_SIZE,
        exclude: Collection[str] = (),
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be an integer >= 1, got {size!r}")
        reserved = sorted(set(field_names) & RESERVED_FIELDS)
        if reserved:
            raise ValueError(f"field names {reserved} are reserved ({sorted(RESERVED_FIELDS)})")
        self.generate = generate
        self.field_names = tuple(field_names)
        self.salt = int(salt)
        self.size = size
        self.exclude = frozenset(exclude)
        self.row = functools.lru_cache(maxsize=CACHE_SIZE)(self._generate_row)

    def _generate_row(self, index: int) -> dict[str, Any]:
        """Row ``index`` (use ``row``, which caches)."""
        if not 0 <= index < self.size:
            raise IndexError(f"problem number must be in [0, {self.size}), got {index}")
        rng = np.random.default_rng([self.salt, index])
        for _ in range(MAX_TRIES):
            row = self.generate(rng)
            if row["prompt"] not in self.exclude:
                break
        else:
            raise RuntimeError(f"problem {index}: {MAX_TRIES} draws in a row were excluded prompts")
        if set(row) != {"prompt", *self.field_names}:
            raise ValueError(
                f"generated row {index} has keys {sorted(row)}, expected 'prompt' and {list(self.field_names)}"
            )
        return row

    @property
    def prompts(self) -> GeneratedPrompts:
        """The prompt texts: this object itself (indexable, never materialised)."""
        return self

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index):  # Sequence[str]; a slice is not supported (the sequence is never materialised)
        if isinstance(index, slice):
            raise TypeError("GeneratedPrompts cannot be sliced; index single problem numbers")
        return self.row(int(index))["prompt"]

    def __iter__(self):
        raise TypeError("GeneratedPrompts is endless and cannot be iterated; index problem numbers (self[i])")

    def __contains__(self, prompt: object) -> bool:
        raise TypeError("GeneratedPrompts is endless; membership cannot be tested")

    def fields(self, indices: Sequence[int]) -> dict[str, list]:
        """``{field: [value of each index]}`` for the rows ``indices``."""
        rows = [self.row(int(i)) for i in indices]
        return {name: [row[name] for row in rows] for name in self.field_names}

    def sample(self, count: int, seed: int = 0) -> list[dict[str, Any]]:
        """``count`` rows of distinct problem numbers drawn with ``seed`` (e.g. a fixed evaluation set)."""
        numbers = np.random.default_rng(seed).choice(self.size, size=count, replace=False)
        return [dict(self.row(int(i))) for i in numbers]


class LazyColumn:
    """A per-prompt column computed on demand: ``column[i]`` is ``get(i)``; ``column[index_array]`` stacks them
    with ``stack`` (the way a NumPy array of the column would answer fancy indexing)."""

    def __init__(self, get: Callable[[int], Any], stack: Callable[[list], Any]) -> None:
        self.get = get
        self.stack = stack

    def __getitem__(self, index):
        if np.ndim(index) == 0:
            return self.get(int(index))
        return self.stack([self.get(int(i)) for i in np.asarray(index).ravel()])
