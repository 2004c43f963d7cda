"""The ``navfusion`` command: the command layer, on top of every other part of the package.

Every sub-command lives in a module of this package, one per area (``scenes``, ``render``, ``nav``,
``vision``, ``nn``, ``train``, ``eval``, ``viz``, ``parallel``), imported explicitly below so that a
missing or misspelt module fails at once. Each exposes ``register(sub, bench)``: ``sub`` is the
top-level ``argparse`` sub-parser collection and ``bench`` the one under ``navfusion bench``; the
measuring code of the bench entries is in :mod:`navfusion.cli.bench`. A sub-command sets
``func=callable(args) -> int|None``. Nothing below this package imports it.
Errors derived from :class:`navfusion.errors.NavFusionError` print as one line; other tracebacks
show only with ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from navfusion import __version__
from navfusion.cli import eval as eval_commands  # aliased: `eval` would shadow the builtin
from navfusion.cli import nav, nn, parallel, render, scenes, train, vision, viz
from navfusion.cli.groups import command_group
from navfusion.common import set_cache_root
from navfusion.errors import NavFusionError

#: Modules contributing sub-commands, in help order.
COMMAND_MODULES: tuple[ModuleType, ...] = (scenes, render, nav, vision, nn, train, eval_commands, viz, parallel)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    p = argparse.ArgumentParser(
        prog="navfusion",
        description="Embodied-navigation simulator and agent-training stack (situational fusion of "
        "visual representations).",
    )
    p.add_argument("--version", action="version", version=f"navfusion {__version__}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    p.add_argument("--cache-dir", default=None,
                   help="root of all caches (default: $NAVFUSION_CACHE or the user cache directory)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    bench = command_group(sub, "bench", "speed benchmarks (render, env, nn, train)", "bench_command", "WHAT")
    for module in COMMAND_MODULES:
        module.register(sub, bench)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``navfusion`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.cache_dir:
            set_cache_root(args.cache_dir)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        rc = args.func(args)
        return int(rc or 0)
    except NavFusionError as e:
        if debug:
            raise
        print(f"navfusion: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("navfusion: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or a third-party error: one line, the traceback under --debug
        if debug:
            raise
        print(f"navfusion: error: {type(e).__name__}: {e} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
