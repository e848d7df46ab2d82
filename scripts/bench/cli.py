"""``text-gym bench …``: the benchmarks, one sub-command each.

Every module in ``BENCHMARKS`` defines ``BENCHMARK``, a ``Benchmark``: the sub-command's name, its config
dataclass (one flag per field through scripts/args.py's HfArgumentParser-based parser, defaults shown by
``--help``; the dataclass validates the values) and the function that runs a config.
"""

from __future__ import annotations

import argparse
import functools
import importlib
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any, NoReturn

from reward_models.common import check_positive_int
from scripts.args import add_config_command, config_from_args

BENCHMARKS = [
    "scripts.bench.env",
    "scripts.bench.sb3",
    "scripts.bench.rollout",
    "scripts.bench.prefix",
    "scripts.bench.algos",
    "scripts.bench.credit",
    "scripts.bench.speed",
    "scripts.bench.gpu",
]


@dataclass(frozen=True)
class Benchmark:
    """One ``text-gym bench NAME`` sub-command.

    Args:
        name: the sub-command.
        config: its config dataclass (one flag per field).
        run: runs a config built from the flags; returns the exit status.
        help: one line for ``text-gym bench --help``.
        description: the sub-command's ``--help`` text (e.g. the module docstring); default ``help``.
    """

    name: str
    config: type
    run: Callable[[Any], int]
    help: str
    description: str | None = None


def check_positive_ints(name: str, values: list[int]) -> None:
    """Refuse a config field ``name`` that is not a non-empty list of integers >= 1 (ValueError naming it)."""
    if not values:
        raise ValueError(f"{name} must be a non-empty list of integers >= 1, got {values}")
    for value in values:
        check_positive_int(name, value)


def _run(benchmark: Benchmark, args: argparse.Namespace) -> int:
    return benchmark.run(config_from_args(benchmark.config, args))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bench`` and one sub-command per module of ``BENCHMARKS``."""
    parser = subparsers.add_parser("bench", help="speed and memory benchmarks; algorithms x suite tasks x seeds")
    benchmarks = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for module in BENCHMARKS:
        benchmark: Benchmark = importlib.import_module(module).BENCHMARK
        add_config_command(
            benchmarks,
            benchmark.name,
            benchmark.config,
            functools.partial(_run, benchmark),
            benchmark.help,
            description=benchmark.description,
        )


def run_as_script(name: str) -> NoReturn:
    """Exit with ``text-gym bench NAME`` run on this process's command-line arguments (``python -m
    scripts.bench.NAME ...``)."""
    import sys

    from scripts.cli import main

    sys.exit(main(["bench", name, *sys.argv[1:]]))


def command_line(name: str, config_class: type, config: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    """The ``text-gym bench NAME`` command that reproduces ``config`` (a ``config_class`` as a dict): its fields
    that differ from the defaults, as flags (``skip``: fields left out)."""
    words = [f"text-gym bench {name}"]
    for f in fields(config_class):
        value = config[f.name]
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if value == default or f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else f"{flag} false")
        elif isinstance(value, list):
            words.append(" ".join([flag, *map(str, value)]))
        else:
            words.append(f"{flag} {value}")
    return " ".join(words)
