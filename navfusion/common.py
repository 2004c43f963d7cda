"""Definitions every part of navfusion shares: the category table, room types, the cache root
and scene ids.

The category table is the single source of truth for semantic ids (the renderer's ``semantic``
buffer), the order of the environment's ``target`` observation (``TARGETS``) and the classes of
the ``class_object`` vision task (``OBJECT_CATEGORIES``).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from navfusion.errors import NavFusionError


@dataclass(frozen=True)
class Category:
    """One semantic class.

    Attributes:
        id: semantic id written into the ``semantic`` render buffer (0 is ``void``: no surface).
        name: lower-case name.
        kind: ``"void"``, ``"structure"`` (wall/floor/ceiling), or ``"object"``.
        color: RGB colour (0..255) used only for visualising semantic maps.
    """

    id: int
    name: str
    kind: str
    color: tuple[int, int, int]


CATEGORY_TABLE: tuple[Category, ...] = (
    Category(0, "void", "void", (0, 0, 0)),
    Category(1, "wall", "structure", (174, 199, 232)),
    Category(2, "floor", "structure", (152, 223, 138)),
    Category(3, "ceiling", "structure", (255, 250, 205)),
    Category(4, "door", "object", (214, 39, 40)),
    Category(5, "chair", "object", (31, 119, 180)),
    Category(6, "table", "object", (255, 127, 14)),
    Category(7, "bed", "object", (148, 103, 189)),
    Category(8, "sofa", "object", (140, 86, 75)),
    Category(9, "cabinet", "object", (227, 119, 194)),
    Category(10, "shelf", "object", (127, 127, 127)),
    Category(11, "plant", "object", (44, 160, 44)),
    Category(12, "tv", "object", (23, 190, 207)),
    Category(13, "toilet", "object", (188, 189, 34)),
    Category(14, "sink", "object", (158, 218, 229)),
    Category(15, "lamp", "object", (255, 187, 120)),
    Category(16, "counter", "object", (197, 176, 213)),
    Category(17, "desk", "object", (196, 156, 148)),
    Category(18, "rug", "object", (247, 182, 210)),
    Category(19, "misc", "object", (199, 199, 199)),
)

CATEGORIES: dict[str, Category] = {c.name: c for c in CATEGORY_TABLE}
CATEGORY_BY_ID: dict[int, Category] = {c.id: c for c in CATEGORY_TABLE}
NUM_SEMANTIC_CLASSES: int = len(CATEGORY_TABLE)

#: Navigation targets, in the order of the environment's ``target`` observation.
TARGETS: tuple[str, ...] = ("chair", "table", "bed", "door")
#: Object categories that are not targets (at least 6, as the scene generator must place them).
DISTRACTORS: tuple[str, ...] = tuple(
    c.name for c in CATEGORY_TABLE if c.kind == "object" and c.name not in TARGETS and c.name != "misc"
)
#: Classes of the ``class_object`` vision task, in label order.
OBJECT_CATEGORIES: tuple[str, ...] = tuple(c.name for c in CATEGORY_TABLE if c.kind == "object")

#: Room types of generated scenes; also the classes of the ``class_scene`` vision task.
ROOM_TYPES: tuple[str, ...] = ("bedroom", "living_room", "kitchen", "office", "bathroom", "corridor")

#: The agent's 8 moves, in action order. Move k points at angle k * 45° from +x (east),
#: counter-clockwise seen from above (+y is north, +z is up). Action 8 is stop.
MOVE_NAMES: tuple[str, ...] = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")
STOP_ACTION: int = 8
NUM_ACTIONS: int = 9
#: Views per observation: view k looks along move k.
NUM_VIEWS: int = len(MOVE_NAMES)

# The paper's episode protocol, defined once (env, training rollouts, evaluation, recipes):
#: an episode is cut after this many actions;
HORIZON: int = 39
#: success = within this many moves of the goal (reach mode; in stop mode, when stopping there);
SUCCESS_RADIUS: int = 3
#: start-to-goal shortest paths are drawn between these lengths (moves).
MIN_DISTANCE: int = 6
MAX_DISTANCE: int = 32


def suggest(name: str, choices, n: int = 3) -> str:
    """Return a ``" Did you mean ...?"`` suffix for an unknown ``name`` (empty if nothing is close)."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def category(name: str) -> Category:
    """Look up a category by name; unknown names raise with suggestions."""
    try:
        return CATEGORIES[name]
    except KeyError:
        raise NavFusionError(
            f"unknown category {name!r}; known: {', '.join(CATEGORIES)}.{suggest(name, CATEGORIES)}"
        ) from None


def category_id(name: str) -> int:
    """Semantic id of category ``name``."""
    return category(name).id


def target_index(name: str) -> int:
    """Index of a target category in ``TARGETS`` (the env's ``target`` observation)."""
    if name not in TARGETS:
        raise NavFusionError(f"{name!r} is not a navigation target; targets are {', '.join(TARGETS)}")
    return TARGETS.index(name)


# ----------------------------------------------------------------------------- cache root

_cache_override: Path | None = None


def set_cache_root(path: str | os.PathLike | None) -> None:
    """Override the cache root for this process (the CLI's ``--cache-dir``)."""
    global _cache_override
    _cache_override = None if path is None else Path(path).expanduser()


@contextlib.contextmanager
def cache_root_set_to(path: str | os.PathLike) -> Iterator[Path]:
    """Within the block, :func:`cache_root` is ``path``; the previous setting comes back after.

    For code handed an explicit cache root (a build job run in any process: spawned workers do
    not inherit ``set_cache_root``) that calls stores which read the process default.
    """
    global _cache_override
    before = _cache_override
    set_cache_root(path)
    try:
        yield cache_root()
    finally:
        _cache_override = before


def cache_root() -> Path:
    """The root of all navfusion caches (views, features, graphs, episodes).

    Resolution order: ``set_cache_root`` (CLI ``--cache-dir``), the ``NAVFUSION_CACHE`` environment
    variable, then the user's cache directory (``~/.cache/navfusion`` on Linux).
    """
    if _cache_override is not None:
        return _cache_override
    env = os.environ.get("NAVFUSION_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("navfusion", appauthor=False))


# ----------------------------------------------------------------------------- scene ids

SPLITS: tuple[str, ...] = ("pretrain", "train", "val", "test")
_SCENE_ID = re.compile(r"^(?P<suite>[A-Za-z0-9_.-]+)/(?P<split>[A-Za-z0-9_-]+)/(?P<index>\d+)$")


@dataclass(frozen=True)
class SceneId:
    """A scene's identity ``<suite>/<split>/<index>``."""

    suite: str
    split: str
    index: int

    def __str__(self) -> str:
        return f"{self.suite}/{self.split}/{self.index}"

    @property
    def slug(self) -> str:
        """A file-name-safe form (``suite__split__index``)."""
        return f"{self.suite}__{self.split}__{self.index}"

    @classmethod
    def parse(cls, text: str) -> SceneId:
        """Parse ``"<suite>/<split>/<index>"``; anything else raises a clear error."""
        m = _SCENE_ID.match(str(text))
        if not m:
            raise NavFusionError(f"bad scene id {text!r}: expected '<suite>/<split>/<index>', e.g. 'tiny/train/0'")
        return cls(m["suite"], m["split"], int(m["index"]))


def scene_slug(scene_id: str) -> str:
    """The file-name-safe form of any scene id, used by every cache (graphs, views, episodes,
    features): ``SceneId.slug`` (``tiny/train/0`` -> ``tiny__train__0``) for suite scene ids, else
    ``/`` -> ``__`` and other unsafe characters -> ``_`` (imported scenes named after their file)."""
    try:
        return SceneId.parse(scene_id).slug
    except NavFusionError:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(scene_id).replace("/", "__")) or "scene"

