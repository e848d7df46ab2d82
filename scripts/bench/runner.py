"""The fresh-process runner: one benchmark case in a new Python interpreter, so that its memory, compiled code
and warm-up are its own.

``run_in_fresh_process`` pickles the case (a module-level function and its arguments) into a temporary folder,
runs ``python -m scripts.bench.runner FOLDER`` with this process's import path and with ``MALLOC_MMAP_THRESHOLD_``
set (scripts/bench/memory.py says why), and returns the JSON result the case wrote there. A case that raises is
reported with its exception (and its traceback on the child's stderr); one that dies without a result (a signal,
``os._exit``) with its exit status.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.bench.memory import MALLOC_MMAP_THRESHOLD

CASE_FILE, RESULT_FILE = "case.pkl", "result.json"


class CaseFailed(RuntimeError):
    """A case run by ``run_in_fresh_process`` raised, or its process ended without a result."""


def run_in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a fresh Python process; returns its result, which must be JSON-serialisable.

    Args:
        function: a module-level function (pickled by reference, imported again in the child).
        *args: picklable arguments.

    Raises:
        CaseFailed: the case raised (its exception type and message are in the error) or its process ended
            without writing a result (its exit status is).
    """
    name = f"{function.__module__}.{function.__qualname__}"
    with tempfile.TemporaryDirectory(prefix="text-gym-case-") as folder:
        Path(folder, CASE_FILE).write_bytes(pickle.dumps((function, args)))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),  # the child imports what this process can
            "MALLOC_MMAP_THRESHOLD_": MALLOC_MMAP_THRESHOLD,  # read by glibc when the child starts
        }
        status = subprocess.run([sys.executable, "-m", "scripts.bench.runner", folder], env=env, check=False)
        result_file = Path(folder, RESULT_FILE)
        if not result_file.exists():
            raise CaseFailed(f"{name} ended with exit status {status.returncode} without writing a result")
        outcome = json.loads(result_file.read_text())
    if "error" in outcome:
        raise CaseFailed(f"{name} failed in its process: {outcome['error']}")
    return outcome["result"]


def main(folder: str) -> int:
    """The child's side: run the pickled case in ``folder`` and write its result (or its error) there as JSON."""
    function, args = pickle.loads(Path(folder, CASE_FILE).read_bytes())
    try:
        outcome = {"result": function(*args)}
    except Exception as error:
        traceback.print_exc()
        outcome = {"error": f"{type(error).__name__}: {error}"}
    Path(folder, RESULT_FILE).write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
