"""The process topology and precision of training, from ``accelerate``: one ``accelerate.Accelerator`` per
agent, and the cross-process reductions that keep every statistic that steers training global.

Launch several processes with ``accelerate launch`` or ``torchrun``; each runs its own agent, env and reward model,
and the accelerator wraps the policy in DDP (or whatever ``accelerate config`` chose) so the update averages
gradients. A single process is the ``num_processes == 1`` case of the same code.
"""

from __future__ import annotations

from typing import Any

import torch

from reward_models.common.devices import resolve_device

MIXED_PRECISION = {"float32": "no", "bfloat16": "bf16", "float16": "fp16"}
"""The agents' ``compute_dtype`` names -> accelerate's ``mixed_precision``."""


def make_accelerator(device: str, dtype: str) -> Any:
    """An ``accelerate.Accelerator`` for ``device`` computing in ``dtype`` (``float32``, or autocast to
    ``bfloat16`` / ``float16`` with loss scaling for float16).

    ``device``: ``"auto"`` (the project's one rule, ``reward_models.resolve_device``: CUDA, else MPS, else CPU),
    ``"cpu"``, ``"cuda"`` (under a multi-process launch each process gets its own GPU) or ``"mps"``. A CPU
    placement is accelerate's ``cpu=True`` (which also starts a multi-process CPU group under a launcher); any
    other lets accelerate place on the machine's accelerator, which is the CUDA or MPS device the rule chose.

    accelerate keeps one process-wide state and refuses a second mixed-precision setting; agents with different
    ``dtype`` in one process (benchmarks, tests) are legitimate, so the precision part of that state is reset
    (the process topology is kept).
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if device not in ("auto", "cpu", "cuda", "mps"):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'mps', got {device!r} (choose GPUs with CUDA_VISIBLE_DEVICES; "
            "under accelerate launch / torchrun each process takes its own)"
        )
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no CUDA device")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' but torch sees no MPS device")
    mixed_precision = MIXED_PRECISION[dtype]
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision") not in (None, mixed_precision):
        AcceleratorState._reset_state()
    return Accelerator(cpu=resolve_device(device).type == "cpu", mixed_precision=mixed_precision)


class Reducer:
    """Cross-process sums and means of tensors and floats for ``accelerator`` (no-ops in one process)."""

    def __init__(self, accelerator: Any) -> None:
        self.accelerator = accelerator
        self.num_processes = accelerator.num_processes

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over processes (same shape; a float64 tensor keeps its precision)."""
        if self.num_processes == 1:
            return tensor
        return self.accelerator.reduce(tensor.detach().clone(), reduction="sum")

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` averaged over processes."""
        return self.sum(tensor) / self.num_processes

    def mean_floats(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over processes (one all-reduce for the whole dict; keys in the same order on every
        process)."""
        if self.num_processes == 1 or not values:
            return values
        stacked = torch.tensor(list(values.values()), dtype=torch.float64, device=self.accelerator.device)
        return dict(zip(values, self.mean(stacked).tolist(), strict=True))

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """The processes' ``tensor`` ``[n, ...]`` concatenated along dim 0 in process order."""
        if self.num_processes == 1:
            return tensor
        return self.accelerator.gather(tensor.contiguous())

    def gather_objects(self, items: list) -> list:
        """The processes' lists concatenated in process order (pickled; for strings and small states)."""
        if self.num_processes == 1:
            return list(items)
        from accelerate.utils import gather_object

        return gather_object(list(items))

    def any(self, flag: bool) -> bool:
        """True on every process if ``flag`` is True on any (so all take the same branch)."""
        if self.num_processes == 1:
            return flag
        return bool(self.sum(torch.tensor([float(flag)], device=self.accelerator.device)) > 0)
