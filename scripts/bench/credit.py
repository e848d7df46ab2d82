"""``text-gym bench credit``: the turn-level credit study on the support desk ``TextGenSupport-v0``.

Which signal teaches a multi-turn assistant best, from the same SFT start and the same token budget? The arms
(``CREDIT_ARMS``; each an algorithm and its training reward, ``scripts.bench.algos.Arm``):

- ``ppo-turn``: PPO with its token-level critic and the per-turn proxy reward (``support-turn`` after every agent
  turn, no conversation reward): GAE gives every token credit across the turns of the conversation.
- ``ppo-conversation``: PPO with only the conversation-level reward (``support_success`` at the end, 0 per turn): the
  critic must carry the end reward back over the turns.
- ``rloo-conversation``, ``grpo-conversation``: RLOO and GRPO, critic-free, with the conversation-level reward (one
  sequence-level advantage for every token of the conversation).
- ``reinforce-turn``: REINFORCE with the per-turn rewards (returns without a critic).

Every arm runs on the benchmark harness of ``text-gym bench algos`` (``run_benchmark`` with these arms): the same
warm start (the support SFT policy, ``sft:TextGenSupport-v0``), env settings, budget, seeds and held-out
evaluation (``support-success`` on the test rows, the same for every arm whatever it trained on). The report gives,
per arm, held-out success before, after and the gain as IQMs over seeds with 95 % stratified-bootstrap intervals,
sample efficiency (the mean rollout success over the run's updates: the area under success vs tokens), the
probability of improvement of every pair and a ranking by each; ``credit.png`` plots rollout success vs generated
tokens (IQM, bootstrap band). ``--doc`` replaces the ``bench-credit`` section of that markdown file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agents.common.config import field_like
from scripts.bench.algos import (
    SUPPORT_TASK,
    Arm,
    BenchAlgosConfig,
    compare,
    comparison_markdown,
    markdown_table,
    plot_curves,
    run_benchmark,
    setting_line,
)
from scripts.bench.cli import Benchmark, run_as_script
from scripts.bench.results import partial_line
from scripts.bench.statistics import Interval

CREDIT_ARMS = ("ppo-turn", "ppo-conversation", "rloo-conversation", "grpo-conversation", "reinforce-turn")
"""The study's arms, ``<algorithm>-<reward>``: ``turn`` = the per-turn proxy reward only, ``conversation`` = the
conversation-level ``support_success`` only."""
_SHARED = (
    "policy",
    "warm_start",
    "scale",
    "total_timesteps",
    "n_envs",
    "eval_rows",
    "support_max_turns",
    "support_max_turn_tokens",
    "support_scenarios",
    "device",
    "kl_coef",
    "learning_rate",
    "minibatch_size",
    "workers",
    "progress_bar",
)
"""The ``BenchAlgosConfig`` fields the study shares (same names, defaults and help)."""


def no_turn_reward(prompts: list[str], completions: list[str]) -> np.ndarray:
    """The per-turn reward of the conversation-level arms: 0 for every turn, float64 ``[len(completions)]``."""
    return np.zeros(len(completions))


def credit_arms(names: list[str]) -> list[Arm]:
    """The ``Arm`` of each name of ``CREDIT_ARMS``: the algorithm, and for a ``-conversation`` arm a training env
    whose per-turn reward is ``no_turn_reward`` and whose conversation reward is ``support_success``."""
    from text_gym import support_success

    conversation_only = {"reward_model": no_turn_reward, "conversation_reward": support_success}
    arms = []
    for name in names:
        algo, reward = name.split("-")
        arms.append(Arm(name, algo, conversation_only if reward == "conversation" else {}))
    return arms


@dataclass
class BenchCreditConfig:
    """The turn-level credit study on the support desk."""

    arms: list[str] = field(
        default_factory=lambda: list(CREDIT_ARMS),
        metadata={"help": f"arms to compare (algorithm-reward), from {list(CREDIT_ARMS)}"},
    )
    seeds: list[int] = field_like(BenchAlgosConfig, "support_seeds")
    output_dir: str = field(default="runs/bench_credit", metadata={"help": "where results, plots and logs go"})
    doc: str | None = field(
        default=None,
        metadata={
            "help": "markdown file whose bench-credit section is replaced with the results (e.g. docs/benchmarks.md)"
        },
    )
    policy: str = field_like(BenchAlgosConfig, "policy")
    warm_start: Literal["sft", "none"] = field_like(BenchAlgosConfig, "warm_start")
    scale: Literal["cpu", "gpu"] = field_like(BenchAlgosConfig, "scale")
    total_timesteps: int | None = field_like(BenchAlgosConfig, "total_timesteps")
    n_envs: int | None = field_like(BenchAlgosConfig, "n_envs")
    eval_rows: int | None = field_like(BenchAlgosConfig, "eval_rows")
    support_max_turns: int | None = field_like(BenchAlgosConfig, "support_max_turns")
    support_max_turn_tokens: int = field_like(BenchAlgosConfig, "support_max_turn_tokens")
    support_scenarios: list[str] = field_like(BenchAlgosConfig, "support_scenarios")
    device: str = field_like(BenchAlgosConfig, "device")
    kl_coef: float | None = field_like(BenchAlgosConfig, "kl_coef")
    learning_rate: float | None = field_like(BenchAlgosConfig, "learning_rate")
    minibatch_size: int | None = field_like(BenchAlgosConfig, "minibatch_size")
    workers: int | None = field_like(BenchAlgosConfig, "workers")
    progress_bar: bool = field_like(BenchAlgosConfig, "progress_bar")

    def __post_init__(self) -> None:
        unknown = [a for a in self.arms if a not in CREDIT_ARMS]
        if unknown or not self.arms or len(set(self.arms)) < len(self.arms):
            raise ValueError(
                f"arms must be a non-empty list of distinct names from {list(CREDIT_ARMS)}, got {self.arms}"
            )
        if not self.seeds or len(set(self.seeds)) < len(self.seeds):
            raise ValueError(f"seeds must be a non-empty list of distinct seeds, got {self.seeds}")
        self.algos_config()  # checks the shared fields

    def algos_config(self) -> BenchAlgosConfig:
        """The harness's config: the support desk alone, this study's seeds, the shared fields, no doc (the study
        writes its own section)."""
        algos = list(dict.fromkeys(arm.split("-")[0] for arm in self.arms))
        shared = {name: getattr(self, name) for name in _SHARED}
        return BenchAlgosConfig(
            algos=algos,
            tasks=[SUPPORT_TASK],
            support_seeds=self.seeds,
            output_dir=self.output_dir,
            doc=self.doc,
            **shared,
        )


def _efficiency_table(summary: list[dict[str, Any]]) -> str:
    lines = [
        "| arm | seeds | held-out success after | gain over the SFT start | mean rollout success (sample efficiency) "
        "| tokens |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in summary:
        cells = [Interval(r[k]["iqm"], r[k]["low"], r[k]["high"]).cell() for k in ("gold_after", "gold_gain")]
        efficiency = Interval(r["rollout_gold"]["iqm"], r["rollout_gold"]["low"], r["rollout_gold"]["high"]).cell()
        lines.append(
            f"| {r['algo']} | {r['seeds']} | {cells[0]} | {cells[1]} | {efficiency} | {r['tokens']['mean']:.0f} |"
        )
    return "\n".join(lines)


def credit_report(config: BenchAlgosConfig, results: dict[str, Any], plots: list[Path]) -> str:
    """The doc section: the setting, success and sample efficiency per arm (IQM [95 % CI]), the rankings and
    probabilities of improvement by held-out success and by sample efficiency, the full table and the plot."""
    efficiency = compare(results["runs"], results["summary"], "rollout_gold")
    return "\n".join(
        [
            setting_line(config, results)
            + " Success is `support-success` (the scripted customer satisfied) on the held-out rows; IQM over seeds "
            "with 95 % stratified-bootstrap intervals.",
            "",
            *partial_line(results["measured_cases"], results["planned_cases"]),
            _efficiency_table(results["summary"]),
            "",
            "By held-out success after training:",
            "",
            comparison_markdown(results["comparisons"]),
            "",
            "By sample efficiency (mean rollout success over the run):",
            "",
            comparison_markdown(efficiency),
            "",
            "All numbers (proxy = the per-turn `support-turn` reward on the held-out rows, the same for every arm):",
            "",
            markdown_table(results["summary"]),
            "",
            *[f"![{p.stem}]({p.name})" for p in plots],
        ]
    )


def _credit_plots(runs: list[dict[str, Any]], out: Path) -> list[Path]:
    path = out / "credit.png"
    plot_curves(runs, SUPPORT_TASK, path, keys=("gold",))
    return [path]


def run_study(
    config: BenchCreditConfig, policy_factory: Any = None, env_kwargs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run every (arm, seed) on the algos harness and write the outputs; returns what ``results.json`` holds
    (``policy_factory`` and ``env_kwargs`` as in ``scripts.bench.algos.run_benchmark``)."""
    algos = config.algos_config()
    return run_benchmark(
        algos,
        policy_factory,
        env_kwargs,
        arms=credit_arms(config.arms),
        doc_name="credit",
        render_doc=functools.partial(credit_report, algos),
        make_plots=_credit_plots,
    )


def main(config: BenchCreditConfig) -> int:
    """Run the study and print its table."""
    results = run_study(config)
    print(_efficiency_table(results["summary"]))
    print(comparison_markdown(results["comparisons"]))
    print(f"outputs in {config.output_dir}" + (f"; {config.doc} updated" if config.doc else ""))
    return 0


BENCHMARK = Benchmark(
    "credit",
    BenchCreditConfig,
    main,
    "turn-level credit on the support desk: PPO per-turn vs conversation reward, RLOO / GRPO, REINFORCE",
    __doc__,
)

if __name__ == "__main__":
    run_as_script("credit")
