"""The command layer: every documented command is registered, every registered one is documented,
every ``navfusion`` import in it resolves, and nothing below it imports it."""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

import navfusion
from navfusion.cli import COMMAND_MODULES, build_parser

ROOT = Path(navfusion.__file__).resolve().parents[1]
PACKAGE = ROOT / "navfusion"
CLI = PACKAGE / "cli"
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]

#: the top-level commands, in help order (a command module dropped from the entry point fails here)
COMMANDS = ["bench", "scenes", "rollout", "encoders", "features", "train", "train-rl", "evaluate", "reproduce",
            "quickstart", "visualize"]


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's sub-commands (name -> parser); empty when it has none."""
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def _registered() -> set[tuple[str, ...]]:
    """Every command path: ("train",), ("bench", "nn"), ("encoders", "probe"), ..."""
    paths = set()
    for name, p in _choices(build_parser()).items():
        paths.add((name,))
        paths.update((name, sub) for sub in _choices(p))
    return paths


def _documented() -> set[tuple[str, ...]]:
    """Command paths of the ``navfusion ...`` command lines in the docs' code spans and code blocks."""
    paths = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        code = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
        code += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for chunk in code:
            for m in re.finditer(r"(?:^|[\s/(])navfusion((?: [a-z][a-z0-9-]*)+)", chunk, re.M):
                words = m.group(1).split()
                paths.add(tuple(words[:2]))
    return paths


def test_top_level_commands_are_the_pinned_ones_in_help_order():
    assert list(_choices(build_parser())) == COMMANDS


def test_every_command_module_registers_something():
    for module in COMMAND_MODULES:
        top, bench = argparse.ArgumentParser().add_subparsers(), argparse.ArgumentParser().add_subparsers()
        module.register(top, bench)
        assert top.choices or bench.choices, module.__name__


def test_every_documented_command_is_registered():
    registered = _registered()
    tops = {p[0] for p in registered}
    missing = []
    for path in sorted(_documented()):
        if path[0] not in tops:
            continue  # prose such as "navfusion trains its ..." inside a code span is not a command line
        with_subs = {p[1] for p in registered if len(p) == 2 and p[0] == path[0]}
        if with_subs and len(path) == 2 and path not in registered:
            missing.append(" ".join(path))
    assert not missing, f"documented but not registered: {missing}"


def test_every_registered_command_and_bench_entry_is_documented():
    documented = _documented()
    undocumented = [" ".join(p) for p in sorted(_registered()) if p not in documented
                    and not (len(p) == 1 and any(d[0] == p[0] for d in documented))]
    assert not undocumented, f"registered but named in no doc page: {undocumented}"


def _navfusion_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every ``navfusion`` import in a file, function-local ones too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("navfusion"):
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("navfusion")]
    return found


@pytest.mark.parametrize("path", sorted(CLI.rglob("*.py")), ids=lambda p: str(p.relative_to(CLI)))
def test_every_import_in_the_command_layer_resolves(path):
    """The command modules import most of the library inside functions (start-up time): a misspelt
    module or name there must fail here, not when someone runs that one command."""
    for line, module, names in _navfusion_imports(path):
        mod = importlib.import_module(module)
        for name in names:
            assert hasattr(mod, name) or importlib.util.find_spec(f"{module}.{name}") is not None, \
                f"{path.name}:{line}: {module} has no {name}"


def test_nothing_below_the_command_layer_imports_it():
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p in sorted(PACKAGE.rglob("*.py"))
                 if CLI not in p.parents and p.name != "__main__.py"
                 for line, module, names in _navfusion_imports(p)
                 if module == "navfusion.cli" or module.startswith("navfusion.cli.")
                 or (module == "navfusion" and "cli" in names)]
    assert not offenders, offenders
