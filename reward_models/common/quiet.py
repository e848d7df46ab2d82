"""Keep the console to text-gym's own progress bars and messages while transformers loads or writes weights: its
progress bars, peft's ``is_gradient_checkpointing`` FutureWarning, and the "LOAD REPORT" of an expected new head."""

from __future__ import annotations

import contextlib
import logging
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


class _LoadReportFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in record.getMessage()


@contextlib.contextmanager
def expected_load_report_silenced() -> Iterator[None]:
    """Without transformers' "LOAD REPORT" table (a warning listing missing / unexpected weights) for the loads
    inside the block, for a caller that expects those weights to differ (a new scalar head on a causal LM's
    backbone). Only that record is dropped; every other transformers warning still shows."""
    logger = logging.getLogger("transformers.modeling_utils")
    report_filter = _LoadReportFilter()
    logger.addFilter(report_filter)
    try:
        yield
    finally:
        logger.removeFilter(report_filter)
