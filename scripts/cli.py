"""``text-gym``: one console script, one subcommand per module in ``scripts/``.

Each subcommand module defines ``add_parser(subparsers)``, which registers its parser and sets
``func=run`` on it; ``run(args)`` does the work and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ["scripts.rollout", "scripts.bench", "scripts.reward", "scripts.train", "scripts.label"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="text-gym", description="Text generation as a Gymnasium environment, and RL agents that train on it."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
