"""Atomic checkpoint folders written by accelerate's ``save_state``.

A checkpoint is ``<checkpoint_dir>/checkpoint-<n_updates:06d>/``: what ``Accelerator.save_state`` writes (the
optimizer, the grad scaler, each process's global RNG states ``random_states_<i>.pkl``, and one
``custom_checkpoint_<k>.pkl`` per object registered with ``register_for_checkpointing``: the agent's counters, KL
controller, logger, score statistics, generators), the saved agent in place of accelerate's weights file (an HF
folder, from the agent's ``save_state`` pre-hook), and last ``training_state.pt`` (the number of processes; its
presence marks a checkpoint). It is filled in a temporary folder and renamed into place
(``reward_models.write_folder_atomically``), so a run killed at any moment leaves only complete checkpoints behind
(and a temporary folder, removed by the next checkpoint write).

accelerate's own ``ProjectConfiguration`` checkpoint naming is not used: it writes straight into the final folder
(a kill leaves a half-written checkpoint that looks complete) and numbers folders by save count rather than by
update. The atomic writer runs on the main process; the others write their files (their RNG states) into the same
temporary folder, whose name the main process sends them, before it is renamed.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from agents.common.distributed import Reducer
from reward_models.common import write_folder_atomically

TRAINING_STATE = "training_state.pt"
"""The file a complete checkpoint ends with: ``{"num_processes": n}`` (``torch.save``)."""
_NAME = re.compile(r"^checkpoint-(\d+)$")


def list_checkpoints(checkpoint_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints in ``checkpoint_dir``, oldest first."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name)) and (p / TRAINING_STATE).is_file()
    ]
    return [p for _, p in sorted(found)]


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """``path`` itself if it is a checkpoint, else the latest checkpoint inside it."""
    path = Path(path)
    if (path / TRAINING_STATE).is_file():
        return path
    checkpoints = list_checkpoints(path)
    if not checkpoints:
        raise FileNotFoundError(
            f"resume_from={str(path)!r} is neither a checkpoint folder (with {TRAINING_STATE}) "
            "nor a folder containing checkpoint-<n> checkpoints"
        )
    return checkpoints[-1]


def checkpoint_to_resume(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The latest checkpoint in ``checkpoint_dir``, or None with a warning when there is none yet (a run resumed
    before its first checkpoint starts from scratch)."""
    checkpoints = list_checkpoints(checkpoint_dir)
    if not checkpoints:
        warnings.warn(f"no checkpoint in {checkpoint_dir} yet; starting from scratch", stacklevel=2)
        return None
    return checkpoints[-1]


def prune_checkpoints(checkpoint_dir: str | os.PathLike, keep: int) -> None:
    """Delete all but the ``keep`` most recent checkpoints."""
    for old in list_checkpoints(checkpoint_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def write_checkpoint(accelerator: Any, reducer: Reducer, target: Path) -> Path | None:
    """Fill ``target`` with ``accelerator.save_state`` on every process, atomically; all processes call it.

    The main process makes the temporary folder (``write_folder_atomically``) and sends its name to the others;
    every process writes its files into it, they wait for each other, the main process writes
    ``TRAINING_STATE`` and renames the folder. Returns ``target`` on the main process, None on the others.
    """

    def fill(folder: Path) -> None:
        accelerator.save_state(str(folder))
        accelerator.wait_for_everyone()  # every process's files are in
        if accelerator.is_main_process:
            torch.save({"num_processes": accelerator.num_processes}, folder / TRAINING_STATE)

    if not accelerator.is_main_process:
        (folder,) = reducer.gather_objects([])
        fill(Path(folder))
        return None

    def write(folder: Path) -> None:
        reducer.gather_objects([str(folder)])
        fill(folder)

    return write_folder_atomically(target, write)


def read_checkpoint_processes(path: str | os.PathLike) -> tuple[Path, int]:
    """The checkpoint ``path`` resolves to (``resolve_checkpoint``) and the number of processes that wrote it;
    ``ValueError`` for a checkpoint of an earlier text-gym version (its ``TRAINING_STATE`` held the whole state)."""
    folder = resolve_checkpoint(path)
    state = torch.load(folder / TRAINING_STATE, map_location="cpu", weights_only=True)
    if "num_processes" not in state:
        raise ValueError(
            f"{folder} is a checkpoint of an earlier text-gym version (before accelerate's save_state); resume it "
            "with that version, or load its agent with load() and start a new run"
        )
    return folder, int(state["num_processes"])
