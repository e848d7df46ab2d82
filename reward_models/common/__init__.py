"""The project's shared utilities, at the bottom of the dependency order: every package may import them, and
they import nothing else of the project.

- ``validation.py``: argument checks (``check_positive_int``).
- ``devices.py``: the ``"auto"`` device rule and dtype names.
- ``packaged.py``: the offline packaged models (``"smollm2"``, ``"minilm"``), the cache folder, tokenizer loading.
- ``lm.py``: the one causal-LM loader and the last-token readers of a causal LM.
- ``atomic_folder.py``: folders written atomically.
- ``jsonl.py``: strict JSONL reading, atomic JSONL writing.
- ``quiet.py``: third-party progress bars, expected load reports and peft's FutureWarning off while weights load.
- ``extras.py``: optional dependencies and the error naming their extra.
"""

from reward_models.common.atomic_folder import write_folder_atomically
from reward_models.common.devices import resolve_device, resolve_dtype
from reward_models.common.extras import MissingExtraError, require_extra
from reward_models.common.lm import load_causal_lm
from reward_models.common.packaged import cache_dir, load_tokenizer, resolve_model_path
from reward_models.common.quiet import hf_progress_bars_disabled
from reward_models.common.validation import check_positive_int

__all__ = [
    "MissingExtraError",
    "cache_dir",
    "check_positive_int",
    "hf_progress_bars_disabled",
    "load_causal_lm",
    "load_tokenizer",
    "require_extra",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_path",
    "write_folder_atomically",
]
