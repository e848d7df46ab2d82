"""Command-line parsers built from config dataclasses by ``transformers.HfArgumentParser``.

Every init field of a config dataclass becomes one flag ``--field-name`` (``--field_name`` is accepted too; usage,
``--help`` and errors show the dash spelling only) with the field's ``metadata["help"]``, its type (``Literal``
fields become choices, ``list`` fields take several values, ``bool`` fields take ``--x`` / ``--x false`` and
``--no-x`` when on by default) and its default, which ``--help`` shows. ``ConfigParser`` adds what
HfArgumentParser does not do: ``none`` sets an optional field to None, a command can leave out fields it fixes
itself, a refused flag is named with the sibling command that takes it, ``--no-x`` gets its own help line, and
usage errors are one line instead of the whole usage block. ``run_command`` turns a bad value found while running
into one line too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, Union

from transformers import HfArgumentParser

from reward_models.common import MissingExtraError

T = TypeVar("T")


def _none_or(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() == "none" else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")  # argparse names it in "invalid <name> value" errors
    return parse


def _optional_scalar(tp: Any) -> Any | None:
    """``X`` for ``X | None`` with ``X`` one of str, int, float; None for any other type."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2 and args[0] in (str, int, float):
            return args[0]
    return None


def _argument_metadata(metadata: Any) -> Any:
    """A field's metadata as ``add_argument`` keywords (HfArgumentParser passes them on): a deprecated alias's
    ``"deprecated_alias_of"`` (the field to use instead) becomes its help, naming the new flag."""
    if "deprecated_alias_of" not in metadata:
        return metadata
    instead = "--" + metadata["deprecated_alias_of"].replace("_", "-")
    options = {key: value for key, value in metadata.items() if key != "deprecated_alias_of"}
    return {**options, "help": f"deprecated alias of {instead}"}


def cli_fields(cls: type, exclude: Iterable[str] = ()) -> type:
    """A dataclass with the init fields of ``cls`` minus ``exclude``, typed for HfArgumentParser.

    Same names, defaults and help; ``X | None`` fields (X a scalar) parse ``none`` as None; a deprecated alias
    field (``metadata["deprecated_alias_of"]``) keeps its flag, with a help line naming the new one (the config
    maps its value and warns). Only parsed, never instantiated: the values build ``cls`` itself
    (``config_from_args``), which validates them.
    """
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name in exclude:
            continue
        scalar = _optional_scalar(hints[f.name])
        tp = _none_or(scalar) if scalar is not None else hints[f.name]
        specs.append(
            (
                f.name,
                tp,
                dataclasses.field(
                    default=f.default, default_factory=f.default_factory, metadata=_argument_metadata(f.metadata)
                ),
            )
        )
    return dataclasses.make_dataclass(cls.__name__, specs)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in every flag's help; the description (a module docstring) kept as written."""


class ConfigParser(HfArgumentParser):
    """An ``HfArgumentParser`` over ``configs`` (minus the fields in ``exclude``) whose errors are one line.

    Sub-commands made with ``add_subparsers().add_parser(name, configs=..., exclude=...)`` are ConfigParsers too.
    """

    def __init__(self, configs: Iterable[type] = (), exclude: Iterable[str] = (), **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__([cli_fields(cls, exclude) for cls in configs], **kwargs)
        for action in self._actions:
            # HfArgumentParser's --no-x flags repeat --x's help and show a wrong default
            if isinstance(action, argparse._StoreFalseAction) and action.option_strings[0].startswith("--no_"):
                action.help = f"same as --{action.dest.replace('_', '-')} false"
                action.default = argparse.SUPPRESS
            # usage, help and errors name the dash spelling only; the underscore one still parses
            dashed = [flag for flag in action.option_strings if "_" not in flag]
            if dashed and len(dashed) < len(action.option_strings):
                action.option_strings = dashed
        self.set_defaults(command_prog=self.prog)  # the innermost (sub)command's name, for run_command's errors
        self.flag_owners: dict[str, str] = {}
        """Flags this command refuses that a sibling command takes: flag -> the sibling (named in the error)."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self.dataclass_types:  # a command (not a command group): name the flags it refuses here
            owners = {flag.split("=")[0]: self.flag_owners.get(flag.split("=")[0]) for flag in extras}
            foreign = [f"{flag} (a flag of {owner})" for flag, owner in owners.items() if owner]
            self.error(f"unrecognized arguments: {' '.join(extras)}" + (f"; {', '.join(foreign)}" if foreign else ""))
        return namespace, extras

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def config_from_args(cls: type[T], args: argparse.Namespace, **fixed: Any) -> T:
    """Build ``cls`` from the parsed flags of its fields (fields without a flag keep their defaults) and ``fixed``.
    A deprecated flag's ``DeprecationWarning`` is shown on the console (Python hides it by default outside
    ``__main__``)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.init and hasattr(args, f.name)}
    with warnings.catch_warnings():
        warnings.simplefilter("always", DeprecationWarning)
        return cls(**{**values, **fixed})


def add_config_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    config: type,
    func: Callable[[argparse.Namespace], int],
    help_text: str,
    description: str | None = None,
) -> ConfigParser:
    """Add the command ``name``: one flag per field of ``config``, ``func`` runs it.

    ``description`` (e.g. the command module's ``__doc__``) is shown verbatim in ``--help``; default ``help_text``.
    """
    command = subparsers.add_parser(name, configs=[config], help=help_text, description=description or help_text)
    command.set_defaults(func=func)
    return command


def add_config_subcommands(
    parser: argparse.ArgumentParser, dest: str, commands: list[tuple[str, type, Callable, str]]
) -> None:
    """Add one sub-action per ``(name, config dataclass, func, help)``: its flags from the dataclass, ``func=func``."""
    actions = parser.add_subparsers(dest=dest, required=True, metavar="ACTION", parser_class=ConfigParser)
    for name, config, func, help_text in commands:
        add_config_command(actions, name, config, func, help_text)


def run_command(args: argparse.Namespace) -> int:
    """Run ``args.func(args)``; a bad value found while running (ValueError, a missing file or extra) ends in one
    line on stderr naming the command, and exit status 1."""
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, MissingExtraError) as error:
        print(f"{args.command_prog}: error: {error}", file=sys.stderr)
        return 1
