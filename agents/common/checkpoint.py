"""Atomic checkpoint folders and the random-number-generator state they carry.

A checkpoint is ``<checkpoint_dir>/checkpoint-<n_updates:06d>/``: the saved agent (an HF folder) plus
``training_state.pt`` (optimizer, KL controller, baselines, RNG states, counters). It is written to a temporary
folder and renamed into place (:func:`reward_models.write_folder_atomically`), so a run killed at any moment leaves
only complete checkpoints behind (and a temporary folder, removed by the next checkpoint write).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

TRAINING_STATE = "training_state.pt"
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


def global_rng_state() -> dict:
    """The global RNG states of Python, NumPy and torch (CPU and CUDA)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: dict) -> None:
    """Restore what :func:`global_rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
