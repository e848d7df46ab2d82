"""``text-gym sft …``: supervised fine-tuning; ``demos`` writes demonstration conversations (scripts/demos.py)."""

from __future__ import annotations

import argparse

from scripts import demos


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sft`` and its sub-commands."""
    parser = subparsers.add_parser("sft", help="supervised fine-tuning: demonstrations")
    actions = parser.add_subparsers(dest="sft_command", required=True, metavar="ACTION")
    demos.add_parser(actions)
