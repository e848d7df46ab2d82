"""``python -m scripts.config_docs``: the config tables of docs/agents.md and docs/reward_models.md, generated from
the config dataclasses (field name, ``text-gym`` flag, default, ``metadata["help"]``) and written between their
doc markers (``scripts.bench.report.doc_markers`` / ``write_doc``).

docs/agents.md gets ``AlgorithmConfig``'s fields, then, for each config class that ``agents.ALGORITHMS`` names,
the fields it adds to (or whose default it changes from) the documented config it extends; docs/reward_models.md
gets ``RewardTrainerConfig``'s, and docs/agents.md's SFT section ``SFTConfig``'s. A field whose metadata has
``"deprecated_alias_of"`` (the name to use instead) is listed among the deprecated aliases, not with the others. The
flag column comes from the real ``text-gym`` parser, so a field without a flag (fixed by the algorithm's name, set
from ``--output-dir``, unused by an algorithm) says so.
``--check`` only compares: exit status 1 and the stale sections' names when the docs differ (tests/test_config_docs.py
runs the same comparison).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scripts.bench.report import doc_markers, write_doc

DOCS = Path(__file__).resolve().parents[1] / "docs"
AGENTS_SECTION = "agents-config"
REWARD_SECTION = "reward-config"
SFT_SECTION = "sft-config"
HEADER = "| field | flag | default | meaning |\n| --- | --- | --- | --- |"


def _subcommand(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    """The parser of the subcommand ``names`` (e.g. ``("train", "ppo")``) under ``parser``."""
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _literal(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return f"`{_literal(f.default)}`"
    if f.default_factory is not dataclasses.MISSING:
        return f"`{_literal(f.default_factory())}`"
    return "required"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _flag(name: str, commands: Mapping[str, argparse.ArgumentParser], no_flag: Mapping[str, str]) -> str:
    """``--name`` if every command in ``commands`` takes it, with the commands that do if only some do, else why
    there is none (``no_flag``)."""
    flag = "--" + name.replace("_", "-")
    owners = [command for command, parser in commands.items() if flag in parser._option_string_actions]
    if len(owners) == len(commands):
        return f"`{flag}`"
    if owners:
        return f"`{flag}` ({', '.join(owners)})"
    return no_flag.get(name, "none")


def _rows(
    fields: Sequence[dataclasses.Field], commands: Mapping[str, argparse.ArgumentParser], no_flag: Mapping[str, str]
) -> str:
    rows = [
        f"| `{f.name}` | {_flag(f.name, commands, no_flag)} | {_default(f)} | {_cell(f.metadata.get('help', ''))} |"
        for f in fields
    ]
    return "\n".join([HEADER, *rows])


def _deprecated(fields: Sequence[dataclasses.Field], commands: Mapping[str, argparse.ArgumentParser]) -> str:
    aliases = {f.name: f for f in fields if "deprecated_alias_of" in f.metadata}.values()  # a field listed twice: once
    rows = [f"| `{f.name}` | {_flag(f.name, commands, {})} | `{f.metadata['deprecated_alias_of']}` |" for f in aliases]
    if not rows:
        return ""
    header = ["Deprecated aliases (they warn):", "", "| field | flag | use instead |", "| --- | --- | --- |"]
    return "\n".join([*header, *rows])


def _init_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def _current(fields: Sequence[dataclasses.Field]) -> list[dataclasses.Field]:
    return [f for f in fields if "deprecated_alias_of" not in f.metadata]


def agents_markdown(parser: argparse.ArgumentParser) -> str:
    """The config tables of docs/agents.md: ``AlgorithmConfig``, then each ``agents.ALGORITHMS`` config class."""
    from agents import ALGORITHMS, AlgorithmConfig
    from scripts.train import OUTPUT_FIELDS

    train = _subcommand(parser, "train")
    commands = {algo: _subcommand(train, algo) for algo in ALGORITHMS}
    no_flag = {name: "none (from `--output-dir`)" for name in OUTPUT_FIELDS}
    for name in {name for _, fixed in ALGORITHMS.values() for name in fixed}:
        fixed = ", ".join(f"{algo}: `{_literal(f[name])}`" for algo, (_, f) in ALGORITHMS.items() if name in f)
        no_flag[name] = f"none (the algorithm name fixes it: {fixed})"
    shared = _init_fields(AlgorithmConfig)
    parts = [
        "#### `AlgorithmConfig`: every algorithm",
        "",
        _rows(_current(shared), commands, no_flag),
    ]
    documented, listed = [AlgorithmConfig], list(shared)
    for config_class in dict.fromkeys(cls.config_class for cls, _ in ALGORITHMS.values()):
        algos = {algo: commands[algo] for algo, (cls, _) in ALGORITHMS.items() if cls.config_class is config_class}
        parent = next(c for c in config_class.__mro__[1:] if c in documented)
        inherited = {f.name: f for f in _init_fields(parent)}
        own = [
            f
            for f in _init_fields(config_class)
            if f.name not in inherited
            or (_default(f), f.metadata) != (_default(inherited[f.name]), inherited[f.name].metadata)
        ]
        parts += [
            "",
            f"#### `{config_class.__name__}` (`text-gym train {' / '.join(algos)}`): what it adds to "
            f"`{parent.__name__}`",
            "",
            _rows(_current(own), algos, no_flag),
        ]
        documented.append(config_class)
        listed += own
    deprecated = _deprecated(listed, commands)
    return "\n".join(parts + (["", deprecated] if deprecated else []))


def reward_markdown(parser: argparse.ArgumentParser) -> str:
    """The ``RewardTrainerConfig`` table of docs/reward_models.md (``text-gym reward train``)."""
    from reward_models import RewardTrainerConfig

    commands = {"reward train": _subcommand(parser, "reward", "train")}
    fields = _init_fields(RewardTrainerConfig)
    deprecated = _deprecated(fields, commands)
    return "\n".join([_rows(_current(fields), commands, {})] + (["", deprecated] if deprecated else []))


def sft_markdown(parser: argparse.ArgumentParser) -> str:
    """The ``SFTConfig`` table of docs/agents.md's SFT section (``text-gym sft train``)."""
    from agents import SFTConfig

    commands = {"sft train": _subcommand(parser, "sft", "train")}
    return _rows(_init_fields(SFTConfig), commands, {})


def sections() -> list[tuple[str, str, str]]:
    """``(doc file under docs/, section name, markdown)`` of every generated config table."""
    from scripts.cli import build_parser

    parser = build_parser()
    return [
        ("agents.md", AGENTS_SECTION, agents_markdown(parser)),
        ("reward_models.md", REWARD_SECTION, reward_markdown(parser)),
        ("agents.md", SFT_SECTION, sft_markdown(parser)),
    ]


COMMAND = "python -m scripts.config_docs"
"""The command that regenerates the tables (named in their doc markers)."""


def stale_sections(docs: Path = DOCS) -> list[str]:
    """``"<doc>:<section>"`` of each section whose committed text differs from what the dataclasses generate."""
    stale = []
    for doc, name, markdown in sections():
        begin, end = doc_markers(name, COMMAND)
        text = (docs / doc).read_text() if (docs / doc).exists() else ""
        if f"{begin}\n{markdown}\n{end}" not in text:
            stale.append(f"{doc}:{name}")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 naming the stale sections")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs folder")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_sections(args.docs)
        if stale:
            print(f"stale config tables: {', '.join(stale)} (run python -m scripts.config_docs)", file=sys.stderr)
        return 1 if stale else 0
    for doc, name, markdown in sections():
        write_doc(args.docs / doc, name, markdown, [], COMMAND)
    return 0


if __name__ == "__main__":
    sys.exit(main())
