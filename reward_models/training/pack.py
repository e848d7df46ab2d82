"""``pack_reward_model``: a trained reward-model folder as a small peft LoRA adapter folder against its base.

The trained model (a full fine-tune, or a peft adapter folder, merged on load) is compared tensor by tensor with a
fresh load of its base checkpoint as a sequence classifier with the same ``num_labels``:

- the weight of an ``nn.Linear`` or ``nn.Embedding`` that changed, and that is smaller as rank-``r`` factors than
  in full (``r * (rows + cols) < rows * cols``), becomes a LoRA adapter whose factors are the rank-``r`` SVD of
  ``W_tuned - W_base`` (``B = U_r sqrt(S_r)``, ``A = sqrt(S_r) V_r^T``, ``lora_alpha = r`` so the scale is 1). That
  is exact when the model was trained with LoRA of rank <= ``r``, and the best rank-``r`` approximation otherwise;
- the bias of such a layer, when it changed, is stored in full (peft's ``bias="lora_only"``);
- every other module with a changed or newly initialised tensor (the head, LayerNorms, a weight too small to
  factor) is stored in full through peft's ``modules_to_save``, and so is the classification head always.

The folder is what ``HFRewardModel`` / ``"hf:<folder>"`` and ``PeftModel.from_pretrained`` load: the adapter
(``adapter_config.json`` naming the base as given, ``adapter_model.safetensors``), the classifier's
``config.json``, the tokenizer, and the trained folder's ``reward_model.json`` (scoring settings, normalisation).
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from reward_models.common.atomic_folder import write_folder_atomically
from reward_models.common.packaged import resolve_model_path
from reward_models.common.quiet import hf_progress_bars_disabled, peft_checkpointing_warning_silenced
from reward_models.common.validation import check_positive_int
from reward_models.models.hf import ADAPTER_CONFIG_NAME, REWARD_CONFIG_NAME, HFRewardModel

__all__ = ["PackConfig", "PackResult", "pack_reward_model"]

HEAD_MODULES = ("classifier", "score")
"""Classification heads that peft's ``SEQ_CLS`` task stores in full (``modules_to_save``)."""

_DTYPES = {"float16": torch.float16, "float32": torch.float32}


@dataclass
class PackConfig:
    """Pack a trained reward-model folder as a peft LoRA adapter folder against its base checkpoint."""

    model: str = field(
        default="reward_model",
        metadata={"help": "trained reward-model folder: a full fine-tune or a peft adapter folder"},
    )
    base: str = field(
        default="minilm",
        metadata={
            "help": "checkpoint the model was trained from: hub id, local folder or 'minilm' (packaged); the adapter "
            "names it as given"
        },
    )
    output: str = field(
        default="reward_model_packed", metadata={"help": "adapter folder to write (replaced if it exists)"}
    )
    rank: int = field(
        default=8,
        metadata={
            "help": "rank of each weight's low-rank factors (exact for models trained with LoRA of rank <= this)"
        },
    )
    dtype: Literal["float16", "float32"] = field(
        default="float16", metadata={"help": "storage dtype of the adapter weights (loading computes in float32)"}
    )

    def __post_init__(self) -> None:
        check_positive_int("rank", self.rank)
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")


@dataclass
class PackResult:
    """What ``pack_reward_model`` wrote.

    Attributes:
        output: the adapter folder.
        adapter_bytes: size of its ``adapter_model.safetensors``.
        max_relative_error: largest ``||B A - (W_tuned - W_base)||_F / ||W_tuned - W_base||_F`` over the low-rank
            weights, with the factors as stored (0.0 when no weight is low-rank).
        low_rank_modules: modules stored as rank-``r`` factors (LoRA adapters).
        full_modules: modules stored in full (peft's ``modules_to_save``).
    """

    output: Path
    adapter_bytes: int
    max_relative_error: float
    low_rank_modules: list[str]
    full_modules: list[str]


def _local_folder(name: str, value: str) -> Path:
    """``value`` (a folder or a packaged name) as an existing folder; ``ValueError`` naming ``name`` otherwise."""
    try:
        path = Path(resolve_model_path(value))
    except FileNotFoundError:
        path = Path(value)
    if not path.is_dir():
        raise ValueError(f"{name}={value!r} is not a folder")
    return path


def _load_base(name: str, num_labels: int) -> tuple[nn.Module, set[str]]:
    """The base checkpoint as a sequence classifier with ``num_labels`` labels (its own config otherwise), and the
    names of the tensors it lacked (newly initialised: the head)."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the new head is reported as newly initialised; the trained model has it
    try:
        with hf_progress_bars_disabled():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                resolve_model_path(name),
                num_labels=num_labels,
                ignore_mismatched_sizes=True,
                output_loading_info=True,
                dtype=torch.float32,
            )
    finally:
        logging.set_verbosity(verbosity)
    return model.eval(), set(info["missing_keys"]) | {key for key, *_ in info.get("mismatched_keys", [])}


def _check_same_architecture(config: PackConfig, tuned: dict[str, torch.Tensor], base: dict[str, torch.Tensor]):
    only_tuned, only_base = sorted(set(tuned) - set(base)), sorted(set(base) - set(tuned))
    if only_tuned or only_base:
        raise ValueError(
            f"base={config.base!r} is not the architecture of model={config.model!r}: tensors only in the model "
            f"{only_tuned[:3]}, only in the base {only_base[:3]}; pass the checkpoint the model was trained from"
        )
    for name, value in tuned.items():
        if value.shape != base[name].shape:
            raise ValueError(
                f"base={config.base!r} does not fit model={config.model!r}: {name} has shape "
                f"{tuple(base[name].shape)} in the base and {tuple(value.shape)} in the model; pass the checkpoint "
                "the model was trained from"
            )


def _factorable(module: nn.Module, weight: torch.Tensor, rank: int) -> bool:
    """Whether ``module``'s weight is a LoRA target that is smaller as rank-``rank`` factors than in full."""
    rows, cols = weight.shape if weight.dim() == 2 else (0, 0)
    return isinstance(module, (nn.Linear, nn.Embedding)) and rank * (rows + cols) < rows * cols


def _inside(name: str, modules: set[str]) -> bool:
    """Whether ``name`` is a submodule of one of ``modules``."""
    return any(name.startswith(m + ".") for m in modules)


def _split_modules(
    tuned_model: nn.Module, tuned: dict[str, torch.Tensor], base: dict[str, torch.Tensor], new: set[str], rank: int
) -> tuple[list[str], list[str], list[str]]:
    """``(low-rank modules, full modules, low-rank modules whose bias changed)`` per the module docstring."""
    modules = dict(tuned_model.named_modules())
    changed = [n for n in tuned if n in new or not torch.equal(tuned[n], base[n])]
    low_rank = {
        n.rpartition(".")[0]
        for n in changed
        if n not in new and n.endswith(".weight") and _factorable(modules[n.rpartition(".")[0]], tuned[n], rank)
    }
    full = {head for head in HEAD_MODULES if head in modules}
    full |= {n.rpartition(".")[0] for n in changed if n.rpartition(".")[0] not in low_rank}
    full = {m for m in full if not _inside(m, full)}  # the outermost of nested modules
    low_rank = {m for m in low_rank if m not in full and not _inside(m, full)}
    changed_bias = [m for m in low_rank if f"{m}.bias" in changed]
    return sorted(low_rank), sorted(full), sorted(changed_bias)


def _lora_factors(difference: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B [rows, rank], A [rank, cols])`` with ``B @ A`` the best rank-``rank`` approximation of ``difference``."""
    u, s, vh = torch.linalg.svd(difference, full_matrices=False)
    root = s[:rank].sqrt()
    return u[:, :rank] * root, root[:, None] * vh[:rank]


def pack_reward_model(config: PackConfig) -> PackResult:
    """Write ``config.model`` as a peft LoRA adapter folder against ``config.base`` to ``config.output``.

    Args:
        config: the trained folder, its base, the rank and the storage dtype.

    Returns:
        The folder, its adapter weights' size, the largest relative error of the low-rank factors and which
        modules are low-rank or stored in full.

    Raises:
        ValueError: ``model`` is not a reward-model folder, ``output`` is that folder, ``base`` is not a loadable
            checkpoint, or it is not the architecture ``model`` was trained from (other tensor names or shapes).
            Nothing is written then.
    """
    from peft import LoraConfig, TaskType, get_peft_model
    from peft.utils.constants import DUMMY_TARGET_MODULES

    folder = _local_folder("model", config.model)
    if not (folder / "config.json").is_file() and not (folder / ADAPTER_CONFIG_NAME).is_file():
        raise ValueError(
            f"model={config.model!r} is not a reward-model folder (no config.json or {ADAPTER_CONFIG_NAME})"
        )
    if Path(config.output).resolve() == folder.resolve():
        raise ValueError(f"output={config.output!r} is the model folder; write the packed folder elsewhere")
    reward_model = HFRewardModel(folder, dtype="float32")
    tuned_model = reward_model.model
    try:
        base_model, new = _load_base(config.base, tuned_model.config.num_labels)
    except OSError as error:
        raise ValueError(f"base={config.base!r} could not be loaded as a model: {error}") from error
    if base_model.config.model_type != tuned_model.config.model_type:
        raise ValueError(
            f"base={config.base!r} is a {base_model.config.model_type!r} model, model={config.model!r} a "
            f"{tuned_model.config.model_type!r} one; pass the checkpoint the model was trained from"
        )
    tuned, base = tuned_model.state_dict(), base_model.state_dict()
    _check_same_architecture(config, tuned, base)
    low_rank, full, changed_bias = _split_modules(tuned_model, tuned, base, new, config.rank)
    differences = {m: tuned[f"{m}.weight"].float() - base[f"{m}.weight"].float() for m in low_rank}

    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.rank,
        lora_alpha=config.rank,
        target_modules=list(low_rank) or DUMMY_TARGET_MODULES,  # peft's adapter without LoRA layers: all in full
        modules_to_save=[m for m in full if m not in HEAD_MODULES] or None,  # SEQ_CLS adds the heads itself
        bias="lora_only" if changed_bias else "none",
    )
    with warnings.catch_warnings():
        # peft 0.21 reads transformers' deprecated `is_gradient_checkpointing` alias (a FutureWarning)
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        with peft_checkpointing_warning_silenced():
            peft_model = get_peft_model(base_model, lora)
    inner, modules = peft_model.get_base_model(), dict(tuned_model.named_modules())
    with torch.no_grad():
        for name in low_rank:
            layer = inner.get_submodule(name)
            if isinstance(layer.get_base_layer(), nn.Embedding):  # peft: delta = (B @ A)^T, B [dim, r], A [r, vocab]
                up, down = _lora_factors(differences[name].T, config.rank)
                layer.lora_embedding_B["default"].copy_(up)
                layer.lora_embedding_A["default"].copy_(down)
            else:  # peft: delta = B @ A, B [out, r], A [r, in]
                up, down = _lora_factors(differences[name], config.rank)
                layer.lora_B["default"].weight.copy_(up)
                layer.lora_A["default"].weight.copy_(down)
        for name in changed_bias:
            inner.get_submodule(name).get_base_layer().bias.copy_(tuned[f"{name}.bias"])
        for name in full:
            inner.get_submodule(name).modules_to_save["default"].load_state_dict(modules[name].state_dict())
        dtype = _DTYPES[config.dtype]
        peft_model.to(dtype).float()  # the values as stored; loading copies them into float32 weights
        worst = 0.0
        for name in low_rank:
            error = inner.get_submodule(name).get_delta_weight("default") - differences[name]
            worst = max(worst, (error.norm() / differences[name].norm()).item())
    peft_model.peft_config["default"].base_model_name_or_path = config.base
    peft_model.to(dtype)

    def write(target: Path) -> None:
        peft_model.save_pretrained(str(target), save_embedding_layers=False)  # the base has the embeddings
        tuned_model.config.save_pretrained(target)  # num_labels, labels, pad token: how the base is loaded
        reward_model.tokenizer.save_pretrained(target)
        if (folder / REWARD_CONFIG_NAME).is_file():
            shutil.copy(folder / REWARD_CONFIG_NAME, target / REWARD_CONFIG_NAME)

    output = write_folder_atomically(config.output, write)
    return PackResult(output, (output / "adapter_model.safetensors").stat().st_size, worst, low_rank, full)
