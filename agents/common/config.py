"""Settings every algorithm shares (rollout, optimisation, KL, reward shaping, logging, checkpoints).

Each algorithm's config (``agents.PPOConfig``, ``agents.REINFORCEConfig``, ``agents.GRPOConfig``) extends this
dataclass. The defaults are the CPU defaults of ``text-gym train`` (SmolLM2-135M, about 10 minutes on 2 cores); see
docs/agents.md for GPU settings.

Dtype names: ``compute_dtype`` is the autocast / mixed-precision dtype (accelerate's ``mixed_precision``) and
``weight_dtype`` the dtype the frozen base weights of a LoRA policy are loaded in. Neither is called ``dtype``: in
``transformers`` ``dtype`` (formerly ``torch_dtype``) is the weight dtype, while this config's ``dtype`` was the
compute dtype, so the plain name would mean opposite things to the two audiences. The old ``dtype`` /
``torch_dtype`` fields (and ``--dtype`` / ``--torch-dtype``) still work as deprecated aliases
(``apply_deprecated_aliases``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args, get_origin, get_type_hints

from agents.common.kl import KLEstimator, check_kl_coef
from agents.common.static_decode import RolloutCache
from reward_models.common.deprecation import apply_deprecated_aliases
from reward_models.common.devices import DTypeName


def _help(text: str) -> dict:
    return {"help": text}


def check_literal_fields(config: object) -> None:
    """Raise ``ValueError`` naming the field when a ``Literal[...]``-typed dataclass field holds another value (the
    ``Literal`` is the one list of valid values: the CLI's choices come from it too)."""
    for name, hint in get_type_hints(type(config)).items():
        if get_origin(hint) is Literal and getattr(config, name) not in get_args(hint):
            raise ValueError(f"{name} must be one of {get_args(hint)}, got {getattr(config, name)!r}")


@dataclass
class AlgorithmConfig:
    """Shared agent settings."""

    n_envs: int = field(
        default=16,
        metadata=_help(
            "episodes per rollout and process (global batch = n_envs x processes); used when env is an id, a "
            "vector env brings its own num_envs"
        ),
    )
    temperature: float = field(
        default=1.0, metadata=_help("sampling temperature; training log-probs use the same temperature")
    )
    learning_rate: float = field(default=5e-5, metadata=_help("AdamW learning rate"))
    lr_schedule: Literal["constant", "linear"] = field(
        default="constant",
        metadata=_help(
            "learning-rate schedule over total_timesteps: constant, or linear decay to 0 (SB3's progress_remaining)"
        ),
    )
    adam_eps: float = field(default=1e-5, metadata=_help("AdamW epsilon"))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay"))
    minibatch_size: int = field(
        default=8, metadata=_help("episodes per optimizer step and process (global: minibatch_size x processes)")
    )
    gradient_accumulation_steps: int = field(
        default=1,
        metadata=_help("micro-batches per minibatch (each of minibatch_size / gradient_accumulation_steps episodes)"),
    )
    max_grad_norm: float = field(default=1.0, metadata=_help("gradient clipping by global norm"))
    optimizer_in_backward: bool = field(
        default=False,
        metadata=_help(
            "step each parameter's AdamW inside the backward pass as soon as its gradient is ready, then free it "
            "(the update never holds every gradient: up to 4 bytes per trainable weight less peak memory); needs "
            "gradient_accumulation_steps=1, max_grad_norm=inf (no global-norm clipping), no float16 compute_dtype "
            "and one process"
        ),
    )
    kl_coef: float = field(default=0.05, metadata=_help("KL penalty coefficient beta (initial value if adaptive)"))
    kl_estimator: KLEstimator = field(
        default="k1",
        metadata=_help(
            "per-token KL estimator in the reward: k1 = logp - ref_logp, k3 = exp(-r) - 1 + r (always >= 0)"
        ),
    )
    adaptive_kl: bool = field(default=False, metadata=_help("adapt kl_coef towards target_kl (Ziegler et al.)"))
    target_kl: float = field(default=6.0, metadata=_help("adaptive KL target, nats per sequence"))
    kl_horizon: float = field(default=10000.0, metadata=_help("adaptive KL horizon, in episodes"))
    measure_kl: bool = field(
        default=False,
        metadata=_help(
            "with kl_coef=0 (and no adaptive_kl) still keep the KL reference and log objective/kl (one more model "
            "copy in memory with full fine-tuning, one reference forward per rollout); otherwise no reference is "
            "built or run, as in TRL with beta=0"
        ),
    )
    missing_eos_penalty: float | None = field(
        default=None,
        metadata=_help(
            "subtracted from the score of episodes that ended without EOS (cut at max_new_tokens or a stop string; "
            "a conversation that ran out of context) (None: no penalty)"
        ),
    )
    normalize_scores: bool = field(
        default=False,
        metadata=_help("divide scores by a running std of all scores seen so far (and subtract its running mean)"),
    )
    gold_reward_model: str | None = field(
        default=None,
        metadata=_help(
            "reward-model spec also scored on every rollout's completions, logged as rollout/gold_score_mean"
        ),
    )
    seed: int = field(
        default=0,
        metadata=_help(
            "seed of prompt draws, sampling and minibatch shuffling (process i of a multi-process run uses seed + i)"
        ),
    )
    device: str = field(
        default="auto",
        metadata=_help(
            "'auto' (cuda if available, else mps, else cpu), 'cpu', 'cuda' or 'mps' (under accelerate launch / "
            "torchrun each process takes its own GPU)"
        ),
    )
    compute_dtype: DTypeName = field(
        default="float32",
        metadata=_help(
            "compute dtype (accelerate's mixed precision): float32, or autocast to bfloat16 / float16 with loss "
            "scaling (trainable weights and optimizer stay float32)"
        ),
    )
    weight_dtype: DTypeName = field(
        default="float32",
        metadata=_help(
            "dtype of the frozen base weights of a LoRA policy (adapters and value head stay float32); full "
            "fine-tuning needs float32"
        ),
    )
    dtype: DTypeName | None = field(
        default=None,
        metadata={"help": "deprecated alias of compute_dtype", "deprecated_alias_of": "compute_dtype"},
    )
    torch_dtype: DTypeName | None = field(
        default=None,
        metadata={"help": "deprecated alias of weight_dtype", "deprecated_alias_of": "weight_dtype"},
    )
    lora_r: int = field(
        default=0,
        metadata=_help(
            "LoRA rank: train peft LoRA adapters of this rank instead of every weight (0: full fine-tuning)"
        ),
    )
    lora_alpha: float = field(default=16.0, metadata=_help("LoRA scaling numerator (the update is alpha / r x BA)"))
    lora_dropout: float = field(
        default=0.0,
        metadata=_help(
            "dropout on the LoRA adapters' input while training (the LM's own dropout stays off, so rollout "
            "and reference log-probs are deterministic)"
        ),
    )
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["all-linear"],
        metadata=_help("module names that get adapters; 'all-linear': every linear layer except the LM head"),
    )
    merge_lora_for_rollout: bool = field(
        default=True,
        metadata=_help(
            "with LoRA: sample rollouts and evaluations with the adapters merged into the base weights (one matmul "
            "per linear layer instead of three), restored bit for bit before the reference forward and the update "
            "(a transient copy of the adapted base weights while merged); no effect without LoRA"
        ),
    )
    rollout_cache: RolloutCache = field(
        default="dynamic",
        metadata=_help(
            "rollout KV cache: dynamic (grown per token), static (preallocated to prompt + max_new_tokens) or "
            "static-compiled (static, and the decode step compiled by torch.compile: CUDA graphs on CUDA); same "
            "tokens, static-compiled avoids the GPU's per-token kernel-launch overhead (docs/agents.md)"
        ),
    )
    share_prompt: bool = field(
        default=True,
        metadata=_help(
            "rows of a rollout that hold the same prompt (each group of group_size > 1) run it once: the rollout's "
            "prefill (dynamic rollout_cache), the reference forward and the update, their tokens after it on its "
            "expanded KV cache (same log-probs and gradients to float rounding; not in the update with "
            "gradient_checkpointing); with group_size 1 only prompts drawn twice share; false: every row forwards "
            "its own copy"
        ),
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata=_help(
            "recompute the LM's layer activations in the backward pass instead of storing them (less update memory, "
            "about one more forward of time)"
        ),
    )
    tensorboard_log: str | None = field(
        default=None,
        metadata=_help("tensorboard folder (a run subfolder <tb_log_name>_<n> is created in it, as in SB3)"),
    )
    log_samples_every: int = field(
        default=10, metadata=_help("every N updates log a text table of (prompt, completion, score) samples")
    )
    n_logged_samples: int = field(default=8, metadata=_help("rows in the samples table"))
    checkpoint_dir: str | None = field(
        default=None, metadata=_help("where periodic checkpoints go (None: no checkpoints)")
    )
    checkpoint_freq: int = field(default=1, metadata=_help("checkpoint every N updates"))
    keep_checkpoints: int = field(default=2, metadata=_help("how many recent checkpoints to keep"))
    max_skipped_updates: int = field(
        default=10,
        metadata=_help(
            "stop with an error after this many consecutive updates whose optimizer steps were all skipped for "
            "non-finite losses or gradients"
        ),
    )
    verbose: int = field(default=0, metadata=_help("0: quiet, 1: print SB3's metric table after each update"))

    def __post_init__(self) -> None:
        apply_deprecated_aliases(self)
        positive = (
            "n_envs",
            "minibatch_size",
            "gradient_accumulation_steps",
            "log_samples_every",
            "checkpoint_freq",
            "keep_checkpoints",
            "max_skipped_updates",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("temperature", "learning_rate", "max_grad_norm", "adam_eps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        check_kl_coef(self.kl_coef)
        check_lora_fields(self)
        if self.minibatch_size % self.gradient_accumulation_steps:
            raise ValueError(
                f"minibatch_size={self.minibatch_size} must be a multiple of "
                f"gradient_accumulation_steps={self.gradient_accumulation_steps}"
            )
        check_literal_fields(self)
        self._check_optimizer_in_backward()

    def _check_optimizer_in_backward(self) -> None:
        """``ValueError`` for what cannot wait for an optimizer step taken inside backward (see
        agents/common/optimizer_in_backward.py); the one-process rule is checked when the optimizer is built."""
        if not self.optimizer_in_backward:
            return
        if self.gradient_accumulation_steps != 1:
            raise ValueError(
                "optimizer_in_backward=True steps every parameter during each backward pass, so gradients cannot "
                f"accumulate over micro-batches: set gradient_accumulation_steps=1, got "
                f"{self.gradient_accumulation_steps}"
            )
        if self.max_grad_norm != float("inf"):
            raise ValueError(
                "optimizer_in_backward=True steps each parameter before the global gradient norm is known, so it "
                f"cannot clip by it: set max_grad_norm=inf (no clipping), got {self.max_grad_norm!r}"
            )
        if self.compute_dtype == "float16":
            raise ValueError(
                "optimizer_in_backward=True cannot use float16 loss scaling (unscaling and the overflow check need "
                "every gradient before any step): use compute_dtype 'bfloat16' or 'float32', got 'float16'"
            )

    def lora_config(self):
        """The ``peft.LoraConfig`` of the ``lora_*`` fields (causal LM task), or None when ``lora_r`` is 0."""
        return lora_config_of(self)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


def field_like(cls: type, name: str) -> Any:
    """A new dataclass field with the default and metadata (help) of ``cls``'s field ``name``: how another config
    declares a field it shares with ``cls`` without repeating it."""
    original = cls.__dataclass_fields__[name]
    return field(default=original.default, default_factory=original.default_factory, metadata=original.metadata)


def check_lora_fields(config: Any) -> None:
    """Raise ``ValueError`` naming the field, the value and the valid range for a bad ``lora_r``, ``lora_alpha``,
    ``lora_dropout`` or ``lora_target_modules`` of ``config`` (the LoRA fields of every config that trains a policy:
    ``AlgorithmConfig``, ``agents.SFTConfig``)."""
    if isinstance(config.lora_r, bool) or not isinstance(config.lora_r, int) or config.lora_r < 0:
        raise ValueError(f"lora_r must be an integer >= 0 (0: full fine-tuning), got {config.lora_r!r}")
    if not config.lora_alpha > 0:
        raise ValueError(f"lora_alpha must be > 0, got {config.lora_alpha!r}")
    if not 0 <= config.lora_dropout < 1:
        raise ValueError(f"lora_dropout must be in [0, 1), got {config.lora_dropout!r}")
    if not config.lora_target_modules:
        raise ValueError("lora_target_modules must name at least one module (or 'all-linear')")


def lora_config_of(config: Any) -> Any:
    """The ``peft.LoraConfig`` (causal LM task) of ``config``'s ``lora_*`` fields, or None when ``lora_r`` is 0."""
    if config.lora_r == 0:
        return None
    from peft import LoraConfig

    targets = config.lora_target_modules
    return LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules="all-linear" if list(targets) == ["all-linear"] else list(targets),
    )


def check_weight_dtype(weight_dtype: str, lora: bool) -> None:
    """``ValueError`` for a non-float32 ``weight_dtype`` without LoRA (``lora``: the policy trains adapters)."""
    if not lora and weight_dtype != "float32":
        raise ValueError(
            f"weight_dtype={weight_dtype!r} needs LoRA (lora_r > 0, peft_config or a LoRA policy folder): full "
            "fine-tuning keeps float32 weights; use compute_dtype='bfloat16' to compute in bfloat16"
        )
