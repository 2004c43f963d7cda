"""A small textured example made by navfusion itself (nothing downloaded): three furnished flats
written as third-party files would come, and a folder suite over them.

* ``flat_a.glb``: glTF with a ``baseColorTexture`` per material (y-up, as glTF is), labelled by
  ``flat_a.labels.json`` (mesh name -> category);
* ``flat_b.obj`` + ``.mtl`` + PNGs: OBJ with ``map_Kd`` textures (z-up), labelled by ``flat_b.labels.json``;
* ``flat_c.ply``: a "scan": one mesh with per-vertex colours and per-face ``semantic`` / ``object_id``
  properties (no label file: the labels come from the file);
* ``textured.yaml``: a folder suite, train = flat_a, val = flat_b, test = flat_c.

The geometry is the procedural generator's (so every flat has chairs, tables, beds and doors to
find); its procedural materials are baked into small tileable images mapped by planar projection.
:func:`write_textured_example` is a pure function of its arguments (same files, same bytes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from navfusion.io import atomic_path
from navfusion.scenes.generator import SceneConfig, generate_scene
from navfusion.scenes.scene import Material, Scene

#: Seeds of the three flats (a block no shipped suite uses).
EXAMPLE_SEEDS = (9_000_000, 9_000_001, 9_000_002)
EXAMPLE_CONFIG = SceneConfig(rooms=(2, 3), room_size=(2.6, 4.2), corridor_prob=0.4, clutter=0.5)
TEXTURE_SIZE = 64
SUITE_NAME = "textured"


def _tileable_noise(rng: np.random.Generator, n: int, cells: int = 8) -> np.ndarray:
    """(n, n) smooth noise in [0, 1] that tiles (bilinear over a wrapped random grid)."""
    g = rng.random((cells, cells))
    t = np.arange(n) * cells / n
    i0 = np.floor(t).astype(int)
    f = t - i0
    i1 = (i0 + 1) % cells
    rows = g[i0][:, None, :] * (1 - f)[:, None, None] + g[i1][:, None, :] * f[:, None, None]  # (n, 1, cells)
    rows = rows[:, 0]
    out = rows[:, i0] * (1 - f)[None] + rows[:, i1] * f[None]
    return (out - out.min()) / max(float(np.ptp(out)), 1e-9)


def texture_image(mat: Material, rng: np.random.Generator, n: int = TEXTURE_SIZE) -> np.ndarray:
    """A tileable (n, n, 3) uint8 image for a procedural material: its pattern kind drawn between
    ``color`` and ``color2`` (grain, grout, weave, speckle, blotches)."""
    y, x = np.indices((n, n)) / n
    noise = _tileable_noise(rng, n)
    k = mat.texture
    if k == "wood":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (4 * y + 0.8 * noise))
    elif k == "tiles":
        g = np.minimum(np.minimum(x % 0.5, y % 0.5), np.minimum(0.5 - x % 0.5, 0.5 - y % 0.5))
        t = np.where(g < 0.03, 1.0, 0.2 * noise)
    elif k in ("fabric", "carpet"):
        weave = ((np.floor(x * 16) + np.floor(y * 16)) % 2).astype(float)
        t = 0.5 * weave + 0.5 * rng.random((n, n)) if k == "carpet" else 0.35 + 0.4 * weave * noise
    elif k == "marble":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (x + y + 1.5 * noise))
    else:  # wall, metal, plain: soft blotches, stronger than the procedural ones so the image shows
        t = 0.6 * noise
    c1, c2 = np.asarray(mat.color, float), np.asarray(mat.color2, float)
    if np.abs(c1 - c2).max() < 0.15:  # plain materials: make the pattern visible
        c2 = np.clip(c1 * 0.6, 0, 1)
    img = c1[None, None] + (c2 - c1)[None, None] * t[..., None]
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def bake_textures(scene: Scene, seed: int = 0) -> Scene:
    """A copy of a generated scene whose materials are images: faces get their own corners (uv seams
    between faces of a box), uv = the position on the face's dominant plane divided by the material's
    pattern period (so images repeat every ``scale`` metres)."""
    import copy

    rng = np.random.default_rng(seed)
    out = copy.copy(scene)
    out.materials, out.textures, out.instances = {}, {}, []
    for name in sorted(scene.materials):
        m = scene.materials[name]
        out.textures[name] = texture_image(m, rng)
        out.materials[name] = Material(name, "plain", (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), 0.25, image=name)
    for inst in scene.instances:
        f = np.asarray(inst.faces, np.int64)
        v = np.asarray(inst.vertices, np.float64)[f.reshape(-1)]
        tri = v.reshape(-1, 3, 3)
        n = np.abs(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
        axis = np.repeat(np.argmax(n, 1), 3)  # the dominant normal axis per face, per corner
        plane = np.where(axis[:, None] == 2, v[:, [0, 1]], np.where(axis[:, None] == 0, v[:, [1, 2]], v[:, [0, 2]]))
        period = max(float(scene.materials[inst.material].scale), 0.05) * 4.0
        uv = np.round(plane / period * 2 ** 20) / 2 ** 20
        new = copy.copy(inst)
        new.vertices = v.astype(np.float32)
        new.faces = np.arange(len(v), dtype=np.int32).reshape(-1, 3)
        new.uv = uv.astype(np.float32)
        out.instances.append(new)
    out.validate()
    return out


def _labels(scene: Scene) -> dict[str, str]:
    return {i.name: i.category for i in scene.instances}


def _write_glb(scene: Scene, path: Path) -> None:
    """A plain glTF (no navfusion metadata): one textured mesh per instance, y-up."""
    import trimesh
    from PIL import Image

    from navfusion.scenes.io import _to_yup

    tm = trimesh.Scene()
    images = {k: Image.fromarray(v) for k, v in scene.textures.items()}
    for inst in scene.instances:
        mesh = trimesh.Trimesh(_to_yup(inst.vertices), np.asarray(inst.faces, np.int64), process=False)
        mesh.visual = trimesh.visual.TextureVisuals(
            uv=np.asarray(inst.uv, np.float64), material=trimesh.visual.material.PBRMaterial(
                name=inst.material, baseColorTexture=images[scene.materials[inst.material].image],
                baseColorFactor=[255, 255, 255, 255]))
        tm.add_geometry(mesh, node_name=inst.name, geom_name=inst.name)
    with atomic_path(path) as tmp:
        tmp.write_bytes(tm.export(file_type="glb"))


def _write_obj(scene: Scene, folder: Path, stem: str) -> None:
    """OBJ + MTL + one PNG per material (z-up), one object per instance."""
    import trimesh
    from PIL import Image

    images = {k: Image.fromarray(v) for k, v in scene.textures.items()}
    tm = trimesh.Scene()
    for inst in scene.instances:
        mesh = trimesh.Trimesh(np.asarray(inst.vertices, np.float64), np.asarray(inst.faces, np.int64), process=False)
        mesh.visual = trimesh.visual.TextureVisuals(
            uv=np.asarray(inst.uv, np.float64),
            material=trimesh.visual.material.SimpleMaterial(image=images[scene.materials[inst.material].image],
                                                            diffuse=[255, 255, 255, 255]))
        tm.add_geometry(mesh, node_name=inst.name, geom_name=inst.name)
    from trimesh.exchange.obj import export_obj

    text, files = export_obj(tm, include_texture=True, return_texture=True, mtl_name=f"{stem}.mtl")
    for name, data in files.items():
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
    with atomic_path(folder / f"{stem}.obj") as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_ply(scene: Scene, path: Path, seed: int) -> None:
    """One mesh with per-vertex colours (the material's image colour with a scanner's brightness
    noise) and per-face ``semantic`` (navfusion ids) and ``object_id`` properties, binary PLY."""
    rng = np.random.default_rng(seed)
    verts, faces, owner = scene.merged()
    mean = {k: v.reshape(-1, 3).mean(0) for k, v in scene.textures.items()}
    base = np.stack([mean[scene.materials[i.material].image] for i in scene.instances])[owner]  # (F, 3)
    corner = np.repeat(base, 3, axis=0) * rng.uniform(0.8, 1.1, (3 * len(faces), 1))
    v = verts[faces.reshape(-1)]
    col = np.clip(np.round(corner), 0, 255).astype(np.uint8)
    sem = np.array([i.semantic_id for i in scene.instances], np.int32)[owner]
    ins = np.array([i.id for i in scene.instances], np.int32)[owner]
    vdt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    vd = np.empty(len(v), vdt)
    vd["x"], vd["y"], vd["z"] = v[:, 0], v[:, 1], v[:, 2]
    vd["red"], vd["green"], vd["blue"] = col[:, 0], col[:, 1], col[:, 2]
    fdt = np.dtype([("n", "u1"), ("i", "<i4", (3,)), ("semantic", "<i4"), ("object_id", "<i4")])
    fd = np.empty(len(faces), fdt)
    fd["n"], fd["i"] = 3, np.arange(3 * len(faces), dtype=np.int32).reshape(-1, 3)
    fd["semantic"], fd["object_id"] = sem, ins
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\n"
              f"element face {len(faces)}\nproperty list uchar int vertex_indices\n"
              "property int semantic\nproperty int object_id\nend_header\n")
    with atomic_path(path) as tmp:
        tmp.write_bytes(header.encode("ascii") + vd.tobytes() + fd.tobytes())


def write_textured_example(out_dir: str | os.PathLike) -> Path:
    """Write the three flats, their label maps and ``textured.yaml`` into ``out_dir``; returns the
    suite file. Takes about a second."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    flats = [bake_textures(generate_scene(EXAMPLE_CONFIG, s, scene_id=f"flat_{c}"), seed=s)
             for s, c in zip(EXAMPLE_SEEDS, "abc")]
    _write_glb(flats[0], out / "flat_a.glb")
    _write_obj(flats[1], out, "flat_b")
    _write_ply(flats[2], out / "flat_c.ply", EXAMPLE_SEEDS[2])
    for flat, stem in ((flats[0], "flat_a"), (flats[1], "flat_b")):
        with atomic_path(out / f"{stem}.labels.json") as tmp:
            tmp.write_text(json.dumps(_labels(flat), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    suite = out / f"{SUITE_NAME}.yaml"
    with atomic_path(suite) as tmp:
        tmp.write_text(f"# Made by `navfusion scenes example` (navfusion.scenes.example); regenerate, don't edit.\n"
                       f"name: {SUITE_NAME}\nkind: folder\npath: .\n"
                       "description: three textured flats (GLB, OBJ+MTL, PLY scan with vertex colours and labels)\n"
                       "splits:\n  train: {files: [flat_a.glb]}\n  val: {files: [flat_b.obj]}\n"
                       "  test: {files: [flat_c.ply]}\n", encoding="utf-8")
    return suite


def example_suite(root: str | os.PathLike | None = None) -> Path:
    """The example's suite file under ``root`` (default ``cache_root()/examples/textured``), written
    on first use."""
    from navfusion.common import cache_root

    folder = Path(root) if root is not None else cache_root() / "examples" / SUITE_NAME
    suite = folder / f"{SUITE_NAME}.yaml"
    if not suite.is_file():
        write_textured_example(folder)
    return suite
