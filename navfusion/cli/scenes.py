"""``navfusion scenes ...``: generate suites to GLB, import meshes, show a scene, list suites."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from navfusion.cli.groups import command_group
from navfusion.errors import NavFusionError


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    """Add the ``scenes`` command group to the top-level sub-parsers."""
    sp = command_group(sub, "scenes", "generate, import, inspect and list scenes", "scenes_command")

    g = sp.add_parser("generate", help="write the scenes of a suite split as GLB + JSON")
    g.add_argument("--suite", required=True, help="suite name (envs/<name>.yaml) or a suite YAML path")
    g.add_argument("--split", required=True, help="pretrain, train, val, test, or all")
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--limit", type=int, default=None, help="only the first N scenes of each split")
    g.add_argument("--pictures", action="store_true", help="also write <scene>.png (map + rendered view)")
    g.add_argument("--backend", default="auto", help="renderer for --pictures: auto, gl or raycast")
    g.set_defaults(func=lambda a: _quiet(_generate, a))

    i = sp.add_parser("import", help="import an external mesh (GLB/glTF/OBJ/PLY) as a navfusion scene")
    i.add_argument("file", help="mesh file")
    i.add_argument("--labels", default=None, help="JSON label map: mesh/node name (or pattern) -> category")
    i.add_argument("--out", required=True, help="output folder for <name>.glb + <name>.json")
    i.add_argument("--floor-height", type=float, default=None, help="floor z in metres (estimated if omitted)")
    i.add_argument("--up", choices=("y", "z"), default=None,
                   help="up axis of the file; default per format: y for GLB/glTF (the glTF convention), z for OBJ "
                   "and PLY (scans); y-up OBJ furniture (Blender, Maya exports) needs --up y")
    i.add_argument("--scale", default=None, metavar="S",
                   help="metres per file unit (0.01 for centimetres), or 'auto' to detect cm/mm/inch from the "
                   "extent; default 1, with a warning when the extent is implausible for a home (> 100 m across "
                   "or < 1 m tall)")
    i.add_argument("--texture", default=None, metavar="IMAGE",
                   help="image for meshes with uv coordinates but no texture (an OBJ whose .mtl is missing)")
    i.set_defaults(func=lambda a: _quiet(_import, a))

    e = sp.add_parser("example", help="write the small textured example (3 flats: GLB, OBJ+MTL, PLY scan) and its "
                      "folder suite textured.yaml")
    e.add_argument("--out", required=True, help="output folder")
    e.set_defaults(func=_example)

    s = sp.add_parser("show", help="picture of a scene: labelled top-down map and the buffers of one view")
    s.add_argument("scene", help="scene id like tiny/train/0, or a .glb/.json/.obj/.ply file")
    s.add_argument("--out", required=True, help="output PNG")
    s.add_argument("--backend", default="auto", help="renderer: auto, gl or raycast")
    s.add_argument("--resolution", type=int, default=256, help="view resolution in pixels (16..2048)")
    s.set_defaults(func=lambda a: _quiet(_show, a))

    ls = sp.add_parser("list", help="list suites and their splits")
    ls.set_defaults(func=_list)


def _quiet(fn, args: argparse.Namespace) -> int:
    with _warnings_as_lines():
        return fn(args)


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show library warnings as one ``navfusion: warning: ...`` line each (no source lines)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = lambda message, *a, **k: print(f"navfusion: warning: {message}", file=sys.stderr)
        yield


def _scene_ids(suite_name: str, split: str, limit: int | None):
    from navfusion.scenes.suites import load_suite

    suite = load_suite(suite_name)
    splits = list(suite.splits) if split == "all" else [split]
    ids = []
    for s in splits:
        ids += suite.scene_ids(s)[: limit if limit is not None else None]
    return suite, ids


def _generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from navfusion.scenes.io import save_scene
    from navfusion.scenes.suites import load_scene

    if args.limit is not None and args.limit < 1:
        raise NavFusionError(f"--limit={args.limit}: must be at least 1")
    suite, ids = _scene_ids(args.suite, args.split, args.limit)
    out = Path(args.out)
    tris = []
    for sid in tqdm(ids, desc=f"scenes {suite.name}/{args.split}", unit="scene"):
        scene = load_scene(sid)
        save_scene(scene, out, sid.slug)
        tris.append(scene.num_triangles)
        if args.pictures:
            show_scene(scene, out / f"{sid.slug}.png", backend=args.backend, resolution=192)
    if tris:
        print(f"wrote {len(ids)} scene(s) to {out} ({min(tris)}-{max(tris)} triangles, mean {np.mean(tris):.0f})")
    return 0


def _import(args: argparse.Namespace) -> int:
    from navfusion.scenes.io import import_mesh, save_scene, slugify

    scene = import_mesh(args.file, labels=args.labels, floor_height=args.floor_height, up=args.up,
                        scale=args.scale, texture=args.texture)
    glb, side = save_scene(scene, args.out, slugify(Path(args.file).stem))
    cats = sorted(scene.categories())
    tex = f", {len(scene.textures)} texture(s)" if scene.textures else ""
    print(f"imported {len(scene.instances)} instance(s), {scene.num_triangles} triangles{tex}, floor z="
          f"{scene.floor_height:.3f}, categories: {', '.join(cats)} -> {glb}, {side.name}")
    return 0


def _example(args: argparse.Namespace) -> int:
    from navfusion.scenes.example import write_textured_example

    suite = write_textured_example(args.out)
    print(f"wrote the textured example to {Path(args.out)}; its suite: {suite}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from navfusion.scenes.suites import list_suites, load_suite

    for name in list_suites():
        suite = load_suite(name)
        parts = ", ".join(f"{s} {len(sp)}" for s, sp in suite.splits.items())
        print(f"{name:12s} {suite.kind:10s} {parts}  {suite.description}")
    return 0


def _show(args: argparse.Namespace) -> int:
    if not 16 <= args.resolution <= 2048:
        raise NavFusionError(f"--resolution={args.resolution}: must be in 16..2048")
    text = args.scene
    if Path(text).suffix.lower() == ".json":
        from navfusion.scenes.io import load_scene_file

        scene = load_scene_file(text)
    elif Path(text).suffix.lower() in (".glb", ".gltf", ".obj", ".ply"):
        from navfusion.scenes.io import load_any

        scene = load_any(text)  # a saved scene, or a mesh with its <stem>.labels.json if there is one
    else:
        from navfusion.scenes.suites import load_scene

        scene = load_scene(text)
    path = show_scene(scene, args.out, backend=args.backend, resolution=args.resolution)
    print(f"wrote {path}")
    return 0


def pick_view(scene, eye_height: float = 1.25) -> tuple[np.ndarray, float]:
    """A camera position (3,) far from obstacles and a yaw looking along the longest free line."""
    from scipy import ndimage

    from navfusion.scenes.topdown import band_raster, scene_grid

    cell = 0.1
    origin, shape = scene_grid(scene, cell)
    v, f, _ = scene.merged()
    fh = scene.floor_height
    occ = band_raster(v, f, (fh + 0.2, fh + 1.5), cell, origin, shape)
    walk = band_raster(v, f, (fh - 0.05, fh + 0.05), cell, origin, shape)
    dist = ndimage.distance_transform_edt(~occ & walk)
    ix, iy = np.unravel_index(int(np.argmax(dist)), dist.shape)
    best, yaw = -1, 0.0
    for k in range(16):
        a = 2 * math.pi * k / 16
        n = 0
        while True:
            jx, jy = int(round(ix + math.cos(a) * n)), int(round(iy + math.sin(a) * n))
            if not (0 <= jx < shape[0] and 0 <= jy < shape[1]) or occ[jx, jy]:
                break
            n += 1
        if n > best:
            best, yaw = n, a
    pos = np.array([origin[0] + (ix + 0.5) * cell, origin[1] + (iy + 0.5) * cell, fh + eye_height])
    return pos, yaw


def show_scene(scene, out: str | Path, backend: str = "auto", resolution: int = 256) -> Path:
    """Write a PNG: the labelled top-down map and rgb/depth/normal/semantic of one view (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from navfusion.common import CATEGORY_TABLE
    from navfusion.io import atomic_path
    from navfusion.render import create_renderer
    from navfusion.render.camera import Camera, Poses
    from navfusion.scenes.topdown import draw_topdown

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise NavFusionError(f"--out {out}: must be a .png file")
    pos, yaw = pick_view(scene)
    r = create_renderer(scene, Camera(width=resolution, height=resolution), backend=backend)
    try:
        frames = r.render(Poses(pos[None], np.array([yaw])), buffers=("rgb", "depth_z", "normal", "semantic"))
        backend_name = r.backend
    finally:
        r.close()
    fig = plt.figure(figsize=(14, 7))
    ax = fig.add_axes((0.03, 0.06, 0.46, 0.86))
    draw_topdown(ax, scene)
    ax.annotate("", xy=(pos[0] + 1.2 * math.cos(yaw), pos[1] + 1.2 * math.sin(yaw)), xytext=(pos[0], pos[1]),
                arrowprops={"arrowstyle": "->", "color": "red", "lw": 2}, zorder=10)
    ax.plot([pos[0]], [pos[1]], "o", color="red", zorder=10)
    ax.set_title(f"{scene.scene_id}: {len(scene.rooms)} rooms, {len(scene.instances)} instances, "
                 f"{scene.num_triangles} triangles", fontsize=10)
    palette = np.array([c.color for c in CATEGORY_TABLE], np.uint8)
    sem = palette[np.clip(frames.semantic[0].astype(np.int64), 0, len(palette) - 1)]
    depth = frames.depth_z[0]
    normal = ((frames.normal[0] + 1) / 2).clip(0, 1)
    panels = [("rgb", frames.rgb[0], None), ("depth_z (m)", depth, "viridis"),
              ("normal (camera frame)", normal, None), ("semantic", sem, None)]
    for k, (title, img, cmap) in enumerate(panels):
        a = fig.add_axes((0.52 + (k % 2) * 0.24, 0.5 - (k // 2) * 0.44, 0.22, 0.40))
        im = a.imshow(img, cmap=cmap, interpolation="nearest")
        if cmap:
            fig.colorbar(im, ax=a, fraction=0.046, pad=0.02)
        a.set_title(title, fontsize=9)
        a.axis("off")
    present = sorted(set(np.unique(frames.semantic[0]).tolist()) - {0})
    fig.text(0.52, 0.03, f"view from the red arrow ({backend_name} backend); in view: " +
             ", ".join(CATEGORY_TABLE[i].name for i in present if i < len(CATEGORY_TABLE)), fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out
