"""Command groups (``navfusion scenes ...``, ``navfusion bench ...``): a parser whose actions are sub-parsers."""

from __future__ import annotations

import argparse


def command_group(sub: argparse._SubParsersAction, name: str, help: str, dest: str,
                  metavar: str = "ACTION") -> argparse._SubParsersAction:
    """Add the group ``name`` to ``sub`` and return its sub-parser collection; the group alone
    prints its help and exits with 2 (a usage error)."""
    p = sub.add_parser(name, help=help)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    return p.add_subparsers(dest=dest, metavar=metavar)
