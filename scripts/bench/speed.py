"""``text-gym bench speed``: every speed and memory comparison of the project in one run.

1. Rollout tokens/s through the env (the agents' KV-cached collector) vs ``model.generate`` for every batch size
   × new-token count (``text-gym bench rollout``'s method), and the per-token cost at the longest vs the shortest
   completion (env rollout, per batch size).
2. One GRPO and one RLOO iteration (generation + update) of our agents vs TRL's ``GRPOTrainer`` /
   ``RLOOTrainer`` (the maintained TRL trainers, ``text-gym[bench-trl]``) on ``--policy``, full fine-tuning and
   LoRA, at each KL coefficient: wall time, peak memory, ratios ours / TRL and the time of each phase (generation,
   old log-probs, reference, reward, update); scripts/bench/group.py says what is matched and how phases are timed.
3. One PPO iteration (rollout + update) of our PPO (shared value head, separate critic, LoRA); the historical
   comparison with TRL's old PPO trainer (case ``trl``) needs trl < 1.13 (``text-gym[bench-trl-ppo]``);
   scripts/bench/iteration.py says what is matched. Each case runs in its own process.
4. Our PPO vs stock SB3 PPO with our LM policy, on a tiny GPT-2 (2 layers, 64 wide, the policy's tokenizer) built
   here from a config.

Writes ``results.json`` (config, machine, versions, every timing) and ``results.md`` to ``--output-dir`` after
every case (a run stopped part-way, at a time limit, leaves what it measured, marked partial), and at the end
``speed_rollout.png`` / ``speed_group.png`` / ``speed_iteration.png``; ``--doc`` also replaces the generated
``bench-speed`` section of that markdown file (after every case too) and copies the plots beside it. Iteration
times are the median over the timed iterations (the first iteration of each case is a warm-up and is not counted);
each GRPO / RLOO case runs in ``--repeats`` processes, in alternating order.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from reward_models.common import check_positive_int
from scripts.bench.cli import Benchmark, check_positive_ints
from scripts.bench.group import (
    GROUP_CASES,
    GroupSettings,
    group_table,
    merge_processes,
    phase_table,
    ratio_cell,
    run_group_case_in_subprocess,
    with_trl_ratios,
)
from scripts.bench.iteration import CASES, IterationSettings, run_case_in_subprocess
from scripts.bench.models import save_reward_model, save_tiny_policy
from scripts.bench.report import finish_figure, machine_info, pyplot
from scripts.bench.results import ResultsWriter, partial_line
from scripts.bench.rollout import BenchRolloutConfig
from scripts.bench.rollout import markdown_table as rollout_table
from scripts.bench.rollout import run_benchmark as run_rollout

TARGETS = {
    "rollout_ratio": 1.0,
    "per_token_growth": 1.5,
    "time_vs_trl": 0.5,
    "memory_vs_trl": 0.6,
    "lora_memory_vs_full": 0.45,
    "group_time_vs_trl": 0.65,
    "group_memory_vs_trl": 0.7,
    "group_lora_time_vs_trl": 0.7,
    "group_lora_memory_vs_trl": 0.7,
}
"""The speed targets: rollout/generate ≥, per-token cost longest/shortest ≤, our PPO iteration / TRL's old PPO ≤
(time and peak memory), LoRA PPO peak memory / full fine-tuning's ≤, our GRPO / RLOO iteration / TRL's ≤ (time and
peak memory; full fine-tuning, and LoRA on both sides)."""


@dataclass
class BenchSpeedConfig:
    """Speed and memory: env rollout vs generate, GRPO / RLOO iteration vs TRL, PPO iteration vs SB3."""

    policy: str = field(default="smollm2", metadata={"help": "hub id, local folder or 'smollm2'"})
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8, 32, 64], metadata={"help": "rollout: batch sizes"})
    new_tokens: list[int] = field(
        default_factory=lambda: [16, 32, 64, 128],
        metadata={"help": "rollout: completion lengths (the per-token growth compares the longest with the shortest)"},
    )
    repeats: int = field(
        default=3,
        metadata={
            "help": "rollout: timed runs of each side per setting (best kept); GRPO / RLOO: processes per case, "
            "the cases run in alternating order (ABBA: reversed on every other repeat), the median kept"
        },
    )
    grpo_cases: list[str] = field(
        default_factory=lambda: list(GROUP_CASES),
        metadata={
            "help": f"GRPO iteration cases on --policy (ours vs trl.GRPOTrainer), from {GROUP_CASES}; 'none': skip"
        },
    )
    rloo_cases: list[str] = field(
        default_factory=lambda: ["ours", "trl"],
        metadata={
            "help": f"RLOO iteration cases on --policy (ours vs trl.RLOOTrainer), from {GROUP_CASES}; 'none': skip"
        },
    )
    kl_coefs: list[float] = field(
        default_factory=lambda: [0.04, 0.0],
        metadata={"help": "GRPO / RLOO: KL coefficients (TRL's beta), each case runs at each (0: no reference)"},
    )
    group_prompts: int = field(default=8, metadata={"help": "GRPO / RLOO: prompts per iteration"})
    group_size: int = field(default=4, metadata={"help": "GRPO / RLOO: completions per prompt"})
    group_new_tokens: int = field(default=32, metadata={"help": "GRPO / RLOO: tokens per completion (no EOS stop)"})
    group_iterations: int = field(
        default=4, metadata={"help": "GRPO / RLOO: iterations per case, one optimizer step each (first is warm-up)"}
    )
    ppo_cases: list[str] = field(
        default_factory=lambda: ["ours", "ours-separate-critic", "ours-lora"],
        metadata={
            "help": f"PPO iteration cases on --policy, from {CASES} ('trl': TRL's old PPO trainer, needs trl < 1.13: "
            "pip install \"text-gym[bench-trl-ppo]\"); 'none': skip"
        },
    )
    ppo_batch: int = field(default=16, metadata={"help": "PPO iteration: episodes per iteration"})
    ppo_new_tokens: int = field(default=32, metadata={"help": "PPO iteration: tokens per episode (no EOS stop)"})
    ppo_iterations: int = field(default=3, metadata={"help": "PPO iterations per case (the first is a warm-up)"})
    ppo_epochs: int = field(default=2, metadata={"help": "PPO epochs per iteration"})
    ppo_minibatch_size: int = field(default=8, metadata={"help": "episodes per optimizer step"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank of the -lora cases (alpha = 2 x rank)"})
    gradient_checkpointing: bool = field(
        default=False,
        metadata={
            "help": "recompute layer activations in the backward pass: our PPO cases, and both sides of GRPO / RLOO"
        },
    )
    tiny_cases: list[str] = field(
        default_factory=lambda: ["ours", "sb3"],
        metadata={"help": f"PPO iteration cases on the tiny GPT-2, from {CASES}; 'none': skip"},
    )
    tiny_batch: int = field(default=16, metadata={"help": "tiny GPT-2: episodes per iteration"})
    tiny_new_tokens: int = field(default=32, metadata={"help": "tiny GPT-2: tokens per episode"})
    tiny_iterations: int = field(default=4, metadata={"help": "tiny GPT-2: iterations per case (first is warm-up)"})
    threads: int | None = field(
        default=None,
        metadata={
            "help": "torch threads of each GRPO / RLOO / PPO case on --policy (none: torch's default, one per core; "
            "1 suffers least from other processes on a busy machine)"
        },
    )
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda', ..."})
    dtype: str = field(default="float32", metadata={"help": "model dtype (rollout) / autocast dtype (PPO)"})
    seed: int = field(default=0, metadata={"help": "sampling and initialisation seed"})
    output_dir: str = field(default="runs/bench_speed", metadata={"help": "where results, plots and models go"})
    doc: str | None = field(
        default=None,
        metadata={
            "help": "markdown file whose bench-speed section is replaced with the results (e.g. docs/benchmarks.md)"
        },
    )

    def __post_init__(self) -> None:
        check_positive_ints("batch_sizes", self.batch_sizes)
        check_positive_ints("new_tokens", self.new_tokens)
        for name in (
            "repeats",
            "ppo_batch",
            "ppo_new_tokens",
            "ppo_epochs",
            "ppo_minibatch_size",
            "lora_r",
            "tiny_batch",
            "tiny_new_tokens",
            "group_prompts",
            "group_new_tokens",
        ):
            check_positive_int(name, getattr(self, name))
        check_positive_int("group_size", self.group_size, minimum=2)
        if self.threads is not None:
            check_positive_int("threads", self.threads)
        for name in ("ppo_iterations", "tiny_iterations", "group_iterations"):  # the first iteration is a warm-up
            check_positive_int(name, getattr(self, name), minimum=2)
        for name in ("grpo_cases", "rloo_cases", "ppo_cases", "tiny_cases"):
            if getattr(self, name) == ["none"]:  # the command line's way to skip a comparison
                setattr(self, name, [])
        for name, valid in (
            ("ppo_cases", CASES),
            ("tiny_cases", CASES),
            ("grpo_cases", GROUP_CASES),
            ("rloo_cases", GROUP_CASES),
        ):
            cases = getattr(self, name)
            if any(c not in valid for c in cases) or len(set(cases)) != len(cases):
                raise ValueError(f"{name} must be distinct cases from {valid}, got {cases}")
        if (self.grpo_cases or self.rloo_cases) and not self.kl_coefs:
            raise ValueError("kl_coefs must list at least one coefficient >= 0 when grpo_cases or rloo_cases are set")
        for kl_coef in self.kl_coefs:
            if not kl_coef >= 0:
                raise ValueError(f"kl_coefs must be numbers >= 0, got {self.kl_coefs}")
        for batch in ("ppo_batch", "tiny_batch"):
            if getattr(self, batch) % self.ppo_minibatch_size:
                raise ValueError(
                    f"{batch}={getattr(self, batch)} must be a multiple of ppo_minibatch_size={self.ppo_minibatch_size}"
                )


def _group_jobs(config: BenchSpeedConfig) -> list[tuple[str, float, str]]:
    """``(algorithm, kl_coef, case)`` of every GRPO / RLOO process, in run order: ``repeats`` rounds of every case
    (in the order of the case lists), every other round reversed (ABBA), so a machine that drifts over the run
    weighs on ours and TRL's alike."""
    cases = [
        (algorithm, kl_coef, case)
        for kl_coef in config.kl_coefs
        for algorithm, names in (("grpo", config.grpo_cases), ("rloo", config.rloo_cases))
        for case in names
    ]
    return [job for repeat in range(config.repeats) for job in (cases if repeat % 2 == 0 else cases[::-1])]


def per_token_growth(rollout: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per batch size: env-rollout time per token at the longest completion over that at the shortest."""
    rows = []
    for batch in dict.fromkeys(r["batch"] for r in rollout):
        group = sorted((r for r in rollout if r["batch"] == batch), key=lambda r: r["new_tokens"])
        if len(group) > 1:
            rows.append(
                {
                    "batch": batch,
                    "short": group[0]["new_tokens"],
                    "long": group[-1]["new_tokens"],
                    "growth": group[0]["env_tokens_per_s"] / group[-1]["env_tokens_per_s"],
                }
            )
    return rows


def _with_ratios(rows: list[dict[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """Adds time / memory ratios to the ``baseline`` case of the same model (None where it was not run)."""
    for row in rows:
        base = next((r for r in rows if r["model"] == row["model"] and r["case"] == baseline), None)
        row[f"time_vs_{baseline}"] = None if base is None else row["median_s"] / base["median_s"]
        row[f"memory_vs_{baseline}"] = None if base is None else row["peak_memory_gib"] / base["peak_memory_gib"]
    return rows


def iteration_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: median iteration time and peak memory of each PPO case, and the ratios to TRL's, SB3's and full
    fine-tuning's."""
    ratio = ratio_cell
    lines = [
        "| model | case | iteration (s, median) | vs TRL | vs SB3 | vs full | peak memory (GiB) | vs TRL | vs SB3 "
        "| vs full |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['model']} | {r['case']} | {r['median_s']:.2f} | {ratio(r['time_vs_trl'])} "
        f"| {ratio(r['time_vs_sb3'])} | {ratio(r['time_vs_ours'])} | {r['peak_memory_gib']:.2f} "
        f"| {ratio(r['memory_vs_trl'])} | {ratio(r['memory_vs_sb3'])} | {ratio(r['memory_vs_ours'])} |"
        for r in rows
    ]
    return "\n".join(lines)


def target_lines(
    rollout: list[dict], growth: list[dict], iterations: list[dict], group: list[dict] | None = None
) -> list[str]:
    """One line per target: the measured figure, and met / missed by how much."""

    def verdict(value: float, target: float, at_least: bool) -> str:
        ok = value >= target if at_least else value <= target
        return "met" if ok else f"**missed** by {abs(value - target):.2f}"

    lines = []
    if rollout:
        worst = min(rollout, key=lambda r: r["ratio"])
        lines.append(
            f"- rollout / generate ≥ {TARGETS['rollout_ratio']}: {worst['ratio']:.2f} at worst (batch "
            f"{worst['batch']}, {worst['new_tokens']} tokens), best {max(r['ratio'] for r in rollout):.2f}: "
            f"{verdict(worst['ratio'], TARGETS['rollout_ratio'], True)}"
        )
    if growth:
        worst = max(growth, key=lambda r: r["growth"])
        lines.append(
            f"- time per token at {worst['long']} vs {worst['short']} new tokens ≤ "
            f"{TARGETS['per_token_growth']}×: {worst['growth']:.2f}× at worst (batch {worst['batch']}): "
            f"{verdict(worst['growth'], TARGETS['per_token_growth'], False)}"
        )
    for row in iterations:
        if row["case"] == "ours-lora" and row["memory_vs_ours"] is not None:
            lines.append(
                f"- LoRA PPO peak memory ≤ {TARGETS['lora_memory_vs_full']}× full fine-tuning's ({row['model']}): "
                f"{row['memory_vs_ours']:.2f}×: "
                f"{verdict(row['memory_vs_ours'], TARGETS['lora_memory_vs_full'], False)}"
            )
        if row["case"].startswith("ours") and row["time_vs_trl"] is not None:
            lines.append(
                f"- {row['case']} PPO iteration ≤ {TARGETS['time_vs_trl']}× TRL's time: "
                f"{row['time_vs_trl']:.2f}×: {verdict(row['time_vs_trl'], TARGETS['time_vs_trl'], False)}; "
                f"peak memory ≤ {TARGETS['memory_vs_trl']}× TRL's: {row['memory_vs_trl']:.2f}×: "
                f"{verdict(row['memory_vs_trl'], TARGETS['memory_vs_trl'], False)}"
            )
    for row in group or []:
        if row["case"].startswith("ours") and row["time_vs_trl"] is not None:
            lora = "lora_" if row["case"].endswith("-lora") else ""
            time_target, memory_target = TARGETS[f"group_{lora}time_vs_trl"], TARGETS[f"group_{lora}memory_vs_trl"]
            lines.append(
                f"- {row['algorithm'].upper()} {row['case']}, KL {row['kl_coef']:g}: iteration ≤ {time_target}× "
                f"TRL's time: {row['time_vs_trl']:.2f}×: {verdict(row['time_vs_trl'], time_target, False)}; peak "
                f"memory ≤ {memory_target}× TRL's: {row['memory_vs_trl']:.2f}×: "
                f"{verdict(row['memory_vs_trl'], memory_target, False)}"
            )
    return lines


def plot_rollout(rollout: list[dict[str, Any]], path: Path) -> None:
    """Tokens/s (env solid, generate dashed) and their ratio vs batch size, one colour per completion length."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, new_tokens in enumerate(dict.fromkeys(r["new_tokens"] for r in rollout)):
        group = [r for r in rollout if r["new_tokens"] == new_tokens]
        batches = [r["batch"] for r in group]
        colour = f"C{i}"
        axes[0].plot(
            batches, [r["env_tokens_per_s"] for r in group], "o-", color=colour, label=f"{new_tokens} tokens: env"
        )
        axes[0].plot(
            batches,
            [r["generate_tokens_per_s"] for r in group],
            "x--",
            color=colour,
            label=f"{new_tokens} tokens: generate",
        )
        axes[1].plot(batches, [r["ratio"] for r in group], "o-", color=colour, label=f"{new_tokens} tokens")
    axes[1].axhline(TARGETS["rollout_ratio"], color="k", lw=0.8, ls=":", label="target")
    batches = sorted({r["batch"] for r in rollout})
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches, [str(b) for b in batches])
    axes[0].set_yscale("log")
    finish_figure(
        fig,
        axes,
        "batch size",
        ("tokens / s", "env rollout / generate"),
        "Rollout through the env vs model.generate",
        path,
    )


def plot_iterations(rows: list[dict[str, Any]], path: Path) -> None:
    """Median iteration time and peak memory per case, grouped by model."""
    plt = pyplot()

    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, 2 * len(models), figsize=(5 * len(models), 3.8), squeeze=False)
    for m, model in enumerate(models):
        group = [r for r in rows if r["model"] == model]
        names = [r["case"] for r in group]
        colours = [f"C{CASES.index(n)}" for n in names]
        for k, (key, label) in enumerate((("median_s", "iteration (s)"), ("peak_memory_gib", "peak memory (GiB)"))):
            ax = axes[0, 2 * m + k]
            ax.bar(names, [r[key] for r in group], color=colours)
            ax.set_title(f"{model}\n{label}", fontsize=9)
            ax.tick_params(axis="x", labelrotation=20, labelsize=8)
            ax.grid(alpha=0.3, axis="y")
    fig.suptitle("One PPO iteration (rollout + update)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_group(rows: list[dict[str, Any]], path: Path) -> None:
    """Median GRPO / RLOO iteration time (the bars span the processes' range) and peak memory per case, one panel
    pair per algorithm and KL coefficient."""
    plt = pyplot()

    settings = list(dict.fromkeys((r["algorithm"], r["kl_coef"]) for r in rows))
    fig, axes = plt.subplots(1, 2 * len(settings), figsize=(4.2 * len(settings), 3.8), squeeze=False)
    for m, (algorithm, kl_coef) in enumerate(settings):
        group = [r for r in rows if (r["algorithm"], r["kl_coef"]) == (algorithm, kl_coef)]
        names = [r["case"] for r in group]
        colours = [f"C{GROUP_CASES.index(n)}" for n in names]
        spread = [[r["median_s"] - r["median_s_range"][0] for r in group]]
        spread.append([r["median_s_range"][1] - r["median_s"] for r in group])
        time_axis, memory_axis = axes[0, 2 * m], axes[0, 2 * m + 1]
        time_axis.bar(names, [r["median_s"] for r in group], color=colours, yerr=spread, capsize=3)
        memory_axis.bar(names, [r["peak_memory_gib"] for r in group], color=colours)
        for ax, label in ((time_axis, "iteration (s)"), (memory_axis, "peak memory (GiB)")):
            ax.set_title(f"{algorithm.upper()}, KL {kl_coef:g}\n{label}", fontsize=9)
            ax.tick_params(axis="x", labelrotation=20, labelsize=8)
            ax.grid(alpha=0.3, axis="y")
    fig.suptitle("One GRPO / RLOO iteration (generation + update), ours vs TRL")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _derive(results: dict[str, Any]) -> None:
    """Refresh what ``results`` computes from its rows: the per-token growth and every ratio."""
    results["per_token_growth"] = per_token_growth(results["rollout"])
    results["group"] = with_trl_ratios(merge_processes(results["group_runs"]))
    _with_ratios(_with_ratios(_with_ratios(results["iterations"], "trl"), "sb3"), "ours")


def run_benchmark(config: BenchSpeedConfig) -> dict[str, Any]:
    """Run every comparison and write the outputs (after every case); returns what ``results.json`` holds."""
    from tqdm import tqdm

    from agents import resolve_device
    from reward_models.common import resolve_model_path
    from scripts.bench.trl_cases import load_trl_group_trainers, load_trl_ppo

    # Fail before the long rollout part when a TRL case cannot run with the installed trl.
    if "trl" in config.ppo_cases + config.tiny_cases:
        load_trl_ppo()
    if any(case.startswith("trl") for case in config.grpo_cases + config.rloo_cases):
        load_trl_group_trainers()
    out = Path(config.output_dir)
    device = str(resolve_device(config.device))
    jobs = _group_jobs(config)
    planned = len(config.batch_sizes) * len(config.new_tokens) + len(jobs)
    planned += len(config.ppo_cases) + len(config.tiny_cases)
    results: dict[str, Any] = {
        "config": asdict(config),
        "machine": machine_info(device),
        "targets": TARGETS,
        "rollout": [],
        "per_token_growth": [],
        "group_runs": [],
        "group": [],
        "iterations": [],
    }
    writer = ResultsWriter(out, results, planned, lambda r: report(r, writer.plots), config.doc, "speed", _derive)
    rollout_config = BenchRolloutConfig(
        policy=config.policy,
        batch_sizes=config.batch_sizes,
        new_tokens=config.new_tokens,
        repeats=config.repeats,
        device=device,
        dtype=config.dtype,
    )
    run_rollout(rollout_config, on_row=lambda row: writer.add("rollout", row))
    policy_dir = str(resolve_model_path(config.policy))
    reward_dir = None
    if config.ppo_cases or jobs:
        reward_dir = save_reward_model(policy_dir, out / "reward_model", config.seed)
    shared = {
        "policy_dir": policy_dir,
        "reward_dir": reward_dir,
        "device": device,
        "dtype": config.dtype,
        "seed": config.seed,
        "lora_r": config.lora_r,
        "gradient_checkpointing": config.gradient_checkpointing,
        "threads": config.threads,
    }
    for algorithm, kl_coef, case in tqdm(jobs, desc="GRPO / RLOO iteration", unit="case"):
        settings = GroupSettings(
            **shared,
            algorithm=algorithm,
            prompts=config.group_prompts,
            group_size=config.group_size,
            new_tokens=config.group_new_tokens,
            iterations=config.group_iterations,
            kl_coef=kl_coef,
        )
        row = run_group_case_in_subprocess(case, settings, str(out / "trl_group"))
        writer.add("group_runs", {"model": Path(policy_dir).name, **row})
    ppo = IterationSettings(
        **shared,
        batch=config.ppo_batch,
        new_tokens=config.ppo_new_tokens,
        iterations=config.ppo_iterations,
        n_epochs=config.ppo_epochs,
        minibatch_size=config.ppo_minibatch_size,
    )
    models = [(Path(policy_dir).name, config.ppo_cases, ppo)]
    if config.tiny_cases:
        tiny_dir = save_tiny_policy(policy_dir, out / "tiny_policy", config.tiny_new_tokens, config.seed)
        tiny_reward = save_reward_model(tiny_dir, out / "tiny_reward_model", config.seed)
        tiny = replace(
            ppo,
            policy_dir=tiny_dir,
            reward_dir=tiny_reward,
            batch=config.tiny_batch,
            new_tokens=config.tiny_new_tokens,
            iterations=config.tiny_iterations,
            threads=1,
        )
        models.append(("tiny-gpt2", config.tiny_cases, tiny))
    for model, cases, settings in models:
        for case in tqdm(cases, desc=f"PPO iteration ({model})", unit="case"):
            row = run_case_in_subprocess(case, settings, str(out / f"trl_{model}"))
            writer.add("iterations", {"model": model, "median_s": statistics.median(row["iteration_s"][1:]), **row})
    writer.plots = [out / "speed_rollout.png"]
    plot_rollout(results["rollout"], writer.plots[0])
    if results["group"]:
        writer.plots.append(out / "speed_group.png")
        plot_group(results["group"], writer.plots[-1])
    if results["iterations"]:
        writer.plots.append(out / "speed_iteration.png")
        plot_iterations(results["iterations"], writer.plots[-1])
    writer.write()
    return results


def report(results: dict[str, Any], plots: list[Path]) -> str:
    """The markdown section: setting, tables, targets and plots."""
    c, m = results["config"], results["machine"]
    growth = results["per_token_growth"]
    lines = [
        f"Measured on {m['machine']} ({m['device']}, {m['torch_threads']} torch threads"
        + (f"; {c['threads']} in each case on the policy" if c.get("threads") else "")
        + f"), torch {m['torch']}, "
        f"transformers {m['transformers']}, trl {m['trl']}, stable-baselines3 {m['stable-baselines3']}, "
        f"Python {m['python']}; policy `{c['policy']}` in {c['dtype']}, seed {c['seed']}; total "
        f"{results['total_wall_s'] / 60:.1f} min.",
        "",
        *partial_line(results["measured_cases"], results["planned_cases"]),
        f"**Rollout** (best of {c['repeats']} timed run(s) per side after one warm-up round; every episode runs the "
        "full length on both sides):",
        "",
        rollout_table(results["rollout"]),
        "",
    ]
    if growth:
        lines += [
            "**Per-token cost growth** (env rollout time per token at the longest / the shortest completion):",
            "",
            "| batch | tokens | growth |",
            "| ---: | ---: | ---: |",
            *[f"| {g['batch']} | {g['short']} → {g['long']} | {g['growth']:.2f}× |" for g in growth],
            "",
        ]
    if results["group"]:
        first = results["group"][0]
        lines += [
            f"**One GRPO / RLOO iteration vs TRL** (trl {m['trl']} `GRPOTrainer` / `RLOOTrainer`; generation + "
            f"one AdamW step): {c['group_prompts']} prompts × {c['group_size']} completions × "
            f"{c['group_new_tokens']} tokens on the policy, full fine-tuning and LoRA (r={c['lora_r']}, alpha "
            f"{2 * c['lora_r']}, all linear layers) on both sides; {c['group_iterations']} iterations per process, "
            f"first not counted; {c['repeats']} process(es) per case, run in alternating order (ABBA), the median "
            f"of their medians and its range shown; memory: {first['memory_kind']}; ratios are ours / TRL's at the "
            "same algorithm, KL coefficient and fine-tuning.",
            "",
            group_table(results["group"]),
            "",
            "Where the time goes (median seconds per iteration; scripts/bench/phases.py defines the phases):",
            "",
            phase_table(results["group"]),
            "",
        ]
    if results["iterations"]:
        lines += [
            f"**One PPO iteration** (rollout + update): {c['ppo_batch']} episodes × {c['ppo_new_tokens']} "
            f"tokens on the policy ({c['ppo_iterations']} iterations, first not counted); "
            f"{c['tiny_batch']} × {c['tiny_new_tokens']} on the tiny GPT-2 ({c['tiny_iterations']} iterations, "
            f"1 torch thread); {c['ppo_epochs']} epochs of {c['ppo_minibatch_size']}-episode minibatches; "
            f"memory: {results['iterations'][0]['memory_kind']}.",
            "",
            iteration_table(results["iterations"]),
            "",
        ]
    lines += [
        "**Targets**:",
        "",
        *target_lines(results["rollout"], growth, results["iterations"], results["group"]),
        "",
        *[f"![{p.stem}]({p.name})" for p in plots],
    ]
    return "\n".join(lines)


def main(config: BenchSpeedConfig) -> int:
    """Run every comparison and print the report."""
    results = run_benchmark(config)
    print(report(results, []))
    print(f"outputs in {config.output_dir}" + (f"; {config.doc} updated" if config.doc else ""))
    return 0


BENCHMARK = Benchmark(
    "speed",
    BenchSpeedConfig,
    main,
    "env rollout vs generate, GRPO / RLOO iteration time and memory vs TRL, PPO vs SB3",
    __doc__,
)
