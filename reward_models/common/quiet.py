"""Keep the console to text-gym's own progress bars and messages while transformers loads or writes weights."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def hf_progress_bars_disabled() -> Iterator[None]:
    """Without transformers' progress bars ("Loading weights", "Writing model shards") inside the block; restores
    the previous setting."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def peft_checkpointing_warning_silenced() -> Iterator[None]:
    """Without the one FutureWarning peft 0.21 triggers while it wraps or loads a model: it reads transformers'
    deprecated ``is_gradient_checkpointing`` alias (transformers 5), which nothing a caller passes avoids. Every
    other warning still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield
