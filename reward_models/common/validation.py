"""Argument checks shared by every package (reward_models is the bottom of the dependency chain)."""

from __future__ import annotations

import numbers


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer (Python or NumPy, not bool) >= ``minimum``.

    Raises ``ValueError("<name> must be an integer >= <minimum>, got <value>")`` otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
