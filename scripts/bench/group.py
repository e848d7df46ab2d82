"""One GRPO / RLOO iteration (generation + update) of our agents vs TRL's ``GRPOTrainer`` / ``RLOOTrainer``: wall
time, peak memory and where each side spends its time.

Every case runs in a fresh process (``run_group_case_in_subprocess``, scripts/bench/runner.py; peak memory as
scripts/bench/memory.py measures it) and trains ``iterations`` iterations; the first is a warm-up. Matched on both
sides:

- the same policy weights (``policy_dir``, float32 weights; ``dtype`` is the autocast / mixed-precision dtype),
  the default train prompts (raw text, no chat template), ``prompts`` prompts per iteration with ``group_size``
  completions each (``prompts x group_size`` completions per generation batch);
- exactly ``new_tokens`` new tokens per completion: our env has no EOS ids; TRL generates with
  ``min_new_tokens = max_completion_length = new_tokens`` (EOS suppressed until then), so no completion ends early;
  sampling at temperature 1, no top-k / top-p;
- the same reward: the sequence classifier in ``reward_dir`` scoring prompt + completion (our ``hf:`` reward model;
  TRL's reward model given as that folder);
- one AdamW step (``learning_rate``, gradient clipping at 1.0, no weight decay) per generation batch: ours with
  ``minibatch_size = n_envs``, TRL with ``per_device_train_batch_size`` = the whole batch, one gradient accumulation
  step and one iteration (``num_iterations = 1``); no gradient checkpointing unless ``gradient_checkpointing``
  (then on both sides);
- KL coefficient ``kl_coef`` (TRL's ``beta``) to the initial policy; with 0 neither side builds or runs a reference
  (ours since the ``kl_coef=0`` lever, TRL by design). Where the KL goes differs by design and not in cost: TRL's
  GRPO adds ``beta x k3`` to the loss, our GRPO and both RLOOs subtract ``beta x KL`` from the reward;
- LoRA cases (``-lora``): rank ``lora_r``, alpha ``2 x lora_r``, no dropout, every linear layer but the LM head,
  the adapter-disabled base as the reference on both sides.

Cases: ``ours`` / ``ours-lora`` (``agents.ALGORITHMS["grpo"]`` or ``["rloo"]``) and ``trl`` / ``trl-lora``
(``trl.GRPOTrainer`` with ``loss_type="dapo"``, the token mean our GRPO uses, or ``trl.RLOOTrainer``; built by
scripts/bench/trl_cases.py).

Phases (``PHASES``), measured the same way on both sides through public hooks only (scripts/bench/phases.py:
iteration marks from an SB3 callback / a ``TrainerCallback``, torch forward hooks on the backbones of the policy,
the reference and the reward model): *update* runs from the policy's first training forward (gradients on) to the
iteration's end (training forward, backward, optimizer step, logging); before it, *reward* is the reward model's
forward passes, *reference* the reference forwards (the reference model, or the policy with its adapters
disabled), *old log-probs* the policy's no-grad forwards that are not decoding steps (a second scoring of the
samples that TRL's RLOO always runs and ours does not, since it keeps the log-probs it sampled with), and
*generation* the rest (sampling, tokenising and decoding, advantages).
"""

from __future__ import annotations

import importlib
import os
import statistics
from dataclasses import dataclass
from typing import Any

from reward_models.common import hf_progress_bars_disabled
from scripts.bench.measure import CaseSettings, measure_training
from scripts.bench.models import reward_model_spec, textgen_env_kwargs
from scripts.bench.phases import PHASES, PhaseClock
from scripts.bench.runner import run_in_fresh_process
from scripts.bench.trl_cases import group_trainer, load_trl_group_trainers, train_quietly

GROUP_CASES = ("ours", "ours-lora", "trl", "trl-lora")
GROUP_ALGORITHMS = ("grpo", "rloo")


@dataclass
class GroupSettings(CaseSettings):
    """What one case trains (see the module docstring; the shared fields are ``CaseSettings``')."""

    algorithm: str = "grpo"
    prompts: int = 8
    group_size: int = 4
    new_tokens: int = 32
    iterations: int = 4
    kl_coef: float = 0.04

    @property
    def batch(self) -> int:
        """Completions per generation batch (= per optimizer step)."""
        return self.prompts * self.group_size


def _train_ours(s: GroupSettings, lora: bool, clock: PhaseClock) -> None:
    from agents import ALGORITHMS
    from reward_models import make_reward_model

    cls, fixed = ALGORITHMS[s.algorithm]
    reward = make_reward_model(reward_model_spec(s.reward_dir))
    lora_fields = {"lora_r": s.lora_r, "lora_alpha": 2.0 * s.lora_r} if lora else {}
    agent = cls(
        s.policy_dir,
        "TextGen-v0",
        env_kwargs=textgen_env_kwargs(s.policy_dir, reward, s.new_tokens),
        n_envs=s.batch,
        group_size=s.group_size,
        minibatch_size=s.batch,
        num_iterations=1,
        learning_rate=s.learning_rate,
        kl_coef=s.kl_coef,
        seed=s.seed,
        device=s.device,
        compute_dtype=s.dtype,
        gradient_checkpointing=s.gradient_checkpointing,
        rollout_cache=s.rollout_cache,
        **fixed,
        **lora_fields,
    )
    clock.watch_agent(agent, reward.model)
    agent.learn(s.batch * s.new_tokens * s.iterations, callback=clock.sb3_callback(), progress_bar=False)


def _train_trl(s: GroupSettings, lora: bool, clock: PhaseClock, out_dir: str) -> None:
    trainer = group_trainer(s, lora, out_dir, [clock.trainer_callback()])
    clock.watch_trainer(trainer)
    train_quietly(trainer)


def run_group_case(case: str, settings: GroupSettings, out_dir: str) -> dict[str, Any]:
    """Train ``settings.iterations`` iterations of ``case`` (from ``GROUP_CASES``) in this process: iteration
    times, peak memory, and per-iteration phase times (``phases_s``, scripts/bench/phases.py)."""
    if case not in GROUP_CASES:
        raise ValueError(f"case must be one of {GROUP_CASES}, got {case!r}")
    if settings.algorithm not in GROUP_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {GROUP_ALGORITHMS}, got {settings.algorithm!r}")
    trl = case.startswith("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    # Libraries are imported before the memory baseline: their footprint is not training memory.
    for module in ("agents", "text_gym", "peft", *(("datasets", "trl") if trl else ())):
        importlib.import_module(module)
    if trl:
        load_trl_group_trainers()
    lora = case.endswith("-lora")

    def train(clock: PhaseClock) -> None:
        if trl:
            _train_trl(settings, lora, clock, out_dir)
        else:
            _train_ours(settings, lora, clock)

    with hf_progress_bars_disabled():  # no "Loading weights" bars from either side
        row = measure_training(train, settings.iterations, settings.device, settings.threads, phases=True)
    return {"case": case, "algorithm": settings.algorithm, "kl_coef": settings.kl_coef, **row}


def run_group_case_in_subprocess(case: str, settings: GroupSettings, out_dir: str) -> dict[str, Any]:
    """``run_group_case`` in a fresh process; adds ``median_s`` and the median of each phase over the timed
    iterations (the first is a warm-up)."""
    row = run_in_fresh_process(run_group_case, case, settings, out_dir)
    timed = row["phases_s"][1:]
    row["median_s"] = statistics.median(row["iteration_s"][1:])
    row["phase_median_s"] = {phase: statistics.median(p[phase] for p in timed) for phase in PHASES}
    return row


def merge_processes(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per ``(algorithm, kl_coef, case)`` from the rows of its processes (``run_group_case_in_subprocess``,
    one per repeat), in first-run order: ``median_s`` the median of the processes' medians, ``median_s_range``
    their ``[min, max]``, ``peak_memory_gib`` the median of their peaks (``peak_memory_range`` ``[min, max]``),
    ``phase_median_s`` the median over the processes of each phase's median, ``processes`` how many ran."""
    keyed: dict[tuple[str, float, str], list[dict[str, Any]]] = {}
    for run in runs:
        keyed.setdefault((run["algorithm"], run["kl_coef"], run["case"]), []).append(run)
    rows = []
    for group in keyed.values():
        medians = [r["median_s"] for r in group]
        peaks = [r["peak_memory_gib"] for r in group]
        rows.append(
            {
                **group[0],
                "median_s": statistics.median(medians),
                "median_s_range": [min(medians), max(medians)],
                "peak_memory_gib": statistics.median(peaks),
                "peak_memory_range": [min(peaks), max(peaks)],
                "phase_median_s": {
                    phase: statistics.median(r["phase_median_s"][phase] for r in group) for phase in PHASES
                },
                "processes": len(group),
            }
        )
    return rows


# ------------------------------------------------------------------------------------------------- reporting
def with_trl_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds ``time_vs_trl`` / ``memory_vs_trl`` to each GRPO / RLOO row: its median iteration time and peak memory
    over those of the TRL case with the same algorithm, KL coefficient and fine-tuning (``trl`` for full,
    ``trl-lora`` for LoRA); None where that case was not run."""
    for row in rows:
        counterpart = "trl-lora" if row["case"].endswith("-lora") else "trl"
        base = next(
            (
                r
                for r in rows
                if (r["algorithm"], r["kl_coef"], r["case"]) == (row["algorithm"], row["kl_coef"], counterpart)
            ),
            None,
        )
        row["time_vs_trl"] = None if base is None else row["median_s"] / base["median_s"]
        row["memory_vs_trl"] = None if base is None else row["peak_memory_gib"] / base["peak_memory_gib"]
    return rows


def ratio_cell(value: float | None) -> str:
    """A ratio in a markdown table ("–" where there is none)."""
    return "–" if value is None else f"{value:.2f}"


def group_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: median iteration time (and the range of the processes' medians) and peak memory of each GRPO /
    RLOO case, and the ratios to TRL's."""
    lines = [
        "| algorithm | KL coef | case | processes | iteration (s, median) | range (s) | vs TRL | peak memory (GiB) "
        "| vs TRL |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['algorithm'].upper()} | {r['kl_coef']:g} | {r['case']} | {r['processes']} | {r['median_s']:.2f} "
        f"| {r['median_s_range'][0]:.2f}–{r['median_s_range'][1]:.2f} | {ratio_cell(r['time_vs_trl'])} "
        f"| {r['peak_memory_gib']:.2f} | {ratio_cell(r['memory_vs_trl'])} |"
        for r in rows
    ]
    return "\n".join(lines)


def phase_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: the median seconds of each phase per GRPO / RLOO case (scripts/bench/phases.py defines them)."""
    names = {"old_logprobs": "old log-probs"}
    lines = [
        "| algorithm | KL coef | case | " + " | ".join(names.get(p, p) for p in PHASES) + " |",
        "|---|---:|---|" + "---:|" * len(PHASES),
    ]
    lines += [
        f"| {r['algorithm'].upper()} | {r['kl_coef']:g} | {r['case']} | "
        + " | ".join(f"{r['phase_median_s'][p]:.2f}" for p in PHASES)
        + " |"
        for r in rows
    ]
    return "\n".join(lines)
