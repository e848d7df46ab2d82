"""``text-gym bench …``: benchmarks. Each benchmark module in ``BENCHMARKS`` adds one sub-command."""

from __future__ import annotations

import importlib

BENCHMARKS = [
    "scripts.bench.env",
    "scripts.bench.sb3",
    "scripts.bench.rollout",
    "scripts.bench.algos",
    "scripts.bench.speed",
    "scripts.bench.gpu",
]


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="speed and memory benchmarks; algorithms x suite tasks x seeds")
    benchmarks = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for module in BENCHMARKS:
        importlib.import_module(module).add_parser(benchmarks)
