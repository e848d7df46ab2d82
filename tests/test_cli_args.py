"""scripts/args.py: command-line flags built by HfArgumentParser from config dataclasses, and what it adds."""

import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest

from scripts.args import ConfigParser, config_from_args, run_command
from scripts.cli import build_parser


@dataclass
class Toy:
    """A config with one field of each kind the commands use."""

    count: int = field(default=3, metadata={"help": "how many"})
    label: str | None = field(default=None, metadata={"help": "optional text"})
    scale: float | None = field(default=0.5, metadata={"help": "optional number"})
    mode: Literal["a", "b"] = field(default="a", metadata={"help": "a or b"})
    sizes: list[int] = field(default_factory=lambda: [1, 2], metadata={"help": "several values"})
    verbose: bool = field(default=True, metadata={"help": "talk"})
    fixed: str = field(default="x", metadata={"help": "set by the command"})

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count must be an integer >= 1, got {self.count}")


def toy_command(exclude=("fixed",)):
    root = ConfigParser(prog="tool")
    commands = root.add_subparsers(dest="command", required=True)
    command = commands.add_parser("toy", configs=[Toy], exclude=exclude, help="a toy")
    command.set_defaults(func=lambda args: print(config_from_args(Toy, args, fixed="y")) or 0)
    return root, command


def test_flags_defaults_types_and_none():
    root, _ = toy_command()
    args = root.parse_args(["toy", "--count", "5", "--label", "none", "--scale", "None", "--mode", "b"])
    assert config_from_args(Toy, args, fixed="y") == Toy(5, None, None, "b", [1, 2], True, "y")
    args = root.parse_args(["toy", "--sizes", "4", "5", "6", "--no-verbose", "--label", "hi"])
    assert config_from_args(Toy, args) == Toy(label="hi", sizes=[4, 5, 6], verbose=False)
    assert config_from_args(Toy, root.parse_args(["toy", "--verbose", "false", "--count=2"])) == Toy(2, verbose=False)


def test_help_shows_the_true_defaults(capsys):
    _, command = toy_command()
    text = " ".join(command.format_help().split())
    for expected in (
        "how many (default: 3)",
        "optional text (default: None)",
        "optional number (default: 0.5)",
        "{a,b} a or b (default: a)",
        "several values (default: [1, 2])",
        "talk (default: True)",
        "--no-verbose same as --verbose false",
    ):
        assert expected in text
    assert "--fixed" not in text


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["toy", "--fixed", "z"], "tool toy: error: unrecognized arguments: --fixed z"),
        (["toy", "--count", "two"], "tool toy: error: argument --count: invalid int value: 'two'"),
        (["toy", "--mode", "c"], "tool toy: error: argument --mode: invalid choice: 'c'"),
    ],
)
def test_usage_errors_are_one_line(argv, start, capsys):
    root, _ = toy_command()
    with pytest.raises(SystemExit) as exit_info:
        root.parse_args(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith(start) and err.endswith(" (see tool toy --help)\n")
    assert err.count("\n") == 1


def test_usage_and_help_show_dashes_and_both_spellings_parse():
    root, command = toy_command()
    assert config_from_args(Toy, root.parse_args(["toy", "--count", "4", "--no_verbose"])) == Toy(4, verbose=False)
    assert config_from_args(Toy, root.parse_args(["toy", "--count", "4", "--no-verbose"])) == Toy(4, verbose=False)
    assert "_" not in "".join(flag for action in command._actions for flag in action.option_strings)
    train = next(leaf for leaf in _leaf_parsers(build_parser()) if leaf.prog == "text-gym train ppo")
    text = train.format_usage() + train.format_help()
    assert "--total-timesteps TOTAL_TIMESTEPS" in text and "--no-progress-bar" in text
    assert "--total_timesteps" not in text and "--no_progress_bar" not in text
    assert train.parse_args(["--total_timesteps", "7"]).total_timesteps == 7
    assert train.parse_args(["--total-timesteps", "7"]).total_timesteps == 7


def test_a_refused_flag_names_the_command_that_takes_it(capsys):
    root, command = toy_command()
    command.flag_owners["--fixed"] = "other"
    with pytest.raises(SystemExit):
        root.parse_args(["toy", "--fixed", "z"])
    assert "unrecognized arguments: --fixed z; --fixed (a flag of other)" in capsys.readouterr().err


def test_a_bad_value_found_while_running_is_one_line(capsys):
    root, _ = toy_command()
    assert run_command(root.parse_args(["toy", "--count", "0"])) == 1
    assert capsys.readouterr().err == "tool toy: error: count must be an integer >= 1, got 0\n"


def _leaf_parsers(parser: argparse.ArgumentParser):
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield parser
    for action in subparsers:
        for child in dict.fromkeys(action.choices.values()):
            yield from _leaf_parsers(child)


def test_every_command_builds_its_help_from_a_config():
    leaves = list(_leaf_parsers(build_parser()))
    progs = {leaf.prog for leaf in leaves}
    assert {"text-gym train ppo", "text-gym train grpo", "text-gym reward train", "text-gym label serve"} <= progs
    assert {"text-gym rollout", "text-gym bench algos", "text-gym bench speed"} <= progs
    for leaf in leaves:
        assert isinstance(leaf, ConfigParser) and leaf.dataclass_types, leaf.prog
        leaf.format_help()  # every help string formats (no stray % etc.)
