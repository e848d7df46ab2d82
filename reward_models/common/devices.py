"""Devices and dtypes by name: the one ``"auto"`` device rule and the dtype names every config accepts."""

from __future__ import annotations

from typing import Literal, get_args

import torch

DTypeName = Literal["float32", "bfloat16", "float16"]
"""The float dtype names every config accepts (compute dtypes, weight dtypes, reward-model dtypes)."""
_DTYPES = {name: getattr(torch, name) for name in get_args(DTypeName)}


def resolve_device(device: str | torch.device) -> torch.device:
    """The device ``device`` names, with the project's one ``"auto"`` rule: CUDA if available, else Apple MPS, else
    CPU. Every ``"auto"`` goes through here: reward models, simulated users, the agents' accelerator
    (``agents.common.distributed.make_accelerator``) and the benchmarks.

    Args:
        device: ``"auto"``, a torch device name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) or a
            ``torch.device``.

    Returns:
        The ``torch.device``.
    """
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """The torch dtype named ``dtype`` (``"float32"``, ``"bfloat16"``, ``"float16"``); a ``torch.dtype`` or
    ``None`` is returned unchanged. Raises ``ValueError`` naming the valid names for anything else."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be None, a torch.dtype or one of {list(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]


def check_trainer_device(trained_on: torch.device, device: torch.device, requested: str) -> None:
    """Refuse a ``transformers.TrainingArguments`` whose device (``trained_on``, its ``.device``) is not
    ``device``, the one ``requested`` (the config's ``device`` value) resolved to.

    Raises:
        ValueError: naming ``requested`` and the device the Trainer would use.
    """
    if trained_on.type != device.type or device.index not in (None, trained_on.index):
        raise ValueError(f"device={requested!r} is not a device transformers.Trainer trains on here ({trained_on})")
