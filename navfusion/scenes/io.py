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
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.common import category
from navfusion.errors import NavFusionError
from navfusion.io import atomic_path, read_json, sha256_file
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
        "instances": [{"id": i.id, "name": i.name, "category": i.category, "material": i.material, "room": i.room}
                      for i in scene.instances],
        "materials": [m.to_json() for m in scene.materials.values()],
        "rooms": [r.to_json() for r in scene.rooms],
        "floor_height": scene.floor_height,
        "ceiling_height": scene.ceiling_height if np.isfinite(scene.ceiling_height) else None,
        "metadata": scene.metadata,
    }


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
    for inst in scene.instances:
        mat = scene.materials.get(inst.material)
        color = [*(mat.color if mat else (0.8, 0.8, 0.8)), 1.0]
        mesh = trimesh.Trimesh(_to_yup(inst.vertices), np.asarray(inst.faces, np.int64), process=False)
        mesh.visual = trimesh.visual.TextureVisuals(
            material=trimesh.visual.material.PBRMaterial(name=inst.material, baseColorFactor=color,
                                                         metallicFactor=0.0, roughnessFactor=0.9))
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
    except Exception:
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


def _read_label_map(labels) -> dict[str, str]:
    if labels is None:
        return {}
    if isinstance(labels, dict):
        data = labels
    else:
        data = read_json(labels, "label map")
    if isinstance(data, dict) and "instances" in data and isinstance(data["instances"], list):
        data = {d["name"]: d["category"] for d in data["instances"] if isinstance(d, dict) and "name" in d}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise NavFusionError(f"label map {labels}: expected a JSON object mapping mesh/instance names to categories")
    for k, v in data.items():
        try:
            category(v)
        except NavFusionError as e:
            raise NavFusionError(f"label map {labels if not isinstance(labels, dict) else ''}: entry {k!r}: {e}"
                                 ) from None
    return dict(data)


def _lookup(label_map: dict[str, str], *names: str) -> str | None:
    for n in names:
        if n in label_map:
            return label_map[n]
    for pattern, cat in label_map.items():
        if any(ch in pattern for ch in "*?[") and any(fnmatch.fnmatchcase(n, pattern) for n in names):
            return cat
    return None


def import_mesh(path: str | os.PathLike, labels: str | os.PathLike | dict | None = None,
                floor_height: float | None = None, up: str | None = None, scene_id: str | None = None) -> Scene:
    """Load an external mesh scene (GLB/glTF/OBJ/PLY) as a :class:`Scene`.

    Args:
        path: the mesh file.
        labels: a JSON file (or dict) mapping mesh/node names (or ``fnmatch`` patterns) to categories;
            a navfusion sidecar JSON works too. Without it a navfusion GLB keeps its embedded labels,
            and any other mesh loads unlabelled (``misc``) with a warning.
        floor_height: z of the walkable floor; estimated from upward-facing surfaces when None.
        up: the file's up axis, ``"y"`` (glTF convention, the default for GLB/glTF) or ``"z"``
            (the default for OBJ/PLY).
        scene_id: name of the result (default: the file stem).
    """
    path = Path(path)
    tm = _load_trimesh_scene(path)
    up = up or ("y" if path.suffix.lower() in (".glb", ".gltf") else "z")
    if up not in ("y", "z"):
        raise NavFusionError(f"up={up!r}: must be 'y' or 'z'")
    embedded = tm.metadata.get("navfusion") if isinstance(tm.metadata, dict) else None
    if labels is None and isinstance(embedded, dict) and embedded.get("format") == FORMAT:
        return _scene_from_glb(tm, embedded, path)
    label_map = _read_label_map(labels)
    nodes = _nodes(tm)
    instances, materials = [], {}
    unlabelled = 0
    for k, (node, gname, v, f, geom) in enumerate(nodes):
        cat = _lookup(label_map, node, gname)
        if cat is None:
            unlabelled += 1
            cat = "misc"
        vz = _from_yup(v) if up == "y" else np.asarray(v, np.float32)
        mname = f"mat_{k}"
        materials[mname] = Material(mname, "plain", _color_of(geom), _color_of(geom), 0.25)
        instances.append(Instance(k, node, cat, mname, vz, f.astype(np.int32), -1))
    if unlabelled and not label_map:
        warnings.warn(f"{path}: no labels given; {unlabelled} mesh(es) load as unlabelled ('misc'). "
                      "Pass a JSON label map (mesh name -> category) to label them.", stacklevel=2)
    elif unlabelled:
        warnings.warn(f"{path}: {unlabelled} of {len(instances)} mesh(es) are not in the label map and load "
                      "as 'misc'", stacklevel=2)
    scene = Scene(scene_id or path.stem, instances, materials=materials,
                  metadata={"source": str(path), "imported": True})
    v_all, f_all, _ = scene.merged()
    scene.floor_height = float(floor_height) if floor_height is not None else estimate_floor_height(
        v_all.astype(np.float64), f_all)
    scene.validate()
    return scene


def _scene_from_glb(tm, labels: dict[str, Any], path: Path) -> Scene:
    """Rebuild a navfusion scene from a GLB and its label map (embedded or sidecar)."""
    by_name = {node: (v, f) for node, _, v, f, _ in _nodes(tm)}
    try:
        instances = []
        for d in labels["instances"]:
            if d["name"] not in by_name:
                raise NavFusionError(f"{path}: instance {d['name']!r} of the label map is missing from the GLB")
            v, f = by_name[d["name"]]
            instances.append(Instance(int(d["id"]), d["name"], d["category"], d["material"], _from_yup(v),
                                      f.astype(np.int32), int(d.get("room", -1))))
        ceiling = labels.get("ceiling_height")
        scene = Scene(labels.get("scene_id", path.stem), instances,
                      [Room.from_json(r) for r in labels.get("rooms", [])],
                      {m["name"]: Material.from_json(m) for m in labels.get("materials", [])},
                      float(labels.get("floor_height", 0.0)), float("inf") if ceiling is None else float(ceiling),
                      dict(labels.get("metadata", {})))
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


def load_any(path: str | os.PathLike, labels=None, floor_height: float | None = None) -> Scene:
    """A saved navfusion scene, or an external mesh imported with ``labels`` (folder suites)."""
    path = Path(path)
    if labels is None:
        side = path.parent / f"{path.stem}.labels.json"
        labels = side if side.is_file() else None
    if labels is None and path.suffix.lower() in (".glb", ".json"):
        scene = load_scene_file(path)
        if floor_height is not None:
            scene.floor_height = float(floor_height)
        return scene
    return import_mesh(path, labels=labels, floor_height=floor_height)


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
        return import_mesh(path, up=up, floor_height=0.0)

