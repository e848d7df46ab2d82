"""``text-gym``: one console script, one subcommand per module in ``scripts/``.

Each subcommand module defines ``add_parser(subparsers)``, which registers its parser (a
``scripts.args.ConfigParser``, flags from config dataclasses) and sets ``func=run`` on it; ``run(args)`` does
the work and returns an exit code. Bad values end in one line on stderr, not a traceback.
"""

from __future__ import annotations

import importlib
import sys

from scripts.args import ConfigParser, run_command

SUBCOMMANDS = [
    "scripts.rollout",
    "scripts.bench.cli",
    "scripts.reward",
    "scripts.train",
    "scripts.label",
    "scripts.sft",
    "scripts.serve",
]


def build_parser() -> ConfigParser:
    parser = ConfigParser(
        prog="text-gym", description="Text generation as a Gymnasium environment, and RL agents that train on it."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
