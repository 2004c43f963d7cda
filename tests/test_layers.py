"""The package's layering (docs/architecture.md): data flows one way, so a module may import only
from its own layer and the layers below it -- module-level and function-level imports alike."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

import navfusion

ROOT = Path(navfusion.__file__).parent

#: Lowest first. A name is a base module (``navfusion/<name>.py``) or a subpackage.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "common", "config", "io", "markdown", "lazy", "device", "checkpoint", "cache_layout"),
    ("nn",),
    ("scenes",),
    ("render",),
    ("nav",),
    ("env",),
    ("vision",),
    ("agents",),
    ("parallel",),
    ("build",),
    ("train",),
    ("eval",),
    ("viz",),
    ("report",),
    ("cli", "__main__"),
)
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _unit(module: str) -> str:
    """``navfusion.vision.features`` -> ``vision``; ``navfusion.io`` -> ``io``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(ROOT.rglob("*.py")):
        rel = f.relative_to(ROOT.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = f
    return out


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(imported navfusion module, line, at module level)`` for every import in a file."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("navfusion"):
            mods = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found.append((max((m for m in mods if _unit(m) in RANK or m == "navfusion"), key=len),
                          node.lineno, id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top) for a in node.names if a.name.startswith("navfusion")]
    return found


def test_every_module_has_a_layer():
    units = {_unit(m) for m in _modules()} - {""}
    assert units <= set(RANK), f"modules with no layer in LAYERS: {sorted(units - set(RANK))}"


def _upward(modules: dict[str, Path]) -> list[str]:
    bad = []
    for mod, path in modules.items():
        own = _unit(mod)
        if not own:  # the package root registers the envs (navfusion.nav) on import
            continue
        for target, line, _ in _imports(path):
            tu = _unit(target)
            if tu and RANK[tu] > RANK[own]:
                bad.append(f"{mod}:{line} ({own}) imports {target} ({tu})")
    return bad


def test_no_module_imports_a_higher_layer():
    bad = _upward(_modules())
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_import_cycle_between_subpackages():
    g = nx.DiGraph()
    for mod, path in _modules().items():
        for target, _, module_level in _imports(path):
            if module_level and _unit(mod) and _unit(target) and _unit(target) != _unit(mod):
                g.add_edge(_unit(mod), _unit(target))
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"module-level import cycles between subpackages: {cycles}"


@pytest.mark.parametrize(("own", "target"), [("nav", "eval"), ("vision", "build"), ("eval", "viz")])
def test_the_check_sees_an_upward_import(own, target, tmp_path):
    """The rule is live: a planted upward import (inside a function) is reported, a downward one is not."""
    up, down = tmp_path / "up.py", tmp_path / "down.py"
    up.write_text(f"def f():\n    from navfusion.{target} import something\n")
    down.write_text(f"from navfusion.{own} import x\nfrom navfusion.common import y\n")
    found = _upward({f"navfusion.{own}.planted": up, f"navfusion.{target}.planted": down})
    assert len(found) == 1 and f"({own}) imports navfusion.{target}" in found[0]
