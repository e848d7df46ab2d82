"""Config dataclasses <-> argparse flags: every field of a config dataclass becomes one ``--flag``.

Field help comes from ``field(metadata={"help": ...})``; the default is shown in ``--help``.
Supported field types: ``bool`` (``--x/--no-x``), ``int``, ``float``, ``str``, ``Optional[...]`` of those,
``Literal[...]`` (choices) and ``list[...]`` / ``tuple[...]`` of those (space-separated values).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _none_or(convert):
    def parse(text: str):
        return None if text.lower() == "none" else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, exclude: tuple[str, ...] = ()) -> None:
    """Add one ``--field-name`` flag per field of the dataclass ``cls`` (underscores become dashes)."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(
        cls.__name__, (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else None
    )
    for field in dataclasses.fields(cls):
        if field.name in exclude or not field.init:
            continue
        tp = hints[field.name]
        optional = _unwrap_optional(tp) is not tp
        tp = _unwrap_optional(tp)
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        kwargs: dict[str, Any] = {
            "dest": field.name,
            "default": default,
            "help": f"{field.metadata.get('help', '')} (default: {default!r})",
        }
        flag = "--" + field.name.replace("_", "-")
        origin = typing.get_origin(tp)
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is Literal:
            kwargs["choices"] = list(typing.get_args(tp))
            kwargs["type"] = type(kwargs["choices"][0])
        elif origin in (list, tuple):
            item = typing.get_args(tp)[0]
            kwargs["nargs"] = "+"
            kwargs["type"] = item
        else:
            kwargs["type"] = _none_or(tp) if optional else tp
        group.add_argument(flag, **kwargs)


def dataclass_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """Build ``cls`` from the parsed flags that ``add_dataclass_arguments`` added."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.init and hasattr(args, f.name)}
    for name, value in values.items():
        if isinstance(value, list) and typing.get_origin(_unwrap_optional(typing.get_type_hints(cls)[name])) is tuple:
            values[name] = tuple(value)
    return cls(**values)


def add_config_subcommands(
    parser: argparse.ArgumentParser, dest: str, commands: list[tuple[str, type, typing.Callable, str]]
) -> None:
    """Add one sub-action per ``(name, config dataclass, func, help)``: its flags from the dataclass, ``func=func``."""
    actions = parser.add_subparsers(dest=dest, required=True, metavar="ACTION")
    for name, config, func, help_text in commands:
        add_config_command(actions, name, config, func, help_text)


def add_config_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    config: type,
    func: typing.Callable,
    help_text: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add the command ``name`` to ``subparsers``: one flag per field of ``config``, and ``func=func``.

    ``description`` (e.g. the command module's ``__doc__``) is shown verbatim in ``--help``; default ``help_text``.
    """
    command = subparsers.add_parser(
        name, help=help_text, description=description or help_text, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataclass_arguments(command, config)
    command.set_defaults(func=func)
    return command
