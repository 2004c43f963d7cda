"""Scene files: GLB export/import keeping instances and categories, external mesh import, object placement.

A saved scene is ``<slug>.glb`` (one node and mesh per instance, named after the instance; each
mesh's glTF ``extras`` hold its category, material and room, the scene's ``extras`` hold the whole
label map) plus a ``<slug>.json`` sidecar with the same labels, materials, rooms and metadata.
glTF is y-up: vertices are written as ``(x, z, -y)`` and turned back to navfusion's z-up on load.

External meshes (GLB/glTF/OBJ/PLY) load through :func:`import_mesh` with an optional JSON label map
(mesh or node name -> category; ``fnmatch`` patterns allowed). Unlabelled meshes become ``misc``.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.common import CATEGORY_BY_ID, category
from navfusion.errors import NavFusionError
from navfusion.io import atomic_path, read_json, sha256_bytes, sha256_file
from navfusion.scenes.scene import Instance, Material, Room, Scene

FORMAT = "navfusion.scene/1"
MESH_EXTS = (".glb", ".gltf", ".obj", ".ply")

# z-up (navfusion) <-> y-up (glTF): exact permutations/negations, so round trips are bit-exact.
_Z2Y = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float32)


def _to_yup(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, np.float32) @ _Z2Y.T


def _from_yup(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, np.float32) @ _Z2Y


def slugify(scene_id: str) -> str:
    """A file-name-safe form of a scene id (``tiny/train/0`` -> ``tiny__train__0``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(scene_id).replace("/", "__")).strip("_") or "scene"


def scene_labels_json(scene: Scene) -> dict[str, Any]:
    """Everything of a scene but its geometry, as JSON-able data (labels, materials, rooms, heights)."""
    return {
        "format": FORMAT,
        "scene_id": scene.scene_id,
        "instances": [_instance_json(i) for i in scene.instances],
        "materials": [m.to_json() for m in scene.materials.values()],
        "rooms": [r.to_json() for r in scene.rooms],
        "floor_height": scene.floor_height,
        "ceiling_height": scene.ceiling_height if np.isfinite(scene.ceiling_height) else None,
        "metadata": scene.metadata,
    }


def _instance_json(i: Instance) -> dict[str, Any]:
    d = {"id": i.id, "name": i.name, "category": i.category, "material": i.material, "room": i.room}
    if i.uv is not None:  # flags only where set: files of generated scenes stay as they were
        d["uv"] = True
    if i.colors is not None:
        d["colors"] = True
    return d


def _jsonable(o: Any) -> Any:
    return json.loads(json.dumps(o, default=lambda x: x.tolist() if hasattr(x, "tolist") else str(x)))


def save_scene(scene: Scene, out_dir: str | os.PathLike, name: str | None = None) -> tuple[Path, Path]:
    """Write ``<slug>.glb`` and ``<slug>.json`` into ``out_dir`` (atomically); returns both paths."""
    import trimesh

    out = Path(out_dir)
    slug = name or slugify(scene.scene_id)
    glb, side = out / f"{slug}.glb", out / f"{slug}.json"
    labels = _jsonable(scene_labels_json(scene))
    tm = trimesh.Scene()
    images: dict[str, Any] = {}
    for inst in scene.instances:
        mat = scene.materials.get(inst.material)
        color = [*(mat.color if mat else (0.8, 0.8, 0.8)), 1.0]
        mesh = trimesh.Trimesh(_to_yup(inst.vertices), np.asarray(inst.faces, np.int64), process=False)
        tex = None
        if mat is not None and mat.image:
            if mat.image not in images:  # one PIL image per texture, so the GLB stores it once
                from PIL import Image

                images[mat.image] = Image.fromarray(np.asarray(scene.textures[mat.image], np.uint8))
            tex = images[mat.image]
        mesh.visual = trimesh.visual.TextureVisuals(
            uv=None if inst.uv is None else np.asarray(inst.uv, np.float64),
            material=trimesh.visual.material.PBRMaterial(name=inst.material, baseColorFactor=color,
                                                         baseColorTexture=tex, metallicFactor=0.0,
                                                         roughnessFactor=0.9))
        if inst.colors is not None:  # COLOR_0 (glTF multiplies it with the base colour, as we do)
            mesh.visual.vertex_attributes["color"] = np.c_[np.asarray(inst.colors, np.uint8),
                                                           np.full(len(inst.colors), 255, np.uint8)]
        mesh.metadata = {"navfusion": {"id": inst.id, "category": inst.category, "material": inst.material,
                                       "room": inst.room}}
        tm.add_geometry(mesh, node_name=inst.name, geom_name=inst.name)
    tm.metadata["navfusion"] = labels
    data = tm.export(file_type="glb")
    with atomic_path(glb) as tmp_glb, atomic_path(side) as tmp_json:
        tmp_glb.write_bytes(data)
        labels = dict(labels, glb=glb.name, glb_sha256=sha256_file(tmp_glb), content_hash=scene.content_hash())
        tmp_json.write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return glb, side


# ----------------------------------------------------------------------------- reading meshes


def _load_trimesh_scene(path: Path):
    import trimesh

    if not path.is_file():
        raise NavFusionError(f"scene file not found: {path}")
    if path.suffix.lower() not in MESH_EXTS:
        raise NavFusionError(f"{path}: unsupported mesh format {path.suffix!r}; use one of {', '.join(MESH_EXTS)}")
    try:
        loaded = trimesh.load(str(path), process=False, force="scene")
    except ModuleNotFoundError:  # trimesh guesses the text encoding of undecodable files with an optional module
        raise NavFusionError(f"cannot read mesh file {path}: not valid UTF-8 text (is it really a "
                             f"{path.suffix} mesh?)") from None
    except Exception as e:  # trimesh raises many types for bad files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise NavFusionError(f"cannot read mesh file {path}: {msg}") from None
    if not hasattr(loaded, "graph") or not loaded.geometry:
        raise NavFusionError(f"mesh file {path} contains no triangle meshes")
    return loaded


def _nodes(tm) -> list[tuple[str, str, np.ndarray, np.ndarray, Any]]:
    """(node name, geometry name, world vertices (V, 3), faces (F, 3), geometry) per mesh node."""
    out = []
    for node in tm.graph.nodes_geometry:
        transform, gname = tm.graph[node]
        geom = tm.geometry[gname]
        if not hasattr(geom, "faces") or len(geom.faces) == 0:
            continue
        v = np.asarray(geom.vertices, np.float64)
        if not np.allclose(transform, np.eye(4)):
            v = v @ transform[:3, :3].T + transform[:3, 3]
        out.append((str(node), str(gname), v, np.asarray(geom.faces, np.int64), geom))
    return out


def _color_of(geom) -> tuple[float, float, float]:
    try:
        vis = geom.visual
        mat = getattr(vis, "material", None)
        if mat is not None:
            c = getattr(mat, "baseColorFactor", None)
            if c is None and hasattr(mat, "main_color"):
                c = np.asarray(mat.main_color, np.float64) / 255.0
            if c is not None:
                c = np.asarray(c, np.float64).ravel()[:3]
                return tuple(float(x) / (255.0 if c.max() > 1.0 else 1.0) for x in c)
        if getattr(vis, "kind", None) in ("face", "vertex"):
            fc = np.asarray(vis.face_colors if vis.kind == "face" else vis.vertex_colors, np.float64)
            return tuple(float(x) for x in fc[:, :3].mean(0) / 255.0)
    except Exception:  # a file's malformed material or colours (varied trimesh types): the default grey
        pass
    return (0.7, 0.7, 0.7)


def estimate_floor_height(vertices: np.ndarray, faces: np.ndarray) -> float:
    """z of the lowest substantial upward-facing surface (area-weighted 5 cm histogram)."""
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(n, axis=1)
    up = (n[:, 2] > 0.9 * np.maximum(area, 1e-12)) & (area > 0)
    if not up.any():
        return float(vertices[:, 2].min())
    z = tri[up, :, 2].mean(1)
    w = area[up]
    lo = z.min()
    bins = np.floor((z - lo) / 0.05).astype(np.int64)
    mass = np.bincount(bins, weights=w)
    k = int(np.argmax(mass >= 0.1 * mass.max()))
    zk, wk = np.round(z[bins == k], 3), w[bins == k]
    levels, inv = np.unique(zk, return_inverse=True)
    return float(levels[int(np.argmax(np.bincount(inv, weights=wk)))])  # the dominant level, not a blend


#: Label-map key holding file semantic ids -> categories (``{"semantic_ids": {"5": "chair"}}``).
SEMANTIC_IDS_KEY = "semantic_ids"
#: Per-face or per-vertex label properties recognised in PLY files and glTF vertex attributes
#: (glTF custom attributes start with ``_``; matched without it, case-insensitively).
SEMANTIC_PROPS: tuple[str, ...] = ("semantic", "semantic_id", "category_id", "label", "class_id")
INSTANCE_PROPS: tuple[str, ...] = ("instance", "instance_id", "object_id", "objectid")
#: Each format's up axis when ``up`` is not given: glTF is y-up by its specification; OBJ has no
#: convention (scans and CAD exports are z-up, many modelling tools write y-up: pass ``up="y"``);
#: PLY scans are z-up.
DEFAULT_UP: dict[str, str] = {".glb": "y", ".gltf": "y", ".obj": "z", ".ply": "z"}
#: A home is 1-100 m in extent (the tallest side at least 1 m); outside that ``scale="auto"`` looks for
#: a unit (cm, mm, inch) that makes it plausible.
PLAUSIBLE_EXTENT = (1.0, 100.0)
UNIT_SCALES: tuple[tuple[str, float], ...] = (("cm", 0.01), ("mm", 0.001), ("inch", 0.0254))
# uv coordinates are kept on a 2^-20 grid: glTF flips v (1 - v) on export and import, exact on this grid
_UV_GRID = float(2 ** 20)


def _read_label_map(labels) -> tuple[dict[str, str], dict[int, str]]:
    """(mesh/node name or pattern -> category, file semantic id -> category) from a JSON file or dict."""
    if labels is None:
        return {}, {}
    if isinstance(labels, dict):
        data = dict(labels)
    else:
        data = read_json(labels, "label map")
    where = f"label map {labels if not isinstance(labels, dict) else ''}".rstrip()
    ids: dict[int, str] = {}
    if isinstance(data, dict) and SEMANTIC_IDS_KEY in data:
        raw = data.pop(SEMANTIC_IDS_KEY)
        if not isinstance(raw, dict):
            raise NavFusionError(f"{where}: {SEMANTIC_IDS_KEY} must map file semantic ids to categories")
        for k, v in raw.items():
            try:
                ids[int(k)] = category(str(v)).name
            except ValueError:
                raise NavFusionError(f"{where}: {SEMANTIC_IDS_KEY}: key {k!r} is not an integer id") from None
            except NavFusionError as e:
                raise NavFusionError(f"{where}: {SEMANTIC_IDS_KEY} entry {k!r}: {e}") from None
    if isinstance(data, dict) and "instances" in data and isinstance(data["instances"], list):
        data = {d["name"]: d["category"] for d in data["instances"] if isinstance(d, dict) and "name" in d}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise NavFusionError(f"label map {labels}: expected a JSON object mapping mesh/instance names to categories")
    for k, v in data.items():
        try:
            category(v)
        except NavFusionError as e:
            raise NavFusionError(f"{where}: entry {k!r}: {e}") from None
    return dict(data), ids


def _lookup(label_map: dict[str, str], *names: str) -> str | None:
    for n in names:
        if n in label_map:
            return label_map[n]
    for pattern, cat in label_map.items():
        if any(ch in pattern for ch in "*?[") and any(fnmatch.fnmatchcase(n, pattern) for n in names):
            return cat
    return None


# ----------------------------------------------------------------------------- appearance on import


def _rgb_image(img) -> np.ndarray:
    """A PIL image (any mode) as (H, W, 3) uint8; alpha is dropped."""
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), np.uint8))


def read_texture(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 (row 0 at the top)."""
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise NavFusionError(f"texture file not found: {p}")
    try:
        with Image.open(p) as im:
            return _rgb_image(im)
    except Exception as e:  # PIL raises several types for unreadable images
        raise NavFusionError(f"cannot read texture {p}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                             ) from None


def _appearance(geom, n_vertices: int) -> tuple[tuple[float, float, float], Any, np.ndarray | None,
                                               np.ndarray | None, np.ndarray | None]:
    """(base colour, texture image or None, uv (V, 2) or None, vertex colours (V, 3) uint8 or None,
    face colours (F, 3) uint8 or None) of a trimesh geometry."""
    vis = getattr(geom, "visual", None)
    color = _color_of(geom)
    image = uv = vcol = fcol = None
    kind = getattr(vis, "kind", None)
    mat = getattr(vis, "material", None)
    if mat is not None:
        image = getattr(mat, "baseColorTexture", None) or getattr(mat, "image", None)
        if image is not None and getattr(mat, "baseColorTexture", None) is None:
            color = (1.0, 1.0, 1.0)  # OBJ: map_Kd alone (a Kd next to it is mostly an exporter's default)
        elif image is not None and getattr(mat, "baseColorFactor", None) is None:
            color = (1.0, 1.0, 1.0)  # glTF: the factor defaults to 1
    raw_uv = getattr(vis, "uv", None)
    if raw_uv is not None and len(raw_uv) == n_vertices:
        uv = np.asarray(raw_uv, np.float64)
    attrs = getattr(vis, "vertex_attributes", None) or {}
    if kind == "vertex":
        vcol = np.asarray(vis.vertex_colors)[:, :3]
    elif kind == "face":
        fcol = np.asarray(vis.face_colors)[:, :3].astype(np.uint8)
    elif "color" in attrs and len(attrs["color"]) == n_vertices:  # glTF COLOR_0 next to a texture
        c = np.asarray(attrs["color"])
        vcol = (c[:, :3] * (255.0 if c.dtype.kind == "f" and c.max() <= 1.0 else 1.0))
    if vcol is not None:
        vcol = np.clip(np.round(vcol), 0, 255).astype(np.uint8)
        if (vcol == vcol[0]).all():  # one colour for the whole mesh: a base colour, not a scan
            color, vcol = tuple(float(x) / 255.0 for x in vcol[0]), None
    if fcol is not None and (fcol == fcol[0]).all():
        color, fcol = tuple(float(x) / 255.0 for x in fcol[0]), None
    if image is not None and uv is None:
        image = None  # a texture without coordinates cannot be placed
    if image is not None:
        px = np.asarray(image.convert("RGB"))
        if (px == px[:1, :1]).all():  # one colour (trimesh's stand-in for a missing .mtl, or a swatch)
            color = tuple(float(c) * float(px[0, 0, k]) / 255.0 for k, c in enumerate(color))
            image = None
    return color, image, uv, vcol, fcol


def _face_ids(geom, n_faces: int, faces: np.ndarray, names: tuple[str, ...]) -> np.ndarray | None:
    """Per-face integer ids from a PLY face or vertex property or a glTF vertex attribute named one of
    ``names`` (vertex values go to a face by majority of its corners, else its first corner)."""
    meta = getattr(geom, "metadata", None) or {}
    raw = meta.get("_ply_raw") if isinstance(meta, dict) else None
    sources = []
    if isinstance(raw, dict):
        for elem, per in (("face", "face"), ("vertex", "vertex")):
            data = raw.get(elem, {}).get("data", {}) if isinstance(raw.get(elem), dict) else {}
            if isinstance(data, np.ndarray) and data.dtype.names:  # binary PLY: a structured array
                data = {k: data[k] for k in data.dtype.names}
            if isinstance(data, dict):
                sources += [(k, np.asarray(v), per) for k, v in data.items()]
    attrs = getattr(geom, "vertex_attributes", None) or {}
    sources += [(k, np.asarray(v), "vertex") for k, v in attrs.items()]
    for key, arr, per in sources:
        if key.lower().lstrip("_") not in names:
            continue
        if arr.dtype.kind not in "iuf" or not len(arr):
            continue
        arr = arr.reshape(len(arr), -1)[:, 0].astype(np.int64)
        if per == "face" and len(arr) == n_faces:
            return arr
        if per == "vertex" and len(arr) > faces.max(initial=-1):
            c = arr[faces]
            return np.where(c[:, 1] == c[:, 2], c[:, 1], c[:, 0])
    return None


def _obj_names(path: Path) -> dict[str, list[str]]:
    """OBJ material -> the ``o``/``g`` names whose faces use it. trimesh names an OBJ's meshes after
    their materials; label maps name objects, so both are looked up."""
    out: dict[str, list[str]] = {}
    names: list[str] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("o ", "g ")):
                    names = [n for n in line[2:].split() if n]
                elif line.startswith("usemtl "):
                    lst = out.setdefault(line[7:].strip(), [])
                    lst += [n for n in names if n not in lst]
    except OSError:
        return {}
    return out


def _split_faces(v: np.ndarray, f: np.ndarray, key: np.ndarray, *per_vertex: np.ndarray | None):
    """Split a mesh by per-face ``key``: yields (key value, vertices, faces, *per-vertex arrays) with
    only the vertices each part uses, in key order."""
    for k in np.unique(key):
        sel = f[key == k]
        used, inv = np.unique(sel.reshape(-1), return_inverse=True)
        yield (int(k), v[used], inv.reshape(-1, 3), *[None if a is None else a[used] for a in per_vertex])


def _deindex(v: np.ndarray, f: np.ndarray, *per_vertex: np.ndarray | None):
    """Three vertices per face (for per-face data such as PLY face colours)."""
    idx = f.reshape(-1)
    return (v[idx], np.arange(len(idx), dtype=np.int64).reshape(-1, 3), *[None if a is None else a[idx]
                                                                          for a in per_vertex])


def plausible_scale(vertices: np.ndarray) -> tuple[float, str]:
    """(scale, reason) for z-up ``vertices``: ``(1, "")`` when the extent is plausible for a home (at
    most 100 m across, at least 1 m tall); else the first of ``UNIT_SCALES`` that makes it so
    (``reason`` names the unit), else 1 with ``reason`` saying what looks wrong."""
    if not len(vertices):
        return 1.0, ""
    ext = vertices.max(0) - vertices.min(0)
    lo, hi = PLAUSIBLE_EXTENT
    size, height = float(ext.max()), float(ext[2])
    if size <= hi and height >= lo:
        return 1.0, ""
    for unit, k in UNIT_SCALES:
        if size * k <= hi and height * k >= lo and size * k >= 2.0:  # a room at least, not a stool
            return k, f"{size:.4g} units across and {height:.4g} tall looks like {unit}"
    what = f"{size:.4g} m across" if size > hi else f"{height:.3g} m tall"
    return 1.0, f"{what} is implausible for a home (at most {hi:g} m across, at least {lo:g} m tall)"


def import_mesh(path: str | os.PathLike, labels: str | os.PathLike | dict | None = None,
                floor_height: float | None = None, up: str | None = None, scene_id: str | None = None,
                scale: float | str | None = None, texture: str | os.PathLike | None = None) -> Scene:
    """Load an external mesh scene (GLB/glTF/OBJ/PLY) as a :class:`Scene`.

    Args:
        path: the mesh file.
        labels: a JSON file (or dict) mapping mesh/node names (or ``fnmatch`` patterns) to categories,
            optionally with ``"semantic_ids": {"<file id>": category}`` for files that carry per-face
            or per-vertex ids; a navfusion sidecar JSON works too. Without it a navfusion GLB keeps its
            embedded labels, per-face ids are read as navfusion semantic ids
            (``navfusion.common.CATEGORY_TABLE``), and other meshes load unlabelled (``misc``) with a
            warning.
        floor_height: z of the walkable floor (after scaling); estimated from upward-facing surfaces when None.
        up: the file's up axis, ``"y"`` or ``"z"``; default per format (``DEFAULT_UP``): y for
            GLB/glTF, z for OBJ and PLY.
        scene_id: name of the result (default: the file stem).
        scale: metres per file unit; ``None`` is 1 with a warning when the extent is implausible for a
            home (> 100 m or < 1 m); ``"auto"`` picks a unit (cm, mm, inch) that makes it plausible,
            with a warning saying which.
        texture: an image applied to the meshes that have uv coordinates but no texture (an OBJ
            whose ``.mtl`` is missing).

    Appearance: glTF ``baseColorTexture`` (times ``baseColorFactor``) and OBJ ``map_Kd`` images at
    the file's uv coordinates, base colours, and per-vertex (PLY, glTF ``COLOR_0``) or per-face
    colours. Labels: the label map by mesh/node name (so a map can correct a file's labels), then
    a mesh's glTF ``extras`` ``{"category": ...}``, then per-face ids (PLY face or vertex
    properties ``SEMANTIC_PROPS`` / ``INSTANCE_PROPS``, glTF vertex attributes ``_SEMANTIC`` /
    ``_INSTANCE``), which split a mesh into one instance per instance id (or per semantic id).
    """
    path = Path(path)
    tm = _load_trimesh_scene(path)
    up, scale = _import_args(path, up, scale)
    embedded = tm.metadata.get("navfusion") if isinstance(tm.metadata, dict) else None
    if labels is None and isinstance(embedded, dict) and embedded.get("format") == FORMAT and \
            scale in (None, 1, 1.0) and texture is None:
        return _scene_from_glb(tm, embedded, path)
    label_map, id_map = _read_label_map(labels)
    extra_tex = read_texture(texture) if texture is not None else None
    parts = _import_nodes(tm, path, up, label_map, id_map, extra_tex)
    _warn_labels(path, parts, label_map, id_map)
    _check_finite(parts.instances, floor_height, path)
    applied, _ = _apply_scale(parts.instances, scale, path)
    scene = Scene(scene_id or path.stem, parts.instances, materials=parts.materials,
                  metadata={"source": str(path), "imported": True, "up": up, "scale": applied},
                  textures=parts.textures)
    v_all, f_all, _ = scene.merged()
    scene.floor_height = float(floor_height) if floor_height is not None else estimate_floor_height(
        v_all.astype(np.float64), f_all)
    scene.validate()
    return scene


def _import_args(path: Path, up: str | None, scale: float | str | None) -> tuple[str, float | str | None]:
    """``up`` and ``scale`` of :func:`import_mesh` checked: (the up axis, with the format's default,
    and the scale as a number, ``"auto"`` or None)."""
    up = up or DEFAULT_UP.get(path.suffix.lower(), "z")
    if up not in ("y", "z"):
        raise NavFusionError(f"up={up!r}: must be 'y' or 'z'")
    if isinstance(scale, str) and scale != "auto":
        try:
            scale = float(scale)
        except ValueError:
            raise NavFusionError(f"scale={scale!r}: must be a positive number or 'auto'") from None
    if scale is not None and scale != "auto" and not (isinstance(scale, (int, float)) and 0 < scale < 1e6):
        raise NavFusionError(f"scale={scale!r}: must be a positive number or 'auto'")
    return up, scale


@dataclass
class _ImportedParts:
    """What :func:`import_mesh` builds from a file's mesh nodes, and the counts its warnings report."""

    instances: list[Instance] = field(default_factory=list)
    materials: dict[str, Material] = field(default_factory=dict)
    textures: dict[str, np.ndarray] = field(default_factory=dict)
    tex_key: dict[str, str] = field(default_factory=dict)  # image hash -> texture name
    unlabelled: int = 0
    unknown_ids: int = 0

    def add_texture(self, img: np.ndarray) -> str:
        """The name of image ``img`` (H, W, 3) uint8; meshes sharing an image share one texture."""
        key = sha256_bytes(str(img.shape).encode() + img.tobytes())
        if key not in self.tex_key:
            self.tex_key[key] = f"tex_{len(self.tex_key)}"
            self.textures[self.tex_key[key]] = img
        return self.tex_key[key]

    def add_material(self, color: tuple[float, float, float], image: str) -> str:
        """A new material (one per mesh node) of base ``color`` and texture name ``image``; returns its name."""
        mname = f"mat_{len(self.materials)}"
        self.materials[mname] = Material(mname, "plain", color, color, 0.25, image)
        return mname

    def add_instance(self, name: str, cat: str, material: str, v: np.ndarray, f: np.ndarray,
                     uv: np.ndarray | None, colors: np.ndarray | None) -> None:
        """Append an instance: vertices (V, 3) z-up, faces (F, 3), optional uv (V, 2) and colours (V, 3)."""
        self.instances.append(Instance(len(self.instances), name, cat, material, v, f.astype(np.int32), -1,
                                       None if uv is None else uv.astype(np.float32), colors))


def _import_nodes(tm, path: Path, up: str, label_map: dict[str, str], id_map: dict[int, str],
                  extra_tex: np.ndarray | None) -> _ImportedParts:
    """Instances, materials and textures of every mesh node of ``tm`` (see :func:`import_mesh`)."""
    parts = _ImportedParts()
    nodes = _nodes(tm)
    obj_names = _obj_names(path) if path.suffix.lower() == ".obj" else {}
    for node, gname, v, f, geom in nodes:
        also = obj_names.get(gname, [])
        if len(also) == 1:  # one OBJ object per material: name the instance after the object
            node = also[0]
        color, img_name, uv, vcol, fcol = _node_appearance(geom, len(v), extra_tex, parts)
        sem = _face_ids(geom, len(f), f, SEMANTIC_PROPS)
        ins = _face_ids(geom, len(f), f, INSTANCE_PROPS)
        if fcol is not None:
            v, f, uv = _deindex(v, f, uv)
            vcol = np.repeat(fcol, 3, axis=0)
        vz = _from_yup(v) if up == "y" else np.asarray(v, np.float32)
        cat = _node_category(label_map, geom, node, gname, *also)
        mname = parts.add_material(color, img_name)
        key = ins if ins is not None else sem
        if key is None or cat is not None:
            if cat is None:
                parts.unlabelled += 1
                cat = "misc"
            parts.add_instance(node, cat, mname, vz, f, uv, vcol)
        else:
            _add_face_id_instances(parts, node, mname, vz, f, key, sem, uv, vcol, id_map)
    return parts


def _node_appearance(geom, n_vertices: int, extra_tex: np.ndarray | None, parts: _ImportedParts
                     ) -> tuple[tuple[float, float, float], str, np.ndarray | None, np.ndarray | None,
                                np.ndarray | None]:
    """(base colour, texture name or "", uv (V, 2) or None, vertex colours (V, 3) or None, face
    colours (F, 3) or None) of a mesh node, its texture (or ``extra_tex``) added to ``parts``."""
    color, image, uv, vcol, fcol = _appearance(geom, n_vertices)
    if image is None and uv is not None and extra_tex is not None:
        image, color = extra_tex, (1.0, 1.0, 1.0)
    img_name = parts.add_texture(image if isinstance(image, np.ndarray) else _rgb_image(image)) \
        if image is not None else ""
    if not img_name:
        uv = None  # coordinates without an image add nothing
    if uv is not None:
        uv = np.round(uv * _UV_GRID) / _UV_GRID
    return color, img_name, uv, vcol, fcol


def _node_category(label_map: dict[str, str], geom, *names: str) -> str | None:
    """A mesh node's category: the label map's entry (name or pattern) for one of its ``names``, else
    its glTF ``extras`` ``{"category": ...}`` (checked), else None."""
    extras = getattr(geom, "metadata", None) or {}
    cat = _lookup(label_map, *names)
    if cat is None and isinstance(extras.get("category"), str):
        category(extras["category"])
        cat = extras["category"]
    return cat


def _add_face_id_instances(parts: _ImportedParts, node: str, material: str, v: np.ndarray, f: np.ndarray,
                           key: np.ndarray, sem: np.ndarray | None, uv: np.ndarray | None,
                           colors: np.ndarray | None, id_map: dict[int, str]) -> None:
    """Split a mesh by per-face ids ``key`` (F,) into one instance per id, named ``<node>_<id>``,
    with the category of its majority semantic id ``sem`` (F,) (``misc`` without one)."""
    for k, pv, pf, puv, pcol in _split_faces(v, f, key, uv, colors):
        if sem is not None:
            c = _majority_category(sem[key == k], id_map)
            if c is None:
                parts.unknown_ids += 1
                c = "misc"
        else:
            c, parts.unlabelled = "misc", parts.unlabelled + 1
        parts.add_instance(f"{node}_{k}", c, material, pv, pf, puv, pcol)


def _majority_category(sem: np.ndarray, id_map: dict[int, str]) -> str | None:
    """The category of the most frequent semantic id in ``sem``: through ``id_map`` when the label map
    has one, else as a navfusion id (0, void, counts as unknown); None when it names none."""
    ids, counts = np.unique(sem, return_counts=True)
    sid = int(ids[np.argmax(counts)])
    return id_map.get(sid) or (CATEGORY_BY_ID[sid].name if not id_map and sid in CATEGORY_BY_ID and sid else None)


def _warn_labels(path: Path, parts: _ImportedParts, label_map: dict[str, str], id_map: dict[int, str]) -> None:
    """Warn (for :func:`import_mesh`'s caller) about meshes that load as ``misc`` for want of a label."""
    if parts.unlabelled and not label_map:
        warnings.warn(f"{path}: no labels given; {parts.unlabelled} mesh(es) load as unlabelled ('misc'). "
                      "Pass a JSON label map (mesh name -> category) to label them.", stacklevel=3)
    elif parts.unlabelled:
        warnings.warn(f"{path}: {parts.unlabelled} of {len(parts.instances)} mesh(es) are not in the label map and "
                      "load as 'misc'", stacklevel=3)
    if parts.unknown_ids:
        warnings.warn(f"{path}: {parts.unknown_ids} instance(s) have semantic ids that are not "
                      f"{'in the label map' + chr(39) + 's ' + SEMANTIC_IDS_KEY if id_map else 'navfusion ids'}"
                      " and load as 'misc'", stacklevel=3)


#: Largest scene extent (metres, after scaling) the navigation grid is built for: an occupancy
#: raster of a larger one would not fit in memory.
MAX_EXTENT_M = 1000.0


def _check_finite(instances: list[Instance], floor_height: float | None, path: Path) -> None:
    if not instances:
        raise NavFusionError(f"mesh file {path} contains no triangle meshes (points or lines only?)")
    for inst in instances:
        bad = int((~np.isfinite(inst.vertices)).any(axis=1).sum())
        if bad:
            raise NavFusionError(f"{path}: mesh {inst.name!r} has {bad} vertices with NaN or inf coordinates")
    if floor_height is not None and not (isinstance(floor_height, (int, float)) and math.isfinite(floor_height)):
        raise NavFusionError(f"floor_height={floor_height!r}: must be a finite number (metres)")


def _apply_scale(instances: list[Instance], scale, path: Path) -> tuple[float, str]:
    """Scale every instance in place (``scale`` as in :func:`import_mesh`); returns (scale, reason).
    A scaled scene wider than ``MAX_EXTENT_M`` is refused."""
    allv = np.concatenate([i.vertices for i in instances]) if instances else np.zeros((0, 3), np.float32)
    guess, reason = plausible_scale(allv.astype(np.float64))
    if scale is None or scale == "auto":
        if reason and (scale is None or guess == 1.0):
            hint = f"; pass scale={guess:g} (--scale {guess:g}) or --scale auto" if guess != 1.0 else \
                "; pass scale (--scale) if the file is not in metres"
            warnings.warn(f"{path}: {reason}{hint}", stacklevel=3)
        k = guess if scale == "auto" else 1.0
        if scale == "auto" and guess != 1.0:
            warnings.warn(f"{path}: the extent {reason}: scaled by {guess:g} (pass scale=1 to keep file units)",
                          stacklevel=3)
    else:
        k = float(scale)
        after = plausible_scale(allv.astype(np.float64) * k)[1]
        if after:
            warnings.warn(f"{path}: after scale={k:g}, {after}", stacklevel=3)
    span = float((allv.max(0) - allv.min(0)).max()) * k if len(allv) else 0.0
    if not span < MAX_EXTENT_M:
        raise NavFusionError(f"{path}: the scene spans {span:.3g} m, more than the {MAX_EXTENT_M:.0f} m a navigation "
                             "grid is built for; give --scale (e.g. 0.01 for centimetres) or check the file")
    if k != 1.0:
        for inst in instances:
            inst.vertices = (np.asarray(inst.vertices, np.float64) * k).astype(np.float32)
    return k, reason


def _scene_from_glb(tm, labels: dict[str, Any], path: Path) -> Scene:
    """Rebuild a navfusion scene from a GLB and its label map (embedded or sidecar)."""
    by_name = {node: (v, f, g) for node, _, v, f, g in _nodes(tm)}
    try:
        materials = {m["name"]: Material.from_json(m) for m in labels.get("materials", [])}
        instances, textures = [], {}
        for d in labels["instances"]:
            if d["name"] not in by_name:
                raise NavFusionError(f"{path}: instance {d['name']!r} of the label map is missing from the GLB")
            v, f, geom = by_name[d["name"]]
            uv = colors = None
            if d.get("uv") or d.get("colors"):
                vis = geom.visual
                if d.get("uv"):
                    uv = np.asarray(vis.uv, np.float32)
                    image = materials[d["material"]].image
                    tex = getattr(getattr(vis, "material", None), "baseColorTexture", None)
                    if image and image not in textures and tex is not None:
                        textures[image] = _rgb_image(tex)
                if d.get("colors"):
                    c = (getattr(vis, "vertex_attributes", None) or {}).get("color")
                    c = np.asarray(vis.vertex_colors if c is None else c)
                    colors = np.ascontiguousarray(c[:, :3], np.uint8)
            instances.append(Instance(int(d["id"]), d["name"], d["category"], d["material"], _from_yup(v),
                                      f.astype(np.int32), int(d.get("room", -1)), uv, colors))
        ceiling = labels.get("ceiling_height")
        scene = Scene(labels.get("scene_id", path.stem), instances,
                      [Room.from_json(r) for r in labels.get("rooms", [])], materials,
                      float(labels.get("floor_height", 0.0)), float("inf") if ceiling is None else float(ceiling),
                      dict(labels.get("metadata", {})), textures)
    except (KeyError, TypeError, ValueError) as e:
        raise NavFusionError(f"{path}: malformed navfusion label map ({type(e).__name__}: {e})") from None
    scene.validate()
    return scene


def load_scene_file(path: str | os.PathLike) -> Scene:
    """Load a saved scene from its ``.glb`` or ``.json`` sidecar (the other file is found next to it)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        labels = read_json(path, "scene file")
        if not isinstance(labels, dict) or labels.get("format") != FORMAT:
            raise NavFusionError(f"{path} is not a navfusion scene file (expected \"format\": \"{FORMAT}\")")
        glb = path.parent / str(labels.get("glb", path.with_suffix(".glb").name))
        return _scene_from_glb(_load_trimesh_scene(glb), labels, glb)
    if path.suffix.lower() == ".glb":
        tm = _load_trimesh_scene(path)
        side = path.with_suffix(".json")
        if side.is_file():
            labels = read_json(side, "scene file")
            if isinstance(labels, dict) and labels.get("format") == FORMAT:
                return _scene_from_glb(tm, labels, path)
        embedded = tm.metadata.get("navfusion") if isinstance(tm.metadata, dict) else None
        if isinstance(embedded, dict) and embedded.get("format") == FORMAT:
            return _scene_from_glb(tm, embedded, path)
        return import_mesh(path)
    if not path.exists():
        raise NavFusionError(f"scene file not found: {path}")
    return import_mesh(path)


def load_any(path: str | os.PathLike, labels=None, floor_height: float | None = None,
             scale: float | str | None = None, up: str | None = None) -> Scene:
    """A saved navfusion scene, or an external mesh imported with ``labels``, ``scale`` and ``up``
    (folder suites; see :func:`import_mesh`)."""
    path = Path(path)
    if labels is None:
        side = path.parent / f"{path.stem}.labels.json"
        labels = side if side.is_file() else None
    if labels is None and path.suffix.lower() in (".glb", ".json") and scale in (None, 1, 1.0):
        scene = load_scene_file(path) if up is None else import_mesh(path, up=up)
        if floor_height is not None:
            scene.floor_height = float(floor_height)
        return scene
    return import_mesh(path, labels=labels, floor_height=floor_height, scale=scale, up=up)


# ----------------------------------------------------------------------------- placing objects


def place_object(scene: Scene, mesh_path: str | os.PathLike, category_name: str, position, yaw: float = 0.0,
                 scale: float = 1.0, up: str | None = None) -> Scene:
    """A copy of ``scene`` with a third-party mesh (OBJ/GLB/PLY) added as one new instance.

    The mesh is centred on its footprint, stood on ``z = 0`` of its own frame, scaled, turned by
    ``yaw`` (radians, counter-clockwise from above) and moved to ``position`` = (x, y) on the floor or
    (x, y, z).
    """
    category(category_name)
    if not (isinstance(scale, (int, float)) and 0 < scale < 1000):
        raise NavFusionError(f"scale={scale!r}: must be a positive number")
    pos = np.asarray(position, np.float64).ravel()
    if pos.shape not in ((2,), (3,)) or not np.isfinite(pos).all():
        raise NavFusionError(f"position={position!r}: must be (x, y) or (x, y, z)")
    if pos.shape == (2,):
        pos = np.array([pos[0], pos[1], scene.floor_height])
    obj = import_mesh_quiet(Path(mesh_path), up)
    v, f, _ = obj.merged()
    v = v.astype(np.float64)
    lo, hi = v.min(0), v.max(0)
    v = (v - np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])) * scale
    c, s = math.cos(yaw), math.sin(yaw)
    v = v @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + pos
    out = copy.copy(scene)
    out.instances = list(scene.instances)
    out.materials = dict(scene.materials)
    out.metadata = copy.deepcopy(scene.metadata)
    new_id = max((i.id for i in scene.instances), default=-1) + 1
    k = sum(1 for i in scene.instances if i.category == category_name)
    mat = f"placed_{new_id}"
    out.materials[mat] = Material(mat, "plain", next(iter(obj.materials.values())).color if obj.materials else
                                  (0.7, 0.7, 0.7))
    room = -1
    for r in scene.rooms:
        from matplotlib.path import Path as MPath

        if MPath(np.asarray(r.polygon)).contains_point(pos[:2]):
            room = r.id
            break
    out.instances.append(Instance(new_id, f"{category_name}_placed_{k}", category_name, mat, v.astype(np.float32),
                                  f.astype(np.int32), room))
    out.metadata.setdefault("placed_objects", []).append(
        {"instance": new_id, "source": str(mesh_path), "position": pos.tolist(), "yaw": float(yaw), "scale": scale})
    out.validate()
    return out


def import_mesh_quiet(path: Path, up: str | None = None) -> Scene:
    """Import a mesh without the unlabelled warning (for single objects whose category is given)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_mesh(path, up=up, floor_height=0.0, scale=1.0)

