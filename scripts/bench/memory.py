"""The memory sampler: peak memory of a benchmark case above its baseline.

On CPU the process's resident set size (RSS) is sampled every 5 ms in a thread while the case trains, and the
figure is that peak minus the RSS when sampling starts (after the imports, before any model is loaded: the
libraries' own footprint differs between frameworks and is not training memory). The fresh-process runner starts
every case with ``MALLOC_MMAP_THRESHOLD_=131072``, so that glibc serves every block of 128 KiB or more with its own
mapping and returns it on free: the RSS then follows live memory instead of what the allocator keeps after a peak.
On CUDA the figure is ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

MALLOC_MMAP_THRESHOLD = "131072"
"""glibc's mmap threshold (bytes) for the benchmark processes: large blocks are returned to the OS when freed."""
GIB = 2**30


def rss_bytes() -> int:
    """Resident set size of this process in bytes (Linux /proc; elsewhere the peak so far from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class PeakMemory:
    """Context manager sampling this process's RSS every ``interval_s`` seconds in a thread; ``figures`` gives
    the peak above the RSS at entry (or, on CUDA, ``torch.cuda.max_memory_allocated``)."""

    def __init__(self, device: str, interval_s: float = 0.005) -> None:
        self.cuda = device.startswith("cuda")
        self.interval_s = interval_s
        self.baseline = self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self.baseline = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    def figures(self) -> dict[str, Any]:
        """``peak_memory_gib`` (the benchmark's figure), ``memory_kind`` (what it is), ``peak_rss_gib`` and
        ``baseline_rss_gib``."""
        if self.cuda:
            import torch

            peak, kind = torch.cuda.max_memory_allocated(), "cuda max_memory_allocated"
        else:
            threshold = os.environ.get("MALLOC_MMAP_THRESHOLD_")
            peak = self.peak - self.baseline
            kind = "peak RSS above the import baseline" + (
                f" (MALLOC_MMAP_THRESHOLD_={threshold})" if threshold is not None else ""
            )
        return {
            "peak_memory_gib": peak / GIB,
            "memory_kind": kind,
            "peak_rss_gib": self.peak / GIB,
            "baseline_rss_gib": self.baseline / GIB,
        }
