"""``text-gym rollout``: play episodes of a TextGen env with a uniformly random policy and print them.

A smoke test of an env configuration (tokenizer, prompts, reward model) before training on it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from reward_models.common import check_positive_int
from scripts.args import add_config_command, config_from_args


@dataclass
class RolloutConfig:
    """Random-policy rollout."""

    env: str = field(default="TextGen-v0", metadata={"help": "registered env id"})
    episodes: int = field(default=4, metadata={"help": "episodes to play"})
    num_envs: int = field(default=4, metadata={"help": "episodes played at once in the vector env"})
    seed: int = field(default=0, metadata={"help": "reset seed"})
    max_new_tokens: int = field(default=16, metadata={"help": "tokens per completion"})
    reward_model: str | None = field(default=None, metadata={"help": "reward-model spec; None keeps the env's default"})
    prompts: str | None = field(
        default=None, metadata={"help": "prompt file or default:train|test|all; None keeps the env's default"}
    )

    def __post_init__(self) -> None:
        for name in ("episodes", "num_envs", "max_new_tokens"):
            check_positive_int(name, getattr(self, name))


def run(args: argparse.Namespace) -> int:
    import gymnasium as gym
    import numpy as np

    import text_gym  # noqa: F401  (registers the envs)

    config = config_from_args(RolloutConfig, args)
    kwargs = {"max_new_tokens": config.max_new_tokens}
    kwargs.update({k: v for k, v in (("reward_model", config.reward_model), ("prompts", config.prompts)) if v})
    envs = gym.make_vec(config.env, num_envs=config.num_envs, **kwargs)
    envs.action_space.seed(config.seed)
    envs.reset(seed=config.seed)
    scores = []
    while len(scores) < config.episodes:
        _, _, terminated, _, info = envs.step(envs.action_space.sample())
        for row in np.flatnonzero(terminated)[: config.episodes - len(scores)]:
            scores.append(info["score"][row])
            print(
                f"episode {len(scores)}: score {info['score'][row]:+.3f} ({info['stop_reason'][row]}, "
                f"{info['num_tokens'][row]} tokens)\n  prompt:     {info['prompt'][row]}\n"
                f"  completion: {info['completion'][row]!r}"
            )
    print(f"mean score over {len(scores)} random-policy episodes: {np.mean(scores):+.3f}")
    return 0


def add_parser(subparsers) -> None:
    add_config_command(
        subparsers, "rollout", RolloutConfig, run, "play episodes with a random policy and print them", __doc__
    )
