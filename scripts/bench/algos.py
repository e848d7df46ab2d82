"""``text-gym bench algos``: PPO, REINFORCE, RLOO, GRPO (and, opt-in, stock SB3 PPO) on the task suite
(text_gym.tasks.suite) and the multi-turn support desk ``TextGenSupport-v0`` over several seeds, each task warm-started
from its SFT policy.

Every (task, algorithm, seed) run trains a fresh copy of the task's initial policy for ``--total-timesteps``
generated tokens with the algorithm's default config (``--n-envs`` episodes per update) and the task's proxy reward,
logs to tensorboard under ``<output-dir>/tensorboard/<task>/<algo>_s<seed>``, and records after every update the
rollout's mean proxy and gold reward, KL to the reference (k1, nats per episode) and generated tokens. The initial
policy is the task's SFT policy (``--warm-start sft``, the default, for the tasks of ``agents.TASK_SFT_RECIPES``:
built once from ``--policy`` by the task's recipe and cached, ``text-gym sft build``), else ``--policy``. Before
and after training the policy is scored on ``--eval-rows`` of the task's held-out test rows (proxy and gold); the
before-evaluation depends only on (task, seed) and is computed once and shared by every algorithm. ``sb3-ppo`` is
stable-baselines3's ``PPO`` with ``agents.sb3.LMActorCriticPolicy`` and ``KLPenaltyCallback`` on ``SB3VecEnv`` (no
KV cache: slow with real LMs on a CPU, so not in the default list). ``--workers N`` runs the units (each (task, seed)'s
before-evaluation, then each (task, seed, algorithm) run) in ``N`` processes. ``--scale cpu`` (default) or ``gpu`` sizes
the budget, the episodes per update, the held-out rows and the workers left unset (``SCALES``); the support desk runs
``--support-seeds`` (5), the other tasks ``--seeds`` (3).

The statistics follow the rliable protocol (scripts/bench/statistics.py): per task and algorithm the held-out gold
before, after and the gain as the interquartile mean over seeds with 95 % stratified-bootstrap intervals, learning
curves with bootstrap bands, the probability of improvement ``P(X > Y)`` of every pair of algorithms with its
interval, and a ranking per task that says where the intervals overlap.

Writes to ``--output-dir``: ``results.json`` (config, machine, versions, the shared before-evaluations, every curve
and final score, the summary and comparisons) and ``results.md``, rewritten after every run (a run
stopped part-way keeps what it measured, marked partial), and at the end ``curves_<task>.png`` (proxy and gold reward
vs tokens) and, for ``TextGenSentiment-v0``, ``overoptimisation.png`` (gold and proxy reward vs √KL, per algorithm;
Gao et al. 2022). ``--doc`` also replaces the generated section of that markdown file (between the ``bench-algos``
markers) and copies the plots next to it.

``TextGenSupport-v0`` runs in a configuration of its own (``--support-*`` flags, not ``--max-new-tokens``):
conversations of at most ``--support-max-turns`` agent turns of ``--support-max-turn-tokens`` tokens, the scenarios
``--support-scenarios`` (default all ten; train rows to train, held-out test rows to evaluate), proxy = the per-turn
``support-turn`` reward only (the env's conversation reward, which is the gold, is switched off), gold =
``support-success`` (1 when the scripted customer was satisfied) over the episodes' conversations.

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
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from agents.common.config import check_literal_fields
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
SCALES: dict[str, dict[str, Any]] = {
    "cpu": {"total_timesteps": 2048, "n_envs": 8, "eval_rows": 16, "workers": 2, "support_max_turns": 4},
    "gpu": {"total_timesteps": 524288, "n_envs": 32, "eval_rows": 0, "workers": 1, "support_max_turns": 6},
}
"""What ``--scale`` gives the fields left at None. cpu: sized for at most 90 minutes per task on 2 cores with
one-thread workers (an estimate from the per-token costs in docs/benchmarks.md): 2048 tokens per run, 5-10 updates
of 8 episodes on the single-turn tasks, 2-5 of 8 conversations on the support desk (those that end early cost
fewer tokens), 16 held-out rows. gpu: 340-820 updates of 32 episodes on the single-turn tasks, at least 57 on the
support desk, every held-out row."""


def _scaled(text: str, name: str) -> dict[str, str]:
    """The help of a field that ``--scale`` fills when it is None, with each scale's value."""
    values = ", ".join(f"{scale} {settings[name]}" for scale, settings in SCALES.items())
    return {"help": f"{text} (None: the scale's; {values})"}


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
    seeds: list[int] = field(
        default_factory=lambda: [0, 1, 2],
        metadata={"help": "seeds of every task but the support desk; one run per seed"},
    )
    support_seeds: list[int] = field(
        default_factory=lambda: [0, 1, 2, 3, 4], metadata={"help": "TextGenSupport-v0's seeds; one run per seed"}
    )
    policy: str = field(default="smollm2", metadata={"help": "hub id, local folder or 'smollm2'"})
    warm_start: Literal["sft", "none"] = field(
        default="sft",
        metadata={
            "help": "sft: each task with an SFT recipe (agents.TASK_SFT_RECIPES) starts from its SFT policy (built "
            "from --policy once and cached; text-gym sft build); none: every task starts from --policy"
        },
    )
    scale: Literal["cpu", "gpu"] = field(
        default="cpu",
        metadata={
            "help": "the size the fields left at None take (SCALES): cpu: a few updates per run in parallel "
            "one-thread workers, few held-out rows; gpu: hundreds of updates, every held-out row"
        },
    )
    total_timesteps: int | None = field(default=None, metadata=_scaled("generated tokens per run", "total_timesteps"))
    n_envs: int | None = field(default=None, metadata=_scaled("episodes per update", "n_envs"))
    eval_rows: int | None = field(
        default=None,
        metadata=_scaled(
            "held-out rows evaluated per task, evenly spaced over its test split; 0 or more than the split holds: all",
            "eval_rows",
        ),
    )
    max_new_tokens: int | None = field(
        default=None,
        metadata={"help": "episode length for every single-turn task (None: each task's own); not the support task's"},
    )
    support_max_turns: int | None = field(
        default=None, metadata=_scaled("TextGenSupport-v0: agent turns per conversation", "support_max_turns")
    )
    support_max_turn_tokens: int = field(
        default=48, metadata={"help": "TextGenSupport-v0: tokens per agent turn (48: the env's, the demonstrations')"}
    )
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
    learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "AdamW learning rate for every algorithm (None: each algorithm's default, 5e-5); e.g. 1e-5 for a "
            "slower drift from the SFT start"
        },
    )
    minibatch_size: int | None = field(
        default=None,
        metadata={
            "help": "episodes per optimizer step for every algorithm, at most --n-envs (None: each algorithm's "
            "default, 8); e.g. 2 for four times the optimizer steps from the same rollouts"
        },
    )
    workers: int | None = field(
        default=None,
        metadata=_scaled(
            "processes running the units (each (task, seed)'s before-evaluation, each (task, seed, algorithm) run) "
            "in parallel (spawned; each gets cpu_count // workers torch threads unless OMP_NUM_THREADS is set); 1: "
            "in this process",
            "workers",
        ),
    )
    progress_bar: bool = field(default=True, metadata={"help": "show progress bars"})

    def __post_init__(self) -> None:
        from agents import ALGORITHMS, TASK_SFT_RECIPES
        from text_gym import SCENARIOS, TASKS

        check_literal_fields(self)
        for name, value in SCALES[self.scale].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        tasks = [*TASKS, SUPPORT_TASK, *REASONING_TASKS]
        for name, values, valid in (("algos", self.algos, [*ALGORITHMS, SB3_PPO]), ("tasks", self.tasks, tasks)):
            unknown = [v for v in values if v not in valid]
            if unknown or not values or len(set(values)) < len(values):
                raise ValueError(
                    f"{name} must be a non-empty list of distinct names from {sorted(valid)}, got {values}"
                )
        for name in ("seeds", "support_seeds"):
            seeds = getattr(self, name)
            if not seeds or len(set(seeds)) < len(seeds):
                raise ValueError(f"{name} must be a non-empty list of distinct seeds, got {seeds}")
        if self.kl_coef is not None and not self.kl_coef >= 0:
            raise ValueError(f"kl_coef must be None or >= 0, got {self.kl_coef}")
        if self.learning_rate is not None and not 0 < self.learning_rate < float("inf"):
            raise ValueError(f"learning_rate must be None or a finite number > 0, got {self.learning_rate}")
        for name in ("total_timesteps", "n_envs", "workers", "support_max_turns", "support_max_turn_tokens"):
            check_positive_int(name, getattr(self, name))
        if self.minibatch_size is not None and (
            isinstance(self.minibatch_size, bool)
            or not isinstance(self.minibatch_size, int)
            or not 1 <= self.minibatch_size <= self.n_envs
        ):
            raise ValueError(
                f"minibatch_size must be None or an integer in [1, n_envs={self.n_envs}], got {self.minibatch_size!r}"
            )
        if self.max_new_tokens is not None:
            check_positive_int("max_new_tokens", self.max_new_tokens)
        if isinstance(self.eval_rows, bool) or not isinstance(self.eval_rows, int) or self.eval_rows < 0:
            raise ValueError(f"eval_rows must be an integer >= 0 (0: all), got {self.eval_rows!r}")
        if self.warm_start == "sft":
            for task in self.tasks:
                recipe = TASK_SFT_RECIPES.get(task)
                if recipe is not None and recipe.policy != self.policy:
                    raise ValueError(
                        f"warm_start='sft' starts {task} from its SFT policy, fine-tuned from {recipe.policy!r}, "
                        f"not from policy={self.policy!r}; pass warm_start='none' to start from {self.policy!r}"
                    )
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
    learning_rate: float
    minibatch_size: int
    """Episodes per optimizer step (the config's, at most the ``n_envs`` of a rollout)."""


@dataclass(frozen=True)
class Arm:
    """One compared configuration of a (task, seed) group: an algorithm and what its training env changes.

    Attributes:
        name: its name in the results and the report (``algo`` of its runs).
        algo: ``agents.ALGORITHMS`` name or ``sb3-ppo``.
        train_env_kwargs: env arguments of the training env only (e.g. another ``reward_model`` or
            ``conversation_reward``), over the task's; the held-out evaluation is the same for every arm.
    """

    name: str
    algo: str
    train_env_kwargs: dict[str, Any] = field(default_factory=dict)


def task_seeds(config: BenchAlgosConfig, task: str) -> list[int]:
    """The seeds of ``task``: ``support_seeds`` on the support desk, ``seeds`` elsewhere."""
    return config.support_seeds if task == SUPPORT_TASK else config.seeds


def initial_policy(config: BenchAlgosConfig, task: str) -> str:
    """What a run of ``task`` starts from: its SFT policy spec ``sft:<task>`` under ``warm_start='sft'`` when the
    task has a recipe (``agents.TASK_SFT_RECIPES``), else ``config.policy``."""
    from agents import TASK_SFT_RECIPES

    if config.warm_start == "sft" and task in TASK_SFT_RECIPES:
        return f"sft:{task}"
    return config.policy


def eval_prompts(config: BenchAlgosConfig, task: str, **options: Any) -> list[Any]:
    """The held-out rows of ``task`` the benchmark evaluates: ``eval_rows`` of them evenly spaced over the test
    split (all for 0 or more than there are)."""
    import numpy as np

    from text_gym import task_prompts

    rows = task_prompts(_env_id(task), "test", **options)
    if config.eval_rows == 0 or config.eval_rows >= len(rows):
        return rows
    return [rows[int(i)] for i in np.linspace(0, len(rows) - 1, config.eval_rows).round()]


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


def _config_overrides(config: BenchAlgosConfig) -> dict[str, Any]:
    """The algorithm config fields the benchmark sets for every algorithm: ``--kl-coef`` (with ``measure_kl``: the
    KL curve is what a run without a penalty studies, so ``kl_coef=0`` keeps the reference), ``--learning-rate``
    and ``--minibatch-size``, where given."""
    overrides: dict[str, Any] = {}
    if config.kl_coef is not None:
        overrides.update(kl_coef=config.kl_coef, measure_kl=True)
    if config.learning_rate is not None:
        overrides["learning_rate"] = config.learning_rate
    if config.minibatch_size is not None:
        overrides["minibatch_size"] = config.minibatch_size
    return overrides


def _train_agent(
    config: BenchAlgosConfig,
    task: str,
    algo: str,
    seed: int,
    policy: Any,
    env_kwargs: dict[str, Any],
    progress_bar: bool,
    name: str,
) -> _Trained:
    """One of our agents (agents.ALGORITHMS) with its default config (``name``: the arm's, for its tensorboard
    run)."""
    from agents import ALGORITHMS
    from text_gym import gold_reward_spec

    cls, fixed = ALGORITHMS[algo]
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
        **_config_overrides(config),
    )
    recorder = _recorder()
    start = time.perf_counter()
    agent.learn(config.total_timesteps, callback=recorder, progress_bar=progress_bar, tb_log_name=f"{name}_s{seed}")
    learn_s = time.perf_counter() - start
    return _Trained(
        agent.policy,
        _curve(recorder.writer.rows, "objective/kl"),
        agent.num_timesteps,
        agent.n_updates,
        learn_s,
        agent.kl_ctl.value,
        agent.config.learning_rate,
        min(agent.config.minibatch_size, config.n_envs),
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

    cfg = PPOConfig(**_config_overrides(config))
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
        cfg.learning_rate,
        min(cfg.minibatch_size, config.n_envs),
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


class _Setup(NamedTuple):
    """What the units of one (task, seed) share: the initial policy as given, the training env's arguments, the
    held-out env and the gold model."""

    initial: Any
    train_kwargs: dict[str, Any]
    eval_env: Any
    gold: Any


def _setup(
    config: BenchAlgosConfig, task: str, seed: int, policy_factory: Callable[[int], Any] | None, env_kwargs: dict
) -> tuple[_Setup, Any]:
    """The setup of (``task``, ``seed``) and the initial policy loaded (``LMPolicy``, on the device; its vocabulary
    and tokenizer make the envs)."""
    from agents import LMPolicy, resolve_device
    from agents.common.envs import make_vector_env
    from reward_models import make_reward_model
    from text_gym import gold_reward_spec, task_prompts

    initial = policy_factory(seed) if policy_factory is not None else initial_policy(config, task)
    device = resolve_device(config.device)
    policy = LMPolicy.from_pretrained(copy.deepcopy(initial)).to(device)
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
        {**kwargs, "prompts": eval_prompts(config, task, **prompt_options)},
    )
    kwargs["reward_model"] = eval_env.task.reward_model  # one proxy model instance for the unit's envs
    return _Setup(initial, kwargs, eval_env, make_reward_model(gold_reward_spec(env_id))), policy


def _evaluate_start(
    config: BenchAlgosConfig, task: str, seed: int, policy_factory: Callable[[int], Any] | None, env_kwargs: dict
) -> dict[str, Any]:
    """The before-evaluation unit of (``task``, ``seed``): the initial policy scored on the held-out rows with eval
    seed ``seed``, once, for every arm."""
    import torch

    from agents import evaluate_lm

    start = time.perf_counter()
    setup, policy = _setup(config, task, seed, policy_factory, env_kwargs)
    before = evaluate_lm(policy, setup.eval_env, setup.gold, seed=seed)
    return {
        "task": task,
        "seed": seed,
        "proxy": before.score_mean,
        "gold": before.gold_mean,
        "wall_s": time.perf_counter() - start,
        "torch_threads": torch.get_num_threads(),
        "initial_policy": setup.initial if isinstance(setup.initial, str) else type(setup.initial).__name__,
        "eval_rows": len(setup.eval_env.task.prompts),
    }


def _run_arm(
    config: BenchAlgosConfig,
    task: str,
    seed: int,
    policy_factory: Callable[[int], Any] | None,
    env_kwargs: dict,
    progress_bar: bool,
    arm: Arm,
) -> dict[str, Any]:
    """The training unit of (``task``, ``seed``, ``arm``): one run from the initial weights, evaluated after
    training on the held-out rows with the before-evaluation's eval seed. The run's ``proxy_before`` and
    ``gold_before`` come from ``_evaluate_start`` (``StartJoin``)."""
    from agents import evaluate_lm

    start = time.perf_counter()
    setup, loaded = _setup(config, task, seed, policy_factory, env_kwargs)
    del loaded  # the agent loads its own copy of the initial policy
    train_kwargs = {**setup.train_kwargs, **arm.train_env_kwargs}
    if arm.algo == SB3_PPO:
        trained = _train_sb3_ppo(config, task, seed, setup.initial, train_kwargs, setup.gold, progress_bar)
    else:
        trained = _train_agent(config, task, arm.algo, seed, setup.initial, train_kwargs, progress_bar, arm.name)
    after = evaluate_lm(trained.policy, setup.eval_env, setup.gold, seed=seed)
    return {
        "task": task,
        "algo": arm.name,
        "algorithm": arm.algo,
        "seed": seed,
        "curve": trained.curve,
        "tokens": trained.tokens,
        "updates": trained.updates,
        "proxy_after": after.score_mean,
        "gold_after": after.gold_mean,
        "kl_final": trained.curve["kl"][-1],
        "kl_coef": trained.kl_coef,
        "learning_rate": trained.learning_rate,
        "minibatch_size": trained.minibatch_size,
        "learn_s": trained.learn_s,
        "wall_s": time.perf_counter() - start,
    }


class StartJoin:
    """Joins each run to its (task, seed)'s before-evaluation, whichever of the two finishes first."""

    def __init__(self) -> None:
        self.befores: dict[tuple[str, int], dict[str, Any]] = {}
        self.waiting: dict[tuple[str, int], list[dict[str, Any]]] = {}

    def add(self, kind: str, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Take a finished unit's ``record`` (``kind`` "before" or "run"); returns the runs now complete, each with
        its before-evaluation as ``proxy_before`` and ``gold_before`` (after ``updates``, as in the results): a run
        alone when its before-evaluation is known, the runs that waited for a before-evaluation, or none.

        Raises:
            ValueError: a second before-evaluation of one (task, seed), or an unknown ``kind``.
        """
        key = (record["task"], record["seed"])
        if kind == "before":
            if key in self.befores:
                raise ValueError(f"a second before-evaluation of (task, seed) {key}")
            self.befores[key] = record
            return [self._joined(run) for run in self.waiting.pop(key, [])]
        if kind != "run":
            raise ValueError(f"kind must be 'before' or 'run', got {kind!r}")
        if key in self.befores:
            return [self._joined(record)]
        self.waiting.setdefault(key, []).append(record)
        return []

    def _joined(self, run: dict[str, Any]) -> dict[str, Any]:
        before = self.befores[run["task"], run["seed"]]
        head = {k: run[k] for k in ("task", "algo", "algorithm", "seed", "curve", "tokens", "updates")}
        return {**head, "proxy_before": before["proxy"], "gold_before": before["gold"], **run}


STAT_KEYS = ("proxy_before", "gold_before", "proxy_after", "gold_after", "gold_gain", "rollout_gold", "kl_final")
"""The per-run numbers ``summarize`` gives a mean, std, IQM and 95 % interval: ``gold_gain`` is gold after minus
before (held-out), ``rollout_gold`` the mean gold of the run's rollouts over all its updates (the area under its
learning curve per update: sample efficiency at a fixed token budget)."""


def _run_value(run: dict[str, Any], key: str) -> float:
    if key == "gold_gain":
        return run["gold_after"] - run["gold_before"]
    if key == "rollout_gold":
        return float(sum(run["curve"]["gold"]) / len(run["curve"]["gold"]))
    return run[key]


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (task, algorithm) over its seeds: for each of ``STAT_KEYS`` the mean and (population) std, and the IQM
    with its 95 % stratified-bootstrap interval (``iqm``, ``low``, ``high``; NaN bounds for one seed); the mean
    tokens and training time."""
    import numpy as np

    from scripts.bench.statistics import iqm_interval

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["task"], run["algo"]), []).append(run)
    rows = []
    for (task, algo), group in groups.items():
        row: dict[str, Any] = {"task": task, "algo": algo, "seeds": len(group)}
        for key in (*STAT_KEYS, "tokens", "learn_s"):
            values = np.array([_run_value(run, key) for run in group], dtype=np.float64)
            row[key] = {"mean": float(values.mean()), "std": float(values.std())}
            if key in STAT_KEYS:
                interval = iqm_interval(values)
                row[key].update(iqm=interval.point, low=interval.low, high=interval.high)
        rows.append(row)
    return rows


def _interval(stat: dict[str, float]):
    from scripts.bench.statistics import Interval

    return Interval(stat["iqm"], stat["low"], stat["high"])


def compare(runs: list[dict[str, Any]], summary: list[dict[str, Any]], key: str = "gold_after") -> list[dict]:
    """Per task: the probability of improvement ``P(X > Y)`` of ``key`` (one value per seed) for every pair of
    algorithms, with its 95 % bootstrap interval, and the ranking by ``key``'s IQM with the overlapping intervals
    (``scripts.bench.statistics.ranking``) in words."""
    from scripts.bench.statistics import improvement_interval, ranking, ranking_text

    out = []
    for task in dict.fromkeys(row["task"] for row in summary):
        rows = [row for row in summary if row["task"] == task]
        algos = [row["algo"] for row in rows]
        values = {a: [_run_value(r, key) for r in runs if (r["task"], r["algo"]) == (task, a)] for a in algos}
        pairs = []
        for i, x in enumerate(algos):
            for y in algos[i + 1 :]:
                interval = improvement_interval(values[x], values[y])
                pairs.append({"x": x, "y": y, "p": interval.point, "low": interval.low, "high": interval.high})
        ranked = ranking({row["algo"]: _interval(row[key]) for row in rows})
        out.append(
            {
                "task": task,
                "key": key,
                "pairs": pairs,
                "ranking": [{"rank": r.rank, "algo": r.name, "overlaps": list(r.overlaps)} for r in ranked],
                "ranking_text": ranking_text(ranked),
            }
        )
    return out


def markdown_table(summary: list[dict[str, Any]]) -> str:
    """The summary table: held-out gold before, after and the gain as IQM [95 % CI] over seeds; proxy after, KL
    and training time as mean ± std."""

    def cell(stat: dict[str, float], digits: int = 3) -> str:
        return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"

    lines = [
        "| task | algo | seeds | gold before | gold after | gold gain | proxy after | KL (nats) | tokens "
        "| train time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['task']} | {r['algo']} | {r['seeds']} | {_interval(r['gold_before']).cell()} "
        f"| {_interval(r['gold_after']).cell()} | {_interval(r['gold_gain']).cell()} | {cell(r['proxy_after'])} "
        f"| {cell(r['kl_final'], 2)} | {r['tokens']['mean']:.0f} | {cell(r['learn_s'], 1)} |"
        for r in summary
    ]
    return "\n".join(lines)


def _ranked_by(key: str) -> str:
    """What a ranking by the run value ``key`` ranks: ``gold_after`` -> "held-out gold after", ``rollout_gold`` ->
    "rollout gold" (the training episodes, not the held-out rows)."""
    words = key.replace("_", " ")
    return f"held-out {words}" if key.startswith("gold") else words


def comparison_markdown(comparisons: list[dict[str, Any]]) -> str:
    """Per task: the ranking in words and the probability-of-improvement table."""
    from scripts.bench.statistics import Interval

    lines = []
    for c in comparisons:
        lines += [
            f"**{c['task']}** (ranked by {_ranked_by(c['key'])}, IQM [95 % CI]): {c['ranking_text']}",
            "",
        ]
        if c["pairs"]:
            lines += ["| X | Y | P(X > Y) [95 % CI] |", "|---|---|---:|"]
            lines += [f"| {p['x']} | {p['y']} | {Interval(p['p'], p['low'], p['high']).cell(2)} |" for p in c["pairs"]]
            lines.append("")
    return "\n".join(lines).rstrip("\n")


def _aligned_curves(runs: list[dict[str, Any]], key: str):
    """The runs' ``key`` curves ``[seeds, updates]`` truncated to the shortest run, and x = the mean token count."""
    import numpy as np

    n = min(len(run["curve"][key]) for run in runs)
    x = np.mean([run["curve"]["tokens"][:n] for run in runs], axis=0)
    return x, np.array([run["curve"][key][:n] for run in runs], dtype=np.float64)


def plot_curves(runs: list[dict[str, Any]], task: str, path: Path, keys: tuple[str, ...] = ("proxy", "gold")) -> None:
    """Rollout ``keys`` (default proxy and gold reward) vs generated tokens: the IQM over seeds with its 95 %
    bootstrap band, one line per algorithm."""
    from scripts.bench.statistics import curve_band

    plt = pyplot()

    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.8), sharex=True, squeeze=False)
    axes = axes[0]
    for algo in dict.fromkeys(run["algo"] for run in runs if run["task"] == task):
        group = [run for run in runs if run["task"] == task and run["algo"] == algo]
        for ax, key in zip(axes, keys, strict=True):
            x, curves = _aligned_curves(group, key)
            mid, low, high = curve_band(curves)
            ax.plot(x, mid, label=algo)
            ax.fill_between(x, low, high, alpha=0.2)
    finish_figure(
        fig,
        axes,
        "generated tokens",
        tuple(f"{key} reward" for key in keys),
        f"{task}: rollout reward vs tokens\n(IQM over seeds, 95 % bootstrap band)",
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


def _init_worker(workers: int, parent_pid: int) -> None:
    """Give each of ``workers`` processes an equal share of the cores, unless ``OMP_NUM_THREADS`` is set, and on
    Linux end the worker with its parent ``parent_pid`` (``PR_SET_PDEATHSIG``): a benchmark stopped with a signal
    leaves no worker running its unit on."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent ended before the call
            os._exit(1)
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _run_unit(
    config: BenchAlgosConfig,
    policy_factory: Callable[[int], Any] | None,
    env_kwargs: dict[str, Any],
    progress_bar: bool,
    unit: tuple[str, int, Arm | None],
) -> tuple[str, dict[str, Any]]:
    """Run one unit ``(task, seed, arm)``: ``("before", record)`` for ``arm`` None (``_evaluate_start``), else
    ``("run", run)`` (``_run_arm``)."""
    task, seed, arm = unit
    if arm is None:
        return "before", _evaluate_start(config, task, seed, policy_factory, env_kwargs)
    return "run", _run_arm(config, task, seed, policy_factory, env_kwargs, progress_bar, arm)


def _run_units(
    config: BenchAlgosConfig,
    policy_factory: Callable[[int], Any] | None,
    env_kwargs: dict[str, Any],
    arms: list[Arm],
    on_before: Callable[[dict[str, Any]], None],
    on_run: Callable[[dict[str, Any]], None],
) -> None:
    """Every unit, in this process (``workers=1``) or in ``workers`` spawned processes: per (task, seed) the
    before-evaluation (``_evaluate_start``) and one training run per arm (``_run_arm``), submitted in (task, seed,
    arm) order with every before-evaluation first, so that the pool stays busy to the end whatever the number of
    seeds. ``on_before(record)`` gets each before-evaluation and ``on_run(run)`` each run, with its before-evaluation
    (``StartJoin``), as soon as both have finished."""
    from tqdm.auto import tqdm

    groups = [(task, seed) for task in config.tasks for seed in task_seeds(config, task)]
    bar = tqdm(total=len(groups) * len(arms), unit="run", desc="bench", disable=not config.progress_bar)
    join = StartJoin()

    def finished(outcome: tuple[str, dict[str, Any]]) -> None:
        kind, record = outcome
        if kind == "before":
            on_before(record)
        for run in join.add(kind, record):
            bar.write(
                f"{run['task']} {run['algo']} seed {run['seed']}: proxy {run['proxy_before']:+.3f} -> "
                f"{run['proxy_after']:+.3f}, gold {run['gold_before']:+.3f} -> {run['gold_after']:+.3f}, "
                f"{run['learn_s']:.0f} s"
            )
            bar.update(1)
            on_run(run)

    units = [(task, seed, None) for task, seed in groups] + [(task, seed, arm) for task, seed in groups for arm in arms]
    if config.workers == 1:
        for unit in units:
            finished(_run_unit(config, policy_factory, env_kwargs, config.progress_bar, unit))
    else:
        with ProcessPoolExecutor(
            min(config.workers, len(units)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(config.workers, os.getpid()),
        ) as pool:
            futures = [pool.submit(_run_unit, config, policy_factory, env_kwargs, False, unit) for unit in units]
            for future in as_completed(futures):
                finished(future.result())
    bar.close()


def _derive(config: BenchAlgosConfig, arms: list[Arm], key: str, results: dict[str, Any]) -> None:
    """The before-evaluations in (task, seed) order, the runs in (task, arm, seed) order (whatever order the units
    finish in), their summary and the comparisons by ``key``."""
    tasks, names = config.tasks, [arm.name for arm in arms]

    def seed_order(row: dict[str, Any]) -> int:
        return task_seeds(config, row["task"]).index(row["seed"])

    results["before_eval"]["evals"].sort(key=lambda e: (tasks.index(e["task"]), seed_order(e)))
    results["runs"].sort(key=lambda r: (tasks.index(r["task"]), names.index(r["algo"]), seed_order(r)))
    results["summary"] = summarize(results["runs"])
    results["comparisons"] = compare(results["runs"], results["summary"], key)


def setting_line(config: BenchAlgosConfig, results: dict[str, Any]) -> str:
    """The machine, the models, the budget and the seeds of a run, in one paragraph."""
    m = results["machine"]
    evals = results["before_eval"]["evals"]
    threads = evals[0]["torch_threads"] if evals else m["torch_threads"]
    starts = {e["task"]: e["initial_policy"] for e in evals}
    rows = {e["task"]: e["eval_rows"] for e in evals}
    if len(set(rows.values())) > 1:
        held_out = "held-out rows " + ", ".join(f"{task} {count}" for task, count in rows.items())
    else:
        held_out = f"{next(iter(rows.values()), config.eval_rows or 'all')} held-out rows per task"
    warm = [task for task, policy in starts.items() if policy.startswith("sft:")]
    seeds = "; ".join(
        dict.fromkeys(
            f"{'support' if t == SUPPORT_TASK else 'other tasks'}: {task_seeds(config, t)}" for t in config.tasks
        )
    )
    return (
        f"Measured on {m['machine']} ({m['device']}, {config.workers} worker process(es) of {threads} torch "
        f"threads), torch {m['torch']}, transformers {m['transformers']}, Python {m['python']}; scale "
        f"`{config.scale}`; policy `{config.policy}`"
        + (f", warm-started from the task SFT policy (`sft:<task>`) on {', '.join(warm)}" if warm else "")
        + f"; {config.total_timesteps} tokens per run, episodes of at most "
        f"{config.max_new_tokens or 'the task default number of'} tokens"
        + (
            f" (support: {config.support_max_turns} agent turns of at most {config.support_max_turn_tokens} "
            f"tokens, scenarios {config.support_scenarios or 'all'})"
            if SUPPORT_TASK in config.tasks
            else ""
        )
        + f", {config.n_envs} episodes per update, {held_out}, seeds "
        f"({seeds}), KL coefficient {'each default' if config.kl_coef is None else config.kl_coef}, learning rate "
        f"{'each default' if config.learning_rate is None else config.learning_rate}, minibatch "
        f"{'each default' if config.minibatch_size is None else f'{config.minibatch_size} episodes'}; total "
        f"{results['total_wall_s'] / 60:.1f} min."
    )


def report(config: BenchAlgosConfig, results: dict[str, Any], plots: list[Path]) -> str:
    """The doc section: the setting, the summary table, the rankings and probabilities of improvement, the plots."""
    return "\n".join(
        [
            setting_line(config, results)
            + " Gold before / after / gain are the interquartile mean over seeds of the held-out means, with 95 % "
            "stratified-bootstrap intervals (rliable protocol; before: one evaluation per task and seed, shared by "
            "the algorithms); proxy after, KL (the last update's k1 estimate, nats per episode) and time are mean "
            "± std.",
            "",
            *partial_line(results["measured_cases"], results["planned_cases"]),
            markdown_table(results["summary"]),
            "",
            comparison_markdown(results["comparisons"]),
            "",
            *[f"![{p.stem}]({p.name})" for p in plots],
        ]
    )


def _algos_plots(config: BenchAlgosConfig, runs: list[dict[str, Any]], out: Path) -> list[Path]:
    plots = []
    for task in config.tasks:
        plots.append(out / f"curves_{task}.png")
        plot_curves(runs, task, plots[-1])
    if OVEROPT_TASK in config.tasks:
        plots.append(out / "overoptimisation.png")
        plot_overoptimisation([run for run in runs if run["task"] == OVEROPT_TASK], plots[-1])
    return plots


def build_warm_starts(config: BenchAlgosConfig) -> None:
    """Build (or find) the SFT policy of every warm-started task once, in this process, before the workers start
    (``agents.task_sft_policy``)."""
    from agents import task_sft_policy

    for task in config.tasks:
        policy = initial_policy(config, task)
        if policy.startswith("sft:"):
            task_sft_policy(task, progress=config.progress_bar)


def run_benchmark(
    config: BenchAlgosConfig,
    policy_factory: Callable[[int], Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    *,
    arms: list[Arm] | None = None,
    doc_name: str = "algos",
    compare_key: str = "gold_after",
    render_doc: Callable[[dict[str, Any], list[Path]], str] | None = None,
    make_plots: Callable[[list[dict[str, Any]], Path], list[Path]] | None = None,
) -> dict[str, Any]:
    """Run every (task, arm, seed) and write the outputs (after every run); returns what ``results.json`` holds.

    ``policy_factory(seed)`` builds the initial policy of a (task, seed) (default: ``initial_policy``: the task's
    SFT policy under ``warm_start='sft'``, else ``config.policy``); it is called in every unit of a (task, seed)
    (the before-evaluation, each arm's run), so it must give the same weights for the same seed. ``env_kwargs`` are
    extra env arguments for every task (e.g. ``tokenizer``). With ``config.workers > 1`` both are pickled to spawned
    worker processes, so ``policy_factory`` must be a module-level function (``ValueError`` otherwise).

    The keyword arguments let another study reuse the harness (``text-gym bench credit``): ``arms`` (default one
    per ``config.algos``, the task's env), the doc section ``doc_name``, the run value the comparisons rank
    (``compare_key``, one of ``STAT_KEYS``), the doc section's markdown ``render_doc(results, plots)`` (default
    ``report``) and the plots ``make_plots(runs, out) -> paths`` (default: curves per task, over-optimisation).
    """
    env_kwargs = env_kwargs or {}
    arms = arms if arms is not None else [Arm(algo, algo) for algo in config.algos]
    if config.workers > 1:
        try:
            pickle.dumps((policy_factory, env_kwargs, arms))
        except Exception as error:
            raise ValueError(
                "workers > 1 runs in spawned processes, so policy_factory, env_kwargs and the arms must be "
                "picklable (policy_factory a module-level function, not a lambda or closure); "
                "use workers=1 to run in this process"
            ) from error
    if policy_factory is None:
        build_warm_starts(config)
    out = Path(config.output_dir)
    results: dict[str, Any] = {
        "config": asdict(config),
        "arms": [{"name": arm.name, "algo": arm.algo, "train_env": sorted(arm.train_env_kwargs)} for arm in arms],
        "machine": machine_info(config.device),
        "summary": [],
        "comparisons": [],
        "before_eval": {"shared": True, "note": BEFORE_EVAL_NOTE, "evals": []},
        "runs": [],
    }
    render_doc = render_doc or functools.partial(report, config)
    writer = ResultsWriter(
        out,
        results,
        sum(len(task_seeds(config, task)) for task in config.tasks) * len(arms),
        lambda r: "\n".join(
            [
                *partial_line(r["measured_cases"], r["planned_cases"]),
                markdown_table(r["summary"]),
                "",
                comparison_markdown(r["comparisons"]),
            ]
        ),
        config.doc,
        doc_name,
        functools.partial(_derive, config, arms, compare_key),
        render_doc=lambda r: render_doc(r, writer.plots),
    )

    _run_units(
        config,
        policy_factory,
        env_kwargs,
        arms,
        results["before_eval"]["evals"].append,
        lambda run: writer.add("runs", run),
    )
    make_plots = make_plots or functools.partial(_algos_plots, config)
    writer.plots.extend(make_plots(results["runs"], out))
    writer.write()
    return results


def main(config: BenchAlgosConfig) -> int:
    """Run the benchmark and print its table."""
    results = run_benchmark(config)
    print(markdown_table(results["summary"]))
    print(comparison_markdown(results["comparisons"]))
    print(f"outputs in {config.output_dir}" + (f"; {config.doc} updated" if config.doc else ""))
    return 0


BENCHMARK = Benchmark(
    "algos", BenchAlgosConfig, main, "PPO / REINFORCE / RLOO / GRPO (and SB3 PPO) on the task suite over seeds", __doc__
)

if __name__ == "__main__":
    run_as_script("algos")
