"""Folders written atomically: into a temporary sibling first, then renamed into place.

A process killed at any moment leaves either the old folder or the complete new one, never a half-written one.
Used for checkpoints (:mod:`agents.checkpoint`) and for the converted model caches (:mod:`reward_models.packaged`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(target: str | os.PathLike, write: Callable[[Path], None], replace: bool = True) -> Path:
    """Call ``write(tmp_folder)`` and rename the folder to ``target``; return ``target``.

    ``replace=True`` replaces an existing ``target``. ``replace=False`` keeps it: ``write`` is not called when
    ``target`` exists, and when another process renames its own copy into place first, that copy is kept.
    """
    target = Path(target)
    if not replace and target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        write(tmp)
        if replace and target.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, trash / target.name)
            os.replace(tmp, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            try:
                os.replace(tmp, target)
            except OSError:
                if replace or not target.exists():
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
