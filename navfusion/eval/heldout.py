"""Fresh seed blocks: evaluate on scenes of a suite's generator that no suite's split names.

A result tuned (even unknowingly) on a suite's test split can be checked on scenes nobody has
looked at: ``--test-seeds START:COUNT`` makes a one-split suite (``test`` = seeds START ..
START+COUNT-1) with the base suite's generator and task settings. Its YAML is written under
``cache_root()/suites/`` so spawned worker processes load the same suite by path. A block that
overlaps any split of any suite (shipped in ``envs/`` or loaded in this process) is refused, naming
the suite and split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from navfusion.common import cache_root
from navfusion.errors import NavFusionError

_BLOCK = re.compile(r"^\s*(?P<start>\d+)\s*:\s*(?P<count>\d+)\s*$")


@dataclass(frozen=True)
class SeedBlock:
    """Generator seeds ``start .. start + count - 1``."""

    start: int
    count: int

    @property
    def stop(self) -> int:
        return self.start + self.count

    def __str__(self) -> str:
        return f"{self.start}:{self.count}"

    def describe(self) -> str:
        """``seeds 2900000-2900007 (8 scenes)``."""
        return f"seeds {self.start}-{self.stop - 1} ({self.count} scene{'s' if self.count != 1 else ''})"


def parse_seed_block(text: str, what: str = "--test-seeds") -> SeedBlock:
    """``"START:COUNT"`` -> :class:`SeedBlock` (COUNT >= 1); anything else is a one-line error."""
    m = _BLOCK.match(str(text))
    if not m or int(m["count"]) < 1:
        raise NavFusionError(f"{what}={text!r}: expected START:COUNT with COUNT >= 1 (e.g. 2900000:8)")
    return SeedBlock(int(m["start"]), int(m["count"]))


def _named_blocks() -> list[tuple[str, str, int, int]]:
    """(suite, split, start, count) of every procedural split of every known suite."""
    from navfusion.scenes import list_suites, load_suite

    out = []
    for name in list_suites():
        try:
            suite = load_suite(name)
        except NavFusionError:
            continue  # a broken suite file is reported where it is used, not here
        if suite.kind != "procedural" or FRESH_MARK in suite.name:
            continue  # fresh suites are views of unnamed seeds, not data of their own
        for split, sp in suite.splits.items():
            if sp.count:
                out.append((suite.name, split, sp.start, sp.count))
    return out


#: Fresh suites are named ``<base>-fresh<START>x<COUNT>``.
FRESH_MARK = "-fresh"


def check_fresh(block: SeedBlock, what: str = "--test-seeds") -> None:
    """Refuse a block that overlaps a split of any suite (its scenes are somebody's data)."""
    named = _named_blocks()
    for suite, split, start, count in named:
        if block.start < start + count and start < block.stop:
            free = max(s + c for _, _, s, c in named)
            raise NavFusionError(
                f"{what}={block}: overlaps suite {suite!r} split {split!r} (seeds {start}-{start + count - 1}); "
                f"choose a block no suite names, e.g. {max(free, 9_000_000)}:{block.count}")


def fresh_suite_name(base: str, block: SeedBlock) -> str:
    """The name of the fresh suite of ``base`` over ``block``."""
    return f"{base}{FRESH_MARK}{block.start}x{block.count}"


def fresh_suite(base: str, block: SeedBlock, what: str = "--test-seeds") -> str:
    """Make (and load) the one-split suite of ``base``'s generator over ``block``; returns its name.

    Its scenes are ``<name>/test/<i>`` with generator seed ``block.start + i``. The suite file is
    ``cache_root()/suites/<name>.yaml``; :func:`suite_file` gives it to processes that must load it.
    """
    from navfusion.config import load_yaml
    from navfusion.io import atomic_write_text
    from navfusion.scenes import load_suite

    try:
        suite = load_suite(base)
    except NavFusionError as e:
        raise NavFusionError(f"{what}: {e}") from None
    if suite.kind != "procedural" or suite.path is None:
        raise NavFusionError(f"{what}: suite {base!r} is not procedural (a folder of meshes has no generator "
                             "seeds); fresh seed blocks need a generated suite")
    check_fresh(block, what)
    import yaml

    raw = load_yaml(suite.path, what="suite file")
    name = fresh_suite_name(suite.name, block)
    data = {"name": name,
            "description": f"{suite.name}'s generator on a seed block no suite names ({block.describe()})",
            "generator": raw.get("generator") or {},
            "splits": {"test": {"start": block.start, "count": block.count}}}
    if raw.get("task"):
        data["task"] = raw["task"]
    path = suite_file(name)
    text = yaml.safe_dump(data, sort_keys=False)
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
    load_suite(path)  # registers the name in this process
    return name


def suite_file(name: str) -> Path:
    """Where :func:`fresh_suite` writes the suite ``name``."""
    return cache_root() / "suites" / f"{name}.yaml"


def ensure_suite(name: str) -> None:
    """Load a fresh suite by its file in a process that has not seen it (spawned workers)."""
    from navfusion.scenes import load_suite

    if FRESH_MARK in name and suite_file(name).is_file():
        load_suite(suite_file(name))
