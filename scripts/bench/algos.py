"""``text-gym bench algos``: PPO, REINFORCE, RLOO, GRPO (and, opt-in, stock SB3 PPO) on the task suite
(text_gym.tasks.suite) and the multi-turn support desk ``TextGenSupport-v0`` over several seeds.

Every (task, algorithm, seed) run trains a fresh copy of the initial policy for ``--total-timesteps`` generated tokens
with the algorithm's default config (``--n-envs`` episodes per update) and the task's proxy reward, logs to
tensorboard under ``<output-dir>/tensorboard/<task>/<algo>_s<seed>``, and records after every update the rollout's
mean proxy and gold reward, KL to the reference (k1, nats per episode) and generated tokens. Before and after
training the policy is scored on the task's held-out test prompts (proxy and gold); the before-evaluation depends
only on (task, seed) and is computed once and shared by every algorithm. ``sb3-ppo`` is stable-baselines3's ``PPO``
with ``agents.sb3.LMActorCriticPolicy`` and ``KLPenaltyCallback`` on ``SB3VecEnv`` (no KV cache: slow with real LMs
on a CPU, so not in the default list). ``--workers N`` runs the (task, seed) groups in ``N`` processes.

Writes to ``--output-dir``: ``results.json`` (config, machine, versions, the shared before-evaluations, every curve
and final score) and ``results.md`` (mean ± std over seeds), rewritten after every (task, seed) group (a run stopped
part-way keeps what it measured, marked partial), and at the end ``curves_<task>.png`` (proxy and gold reward vs tokens)
and, for ``TextGenSentiment-v0``, ``overoptimisation.png`` (gold and proxy reward vs √KL, per algorithm; Gao et al.
2022). ``--doc`` also replaces the generated section of that markdown file (between the ``bench-algos`` markers) and
copies the plots next to it.

``TextGenSupport-v0`` runs in a short-horizon configuration of its own (``--support-*`` flags, not
``--max-new-tokens``): conversations of at most ``--support-max-turns`` agent turns of ``--support-max-turn-tokens``
tokens, the scenarios ``--support-scenarios`` (default all ten; train rows to train, held-out test rows to evaluate),
proxy = the per-turn ``support-turn`` reward only (the env's conversation reward, which is the gold, is switched
off), gold = ``support-success`` (1 when the scripted customer was satisfied) over the episodes' conversations.

The tasks ``TextGenReasoning-v0:<dataset>`` (``REASONING_TASKS``) are ``TextGenReasoning-v0`` on one small
reasoning-gym configuration each, ``REASONING_MAX_NEW_TOKENS`` tokens per episode unless ``--max-new-tokens``, and
``REASONING_MAX_PROMPT_TOKENS`` prompt slots.
"""

from __future__ import annotations

import copy
import functools
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from reward_models.common import check_positive_int
from scripts.bench.cli import Benchmark, run_as_script
from scripts.bench.report import doc_markers, finish_figure, machine_info, pyplot
from scripts.bench.results import ResultsWriter, partial_line

DOC_BEGIN, DOC_END = doc_markers("algos")
OVEROPT_TASK = "TextGenSentiment-v0"
SB3_PPO = "sb3-ppo"
SUPPORT_TASK = "TextGenSupport-v0"
SUPPORT_REPLY_TOKENS = 64
"""Context budget per customer reply in the short support configuration (the longest replies, with the chat
template's turn markers, are about 40 SmolLM2 tokens)."""
REASONING_ENV = "TextGenReasoning-v0"
REASONING_TASKS: dict[str, dict[str, Any]] = {
    f"{REASONING_ENV}:basic_arithmetic": {
        "dataset": "basic_arithmetic",
        "dataset_kwargs": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+", "-"]},
        "test_size": 50,
    },
    f"{REASONING_ENV}:leg_counting": {
        "dataset": "leg_counting",
        "dataset_kwargs": {"min_animals": 1, "max_animals": 2, "max_instances": 3},
        "test_size": 50,
    },
    f"{REASONING_ENV}:gcd": {
        "dataset": "gcd",
        "dataset_kwargs": {"min_numbers": 2, "max_numbers": 2, "max_value": 50},
        "test_size": 50,
    },
}
"""The reasoning-gym benchmark tasks: name -> ``TextGenReasoning-v0``'s prompt options (one-step problems with a
short numeric answer, a size a small policy on a CPU can move)."""
REASONING_MAX_NEW_TOKENS = 16
"""Episode length of the reasoning tasks: ``<answer>...</answer>`` around their answers is 7-9 SmolLM2 tokens."""
REASONING_MAX_PROMPT_TOKENS = 128
"""Prompt slots of the reasoning tasks (the env's default is 512): their test prompts, with the chat template and the
system turn, are 55-94 SmolLM2 tokens."""
BEFORE_EVAL_NOTE = (
    "computed once per (task, seed) with the initial policy and eval seed = seed, on the task's "
    "held-out test prompts, and shared by every algorithm of that (task, seed)"
)


@dataclass
class BenchAlgosConfig:
    """Algorithm benchmark on the task suite."""

    algos: list[str] = field(
        default_factory=lambda: ["ppo", "reinforce", "rloo", "grpo"],
        metadata={
            "help": "algorithms: agents.ALGORITHMS names (ppo, reinforce, rloo, grpo) and sb3-ppo (stock SB3 PPO, "
            "no KV cache: slow with real LMs on a CPU)"
        },
    )
    tasks: list[str] = field(
        default_factory=lambda: [
            "TextGenSentiment-v0",
            "TextGenKeyword-v0",
            "TextGenStory-v0",
            "TextGenDialogue-v0",
            "TextGenInstruct-v0",
            "TextGenArithmetic-v0",
            SUPPORT_TASK,
            *REASONING_TASKS,
        ],
        metadata={
            "help": "suite env ids (text_gym.TASKS), TextGenSupport-v0 (the --support-* configuration) and the "
            f"reasoning-gym tasks {', '.join(REASONING_TASKS)}"
        },
    )
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "seeds; one run per seed"})
    policy: str = field(default="smollm2", metadata={"help": "hub id, local folder or 'smollm2'"})
    total_timesteps: int = field(default=4096, metadata={"help": "generated tokens per run"})
    n_envs: int = field(default=16, metadata={"help": "episodes per update"})
    max_new_tokens: int | None = field(
        default=None,
        metadata={"help": "episode length for every single-turn task (None: each task's own); not the support task's"},
    )
    support_max_turns: int = field(default=3, metadata={"help": "TextGenSupport-v0: agent turns per conversation"})
    support_max_turn_tokens: int = field(default=24, metadata={"help": "TextGenSupport-v0: tokens per agent turn"})
    support_scenarios: list[str] = field(
        default_factory=list,
        metadata={"help": "TextGenSupport-v0: scenario names (text_gym.SCENARIOS) to train and test on; empty: all"},
    )
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda', ..."})
    output_dir: str = field(default="runs/bench_algos", metadata={"help": "where results, plots and logs go"})
    doc: str | None = field(
        default=None,
        metadata={
            "help": "markdown file whose bench-algos section is replaced with the results (e.g. docs/benchmarks.md)"
        },
    )
    kl_coef: float | None = field(
        default=None,
        metadata={
            "help": "KL penalty coefficient for every algorithm (None: each algorithm's default, 0.05); e.g. 0 to let "
            "the policy drift and show over-optimisation"
        },
    )
    workers: int = field(
        default=1,
        metadata={
            "help": "processes running the (task, seed) groups in parallel (spawned; each gets cpu_count // workers "
            "torch threads unless OMP_NUM_THREADS is set); 1: in this process"
        },
    )
    progress_bar: bool = field(default=True, metadata={"help": "show progress bars"})

    def __post_init__(self) -> None:
        from agents import ALGORITHMS
        from text_gym import SCENARIOS, TASKS

        tasks = [*TASKS, SUPPORT_TASK, *REASONING_TASKS]
        for name, values, valid in (("algos", self.algos, [*ALGORITHMS, SB3_PPO]), ("tasks", self.tasks, tasks)):
            unknown = [v for v in values if v not in valid]
            if unknown or not values or len(set(values)) < len(values):
                raise ValueError(
                    f"{name} must be a non-empty list of distinct names from {sorted(valid)}, got {values}"
                )
        if not self.seeds or len(set(self.seeds)) < len(self.seeds):
            raise ValueError(f"seeds must be a non-empty list of distinct seeds, got {self.seeds}")
        if self.kl_coef is not None and not self.kl_coef >= 0:
            raise ValueError(f"kl_coef must be None or >= 0, got {self.kl_coef}")
        for name in ("total_timesteps", "n_envs", "workers", "support_max_turns", "support_max_turn_tokens"):
            check_positive_int(name, getattr(self, name))
        if self.max_new_tokens is not None:
            check_positive_int("max_new_tokens", self.max_new_tokens)
        names = [scenario.name for scenario in SCENARIOS]
        unknown = sorted(set(self.support_scenarios) - set(names))
        if unknown:
            raise ValueError(f"support_scenarios must be scenario names from {names}, got unknown {unknown}")


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


class _Trained(NamedTuple):
    """One finished training run: its policy (for the after-evaluation), per-update curve and counters."""

    policy: Any
    curve: dict[str, list[float]]
    tokens: int
    updates: int
    learn_s: float
    kl_coef: float


def _curve(rows: list[dict[str, float]], kl_key: str) -> dict[str, list[float]]:
    """The benchmark's per-update keys from the dumped logger rows (``kl_key``: the algorithm's KL per episode)."""
    keys = {
        "tokens": "time/total_timesteps",
        "proxy": "rollout/score_mean",
        "gold": "rollout/gold_score_mean",
        "kl": kl_key,
    }
    return {name: [row[key] for row in rows] for name, key in keys.items()}


def _env_id(task: str) -> str:
    """The env id a benchmark task runs on (``TextGenReasoning-v0`` for the ``REASONING_TASKS``)."""
    return REASONING_ENV if task in REASONING_TASKS else task


def _tensorboard_dir(config: BenchAlgosConfig, task: str) -> str:
    return str(Path(config.output_dir) / "tensorboard" / task)


def _train_agent(
    config: BenchAlgosConfig,
    task: str,
    algo: str,
    seed: int,
    policy: Any,
    env_kwargs: dict[str, Any],
    progress_bar: bool,
) -> _Trained:
    """One of our agents (agents.ALGORITHMS) with its default config."""
    from agents import ALGORITHMS
    from text_gym import gold_reward_spec

    cls, fixed = ALGORITHMS[algo]
    # measure_kl: the KL curve is what a run without a penalty studies, so kl_coef=0 keeps the reference
    overrides = {} if config.kl_coef is None else {"kl_coef": config.kl_coef, "measure_kl": True}
    agent = cls(
        policy,
        _env_id(task),
        env_kwargs=env_kwargs,
        seed=seed,
        n_envs=config.n_envs,
        device=config.device,
        gold_reward_model=gold_reward_spec(_env_id(task)),
        tensorboard_log=_tensorboard_dir(config, task),
        **fixed,
        **overrides,
    )
    recorder = _recorder()
    start = time.perf_counter()
    agent.learn(config.total_timesteps, callback=recorder, progress_bar=progress_bar, tb_log_name=f"{algo}_s{seed}")
    learn_s = time.perf_counter() - start
    return _Trained(
        agent.policy,
        _curve(recorder.writer.rows, "objective/kl"),
        agent.num_timesteps,
        agent.n_updates,
        learn_s,
        agent.kl_ctl.value,
    )


def _episode_scores(gold: Any, task: Any):
    """SB3 callback: the mean proxy score (``rollout/score_mean``) and gold score (``rollout/gold_score_mean``) of
    the episodes that end during each rollout, from the prompts, completions and scores SB3VecEnv puts in
    ``infos`` (and the prompts' fields of ``task``, a TextGenTask, for the gold metric; a chat env's
    conversations too)."""
    import numpy as np
    from stable_baselines3.common.callbacks import BaseCallback

    from reward_models import call_reward
    from text_gym.chat.gold import gold_fields

    class _EpisodeScores(BaseCallback):
        def _on_rollout_start(self) -> None:
            self.episodes: list[dict[str, Any]] = []

        def _on_step(self) -> bool:
            self.episodes += [info for info in self.locals["infos"] if "completion" in info]
            return True

        def _on_rollout_end(self) -> None:
            prompts = [info["prompt"] for info in self.episodes]
            completions = [info["completion"] for info in self.episodes]
            fields = gold_fields(
                task.prompt_fields([info["prompt_index"] for info in self.episodes]),
                [info.get("conversation") for info in self.episodes],
            )
            self.logger.record("rollout/score_mean", float(np.mean([info["score"] for info in self.episodes])))
            self.logger.record(
                "rollout/gold_score_mean", float(np.mean(call_reward(gold, prompts, completions, fields)))
            )

    return _EpisodeScores()


def _train_sb3_ppo(
    config: BenchAlgosConfig,
    task: str,
    seed: int,
    policy: Any,
    env_kwargs: dict[str, Any],
    gold: Any,
    progress_bar: bool,
) -> _Trained:
    """Stock SB3 PPO with the LM policy and the KL penalty on SB3VecEnv (SAME_STEP autoreset). One rollout is
    ``n_steps`` = the longest episode's agent steps (a chat env's ``max_turns x max_turn_tokens``) of ``n_envs``
    sub-envs; the other hyperparameters are agents.PPOConfig's defaults (``batch_size`` = ``minibatch_size``
    episodes' worth of steps, at most the rollout)."""
    from stable_baselines3 import PPO

    from agents import PPOConfig, resolve_device
    from agents.sb3 import KLPenaltyCallback, LMActorCriticPolicy, SB3VecEnv
    from text_gym import TextGenChatVectorEnv

    cfg = PPOConfig() if config.kl_coef is None else PPOConfig(kl_coef=config.kl_coef)
    env = SB3VecEnv(_env_id(task), config.n_envs, device=str(resolve_device(config.device)), **env_kwargs)
    chat = isinstance(env.env, TextGenChatVectorEnv)
    n_steps = env.env.max_turns * env.env.max_turn_tokens if chat else env.env.task.max_new_tokens
    model = PPO(
        LMActorCriticPolicy,
        env,
        learning_rate=cfg.learning_rate,
        n_steps=n_steps,
        batch_size=min(cfg.minibatch_size, config.n_envs) * n_steps,
        n_epochs=cfg.n_epochs,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        clip_range=cfg.clip_range,
        clip_range_vf=cfg.clip_range_vf,
        normalize_advantage=cfg.normalize_advantage,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
        tensorboard_log=_tensorboard_dir(config, task),
        policy_kwargs={"model": policy},
        seed=seed,
        device=str(env.env.device),
    )
    recorder = _recorder()
    kl_penalty = KLPenaltyCallback(cfg.kl_coef, estimator=cfg.kl_estimator)
    callbacks = [kl_penalty, _episode_scores(gold, env.env.task), recorder]
    start = time.perf_counter()
    model.learn(config.total_timesteps, callback=callbacks, progress_bar=progress_bar, tb_log_name=f"{SB3_PPO}_s{seed}")
    learn_s = time.perf_counter() - start
    return _Trained(
        model.policy.lm_policy(),
        _curve(recorder.writer.rows, "rollout/kl_per_episode"),
        model.num_timesteps,
        model._n_updates // model.n_epochs,
        learn_s,
        kl_penalty.kl_coef,
    )


def _task_kwargs(config: BenchAlgosConfig, task: str) -> dict[str, Any]:
    """The benchmark's env settings of ``task``: ``--max-new-tokens`` for the single-turn tasks; the short support
    configuration (turns, turn tokens, room for the customer's replies, no conversation reward) for the support desk."""
    if task == SUPPORT_TASK:
        turns, turn_tokens = config.support_max_turns, config.support_max_turn_tokens
        return {
            "max_turns": turns,
            "max_turn_tokens": turn_tokens,
            "max_new_tokens": turns * turn_tokens + (turns - 1) * SUPPORT_REPLY_TOKENS,
            "conversation_reward": None,
        }
    if task in REASONING_TASKS:
        return {
            "max_new_tokens": config.max_new_tokens or REASONING_MAX_NEW_TOKENS,
            "max_prompt_tokens": REASONING_MAX_PROMPT_TOKENS,
        }
    return {} if config.max_new_tokens is None else {"max_new_tokens": config.max_new_tokens}


def _run_group(
    config: BenchAlgosConfig,
    task: str,
    seed: int,
    policy_factory: Callable[[int], Any] | None,
    env_kwargs: dict[str, Any],
    progress_bar: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every algorithm of one (task, seed): the held-out evaluation of the initial policy once, then one training
    run per algorithm from a copy of the same initial weights, each evaluated after training on the same env with
    the same eval seed. Returns the before-evaluation record and the runs."""
    import torch

    from agents import LMPolicy, evaluate_lm, resolve_device
    from agents.common.envs import make_vector_env
    from reward_models import make_reward_model
    from text_gym import gold_reward_spec, task_prompts

    initial = policy_factory(seed) if policy_factory is not None else config.policy
    device = resolve_device(config.device)
    start = time.perf_counter()
    policy = LMPolicy.from_pretrained(initial).to(device)
    kwargs = dict(env_kwargs, vocab_size=policy.vocab_size, **_task_kwargs(config, task))
    if policy.tokenizer is not None:
        kwargs.setdefault("tokenizer", policy.tokenizer)
    scenarios = config.support_scenarios if task == SUPPORT_TASK else []
    prompt_options = {"scenarios": scenarios} if scenarios else REASONING_TASKS.get(task, {})
    env_id = _env_id(task)
    if prompt_options:
        kwargs["prompts"] = task_prompts(env_id, "train", **prompt_options)
    eval_env = make_vector_env(
        env_id,
        config.n_envs,
        policy.vocab_size,
        str(device),
        {**kwargs, "prompts": task_prompts(env_id, "test", **prompt_options)},
    )
    kwargs["reward_model"] = eval_env.task.reward_model  # one proxy model instance for every env of the group
    gold = make_reward_model(gold_reward_spec(env_id))
    before = evaluate_lm(policy, eval_env, gold, seed=seed)
    before_record = {
        "task": task,
        "seed": seed,
        "proxy": before.score_mean,
        "gold": before.gold_mean,
        "wall_s": time.perf_counter() - start,
        "torch_threads": torch.get_num_threads(),
    }
    runs = []
    for algo in config.algos:
        start = time.perf_counter()
        if algo == SB3_PPO:
            trained = _train_sb3_ppo(config, task, seed, copy.deepcopy(initial), kwargs, gold, progress_bar)
        else:
            trained = _train_agent(config, task, algo, seed, copy.deepcopy(initial), kwargs, progress_bar)
        after = evaluate_lm(trained.policy, eval_env, gold, seed=seed)
        runs.append(
            {
                "task": task,
                "algo": algo,
                "seed": seed,
                "curve": trained.curve,
                "tokens": trained.tokens,
                "updates": trained.updates,
                "proxy_before": before.score_mean,
                "gold_before": before.gold_mean,
                "proxy_after": after.score_mean,
                "gold_after": after.gold_mean,
                "kl_final": trained.curve["kl"][-1],
                "kl_coef": trained.kl_coef,
                "learn_s": trained.learn_s,
                "wall_s": time.perf_counter() - start,
            }
        )
    return before_record, runs


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

    lines = [
        "| task | algo | seeds | proxy before | proxy after | gold before | gold after | KL (nats) | tokens "
        "| train time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['task']} | {r['algo']} | {r['seeds']} | {cell(r['proxy_before'])} | {cell(r['proxy_after'])} "
        f"| {cell(r['gold_before'])} | {cell(r['gold_after'])} | {cell(r['kl_final'], 2)} "
        f"| {r['tokens']['mean']:.0f} | {cell(r['learn_s'], 1)} |"
        for r in summary
    ]
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
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for algo in dict.fromkeys(run["algo"] for run in runs if run["task"] == task):
        group = [run for run in runs if run["task"] == task and run["algo"] == algo]
        for ax, key in zip(axes, ("proxy", "gold"), strict=False):
            x, mean, std = _mean_curve(group, key)
            ax.plot(x, mean, label=algo)
            ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    finish_figure(
        fig,
        axes,
        "generated tokens",
        ("proxy reward", "gold reward"),
        f"{task}: rollout reward vs tokens (mean ± std over seeds)",
        path,
    )


def plot_overoptimisation(runs: list[dict[str, Any]], path: Path) -> None:
    """Gold and proxy reward against √KL from the reference, every update of every seed, per algorithm."""
    plt = pyplot()
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True, sharey=True)
    for algo in dict.fromkeys(run["algo"] for run in runs):
        group = [run for run in runs if run["algo"] == algo]
        x = np.sqrt(np.clip(np.concatenate([run["curve"]["kl"] for run in group]), 0.0, None))
        for ax, key in zip(axes, ("gold", "proxy"), strict=False):
            ax.scatter(x, np.concatenate([run["curve"][key] for run in group]), s=10, alpha=0.6, label=algo)
    finish_figure(
        fig,
        axes,
        "√KL(policy ‖ reference), √nats",
        ("gold reward (VADER)", "proxy reward (learned RM)"),
        f"{OVEROPT_TASK}: reward vs √KL per update (Gao et al. 2022)",
        path,
    )


def _init_worker(workers: int) -> None:
    """Give each of ``workers`` processes an equal share of the cores, unless ``OMP_NUM_THREADS`` is set."""
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _run_groups(
    config: BenchAlgosConfig,
    policy_factory: Callable[[int], Any] | None,
    env_kwargs: dict[str, Any],
    on_group: Callable[[dict[str, Any], list[dict[str, Any]]], None],
) -> None:
    """Every (task, seed) group (``_run_group``), in this process (``workers=1``) or in ``workers`` spawned
    processes; ``on_group(before_eval, runs)`` gets each group's before-evaluation and runs as it finishes."""
    from tqdm.auto import tqdm

    groups = [(task, seed) for task in config.tasks for seed in config.seeds]
    bar = tqdm(total=len(groups) * len(config.algos), unit="run", desc="bench algos", disable=not config.progress_bar)

    def finished(result: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
        for run in result[1]:
            bar.write(
                f"{run['task']} {run['algo']} seed {run['seed']}: proxy {run['proxy_before']:+.3f} -> "
                f"{run['proxy_after']:+.3f}, gold {run['gold_before']:+.3f} -> {run['gold_after']:+.3f}, "
                f"{run['learn_s']:.0f} s"
            )
        bar.update(len(result[1]))
        on_group(*result)

    if config.workers == 1:
        for task, seed in groups:
            finished(_run_group(config, task, seed, policy_factory, env_kwargs, config.progress_bar))
    else:
        with ProcessPoolExecutor(
            min(config.workers, len(groups)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(config.workers,),
        ) as pool:
            futures = [
                pool.submit(_run_group, config, task, seed, policy_factory, env_kwargs, False) for task, seed in groups
            ]
            for future in as_completed(futures):
                finished(future.result())
    bar.close()


def _derive(config: BenchAlgosConfig, results: dict[str, Any]) -> None:
    """The before-evaluations in (task, seed) order, the runs in (task, algo, seed) order (whatever order the groups
    finish in) and their summary."""
    tasks, algos, seeds = config.tasks, config.algos, config.seeds
    results["before_eval"]["evals"].sort(key=lambda e: (tasks.index(e["task"]), seeds.index(e["seed"])))
    results["runs"].sort(key=lambda r: (tasks.index(r["task"]), algos.index(r["algo"]), seeds.index(r["seed"])))
    results["summary"] = summarize(results["runs"])


def report(config: BenchAlgosConfig, results: dict[str, Any], plots: list[Path]) -> str:
    """The doc section: the setting, the summary table and the plots."""
    m = results["machine"]
    evals = results["before_eval"]["evals"]
    return "\n".join(
        [
            f"Measured on {m['machine']} ({m['device']}, {config.workers} worker process(es) of "
            f"{evals[0]['torch_threads']} torch threads), torch {m['torch']}, "
            f"transformers {m['transformers']}, Python {m['python']}; policy `{config.policy}`, "
            f"{config.total_timesteps} tokens per run, episodes of at most "
            f"{config.max_new_tokens or 'the task default number of'} tokens"
            + (
                f" (support: {config.support_max_turns} agent turns of at most {config.support_max_turn_tokens} "
                f"tokens, scenarios {config.support_scenarios or 'all'})"
                if SUPPORT_TASK in config.tasks
                else ""
            )
            + f", {config.n_envs} episodes per update, "
            f"seeds "
            f"{config.seeds}, KL coefficient {'each default' if config.kl_coef is None else config.kl_coef}; total "
            f"{results['total_wall_s'] / 60:.1f} min. Proxy / gold before and after are means "
            "over the task's held-out test prompts (before: one evaluation per task and seed, shared by the "
            "algorithms); KL is the last update's k1 estimate (nats per episode).",
            "",
            *partial_line(results["measured_cases"], results["planned_cases"]),
            markdown_table(results["summary"]),
            "",
            *[f"![{p.stem}]({p.name})" for p in plots],
        ]
    )


def run_benchmark(
    config: BenchAlgosConfig,
    policy_factory: Callable[[int], Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every (task, algorithm, seed) and write the outputs (after every (task, seed) group); returns what
    ``results.json`` holds.

    ``policy_factory(seed)`` builds the initial policy of a (task, seed) (default: ``config.policy``); it is called
    once per (task, seed), evaluated, and each algorithm trains a deep copy of it. ``env_kwargs`` are extra env
    arguments for every task (e.g. ``tokenizer``). With ``config.workers > 1`` both are pickled to spawned worker
    processes, so ``policy_factory`` must be a module-level function (``ValueError`` otherwise).
    """
    env_kwargs = env_kwargs or {}
    if config.workers > 1:
        try:
            pickle.dumps((policy_factory, env_kwargs))
        except Exception as error:
            raise ValueError(
                "workers > 1 runs in spawned processes, so policy_factory and env_kwargs must be "
                "picklable (policy_factory a module-level function, not a lambda or closure); "
                "use workers=1 to run in this process"
            ) from error
    out = Path(config.output_dir)
    results: dict[str, Any] = {
        "config": asdict(config),
        "machine": machine_info(config.device),
        "summary": [],
        "before_eval": {"shared": True, "note": BEFORE_EVAL_NOTE, "evals": []},
        "runs": [],
    }
    writer = ResultsWriter(
        out,
        results,
        len(config.tasks) * len(config.seeds) * len(config.algos),
        lambda r: "\n".join([*partial_line(r["measured_cases"], r["planned_cases"]), markdown_table(r["summary"])]),
        config.doc,
        "algos",
        functools.partial(_derive, config),
        render_doc=lambda r: report(config, r, writer.plots),
    )

    def add_group(before_eval: dict[str, Any], runs: list[dict[str, Any]]) -> None:
        results["before_eval"]["evals"].append(before_eval)
        for run in runs:
            writer.add("runs", run)

    _run_groups(config, policy_factory, env_kwargs, add_group)
    runs = results["runs"]
    for task in config.tasks:
        writer.plots.append(out / f"curves_{task}.png")
        plot_curves(runs, task, writer.plots[-1])
    if OVEROPT_TASK in config.tasks:
        writer.plots.append(out / "overoptimisation.png")
        plot_overoptimisation([run for run in runs if run["task"] == OVEROPT_TASK], writer.plots[-1])
    writer.write()
    return results


def main(config: BenchAlgosConfig) -> int:
    """Run the benchmark and print its table."""
    results = run_benchmark(config)
    print(markdown_table(results["summary"]))
    print(f"outputs in {config.output_dir}" + (f"; {config.doc} updated" if config.doc else ""))
    return 0


BENCHMARK = Benchmark(
    "algos", BenchAlgosConfig, main, "PPO / REINFORCE / RLOO / GRPO (and SB3 PPO) on the task suite over seeds", __doc__
)

if __name__ == "__main__":
    run_as_script("algos")
