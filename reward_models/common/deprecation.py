"""Deprecated alias fields of config dataclasses: a field whose ``metadata["deprecated_alias_of"]`` names the field
that replaced it keeps working, with a ``DeprecationWarning`` pointing at the user's line."""

from __future__ import annotations

import dataclasses
import sys
import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any

_PROJECT_DIRS = tuple(
    str(Path(__file__).resolve().parents[2] / package) for package in ("reward_models", "text_gym", "agents", "scripts")
)


def _user_stacklevel() -> int:
    """The ``warnings.warn`` ``stacklevel`` (for its caller) of the first frame outside the project's packages and
    the dataclasses' generated ``__init__``: the user's line that built the config."""
    level, frame = 2, sys._getframe(2)  # level 1: the function that warns (our caller), 2: its caller
    while frame is not None and (
        frame.f_code.co_filename == "<string>"
        or frame.f_code.co_filename.startswith(_PROJECT_DIRS)
        or frame.f_code.co_filename == dataclasses.__file__
    ):
        frame, level = frame.f_back, level + 1
    return level


def _flag(name: str) -> str:
    return name.replace("_", "-")


def apply_deprecated_aliases(config: object) -> None:
    """Move the value of each deprecated alias field (``metadata["deprecated_alias_of"]``) that is not None to the
    field it names, with a ``DeprecationWarning``, and reset the alias to None. ``ValueError`` when that field was
    also set, to another value than its default and the alias's."""
    by_name = {f.name: f for f in fields(config)}
    for alias in by_name.values():
        target, value = alias.metadata.get("deprecated_alias_of"), getattr(config, alias.name)
        if target is None or value is None:
            continue
        warnings.warn(
            f"{alias.name} (--{_flag(alias.name)}) is deprecated; use {target} (--{_flag(target)}), the same setting: "
            f"{target}={value!r}",
            DeprecationWarning,
            stacklevel=_user_stacklevel(),
        )
        current = getattr(config, target)
        if current not in (by_name[target].default, value):
            raise ValueError(
                f"{alias.name}={value!r} is a deprecated alias of {target}, which is {current!r}; pass {target} only"
            )
        setattr(config, target, value)
        setattr(config, alias.name, None)


def without_deprecated_aliases(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (keyword arguments of the config dataclass ``cls``, e.g. a saved agent's record) with each
    deprecated alias's value moved to the field it names, silently (what an older version wrote is not the
    reader's doing)."""
    values = dict(values)
    for f in fields(cls):
        target = f.metadata.get("deprecated_alias_of")
        if target is not None and values.get(f.name) is not None:
            values[target] = values.pop(f.name)
    return values
