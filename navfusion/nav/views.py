"""ViewStore: the 8 world-aligned views of every graph node, rendered once and cached on disk.

View ``k`` of node ``i`` is taken from ``positions[i] + (0, 0, camera.eye_height)`` looking along
move ``k`` (yaw ``k * 45°``), level. Layout on disk, one folder per scene and resolution::

    <cache_root>/views/<scene slug>/<W>x<H>/
        manifest.json        version, scene hash, graph hash, camera, backend, per-buffer sha256
        rgb.npy              (N, 8, H, W, 3) uint8
        depth_z.npy          (N, 8, H, W) float32     (only when asked)
        semantic.npy         (N, 8, H, W) uint8       (only when asked)
        normal.npy           (N, 8, H, W, 3) float32  (only when asked)

A manifest that does not match the scene/graph/camera (or an explicit backend) marks the folder
stale; a buffer whose sha256 or shape does not match is corrupt. Both are re-rendered. Files are
written atomically, and a lock file keeps concurrent processes from rendering the same store twice.
Arrays are opened memory-mapped, so processes share the page cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.cache_layout import views_dir as scene_views_dir
from navfusion.errors import NavFusionError
from navfusion.io import atomic_path, atomic_write_json, folder_lock, hash_arrays, read_json, sha256_file
from navfusion.nav.graph import OctoGraph
from navfusion.render import create_renderer
from navfusion.render.camera import Camera, Frames, Poses
from navfusion.scenes.scene import Scene

log = logging.getLogger(__name__)

VIEWS_VERSION = 1
#: Buffers a ViewStore can hold and the render buffer each comes from.
VIEW_BUFFERS: dict[str, str] = {"rgb": "rgb", "depth": "depth_z", "semantic": "semantic", "normal": "normal"}
_DTYPES = {"rgb": np.uint8, "depth": np.float32, "semantic": np.uint8, "normal": np.float32}
_CHANNELS = {"rgb": 3, "depth": 0, "semantic": 0, "normal": 3}

RendererFactory = Callable[[Scene, Camera, str], Any]


def node_poses(graph: OctoGraph, camera: Camera, nodes: np.ndarray | None = None) -> Poses:
    """Poses of the 8 views of ``nodes`` (default all), node-major: (len(nodes) * 8) poses."""
    nodes = np.arange(graph.num_nodes) if nodes is None else np.asarray(nodes, np.int64).reshape(-1)
    pos = graph.positions[nodes].copy()
    pos[:, 2] += camera.eye_height
    yaws = np.arange(8) * (math.pi / 4)
    return Poses(np.repeat(pos, 8, axis=0), np.tile(yaws, len(nodes)))


def buffer_shape(name: str, n: int, camera: Camera) -> tuple[int, ...]:
    c = _CHANNELS[name]
    return (n, 8, camera.height, camera.width) + ((c,) if c else ())


def frames_buffer(frames: Frames, name: str) -> np.ndarray:
    """The array of view buffer ``name`` in ``frames`` with the store's dtype."""
    arr = getattr(frames, VIEW_BUFFERS[name])
    if arr is None:
        raise NavFusionError(f"renderer returned no {VIEW_BUFFERS[name]!r} buffer")
    return np.asarray(arr).astype(_DTYPES[name], copy=False)


def graph_hash(graph: OctoGraph) -> str:
    return hash_arrays(graph.positions)[:20]


def default_renderer_factory(scene: Scene, camera: Camera, backend: str):
    return create_renderer(scene, camera, backend=backend)


@dataclasses.dataclass
class ViewStore:
    """Cached views of one scene.

    Attributes:
        rgb: (N, 8, H, W, 3) uint8.
        depth: (N, 8, H, W) float32 depth along the optical axis (``depth_z``), or None.
        semantic: (N, 8, H, W) uint8 category ids, or None.
        normal: (N, 8, H, W, 3) float32 camera-frame normals, or None.
        camera: the camera the views were rendered with.
        backend: the renderer backend that made them.
        path: the store's folder.
    """

    rgb: np.ndarray
    depth: np.ndarray | None
    semantic: np.ndarray | None
    normal: np.ndarray | None
    camera: Camera
    backend: str
    path: Path

    @property
    def buffers(self) -> tuple[str, ...]:
        return tuple(b for b in VIEW_BUFFERS if getattr(self, b) is not None)

    def get(self, name: str) -> np.ndarray:
        arr = getattr(self, name) if name in VIEW_BUFFERS else None
        if arr is None:
            raise NavFusionError(f"view buffer {name!r} was not stored; available: {', '.join(self.buffers)}")
        return arr

    def __getstate__(self) -> dict:
        # pickles (e.g. for subprocess envs) carry the path, not hundreds of MB of pixels
        state = dict(self.__dict__)
        for b in VIEW_BUFFERS:
            state[b] = state[b] is not None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for b in VIEW_BUFFERS:
            self.__dict__[b] = _open(self.path / f"{b}.npy") if state[b] else None


def _open(path: Path) -> np.ndarray:
    """A read-only memory map of an ``.npy`` file as a plain ndarray (indexing a ``np.memmap``
    subclass runs Python code on every access, which would dominate an environment step)."""
    return np.load(path, mmap_mode="r").view(np.ndarray)


def views_dir(scene: Scene, camera: Camera) -> Path:
    return scene_views_dir(scene.scene_id) / f"{camera.width}x{camera.height}"


def _expected(scene_hash: str, ghash: str, camera: Camera) -> dict:
    return {"version": VIEWS_VERSION, "scene_hash": scene_hash, "graph_hash": ghash,
            "camera": dataclasses.asdict(camera)}


def _check_store(folder: Path, expect: dict, backend: str, buffers: Sequence[str], n: int, camera: Camera,
                 verify: bool) -> tuple[dict | None, list[str]]:
    """(manifest or None if stale/missing, buffers that must be (re)rendered)."""
    try:
        man = read_json(folder / "manifest.json", "view manifest")
    except NavFusionError:
        return None, list(buffers)
    if any(man.get(k) != v for k, v in expect.items()) or (backend != "auto" and man.get("backend") != backend):
        log.info("view store %s is stale; re-rendering", folder)
        return None, list(buffers)
    todo = []
    for b in buffers:
        entry = man.get("buffers", {}).get(b)
        f = folder / f"{b}.npy"
        ok = entry is not None and f.is_file()
        if ok:
            try:
                arr = np.load(f, mmap_mode="r")
                ok = arr.shape == buffer_shape(b, n, camera) and arr.dtype == _DTYPES[b]
            except Exception:  # a damaged .npy (numpy raises varied types): re-render it below
                ok = False
        if ok and verify:
            ok = sha256_file(f) == entry["sha256"]
        if not ok:
            if entry is not None:
                log.warning("view store %s: %s.npy is corrupt; re-rendering it", folder, b)
            todo.append(b)
    return man, todo


def load_views(scene: Scene, graph: OctoGraph, camera: Camera, buffers: Sequence[str] = ("rgb",),
               backend: str = "auto", renderer_factory: RendererFactory | None = None,
               batch_size: int = 256, verify: bool = True, progress: bool | None = None,
               scene_hash: str | None = None) -> ViewStore:
    """The scene's ViewStore at ``camera``'s resolution, rendered (and cached) where needed.

    Args:
        buffers: subset of ``("rgb", "depth", "semantic", "normal")``; ``rgb`` is always stored.
        backend: renderer backend (``"auto"`` accepts a cache made by any backend).
        renderer_factory: ``(scene, camera, backend) -> renderer`` (default ``navfusion.render.create_renderer``).
        batch_size: poses per render call.
        verify: check each file's sha256 against the manifest (detects corrupt files).
        progress: show a tqdm bar while rendering (None: only on a terminal).
    """
    buffers = tuple(dict.fromkeys(("rgb", *buffers)))
    bad = [b for b in buffers if b not in VIEW_BUFFERS]
    if bad:
        from navfusion.common import suggest

        raise NavFusionError(f"unknown view buffer {bad[0]!r}; known: {', '.join(VIEW_BUFFERS)}."
                             f"{suggest(bad[0], VIEW_BUFFERS)}")
    folder = views_dir(scene, camera)
    expect = _expected(scene_hash or scene.content_hash(), graph_hash(graph), camera)
    n = graph.num_nodes
    man, todo = _check_store(folder, expect, backend, buffers, n, camera, verify)
    if todo:
        with folder_lock(folder):
            # another process may have rendered it while we waited for the lock
            man, todo = _check_store(folder, expect, backend, buffers, n, camera, verify)
            if todo:
                man = _render_store(folder, scene, graph, camera, expect, man, todo, backend,
                                    renderer_factory or default_renderer_factory, batch_size, progress)
    arrays = {b: (_open(folder / f"{b}.npy") if b in buffers else None) for b in VIEW_BUFFERS}
    return ViewStore(camera=camera, backend=str(man["backend"]), path=folder, **arrays)


def _render_store(folder: Path, scene: Scene, graph: OctoGraph, camera: Camera, expect: dict, man: dict | None,
                  todo: list[str], backend: str, factory: RendererFactory, batch_size: int,
                  progress: bool | None) -> dict:
    from tqdm.auto import tqdm

    if man is None:  # stale or new: start over so no old buffer survives with the new manifest
        for f in folder.glob("*.npy"):
            f.unlink()
        man = {**expect, "buffers": {}}
    renderer = factory(scene, camera, backend)
    try:
        actual = str(getattr(renderer, "backend", backend))
        if man.get("backend") not in (None, actual):  # buffers from two backends must not mix
            todo = [b for b in VIEW_BUFFERS if b in man["buffers"] or b in todo]
            man["buffers"] = {}
        man["backend"] = actual
        poses = node_poses(graph, camera)
        render_names = tuple(dict.fromkeys(VIEW_BUFFERS[b] for b in todo))
        n = graph.num_nodes
        with contextlib.ExitStack() as stack:
            tmps = {b: stack.enter_context(atomic_path(folder / f"{b}.npy")) for b in todo}
            outs = {b: np.lib.format.open_memmap(tmps[b], mode="w+", dtype=_DTYPES[b],
                                                 shape=buffer_shape(b, n, camera)) for b in todo}
            flat = {b: o.reshape(n * 8, *o.shape[2:]) for b, o in outs.items()}
            bar = tqdm(total=len(poses), desc=f"views {scene.scene_id} {camera.width}x{camera.height}",
                       unit="view", disable=(not progress) if progress is not None else None, leave=False)
            lo, hi = 255, 0
            for s in range(0, len(poses), batch_size):
                e = min(s + batch_size, len(poses))
                frames = renderer.render(Poses(poses.positions[s:e], poses.yaws[s:e], poses.pitches[s:e]),
                                         buffers=render_names)
                for b in todo:
                    flat[b][s:e] = frames_buffer(frames, b)
                if "rgb" in todo:
                    lo, hi = min(lo, int(flat["rgb"][s:e].min())), max(hi, int(flat["rgb"][s:e].max()))
                bar.update(e - s)
            bar.close()
            if "rgb" in todo and lo == hi:
                # a broken GL context renders one colour everywhere; caching that would poison every
                # feature and agent built on it, so nothing is written
                raise NavFusionError(f"views of {scene.scene_id}: the {actual} renderer returned {len(poses)} views "
                                     f"of one single colour ({lo}); not caching them (check the render backend, "
                                     "e.g. `navfusion scenes show` or `--backend raycast`)")
            for o in outs.values():
                o.flush()
            del flat, outs
            # hash the temporary files before they replace the old ones
            for b in todo:
                man["buffers"][b] = {"sha256": sha256_file(tmps[b]), "shape": list(buffer_shape(b, n, camera)),
                                     "dtype": np.dtype(_DTYPES[b]).name}
    finally:
        close = getattr(renderer, "close", None)
        if close:
            close()
    atomic_write_json(folder / "manifest.json", man)
    return man


def render_node_views(renderer, graph: OctoGraph, camera: Camera, node: int, buffers: Sequence[str] = ("rgb",)
                      ) -> dict[str, np.ndarray]:
    """Render the 8 views of one node live (no cache): {buffer: (8, H, W, ...)}."""
    frames = renderer.render(node_poses(graph, camera, np.array([node])),
                             buffers=tuple(dict.fromkeys(VIEW_BUFFERS[b] for b in buffers)))
    return {b: frames_buffer(frames, b) for b in buffers}


__all__ = ["VIEW_BUFFERS", "ViewStore", "load_views", "node_poses", "render_node_views"]
