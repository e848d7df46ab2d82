"""Keep the console to text-gym's own progress bars and messages while transformers loads or writes weights: its
progress bars, peft's ``is_gradient_checkpointing`` FutureWarning, the "LOAD REPORT" of an expected new head, and the
padding warning of ``generate`` calls that pass their attention mask."""

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


class _MessageFilter(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


@contextlib.contextmanager
def _transformers_message_dropped(text: str) -> Iterator[None]:
    """Drop the ``transformers.modeling_utils`` log records containing ``text`` inside the block."""
    logger = logging.getLogger("transformers.modeling_utils")
    message_filter = _MessageFilter(text)
    logger.addFilter(message_filter)
    try:
        yield
    finally:
        logger.removeFilter(message_filter)


@contextlib.contextmanager
def expected_load_report_silenced() -> Iterator[None]:
    """Without transformers' "LOAD REPORT" table (a warning listing missing / unexpected weights) for the loads
    inside the block, for a caller that expects those weights to differ (a new scalar head on a causal LM's
    backbone). Only that record is dropped; every other transformers warning still shows."""
    with _transformers_message_dropped("LOAD REPORT"):
        yield


@contextlib.contextmanager
def padding_warning_silenced() -> Iterator[None]:
    """Without transformers' "We strongly recommend passing in an `attention_mask`" warning inside the block, for
    ``generate`` calls that pass the full mask: in its cached decoding steps transformers calls the model without
    one, and warns when the last sampled token is the pad id (a token the policy chose, or the pad of a finished
    row). Only that record is dropped."""
    with _transformers_message_dropped("strongly recommend passing in an `attention_mask`"):
        yield
