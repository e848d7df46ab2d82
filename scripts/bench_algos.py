"""``text-gym bench algos``: PPO, REINFORCE, RLOO and GRPO on the task suite (text_gym.tasks) over several seeds.

Every (task, algorithm, seed) run trains a fresh policy for ``--total-timesteps`` generated tokens with the
algorithm's default config (``--n-envs`` episodes per update) and the task's proxy reward, logs to tensorboard
under ``<output-dir>/tensorboard/<task>/<algo>_s<seed>``, and records after every update the rollout's mean proxy
and gold reward, KL to the reference (k1, nats per episode) and generated tokens. Before and after training the
policy is scored on the task's held-out test prompts (proxy and gold). Writes to ``--output-dir``:
``results.json`` (config, machine, versions, every curve and final score), ``results.md`` (mean ± std over seeds),
``curves_<task>.png`` (proxy and gold reward vs tokens) and, for ``TextGenSentiment-v0``, ``overoptimisation.png``
(gold and proxy reward vs √KL, per algorithm; Gao et al. 2022). ``--doc`` also replaces the generated section of
that markdown file (between the ``bench-algos`` markers) and copies the plots next to it.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scripts.args import add_config_command, dataclass_from_args
from scripts.bench_report import doc_markers, finish_figure, machine_info, write_doc

DOC_BEGIN, DOC_END = doc_markers("algos")
OVEROPT_TASK = "TextGenSentiment-v0"


@dataclass
class BenchAlgosConfig:
    """Algorithm benchmark on the task suite."""

    algos: list[str] = field(default_factory=lambda: ["ppo", "reinforce", "rloo", "grpo"], metadata={
        "help": "algorithms (agents.ALGORITHMS names: ppo, reinforce, rloo, grpo)"})
    tasks: list[str] = field(default_factory=lambda: ["TextGenSentiment-v0", "TextGenKeyword-v0", "TextGenStory-v0",
                                                      "TextGenDialogue-v0"],
                             metadata={"help": "suite env ids (text_gym.TASKS)"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "seeds; one run per seed"})
    policy: str = field(default="smollm2", metadata={"help": "hub id, local folder or 'smollm2'"})
    total_timesteps: int = field(default=4096, metadata={"help": "generated tokens per run"})
    n_envs: int = field(default=16, metadata={"help": "episodes per update"})
    max_new_tokens: int | None = field(default=None, metadata={
        "help": "episode length for every task (None: each task's own)"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda', ..."})
    output_dir: str = field(default="runs/bench_algos", metadata={"help": "where results, plots and logs go"})
    doc: str | None = field(default=None, metadata={
        "help": "markdown file whose bench-algos section is replaced with the results (e.g. docs/benchmarks.md)"})
    progress_bar: bool = field(default=True, metadata={"help": "show progress bars"})


def _recorder():
    """SB3 callback that adds a writer to the agent's logger and keeps every dumped update's metrics."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import KVWriter

    class _Writer(KVWriter):
        def __init__(self) -> None:
            self.rows: list[dict[str, float]] = []

        def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
            self.rows.append({k: float(v) for k, v in key_values.items() if isinstance(v, (int, float))})

        def close(self) -> None:
            pass

    class _Recorder(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.writer = _Writer()

        def _on_training_start(self) -> None:
            self.model.logger.output_formats.append(self.writer)

        def _on_step(self) -> bool:
            return True

    return _Recorder()


def _run_one(config: BenchAlgosConfig, task: str, algo: str, seed: int, policy: Any,
             env_kwargs: dict[str, Any]) -> dict[str, Any]:
    from agents import ALGORITHMS, evaluate
    from agents.envs import make_vector_env
    from text_gym import gold_reward_spec, task_prompts

    cls, fixed = ALGORITHMS[algo]
    gold = gold_reward_spec(task)
    kwargs = dict(env_kwargs)
    if config.max_new_tokens is not None:
        kwargs["max_new_tokens"] = config.max_new_tokens
    start = time.perf_counter()
    agent = cls(policy, task, env_kwargs=kwargs, seed=seed, n_envs=config.n_envs, device=config.device,
                gold_reward_model=gold, tensorboard_log=str(Path(config.output_dir) / "tensorboard" / task), **fixed)
    eval_env = make_vector_env(task, config.n_envs, agent.policy.vocab_size, str(agent.device),
                               {**kwargs, "tokenizer": agent.env.task.tokenizer, "prompts": task_prompts(task, "test"),
                                "reward_model": agent.env.task.reward_model})
    before = evaluate(agent, eval_env, gold, seed=seed)
    recorder = _recorder()
    learn_start = time.perf_counter()
    agent.learn(config.total_timesteps, callback=recorder, progress_bar=config.progress_bar,
                tb_log_name=f"{algo}_s{seed}")
    learn_s = time.perf_counter() - learn_start
    after = evaluate(agent, eval_env, gold, seed=seed)
    rows = recorder.writer.rows
    curve = {"tokens": [r["time/total_timesteps"] for r in rows], "proxy": [r["rollout/score_mean"] for r in rows],
             "gold": [r["rollout/gold_score_mean"] for r in rows], "kl": [r["objective/kl"] for r in rows]}
    return {"task": task, "algo": algo, "seed": seed, "curve": curve, "tokens": agent.num_timesteps,
            "updates": agent.n_updates, "proxy_before": before.score_mean, "gold_before": before.gold_mean,
            "proxy_after": after.score_mean, "gold_after": after.gold_mean, "kl_final": curve["kl"][-1],
            "learn_s": learn_s, "wall_s": time.perf_counter() - start}


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and (population) std over seeds of each (task, algorithm)'s final numbers."""
    import numpy as np

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["task"], run["algo"]), []).append(run)
    rows = []
    for (task, algo), group in groups.items():
        row: dict[str, Any] = {"task": task, "algo": algo, "seeds": len(group)}
        for key in ("proxy_before", "gold_before", "proxy_after", "gold_after", "kl_final", "tokens", "learn_s"):
            values = np.array([run[key] for run in group], dtype=np.float64)
            row[key] = {"mean": float(values.mean()), "std": float(values.std())}
        rows.append(row)
    return rows


def markdown_table(summary: list[dict[str, Any]]) -> str:
    def cell(stat: dict[str, float], digits: int = 3) -> str:
        return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"

    lines = ["| task | algo | seeds | proxy before | proxy after | gold before | gold after | KL (nats) | tokens "
             "| train time (s) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['task']} | {r['algo']} | {r['seeds']} | {cell(r['proxy_before'])} | {cell(r['proxy_after'])} "
              f"| {cell(r['gold_before'])} | {cell(r['gold_after'])} | {cell(r['kl_final'], 2)} "
              f"| {r['tokens']['mean']:.0f} | {cell(r['learn_s'], 1)} |" for r in summary]
    return "\n".join(lines)


def _mean_curve(runs: list[dict[str, Any]], key: str):
    """Per-update mean and std over seeds, truncated to the shortest run; x is the mean token count."""
    import numpy as np

    n = min(len(run["curve"][key]) for run in runs)
    x = np.mean([run["curve"]["tokens"][:n] for run in runs], axis=0)
    y = np.array([run["curve"][key][:n] for run in runs], dtype=np.float64)
    return x, y.mean(0), y.std(0)


def plot_curves(runs: list[dict[str, Any]], task: str, path: Path) -> None:
    """Proxy and gold reward (rollout means) vs generated tokens, mean ± std over seeds, one line per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for algo in dict.fromkeys(run["algo"] for run in runs if run["task"] == task):
        group = [run for run in runs if run["task"] == task and run["algo"] == algo]
        for ax, key in zip(axes, ("proxy", "gold")):
            x, mean, std = _mean_curve(group, key)
            ax.plot(x, mean, label=algo)
            ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    finish_figure(fig, axes, "generated tokens", ("proxy reward", "gold reward"),
                   f"{task}: rollout reward vs tokens (mean ± std over seeds)", path)


def plot_overoptimisation(runs: list[dict[str, Any]], path: Path) -> None:
    """Gold and proxy reward against √KL from the reference, every update of every seed, per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True, sharey=True)
    for algo in dict.fromkeys(run["algo"] for run in runs):
        group = [run for run in runs if run["algo"] == algo]
        x = np.sqrt(np.clip(np.concatenate([run["curve"]["kl"] for run in group]), 0.0, None))
        for ax, key in zip(axes, ("gold", "proxy")):
            ax.scatter(x, np.concatenate([run["curve"][key] for run in group]), s=10, alpha=0.6, label=algo)
    finish_figure(fig, axes, "√KL(policy ‖ reference), √nats", ("gold reward (VADER)", "proxy reward (learned RM)"),
                   f"{OVEROPT_TASK}: reward vs √KL per update (Gao et al. 2022)", path)


def run_benchmark(config: BenchAlgosConfig, policy_factory: Callable[[int], Any] | None = None,
                  env_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run every (task, algorithm, seed) and write the outputs; returns what ``results.json`` holds.

    ``policy_factory(seed)`` builds each run's policy (default: ``config.policy``); ``env_kwargs`` are extra env
    arguments for every task (e.g. ``tokenizer``).
    """
    from agents import ALGORITHMS
    from text_gym import TASKS

    for name, values, valid in (("algos", config.algos, ALGORITHMS), ("tasks", config.tasks, TASKS)):
        unknown = [v for v in values if v not in valid]
        if unknown or not values:
            raise ValueError(f"{name} must be a non-empty list of {sorted(valid)}, got {values}")
    if not config.seeds:
        raise ValueError("seeds must name at least one seed")
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    start = time.perf_counter()
    for task in config.tasks:
        for algo in config.algos:
            for seed in config.seeds:
                policy = policy_factory(seed) if policy_factory is not None else config.policy
                runs.append(_run_one(config, task, algo, seed, policy, env_kwargs or {}))
                print(f"{task} {algo} seed {seed}: proxy {runs[-1]['proxy_before']:+.3f} -> "
                      f"{runs[-1]['proxy_after']:+.3f}, gold {runs[-1]['gold_before']:+.3f} -> "
                      f"{runs[-1]['gold_after']:+.3f}, {runs[-1]['learn_s']:.0f} s", flush=True)
    summary = summarize(runs)
    plots = []
    for task in config.tasks:
        plots.append(out / f"curves_{task}.png")
        plot_curves(runs, task, plots[-1])
    if OVEROPT_TASK in config.tasks:
        plots.append(out / "overoptimisation.png")
        plot_overoptimisation([run for run in runs if run["task"] == OVEROPT_TASK], plots[-1])
    results = {"config": asdict(config), "machine": machine_info(config.device),
               "total_wall_s": time.perf_counter() - start, "summary": summary, "runs": runs}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    table = markdown_table(summary)
    (out / "results.md").write_text(table + "\n")
    if config.doc is not None:
        m = results["machine"]
        markdown = "\n".join([
            f"Measured on {m['machine']} ({m['device']}, {m['torch_threads']} torch threads), torch {m['torch']}, "
            f"transformers {m['transformers']}, Python {m['python']}; policy `{config.policy}`, "
            f"{config.total_timesteps} tokens per run, episodes of at most "
            f"{config.max_new_tokens or 'the task default number of'} tokens, {config.n_envs} episodes per update, seeds "
            f"{config.seeds}; total {results['total_wall_s'] / 60:.1f} min. Proxy / gold before and after are means "
            "over the task's held-out test prompts; KL is the last update's k1 estimate (nats per episode).", "",
            table, "", *[f"![{p.stem}]({p.name})" for p in plots]])
        write_doc(Path(config.doc), "algos", markdown, plots)
    return results


def run(args: argparse.Namespace) -> int:
    config = dataclass_from_args(BenchAlgosConfig, args)
    results = run_benchmark(config)
    print(markdown_table(results["summary"]))
    print(f"outputs in {config.output_dir}" + (f"; {config.doc} updated" if config.doc else ""))
    return 0


def add_parser(subparsers) -> None:
    add_config_command(subparsers, "algos", BenchAlgosConfig, run, "PPO / REINFORCE / RLOO / GRPO on the task suite over seeds", description=__doc__)


if __name__ == "__main__":
    import sys

    from scripts.cli import main

    sys.exit(main(["bench", "algos", *sys.argv[1:]]))
