"""``text-gym train <algo>``: fine-tune an LM policy with PPO, a REINFORCE variant or GRPO through a TextGen env.

Evaluates the policy on held-out prompts before and after training (the env's reward model as the proxy score,
``--gold-reward-model`` as the gold score), saves the final agent, and writes checkpoints and tensorboard logs
under ``--output-dir``. ``--resume`` continues from the latest checkpoint there. Defaults: the packaged SmolLM2
against the env's default reward model, sized for about 7 minutes on a 2-core CPU (docs/agents.md).

Per-env defaults (``ENV_DEFAULTS``): on ``TextGenSupport-v0`` a flag left unset takes the support desk's training
default instead of the generic one (``--help`` shows both), sized for about 7 updates of the SFT policy and the
held-out success before and after in under 10 minutes on a 2-core CPU (estimated from a measured run: docs/agents.md);
a flag given on the command line always wins.

Env settings left at ``none`` are the env's own (its prompts, episode length, reward model); the held-out
evaluation env is built like the training env (same id and settings) with the held-out prompts, and the gold
metric defaults to the env's (``env``: the task's gold metric, ``support-success`` on ``TextGenSupport-v0``,
VADER elsewhere); a task's extra metrics (``text_gym.task_metrics``, e.g. ``TextGenSafety-v0``'s refusal rate) are
reported next to the gold. Chat envs (``TextGenChat-v0``, ``TextGenSupport-v0``) take ``--user``, ``--max-turns``
and ``--max-turn-tokens``; other envs refuse them.

LoRA: ``--lora-r 16`` (plus ``--lora-alpha``, ``--lora-dropout``, ``--lora-target-modules``, ``--weight-dtype``).
Mixed precision: ``--compute-dtype bfloat16``. ``--dtype`` / ``--torch-dtype`` are deprecated aliases of
``--compute-dtype`` / ``--weight-dtype``.
Several processes: ``torchrun --nproc_per_node N $(which text-gym) train ...`` or ``accelerate launch
--multi_gpu --num_processes N $(which text-gym) train ...`` (also on CPU, with gloo); the per-process batch
flags (``--n-envs``, ``--minibatch-size``) are multiplied by N for the global batch (docs/agents.md, "Scaling").
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agents import ALGORITHMS, AlgorithmConfig
from reward_models.common import check_positive_int
from scripts.args import ConfigParser, config_from_args

ALGORITHM_HELP = {
    "ppo": "PPO with a value head (GAE advantages, clipped policy and value losses)",
    "reinforce": "REINFORCE with a moving-average baseline",
    "rloo": "REINFORCE with the leave-one-out baseline over --group-size samples per prompt",
    "grpo": "GRPO: group-normalised advantages over --group-size samples per prompt, clipped ratio over "
    "--num-iterations passes",
}
"""``text-gym train <algo>`` help lines; the algorithms themselves are ``agents.ALGORITHMS``."""

_GRPO_OBJECTIVE = ("num_iterations", "clip_range")  # REINFORCEConfig fields of GRPO's clipped ratio objective
UNUSED_FIELDS = {
    "reinforce": ("group_size", *_GRPO_OBJECTIVE),
    "rloo": ("baseline_decay", *_GRPO_OBJECTIVE),
}
"""Config fields an algorithm name leaves unused (no flag), besides the ones it fixes (``agents.ALGORITHMS``)."""

OUTPUT_FIELDS = ("checkpoint_dir", "tensorboard_log")
"""Config fields ``text-gym train`` sets from ``--output-dir`` (no flag of their own)."""


@dataclass
class TrainArgs:
    """What to train, on what, for how long, and where the outputs go."""

    algo: Literal["ppo", "reinforce", "rloo", "grpo"] = field(
        default="ppo",
        metadata={
            "help": "ppo, reinforce (moving-average baseline), rloo (REINFORCE with the leave-one-out baseline) or "
            "grpo (GRPO)"
        },
    )
    env: str = field(default="TextGen-v0", metadata={"help": "registered env id"})
    policy: str = field(
        default="smollm2", metadata={"help": "hub id, local folder or 'smollm2' (the packaged SmolLM2-135M-Instruct)"}
    )
    reward_model: str | None = field(
        default=None, metadata={"help": "reward-model spec of the env (the proxy reward); none: the env's own"}
    )
    prompts: str | None = field(
        default=None, metadata={"help": "training prompts: file or default:<split>; none: the env's own"}
    )
    eval_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "held-out prompts sampled together in the evaluation (sub-envs of the evaluation env; its "
            "rollout memory grows with it); none: --n-envs"
        },
    )
    eval_prompts: str | None = field(
        default="test",
        metadata={
            "help": "held-out prompts scored before and after training: 'test' (the env's held-out split: "
            "text_gym.task_prompts(env, 'test') for the suite tasks and the chat envs, default:test otherwise), "
            "a file, default:<split>, or none (no evaluation)"
        },
    )
    max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": "tokens per episode after the prompt (a chat env's user turns included); none: the env's own "
            "(TextGen-v0: 32, suite tasks: theirs, TextGenSupport-v0: 448)"
        },
    )
    max_prompt_tokens: int | None = field(
        default=None, metadata={"help": "prompt slots in the observation; none: the env's own (TextGen-v0: 64)"}
    )
    user: str | None = field(
        default=None,
        metadata={
            "help": "chat envs only: the simulated user (scripted, lm, lm:<model>, replay:<path.jsonl>); none: the "
            "env's own (scripted on TextGenSupport-v0 and TextGenChat-v0)"
        },
    )
    max_turns: int | None = field(
        default=None, metadata={"help": "chat envs only: agent turns per episode; none: the env's own"}
    )
    max_turn_tokens: int | None = field(
        default=None, metadata={"help": "chat envs only: tokens per agent turn; none: the env's own"}
    )
    total_timesteps: int = field(default=8000, metadata={"help": "generated tokens to train on"})
    output_dir: str = field(
        default="runs/train",
        metadata={
            "help": "final agent in <dir>/final, checkpoints in <dir>/checkpoints, tensorboard logs in "
            "<dir>/tensorboard, and <dir>/summary.json"
        },
    )
    resume: bool = field(default=False, metadata={"help": "continue from the latest checkpoint in the checkpoint dir"})
    merge_lora: bool = field(
        default=False,
        metadata={"help": "LoRA runs: also write the merged full model (for inference) to <output-dir>/final-merged"},
    )
    progress_bar: bool = field(default=True, metadata={"help": "show progress bars"})

    def __post_init__(self) -> None:
        if self.algo not in ALGORITHMS:
            raise ValueError(f"algo must be one of {sorted(ALGORITHMS)}, got {self.algo!r}")
        check_positive_int("total_timesteps", self.total_timesteps)
        for name in ("eval_batch_size", "max_new_tokens", "max_prompt_tokens", "max_turns", "max_turn_tokens"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))

    def env_kwargs(self) -> dict[str, Any]:
        """The env keyword arguments of the settings given (the others keep the env's defaults)."""
        names = ("prompts", "reward_model", "max_new_tokens", "max_prompt_tokens", *CHAT_FIELDS)
        given = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        return {**given, "truncation": "left"}


CHAT_FIELDS = ("user", "max_turns", "max_turn_tokens")
"""TrainArgs fields of the chat envs only."""

ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "TextGenSupport-v0": {
        "policy": "sft:TextGenSupport-v0",  # the support SFT policy (agents.sft.task_policies; built once, cached)
        "total_timesteps": 4000,
        "n_envs": 8,
        "minibatch_size": 8,
        "gradient_accumulation_steps": 2,
        "n_epochs": 1,
        "eval_batch_size": 30,
    },
}
"""Per-env training defaults of ``text-gym train``: ``ENV_DEFAULTS[env_id][field]`` replaces the generic default of
``field`` (a ``TrainArgs`` or algorithm config field) when ``--env env_id`` is trained and the flag is not given.

``TextGenSupport-v0`` (docs/agents.md, "Training on the support desk"): starts from the support desk's SFT policy
(``sft:TextGenSupport-v0``, built on first use from the task's demonstrations, about 10-15 minutes on 2 cores, then
cached; ``text-gym sft build --env TextGenSupport-v0`` builds it ahead), 8 conversations per update, trained in
micro-batches of 4 (``minibatch_size / gradient_accumulation_steps``: the update holds the activations of 4
conversations of up to 544 tokens, not 8), one epoch, and the 30 held-out rows sampled in one batch. 4,000 agent
tokens is at least 3 updates whatever the policy: a conversation has at most 5 agent turns of 48 tokens (the
customers' patience is 4 or 5 turns), so an update has at most 1,920; from the SFT policy it made 7 updates in 8 min
17 s on 2 cores (docs/agents.md).
"""


@dataclass(frozen=True)
class EnvDefault:
    """The parsed value of flag ``name`` when it is not given: ``generic`` (the field's default), or the trained
    env's own from ``ENV_DEFAULTS`` (``resolve``); ``--help`` shows both."""

    name: str
    generic: Any

    def resolve(self, env_id: str) -> Any:
        return ENV_DEFAULTS.get(env_id, {}).get(self.name, self.generic)

    def __str__(self) -> str:
        own = [f"{env}: {values[self.name]}" for env, values in ENV_DEFAULTS.items() if self.name in values]
        return "; ".join([str(self.generic), *own])


class TrainParser(ConfigParser):
    """The parser of ``text-gym train <algo>``: the flags of ``ENV_DEFAULTS`` that are not given take the default
    of ``--env`` (the generic one for an env without its own)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = {name for values in ENV_DEFAULTS.values() for name in values}
        for action in self._actions:
            if action.dest in names and action.option_strings:
                action.default = EnvDefault(action.dest, action.default)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        for name, value in vars(namespace).items():
            if isinstance(value, EnvDefault):
                setattr(namespace, name, value.resolve(namespace.env))
        return namespace, extras


GOLD_OF_ENV = "env"
"""``--gold-reward-model`` value (the default) for the env's gold metric (``_env_gold``)."""


def _env_gold(env_id: str) -> str:
    """The gold metric of ``env_id`` as a reward-model spec: the task's (``text_gym.gold_reward_spec``) for the suite
    tasks and TextGenSupport-v0, VADER for the others."""
    from text_gym import gold_reward_spec

    try:
        return gold_reward_spec(env_id)
    except ValueError:  # not a task with a gold metric of its own
        return "vader"


def _eval_prompts(env_id: str, eval_prompts: str) -> Any:
    """``--eval-prompts`` as an env ``prompts=``: ``test`` is the env's held-out split."""
    from text_gym import task_prompts

    if eval_prompts != "test":
        return eval_prompts
    try:
        return task_prompts(env_id, "test")
    except ValueError:  # TextGen-v0, TextGenChar-v0: the default prompts' test split
        return "default:test"


def _config(args: argparse.Namespace, train: TrainArgs) -> AlgorithmConfig:
    cls, fixed = ALGORITHMS[train.algo]
    output = Path(train.output_dir)
    outputs = {"checkpoint_dir": str(output / "checkpoints"), "tensorboard_log": str(output / "tensorboard")}
    if args.gold_reward_model == GOLD_OF_ENV:
        outputs["gold_reward_model"] = _env_gold(train.env)
    return config_from_args(cls.config_class, args, **fixed, **outputs)


def _quiet(*args, **kwargs) -> None:
    """``print`` of the processes other than the main one."""


def _print_eval(label: str, result, say=print) -> None:
    gold = "" if result.gold_mean is None else f", gold {result.gold_mean:+.4f}"
    extra = "".join(f", {name} {mean:.4f}" for name, mean in result.metric_means.items())
    say(f"{label}: proxy {result.score_mean:+.4f}{gold}{extra} over {len(result.scores)} held-out prompts")
    for prompt, completion in list(zip(result.prompts, result.completions, strict=False))[:3]:
        say(f"    {prompt} ⟦{completion}⟧")


def run(args: argparse.Namespace) -> int:
    from agents import evaluate
    from agents.common.checkpoint import checkpoint_to_resume
    from agents.common.envs import make_vector_env
    from text_gym import task_metrics
    from text_gym.chat import is_chat_env

    train = config_from_args(TrainArgs, args)
    chat = is_chat_env(train.env)
    if not chat:
        given = [name for name in CHAT_FIELDS if getattr(train, name) is not None]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise ValueError(
                f"{flag} applies to the chat envs (TextGenChat-v0, TextGenSupport-v0) only, not to {train.env}"
            )
    config = _config(args, train)
    cls, _ = ALGORITHMS[train.algo]
    env_kwargs = train.env_kwargs()
    start = time.perf_counter()
    agent = cls(train.policy, train.env, config=config, env_kwargs=env_kwargs)
    if train.merge_lora and not agent.policy.is_peft:
        raise ValueError("--merge-lora needs a LoRA run (--lora-r > 0)")
    say = print if agent.is_main_process else _quiet  # every process trains; the main one reports and saves
    env = agent.env
    length = f"{env.max_turns} turns x {env.max_turn_tokens} tokens" if chat else f"{env.task.max_new_tokens} tokens"
    say(
        f"{cls.__name__} ({train.algo}) on {train.env}: policy {train.policy}, reward model "
        f"{env.task.reward_name!r}, gold {config.gold_reward_model!r}, device {agent.device}, {agent.n_envs} "
        f"episodes x {length} per update and process x {agent.num_processes} processes; logs in "
        f"{config.tensorboard_log}"
    )
    eval_env = None

    def held_out(label: str):
        result = evaluate(
            agent,
            eval_env,
            config.gold_reward_model,
            seed=config.seed,
            progress_bar=train.progress_bar and agent.is_main_process,
            metrics=task_metrics(train.env),
        )
        _print_eval(label, result, say)
        return result

    if train.eval_prompts is not None:
        # The training env's id and settings (the same reward-model instance), with the held-out prompts.
        held_out_kwargs = {
            **env_kwargs,
            "prompts": _eval_prompts(train.env, train.eval_prompts),
            "reward_model": env.task.reward_model,
            "tokenizer": env.task.tokenizer,
        }
        eval_batch = train.eval_batch_size or agent.n_envs
        eval_env = make_vector_env(train.env, eval_batch, agent.policy.vocab_size, str(agent.device), held_out_kwargs)
        before = held_out("before")
    resume_from = checkpoint_to_resume(config.checkpoint_dir) if train.resume else None
    agent.learn(train.total_timesteps, progress_bar=train.progress_bar, resume_from=resume_from)
    final = Path(train.output_dir) / "final"
    if agent.is_main_process:
        agent.save(final)
        if train.merge_lora:
            agent.save(Path(train.output_dir) / "final-merged", merge_adapters=True)
    summary = {"algo": train.algo, "updates": agent.n_updates, "timesteps": agent.num_timesteps, "saved_to": str(final)}
    if eval_env is not None:
        after = held_out("after")
        summary.update(
            {
                "proxy_before": before.score_mean,
                "proxy_after": after.score_mean,
                "gold_before": before.gold_mean,
                "gold_after": after.gold_mean,
            }
        )
        if after.metrics:
            summary.update({"metrics_before": before.metric_means, "metrics_after": after.metric_means})
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    if agent.is_main_process:
        (Path(train.output_dir) / "summary.json").write_text(json.dumps(summary, indent=2))
    say(json.dumps(summary, indent=2))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune an LM policy with PPO / REINFORCE / RLOO / GRPO",
        description=f"{__doc__}\nALGO is one of {', '.join(ALGORITHMS)}; each takes only its own flags (text-gym "
        "train ppo --help),\nand a flag of another algorithm is refused.",
    )
    algorithms = parser.add_subparsers(dest="algo", required=True, metavar="ALGO", parser_class=TrainParser)
    commands = {}
    for algo, (cls, fixed) in ALGORITHMS.items():
        help_text = ALGORITHM_HELP.get(algo, cls.__name__)
        command = algorithms.add_parser(
            algo,
            configs=[TrainArgs, cls.config_class],
            exclude={"algo", *fixed, *UNUSED_FIELDS.get(algo, ()), *OUTPUT_FIELDS},
            help=help_text,
            description=f"{help_text}.\n\n{__doc__}",
        )
        command.set_defaults(func=run, gold_reward_model=GOLD_OF_ENV)
        gold = command._option_string_actions["--gold-reward-model"]
        gold.help = (
            f"{gold.help}; '{GOLD_OF_ENV}': the env's gold metric (the suite tasks' own, support-success on "
            "TextGenSupport-v0, vader elsewhere); none: no gold score"
        )
        commands[algo] = command
    for command in commands.values():
        for other, other_command in commands.items():
            for flag in other_command._option_string_actions.keys() - command._option_string_actions.keys():
                command.flag_owners[flag] = (
                    f"{command.flag_owners[flag]}, {other}" if flag in command.flag_owners else other
                )
