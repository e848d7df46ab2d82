"""``text-gym sft demos``: write demonstration conversations of a task, from its own rules, as ``messages`` JSONL.

One conversation a line: ``{"messages": [{"role", "content"}, ...], "env_id", "row", "imperfection", "gold"}``
(``text_gym.task_demonstrations``): the scripted support agent played against the scripted customer through
``TextGenSupport-v0``, worked arithmetic answers ending in ``\\boxed{}``, instruction answers built to meet their
constraints. Train split only; ``--imperfect F`` makes that fraction deliberately imperfect (a skipped fact or a
premature step, a wrong answer, a missed constraint). The file is written atomically.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

from scripts.args import add_config_command, config_from_args
from text_gym.tasks.demonstrations import check_demonstration_arguments


@dataclass
class DemosConfig:
    """Demonstrations to write."""

    env: Literal["TextGenSupport-v0", "TextGenArithmetic-v0", "TextGenInstruct-v0"] = field(
        default="TextGenSupport-v0", metadata={"help": "task whose rules give the demonstrations"}
    )
    output: str = field(default="demos.jsonl", metadata={"help": "JSONL file to write (replaced atomically)"})
    count: int = field(default=90, metadata={"help": "demonstrations to write (>= 1)"})
    seed: int = field(default=0, metadata={"help": "draws the rows, the wording and the imperfect ones (>= 0)"})
    imperfect: float = field(default=0.0, metadata={"help": "fraction of deliberately imperfect ones, in [0, 1]"})
    tokenizer: str = field(
        default="smollm2", metadata={"help": "the env's tokenizer (hub id, folder or 'smollm2'): turns and budgets"}
    )

    def __post_init__(self) -> None:
        check_demonstration_arguments(self.env, self.count, self.seed, self.imperfect)


def run(args: argparse.Namespace) -> int:
    from reward_models.common.jsonl import write_jsonl_objects
    from text_gym import task_demonstrations

    config = config_from_args(DemosConfig, args)
    demonstrations = task_demonstrations(
        config.env, config.count, config.seed, config.imperfect, tokenizer=config.tokenizer, progress=True
    )
    path = write_jsonl_objects(config.output, demonstrations)
    imperfect = sum(d["imperfection"] is not None for d in demonstrations)
    perfect_gold = [d["gold"] for d in demonstrations if d["imperfection"] is None]
    print(
        f"wrote {len(demonstrations)} demonstrations of {config.env} to {path} ({imperfect} imperfect); gold "
        f"success: perfect {sum(perfect_gold):.0f}/{len(perfect_gold)}, imperfect "
        f"{sum(d['gold'] for d in demonstrations) - sum(perfect_gold):.0f}/{imperfect}"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demos`` on ``subparsers`` (the ``text-gym sft`` group's)."""
    add_config_command(subparsers, "demos", DemosConfig, run, "write demonstration conversations of a task", __doc__)
