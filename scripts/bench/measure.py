"""One training case measured: the time of each iteration, the setup time before the first, peak memory
(scripts/bench/memory.py) and, when asked, the time of each phase (scripts/bench/phases.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scripts.bench.memory import PeakMemory
from scripts.bench.phases import PhaseClock


@dataclass
class CaseSettings:
    """What every training case shares: the policy and reward-model folders, and (keyword-only) the optimizer's
    learning rate, device, autocast / mixed-precision dtype, seed, torch threads (None: torch's default), LoRA rank
    of the ``-lora`` cases (alpha twice that), gradient checkpointing and our agents' ``rollout_cache``."""

    policy_dir: str
    reward_dir: str
    learning_rate: float = field(default=1e-6, kw_only=True)
    device: str = field(default="cpu", kw_only=True)
    dtype: str = field(default="float32", kw_only=True)
    seed: int = field(default=0, kw_only=True)
    threads: int | None = field(default=None, kw_only=True)
    lora_r: int = field(default=16, kw_only=True)
    gradient_checkpointing: bool = field(default=False, kw_only=True)
    rollout_cache: str = field(default="dynamic", kw_only=True)


def measure_training(
    train: Callable[[PhaseClock], None], iterations: int, device: str, threads: int | None, phases: bool = False
) -> dict[str, Any]:
    """Run ``train(clock)``, which trains ``iterations`` iterations and marks each start on ``clock`` (its
    callbacks), under the memory sampler.

    Returns:
        ``iteration_s`` (seconds of each iteration, the last ending when ``train`` returns), ``setup_s`` (from the
        call to the first iteration), ``PeakMemory.figures``, and with ``phases`` the clock's ``phases_s``.

    Raises:
        RuntimeError: the clock saw another number of iterations.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    clock = PhaseClock(device.startswith("cuda"))
    with PeakMemory(device) as memory:
        start = clock.now()
        train(clock)
        end = clock.now()
    starts = clock.starts
    if len(starts) != iterations:
        raise RuntimeError(f"expected {iterations} iterations, timed {len(starts)}")
    row = {
        "iteration_s": [b - a for a, b in zip(starts, [*starts[1:], end], strict=True)],
        "setup_s": starts[0] - start,
        **memory.figures(),
    }
    if phases:
        row["phases_s"] = clock.phase_times(end)
    return row
