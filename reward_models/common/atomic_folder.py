"""One way to write a folder atomically: fill a temporary sibling folder, then rename it into place.

Used for agent checkpoints (replace the folder; one writer per parent folder) and for the model cache (keep the first
complete folder; several processes may fill it at once). A reader never sees a half-written folder.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

_TEMPORARY = re.compile(r"^\..+\.(tmp|old)-[a-z0-9_]{8}$")  # the tempfile.mkdtemp names made below


def write_folder_atomically(target: str | os.PathLike, write: Callable[[Path], None], *, replace: bool = True) -> Path:
    """Call ``write(tmp_folder)`` and rename the folder to ``target``; returns ``target``.

    Args:
        target: the folder to create.
        write: fills the folder it is given.
        replace: True: an existing ``target`` is replaced, and the temporary folders that a killed earlier write
            left beside ``target`` are removed first (one writer per parent folder). False: an existing ``target``
            is kept and ``write`` is not called; when another process completes ``target`` first, its folder wins
            and this one is dropped (a cache filled once).

    A failing ``write`` (disk full, I/O error) raises an error naming ``target``; an existing ``target`` stays intact.
    """
    target = Path(target)
    if not replace and target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if replace:
        for stale in target.parent.iterdir():
            if _TEMPORARY.match(stale.name) and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        try:
            write(tmp)
        except (OSError, RuntimeError) as error:  # torch.save reports a full disk as RuntimeError
            message = f"could not write {target} ({type(error).__name__}: {error}); what was there is intact"
            if isinstance(error, OSError):
                raise OSError(error.errno, message) from error
            raise RuntimeError(message) from error
        if not target.exists():
            try:
                os.replace(tmp, target)
            except OSError:
                if replace or not target.exists():  # not another process's complete folder: a real failure
                    raise
        elif replace:
            trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, trash / target.name)
            os.replace(tmp, target)
            shutil.rmtree(trash, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
