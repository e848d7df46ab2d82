"""``text-gym sft build``: build (once) and print the folder of a task's SFT policy.

The task's recipe (``agents.TASK_SFT_RECIPES``: demonstrations, imperfect fraction, seed, SFT settings) writes its
demonstrations from the train split and fine-tunes the base policy on them; the result is cached under the model
cache (``$TEXT_GYM_CACHE``, else ``~/.cache/text_gym``) in a folder keyed by the recipe, so a second call prints the
same folder at once and a changed recipe builds a new one. The policy spec ``sft:<env id>`` names the same policy
wherever a policy is asked for (``text-gym train ppo --policy sft:TextGenSupport-v0``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from scripts.args import add_config_command, config_from_args


@dataclass
class SFTBuildConfig:
    """The task SFT policy to build."""

    env: str = field(
        default="TextGenSupport-v0",
        metadata={"help": "task whose SFT policy to build: an env id of agents.TASK_SFT_RECIPES"},
    )

    def __post_init__(self) -> None:
        from agents import TASK_SFT_RECIPES

        if self.env not in TASK_SFT_RECIPES:
            raise ValueError(
                f"env must be a task with an SFT recipe, one of {sorted(TASK_SFT_RECIPES)}; got {self.env!r}"
            )


def run(args: argparse.Namespace) -> int:
    from agents import task_sft_policy

    config = config_from_args(SFTBuildConfig, args)
    print(task_sft_policy(config.env, progress=True))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``build`` on ``subparsers`` (the ``text-gym sft`` group's)."""
    add_config_command(subparsers, "build", SFTBuildConfig, run, "build (once) and print a task's SFT policy", __doc__)
