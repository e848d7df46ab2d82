"""``text-gym sft <action>``: supervised fine-tuning (SFT) of a policy on conversations, the loss on the assistant's
tokens; ``train`` runs it, ``demos`` writes demonstration conversations from a task's own rules (scripts/demos.py).

``text-gym sft train --data demos.jsonl --output-dir runs/sft`` fine-tunes the packaged SmolLM2 on a ``messages``
JSONL file (one ``{"messages": [{"role", "content"}, ...]}`` per line, TRL's conversational format) with
``transformers.Trainer`` and writes the policy to ``<output-dir>/final``, which ``text-gym train <algo> --policy``,
``PPO(path, env)`` and the labelling page load. ``--lora-r 16`` trains LoRA adapters instead (an adapter folder).
Rerun the same command after a crash: it resumes from the last checkpoint in ``<output-dir>/checkpoints``.
Every flag is a field of ``agents.SFTConfig`` (docs/agents.md, "SFT").
"""

from __future__ import annotations

import argparse
import importlib

from scripts.args import ConfigParser, add_config_command, config_from_args

SFT_SUBCOMMANDS = ["scripts.demos", "scripts.sft_build"]
"""Modules that add a ``text-gym sft <action>`` besides this module's ``train``: each defines
``add_parser(actions)``, which registers its parser on ``actions`` (the ``sft`` group's sub-parsers, whose parsers
are ``ConfigParser`` instances: ``scripts.args.add_config_command``) and sets ``func`` on it, as the top-level
commands do (scripts/cli.py)."""


def run_train(args: argparse.Namespace) -> int:
    from agents import SFTConfig, train_sft

    config = config_from_args(SFTConfig, args)
    result = train_sft(config)
    resumed = "" if result.resumed_from is None else f" (resumed from {result.resumed_from})"
    merged = "" if result.merged_dir is None else f" and the merged model to {result.merged_dir}"
    print(
        f"saved the SFT policy to {result.output_dir}{merged} after {result.steps} steps{resumed} on "
        f"{result.num_conversations} conversations ({result.num_labelled_tokens} assistant tokens); train it further "
        f"with: text-gym train ppo --policy {result.merged_dir or result.output_dir}"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from agents import SFTConfig

    parser = subparsers.add_parser(
        "sft", help="supervised fine-tuning of a policy on conversations", description=__doc__
    )
    actions = parser.add_subparsers(dest="sft_command", required=True, metavar="ACTION", parser_class=ConfigParser)
    add_config_command(
        actions,
        "train",
        SFTConfig,
        run_train,
        "fine-tune a policy on messages-JSONL conversations, the loss on the assistant's tokens",
        description=__doc__,
    )
    for module in SFT_SUBCOMMANDS:
        importlib.import_module(module).add_parser(actions)
