"""``text-gym bench gpu``: the prepared GPU benchmark (about 9 minutes estimated on one H100/H200), written to
docs/gpu/benchmarks.md.

1. Rollout: ``batch_sizes`` episodes x ``new_tokens`` tokens in ``dtype`` (every episode runs the full length: the
   env has no EOS ids, ``generate`` gets ``min_new_tokens``), through our env (``TextGenVectorEnv`` on the device,
   its tensor API, driven by ``agents.collect_rollout``) and through ``model.generate``, each with the KV caches of
   ``rollout_cases`` (``SIDE:CACHE``; CACHE ``dynamic``, ``static`` or ``static-compiled``: for the env the
   policy's ``rollout_cache``, for ``generate`` ``cache_implementation="static"`` and its own compiled decode step,
   with the same ``torch.compile`` options). Reported per case: tokens/s (best of ``repeats`` timed runs after
   one untimed run), the untimed first run (it includes compilation) and the peak
   ``torch.cuda.max_memory_allocated`` during the case (weights included; compiled code and caches of earlier
   cases are released before each case).
2. One training iteration (rollout + update) of each of ``iteration_cases``, cases of scripts/bench/iteration.py
   run by its ``run_case_in_subprocess`` (a fresh process each, scripts/bench/runner.py: its own peak memory):
   iteration time (median after a warm-up iteration) and peak memory.
3. One GRPO iteration (generation + update, one optimizer step) of each of ``group_cases``, ours and TRL's
   ``GRPOTrainer``, full fine-tuning and LoRA, run by scripts/bench/group.py's ``run_group_case_in_subprocess``
   (the matched settings of ``text-gym bench speed``'s GRPO comparison): ``iteration_batch`` completions in groups
   of ``group_size``, ``iteration_new_tokens`` tokens each, KL coefficient ``group_kl_coef``; iteration time,
   peak memory, time per phase and the ratio ours / TRL.

``--dry-run`` prints the plan (cases, sizes, an estimated time per case and in total) and checks the environment
(CUDA, bf16, the policy and its StaticCache support, the compiler, the cases) without running anything; it exits
with status 1 when the real run would be refused. Without CUDA the benchmark is refused, except with
``--device cpu``: the same code path on the CPU, for a tiny ``--policy`` in tests. ``--random-init`` builds the
policy from the config in ``--policy`` with random weights (speed and memory do not depend on weight values), for
a machine where the weights cannot be installed: a folder holding only ``config.json`` and the tokenizer will do.

Writes ``results.json`` and ``results.md`` to ``--output-dir`` after every case (scripts/bench/results.py: a run
stopped part-way, at a time limit, leaves what it measured, marked partial); ``--doc`` also replaces the
generated ``bench-gpu`` section of that markdown file.
"""

from __future__ import annotations

import gc
import importlib.util
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, get_args

from agents.common.static_decode import RolloutCache
from reward_models.common import check_positive_int
from reward_models.common.devices import DTypeName
from scripts.bench.cli import Benchmark, check_positive_ints, command_line
from scripts.bench.group import GROUP_CASES, group_table, merge_processes, phase_table, with_trl_ratios
from scripts.bench.iteration import CASES
from scripts.bench.models import save_random_init_policy, save_reward_model, zero_reward
from scripts.bench.report import machine_info
from scripts.bench.results import ResultsWriter, partial_line

SIDES = ("env", "generate")
ROLLOUT_CASES = tuple(f"{side}:{cache}" for side in SIDES for cache in get_args(RolloutCache))
PLANNING = {
    "setup_s": 30.0,
    "eager_step_s_per_layer": 4e-4,
    "compiled_step_s_per_layer": 1e-4,
    "compile_s_per_layer": 2.0,
    "iteration_case_setup_s": 30.0,
    "update_s_per_episode_token": 2e-4,
}
"""Planning figures of the time estimate (guesses for one H100/H200, not measurements: no GPU has been lent yet;
replace them with measured ones): one-time setup; one decode step per model layer, eager (kernel-launch bound)
and compiled; compilation per model layer; an iteration case's process start and loading; update time per
generated token."""


@dataclass
class BenchGPUConfig:
    """The prepared GPU benchmark: rollout through the env vs generate, dynamic vs static/compiled KV cache, and
    training iterations."""

    policy: str = field(default="smollm2", metadata={"help": "hub id, local folder or 'smollm2'"})
    random_init: bool = field(
        default=False,
        metadata={"help": "random weights from the policy's config.json (its tokenizer is still loaded)"},
    )
    device: str = field(
        default="cuda", metadata={"help": "'cuda' (the benchmark), or 'cpu' (the same code path, for testing)"}
    )
    dtype: DTypeName = field(
        default="bfloat16", metadata={"help": "rollout: model dtype; iterations: autocast (compute) dtype"}
    )
    batch_sizes: list[int] = field(default_factory=lambda: [64, 256], metadata={"help": "rollout batch sizes"})
    new_tokens: int = field(default=128, metadata={"help": "rollout: tokens per episode (no early EOS)"})
    repeats: int = field(default=3, metadata={"help": "rollout: timed runs per case after one untimed run"})
    rollout_cases: list[str] = field(
        default_factory=lambda: ["env:dynamic", "env:static-compiled", "generate:dynamic", "generate:static-compiled"],
        metadata={"help": f"rollout cases SIDE:CACHE, from {ROLLOUT_CASES}"},
    )
    iteration_cases: list[str] = field(
        default_factory=lambda: ["ours", "ours-lora"],
        metadata={"help": f"training-iteration cases of scripts/bench/iteration.py, from {CASES}"},
    )
    iteration_batch: int = field(default=64, metadata={"help": "iterations: episodes per iteration"})
    iteration_new_tokens: int = field(default=128, metadata={"help": "iterations: tokens per episode (no EOS)"})
    iterations: int = field(default=3, metadata={"help": "iterations per case (the first is a warm-up)"})
    n_epochs: int = field(default=1, metadata={"help": "iterations: passes over each rollout"})
    minibatch_size: int = field(default=16, metadata={"help": "iterations: episodes per optimizer step"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank of the LoRA cases (alpha = 2 x rank, all linear)"})
    group_cases: list[str] = field(
        default_factory=lambda: list(GROUP_CASES),
        metadata={"help": f"GRPO iteration cases of scripts/bench/group.py, from {GROUP_CASES}"},
    )
    group_size: int = field(default=4, metadata={"help": "GRPO: completions per prompt (divides iteration_batch)"})
    group_kl_coef: float = field(default=0.04, metadata={"help": "GRPO: KL coefficient on both sides"})
    iteration_rollout_cache: RolloutCache = field(
        default="dynamic",
        metadata={
            "help": "rollout_cache of our agents in the iteration and GRPO cases (dynamic: eager, as TRL's generate "
            "by default; the rollout cases measure what static-compiled gives)"
        },
    )
    seed: int = field(default=0, metadata={"help": "sampling and initialisation seed"})
    output_dir: str = field(default="runs/bench_gpu", metadata={"help": "where results and saved models go"})
    doc: str | None = field(
        default=None,
        metadata={"help": "markdown file whose bench-gpu section is replaced (e.g. docs/gpu/benchmarks.md)"},
    )
    dry_run: bool = field(default=False, metadata={"help": "print the plan and check the environment; run nothing"})

    def __post_init__(self) -> None:
        check_positive_ints("batch_sizes", self.batch_sizes)
        for name in (
            "new_tokens",
            "repeats",
            "iteration_batch",
            "iteration_new_tokens",
            "n_epochs",
            "minibatch_size",
            "group_size",
        ):
            check_positive_int(name, getattr(self, name))
        check_positive_int("lora_r", self.lora_r)
        check_positive_int("iterations", self.iterations, minimum=2)  # the first is a warm-up
        if self.dtype not in get_args(DTypeName):
            raise ValueError(f"dtype must be one of {get_args(DTypeName)}, got {self.dtype!r}")
        if self.iteration_rollout_cache not in get_args(RolloutCache):
            raise ValueError(
                f"iteration_rollout_cache must be one of {get_args(RolloutCache)}, got {self.iteration_rollout_cache!r}"
            )
        unknown = [c for c in self.rollout_cases if c not in ROLLOUT_CASES]
        if unknown or not (self.rollout_cases or self.iteration_cases or self.group_cases):
            raise ValueError(f"rollout_cases must be cases from {ROLLOUT_CASES}, got {self.rollout_cases}")
        unknown = [c for c in self.iteration_cases if c not in CASES]
        if unknown:
            raise ValueError(f"iteration_cases must be cases from {CASES} (scripts/bench/iteration.py), got {unknown}")
        unknown = [c for c in self.group_cases if c not in GROUP_CASES]
        if unknown:
            raise ValueError(f"group_cases must be cases from {GROUP_CASES} (scripts/bench/group.py), got {unknown}")
        if self.group_cases and (self.group_size < 2 or self.iteration_batch % self.group_size):
            raise ValueError(
                f"group_size must be >= 2 and divide iteration_batch={self.iteration_batch}, got {self.group_size}"
            )
        if not 0 <= self.group_kl_coef < float("inf"):
            raise ValueError(f"group_kl_coef must be a finite number >= 0, got {self.group_kl_coef}")
        if self.iteration_cases and self.iteration_batch % self.minibatch_size:
            raise ValueError(
                f"iteration_batch={self.iteration_batch} must be a multiple of minibatch_size={self.minibatch_size}"
            )


# ------------------------------------------------------------------------------------------------- the plan
def _model_config(config: BenchGPUConfig):
    """The policy's transformers config (read from its folder; no weights loaded)."""
    from transformers import AutoConfig

    from reward_models.common import resolve_model_path

    return AutoConfig.from_pretrained(resolve_model_path(config.policy))


def plan(config: BenchGPUConfig, num_layers: int) -> list[dict[str, Any]]:
    """The cases in run order, each with its size and estimated seconds (from ``PLANNING``)."""
    p = PLANNING
    steps = []
    for batch in config.batch_sizes:
        for case in config.rollout_cases:
            compiled = case.endswith("static-compiled")
            step_s = p["compiled_step_s_per_layer" if compiled else "eager_step_s_per_layer"] * num_layers
            estimate = (1 + config.repeats) * config.new_tokens * step_s
            estimate += p["compile_s_per_layer"] * num_layers if compiled else 0.0
            steps.append(
                {"part": "rollout", "case": case, "size": f"{batch} x {config.new_tokens}", "estimate_s": estimate}
            )
    compiled = config.iteration_rollout_cache == "static-compiled"
    for case in config.iteration_cases:
        tokens = config.iteration_batch * config.iteration_new_tokens
        step_s = p["compiled_step_s_per_layer" if compiled else "eager_step_s_per_layer"] * num_layers
        per_iteration = (
            config.iteration_new_tokens * step_s + config.n_epochs * tokens * p["update_s_per_episode_token"]
        )
        estimate = p["iteration_case_setup_s"] + config.iterations * per_iteration
        estimate += p["compile_s_per_layer"] * num_layers if compiled and case.startswith("ours") else 0.0
        size = f"{config.iteration_batch} x {config.iteration_new_tokens}, {config.iterations} iterations"
        steps.append({"part": "iteration", "case": case, "size": size, "estimate_s": estimate})
    for case in config.group_cases:
        ours = case.startswith("ours")
        tokens = config.iteration_batch * config.iteration_new_tokens
        step_s = p["compiled_step_s_per_layer" if compiled and ours else "eager_step_s_per_layer"] * num_layers
        per_iteration = config.iteration_new_tokens * step_s + tokens * p["update_s_per_episode_token"]
        estimate = p["iteration_case_setup_s"] + config.iterations * per_iteration
        estimate += p["compile_s_per_layer"] * num_layers if compiled and ours else 0.0
        size = f"{config.iteration_batch} x {config.iteration_new_tokens}, {config.iterations} iterations"
        steps.append({"part": "grpo", "case": case, "size": size, "estimate_s": estimate})
    return steps


def plan_table(steps: list[dict[str, Any]]) -> str:
    lines = ["| # | part | case | episodes x tokens | estimate (s) |", "| ---: | --- | --- | --- | ---: |"]
    lines += [
        f"| {i} | {s['part']} | {s['case']} | {s['size']} | {s['estimate_s']:.1f} |" for i, s in enumerate(steps, 1)
    ]
    return "\n".join(lines)


def environment_checks(config: BenchGPUConfig) -> tuple[list[tuple[bool, str]], Any]:
    """``[(ok, message)]`` for everything the run needs, and the policy's transformers config (None if unreadable)."""
    import torch
    import transformers
    from transformers import MODEL_FOR_CAUSAL_LM_MAPPING

    checks = [(True, f"torch {torch.__version__}, transformers {transformers.__version__}")]
    if config.device.startswith("cuda"):
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            checks.append((True, f"CUDA: {props.name}, {props.total_memory / 2**30:.0f} GiB"))
            if config.dtype == "bfloat16":
                checks.append((torch.cuda.is_bf16_supported(), "bfloat16 supported by the GPU"))
        else:
            checks.append(
                (
                    False,
                    f"CUDA: not available (torch {torch.__version__}): this benchmark measures a GPU; "
                    "--device cpu runs the same code path on the CPU (for testing, with a tiny --policy)",
                )
            )
        has_triton = importlib.util.find_spec("triton") is not None
        compiles = any(c.endswith("static-compiled") for c in config.rollout_cases)
        compiles |= config.iteration_rollout_cache == "static-compiled" and bool(config.iteration_cases)
        if compiles:
            checks.append((has_triton, "triton installed (torch.compile's GPU code generation)"))
    elif config.device == "cpu":
        checks.append((True, "device cpu: the benchmark's code path on the CPU (figures are not GPU figures)"))
        compiler = shutil.which("c++") or shutil.which("g++")
        checks.append((True, f"C++ compiler for torch.compile on CPU: {compiler or 'none (compiled cases fail)'}"))
    else:
        checks.append((False, f"device must be 'cuda', 'cuda:N' or 'cpu', got {config.device!r}"))
    model_config = None
    try:
        model_config = _model_config(config)
    except (OSError, ValueError) as error:
        checks.append((False, f"policy {config.policy!r}: {error}"))
    if model_config is not None:
        model_class = MODEL_FOR_CAUSAL_LM_MAPPING.get(type(model_config), None)
        static_ok = bool(getattr(model_class, "_can_compile_fullgraph", False))
        needs_static = any(not c.endswith(":dynamic") for c in config.rollout_cases)
        needs_static |= config.iteration_rollout_cache != "dynamic" and bool(config.iteration_cases)
        checks.append(
            (
                static_ok or not needs_static,
                f"policy {config.policy!r}: {model_config.model_type}, {model_config.num_hidden_layers} layers, "
                f"{'supports' if static_ok else 'does not support'} a StaticCache",
            )
        )
    from reward_models.common import MissingExtraError
    from scripts.bench.trl_cases import load_trl_group_trainers, load_trl_ppo

    trainers = []
    if "trl" in config.iteration_cases:
        trainers.append((load_trl_ppo, "TRL's PPO trainer (the trl iteration case)"))
    if any(case.startswith("trl") for case in config.group_cases):
        trainers.append((load_trl_group_trainers, "TRL's GRPOTrainer (the trl group cases)"))
    for load, name in trainers:
        try:
            load()
            checks.append((True, name))
        except MissingExtraError as error:
            checks.append((False, str(error)))
    needs_sb3 = bool(config.iteration_cases)
    for module in ("gymnasium", "peft", *(("stable_baselines3",) if needs_sb3 else ())):
        checks.append((importlib.util.find_spec(module) is not None, f"{module} installed"))
    return checks, model_config


def static_cache_gib(model_config, batch: int, length: int, dtype: str) -> float:
    """Size of a full-attention static KV cache: 2 x layers x batch x kv heads x length x head dim elements."""
    heads = model_config.num_attention_heads
    kv_heads = getattr(model_config, "num_key_value_heads", None) or heads
    head_dim = getattr(model_config, "head_dim", None) or model_config.hidden_size // heads
    element = 4 if dtype == "float32" else 2
    return 2 * model_config.num_hidden_layers * batch * kv_heads * length * head_dim * element / 2**30


def describe_plan(config: BenchGPUConfig) -> tuple[str, bool, list[dict[str, Any]]]:
    """The plan and environment report printed before a run (and by ``--dry-run``), whether the run can go ahead,
    and the planned steps."""
    checks, model_config = environment_checks(config)
    num_layers = model_config.num_hidden_layers if model_config is not None else 30
    steps = plan(config, num_layers)
    total = PLANNING["setup_s"] + sum(s["estimate_s"] for s in steps)
    lines = [
        f"text-gym bench gpu: policy {config.policy} ({'random weights' if config.random_init else 'its weights'}), "
        f"{config.dtype}, device {config.device}",
        "",
        plan_table(steps),
        "",
        f"estimated total: {total / 60:.1f} min (planning figures, not measured: scripts/bench/gpu.py PLANNING)",
    ]
    if model_config is not None and config.batch_sizes:
        from text_gym import TextGenSettings

        prompt_width = TextGenSettings.max_prompt_tokens  # the env's default
        length = prompt_width + config.new_tokens
        lines.append(
            f"static KV cache at batch {max(config.batch_sizes)}: "
            f"{static_cache_gib(model_config, max(config.batch_sizes), length, config.dtype):.2f} GiB "
            f"({length} positions)"
        )
    lines += ["", "environment:", *[f"  {'ok  ' if ok else 'FAIL'} {message}" for ok, message in checks]]
    ready = all(ok for ok, _ in checks)
    lines.append(f"ready: {'yes' if ready else 'no'}")
    return "\n".join(lines), ready, steps


# -------------------------------------------------------------------------------------------------- running
def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _release(policy, device) -> None:
    """Drop the compiled code, static caches and CUDA-graph pools of the previous case."""
    import torch

    policy.rollout_cache = "dynamic"
    for name in ("_cache", "_compiled_call", "_last_compile_config"):
        if hasattr(policy.model, name):
            delattr(policy.model, name)
    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _prepare_policy(config: BenchGPUConfig, out: Path) -> str:
    """The policy folder every part loads: ``--policy`` itself, or (``--random-init``) a randomly initialised float32
    copy of its architecture saved with its tokenizer under ``out/policy``."""
    from reward_models.common import resolve_model_path

    if not config.random_init:
        return resolve_model_path(config.policy)
    return save_random_init_policy(config.policy, out / "policy", config.seed)


def _rollout_functions(policy, env, encoded, batch: int, new_tokens: int, device, seed: int) -> dict[str, Any]:
    """``SIDE -> fn(cache) -> (run() -> generated tokens)``."""
    import numpy as np
    import torch
    from transformers import CompileConfig

    from agents import collect_rollout
    from agents.common.static_decode import compile_options
    from scripts.bench.rollout import generate_tokens

    generator = torch.Generator(device).manual_seed(seed)
    pad_id = policy.tokenizer.pad_token_id
    pad_id = policy.tokenizer.eos_token_id if pad_id is None else pad_id

    def env_side(cache: str):
        policy.rollout_cache = cache
        return lambda: collect_rollout(policy, env, np.arange(batch), generator).num_tokens

    def generate_side(cache: str):
        kwargs = {}
        if cache != "dynamic":
            kwargs["cache_implementation"] = "static"
        if cache == "static":
            kwargs["disable_compile"] = True
        if cache == "static-compiled":
            compile_config = CompileConfig(**compile_options(device))
            compile_config._compile_all_devices = device.type != "cuda"  # transformers compiles on CUDA only
            kwargs["compile_config"] = compile_config

        return lambda: generate_tokens(policy.model, encoded, new_tokens, pad_id, **kwargs)

    return {"env": env_side, "generate": generate_side}


def run_rollouts(config: BenchGPUConfig, policy_dir: str, device, recorder: ResultsWriter) -> None:
    """Time every rollout case at every batch size (one row each to ``recorder``; the weights' GiB too, CUDA
    only)."""
    import torch
    from gymnasium.vector import AutoresetMode

    from agents import LMPolicy
    from text_gym import TextGenVectorEnv, default_prompts

    policy = LMPolicy.from_pretrained(policy_dir, dtype=getattr(torch, config.dtype)).to(device).eval()
    policy.tokenizer.padding_side = "left"
    cuda = device.type == "cuda"
    recorder.results["weights_gib"] = torch.cuda.memory_allocated(device) / 2**30 if cuda else None
    train = default_prompts("train")
    for batch in config.batch_sizes:
        prompts = [train[i % len(train)] for i in range(batch)]
        env = TextGenVectorEnv(
            batch,
            tokenizer=policy.tokenizer,
            reward_model=zero_reward,
            prompts=prompts,
            max_new_tokens=config.new_tokens,
            eos_token_ids=[],
            vocab_size=policy.vocab_size,
            device=device,
            autoreset_mode=AutoresetMode.DISABLED,
        )
        encoded = policy.tokenizer(prompts, return_tensors="pt", padding=True).to(device)
        sides = _rollout_functions(policy, env, encoded, batch, config.new_tokens, device, config.seed)
        for case in config.rollout_cases:
            recorder.bar.set_description(f"rollout {case} B={batch}")
            side, cache = case.split(":")
            _release(policy, device)
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            run = sides[side](cache)
            times = []
            for _ in range(1 + config.repeats):
                _sync(device)
                begin = time.perf_counter()
                tokens = run()
                _sync(device)
                times.append(time.perf_counter() - begin)
                if tokens != batch * config.new_tokens:
                    raise RuntimeError(f"{case}: generated {tokens} tokens, expected {batch * config.new_tokens}")
            recorder.add(
                "rollout",
                {
                    "case": case,
                    "side": side,
                    "cache": cache,
                    "batch": batch,
                    "new_tokens": config.new_tokens,
                    "tokens_per_s": batch * config.new_tokens / min(times[1:]),
                    "first_run_s": times[0],
                    "timed_s": times[1:],
                    "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
                    "wall_s": time.perf_counter() - start,
                },
            )
    _release(policy, device)


def run_training_cases(
    config: BenchGPUConfig, policy_dir: str, reward_dir: str, device, out: Path, recorder: ResultsWriter
) -> None:
    """One row per iteration case (scripts/bench/iteration.py's ``run_case_in_subprocess``) and per GRPO case
    (scripts/bench/group.py's ``run_group_case_in_subprocess``) to ``recorder``."""
    from scripts.bench.group import GroupSettings, run_group_case_in_subprocess
    from scripts.bench.iteration import IterationSettings, run_case_in_subprocess

    shared = {
        "policy_dir": policy_dir,
        "reward_dir": reward_dir,
        "new_tokens": config.iteration_new_tokens,
        "iterations": config.iterations,
        "device": str(device),
        "dtype": config.dtype,
        "seed": config.seed,
        "lora_r": config.lora_r,
        "rollout_cache": config.iteration_rollout_cache,
    }
    ppo = IterationSettings(
        **shared, batch=config.iteration_batch, n_epochs=config.n_epochs, minibatch_size=config.minibatch_size
    )
    _run_cases("iterations", config.iteration_cases, run_case_in_subprocess, ppo, out / "iteration", recorder)
    grpo = GroupSettings(
        **shared,
        algorithm="grpo",
        prompts=config.iteration_batch // config.group_size,
        group_size=config.group_size,
        kl_coef=config.group_kl_coef,
    )
    _run_cases("grpo", config.group_cases, run_group_case_in_subprocess, grpo, out / "grpo", recorder)


def _run_cases(part: str, cases: list[str], run_case, settings: Any, out: Path, recorder: ResultsWriter) -> None:
    """Each of ``cases`` through ``run_case(case, settings, out_dir)`` (a fresh process each); its row, with the
    median timed iteration and the case's wall time, to ``recorder``'s ``part``."""
    for case in cases:
        recorder.bar.set_description(f"{part} {case}")
        start = time.perf_counter()
        row = run_case(case, settings, str(out))
        row.update(median_s=statistics.median(row["iteration_s"][1:]), wall_s=time.perf_counter() - start)
        recorder.add(part, row)


def run_benchmark(config: BenchGPUConfig) -> dict[str, Any]:
    """Check the environment (refusing to run where it fails), run every case, write the outputs (after every
    case); returns what ``results.json`` holds."""
    import torch
    from tqdm.auto import tqdm

    text, ready, steps = describe_plan(config)
    print(text, flush=True)
    if not ready:
        failed = [line.strip()[5:] for line in text.splitlines() if line.startswith("  FAIL")]
        raise ValueError("the environment check failed: " + "; ".join(failed))
    device = torch.device(config.device)
    out = Path(config.output_dir)
    results: dict[str, Any] = {
        "config": asdict(config),
        "machine": machine_info(str(device)),
        "estimated_s": PLANNING["setup_s"] + sum(s["estimate_s"] for s in steps),
        "weights_gib": None,
        "rollout": [],
        "iterations": [],
        "grpo": [],
    }
    with tqdm(total=len(steps), unit="case", desc="bench gpu", file=sys.stderr) as bar:
        recorder = ResultsWriter(out, results, len(steps), report, config.doc, "gpu", bar=bar)
        policy_dir = _prepare_policy(config, out)
        if config.rollout_cases:
            run_rollouts(config, policy_dir, device, recorder)
        if config.iteration_cases or config.group_cases:
            reward_dir = save_reward_model(policy_dir, out / "reward_model", config.seed)
            run_training_cases(config, policy_dir, reward_dir, device, out, recorder)
    recorder.write()
    return results


# ------------------------------------------------------------------------------------------------- reporting
def _gib(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def rollout_table(rows: list[dict[str, Any]]) -> str:
    """Tokens/s per case and batch, with the ratio to the env's dynamic-cache rollout at the same batch."""
    lines = [
        "| batch | side | KV cache | tokens/s | vs env dynamic | first run (s) | peak memory (GiB) |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        base = next((b for b in rows if b["batch"] == r["batch"] and b["case"] == "env:dynamic"), None)
        ratio = "–" if base is None else f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}"
        lines.append(
            f"| {r['batch']} | {r['side']} | {r['cache']} | {r['tokens_per_s']:,.0f} | {ratio} "
            f"| {r['first_run_s']:.1f} | {_gib(r['peak_memory_gib'])} |"
        )
    return "\n".join(lines)


def iteration_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | iteration (s, median) | setup (s) | peak memory (GiB) |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['case']} | {r['median_s']:.2f} | {r['setup_s']:.1f} | {_gib(r['peak_memory_gib'])} |" for r in rows
    ]
    return "\n".join(lines)


def report(results: dict[str, Any]) -> str:
    """The markdown section: machine, settings, the two tables and the wall time of every case."""
    c, m = results["config"], results["machine"]
    lines = [
        f"Measured on {m['machine']} ({m['device']}), torch {m['torch']}, transformers {m['transformers']}, "
        f"Python {m['python']}; policy `{c['policy']}` ({'random weights' if c['random_init'] else 'its weights'}) "
        f"in {c['dtype']}, seed {c['seed']}; total {results['total_wall_s'] / 60:.1f} min (estimated "
        f"{results['estimated_s'] / 60:.1f}). Command: `{command_line('gpu', BenchGPUConfig, c, skip=('dry_run',))}`.",
        "",
    ]
    lines += partial_line(
        len(results["rollout"]) + len(results["iterations"]) + len(results["grpo"]), results["planned_cases"]
    )
    if results["rollout"]:
        weights = results["weights_gib"]
        lines += [
            f"**Rollout**: {c['new_tokens']} new tokens per episode, no early EOS, sampling at temperature 1; "
            f"tokens/s from the best of {c['repeats']} timed runs after one untimed first run (which includes "
            "compilation); peak `torch.cuda.max_memory_allocated` during the case"
            + (f" (weights {weights:.2f} GiB included)" if weights is not None else " (CUDA only)")
            + ". `env`: `agents.collect_rollout` through `TextGenVectorEnv` with the policy's `rollout_cache`; "
            '`generate`: `model.generate` (`static`: `cache_implementation="static"`; `static-compiled`: and '
            "its compiled decode step, same `torch.compile` options).",
            "",
            rollout_table(results["rollout"]),
            "",
        ]
    if results["iterations"]:
        lines += [
            f"**One training iteration** (rollout + update; scripts/bench/iteration.py, each case in a fresh "
            f"process): {c['iteration_batch']} episodes x {c['iteration_new_tokens']} tokens, {c['n_epochs']} "
            f"epoch(s) of {c['minibatch_size']}-episode minibatches, autocast {c['dtype']}, our rollouts with "
            f"`rollout_cache={c['iteration_rollout_cache']}`"
            + (
                f", LoRA r={c['lora_r']} (alpha {2 * c['lora_r']}, all linear layers)"
                if any("lora" in case for case in c["iteration_cases"])
                else ""
            )
            + f"; median of {c['iterations'] - 1} iteration(s) after a warm-up; memory: "
            f"{results['iterations'][0]['memory_kind']}.",
            "",
            iteration_table(results["iterations"]),
            "",
        ]
    if results["grpo"]:
        rows = with_trl_ratios(merge_processes(results["grpo"]))
        lines += [
            f"**One GRPO iteration** (generation + one optimizer step; scripts/bench/group.py, each case in a fresh "
            f"process, the matched settings of `text-gym bench speed`'s GRPO comparison): "
            f"{c['iteration_batch'] // c['group_size']} prompts x {c['group_size']} completions x "
            f"{c['iteration_new_tokens']} tokens, KL coefficient {c['group_kl_coef']:g}, {c['dtype']}, our rollouts "
            f"with `rollout_cache={c['iteration_rollout_cache']}`; median of {c['iterations'] - 1} iteration(s) "
            f"after a warm-up; memory: {results['grpo'][0]['memory_kind']}.",
            "",
            group_table(rows),
            "",
            "Seconds per phase (median):",
            "",
            phase_table(rows),
            "",
        ]
    walls = [(f"rollout {r['case']} B={r['batch']}", r["wall_s"]) for r in results["rollout"]]
    walls += [(f"iteration {r['case']}", r["wall_s"]) for r in results["iterations"]]
    walls += [(f"grpo {r['case']}", r["wall_s"]) for r in results["grpo"]]
    lines += [
        "Wall time per case (s): " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in walls) + ".",
    ]
    return "\n".join(lines)


def main(config: BenchGPUConfig) -> int:
    """``--dry-run``: print the plan (exit status 1 where the run would be refused); else run and print the report."""
    if config.dry_run:
        text, ready, _ = describe_plan(config)
        print(text)
        return 0 if ready else 1
    results = run_benchmark(config)
    print(report(results))
    print(f"outputs in {config.output_dir}" + (f"; {config.doc} updated" if config.doc else ""))
    return 0


BENCHMARK = Benchmark(
    "gpu",
    BenchGPUConfig,
    main,
    "the prepared GPU benchmark: env rollout vs generate (dynamic / static / compiled KV cache), iterations",
    __doc__,
)
