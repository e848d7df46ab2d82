"""Optional dependencies: import one where it is used, or say which ``text-gym[extra]`` installs it."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the ``pip install "text-gym[extra]"`` command."""


def require_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` (e.g. ``"flask"``), or raise ``MissingExtraError`` saying that ``feature`` needs it and
    that ``pip install "text-gym[<extra>]"`` installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if error.name is not None and module.split(".")[0] != error.name.split(".")[0]:
            raise  # the module is there but one of its own imports failed: not a missing extra
        raise MissingExtraError(
            f'{feature} needs the optional package {module.split(".")[0]!r}: pip install "text-gym[{extra}]"'
        ) from error
