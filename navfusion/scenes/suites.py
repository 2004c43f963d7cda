"""Environment suites: YAML files in ``envs/`` naming a scene distribution and its splits.

A *procedural* suite names a generator config and, per split, a seed range; every shipped suite
uses its own block of global seeds so no scene is shared between splits or suites::

    name: tiny
    kind: procedural          # the default
    generator: {rooms: [2, 3], room_size: [2.6, 4.5]}
    splits:
      pretrain: {start: 1000000, count: 4}
      train:    {start: 1100000, count: 3}

A *folder* suite is a folder of mesh scenes (GLB/OBJ/PLY, or saved navfusion scenes) with
per-split file lists or a split rule (fractions; files are assigned by a hash of their name)::

    name: myscans
    kind: folder
    path: ../scans            # relative to this YAML file
    labels: labels.json       # optional label map for all files (else <file stem>.labels.json)
    scale: 0.01               # optional: metres per file unit, or auto (see scenes.io.import_mesh)
    up: y                     # optional: the files' up axis (default per format: y glTF, z OBJ/PLY)
    splits: {train: {files: [a.glb, b.glb]}, test: {files: [c.glb]}}
    # or: split_rule: {train: 0.8, test: 0.2}

``load_scene("tiny/train/0")`` generates (or imports) the scene, memoised in-process and cached on
disk under ``cache_root()/scenes/`` with a content hash (a corrupt cache file is regenerated).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.cache_layout import scenes_dir
from navfusion.common import SPLITS, SceneId, suggest
from navfusion.config import from_dict, load_yaml, repo_root
from navfusion.errors import ConfigError, NavFusionError
from navfusion.io import atomic_save_npz, hash_jsonable
from navfusion.scenes.generator import GENERATOR_VERSION, SceneConfig, generate_scene
from navfusion.scenes.io import scene_labels_json
from navfusion.scenes.scene import Instance, Material, Room, Scene

_MESH_EXTS = (".glb", ".gltf", ".obj", ".ply")  # a saved scene's .json sidecar goes with its .glb
_TOP_FIELDS = ("name", "kind", "description", "generator", "splits", "path", "labels", "split_rule", "task",
               "floor_height", "scale", "up")


@dataclass
class Split:
    """One split: a seed range (procedural suites) or a list of files (folder suites)."""

    name: str
    start: int = 0
    count: int = 0
    files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files) if self.files else self.count


@dataclass
class Suite:
    """A named scene distribution with splits.

    Attributes:
        name: suite name (the first part of scene ids).
        kind: ``"procedural"`` or ``"folder"``.
        splits: split name -> :class:`Split` (iterating gives the split names).
        generator: the generator config (procedural suites).
        folder: the scene folder (folder suites).
        labels: a label-map file for folder suites, or None.
        task: free-form task settings for the environment (read by ``navfusion.nav``).
        path: the YAML file.
    """

    name: str
    kind: str
    splits: dict[str, Split]
    generator: SceneConfig | None = None
    folder: Path | None = None
    labels: Path | None = None
    task: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None
    floor_height: float | None = None
    scale: float | str | None = None
    up: str | None = None

    def _split(self, split: str) -> Split:
        if split not in self.splits:
            raise NavFusionError(f"suite {self.name!r} has no split {split!r}; splits: {', '.join(self.splits)}."
                                 f"{suggest(split, self.splits)}")
        return self.splits[split]

    def scene_ids(self, split: str) -> list[SceneId]:
        """The scenes of ``split``, in index order."""
        return [SceneId(self.name, split, i) for i in range(len(self._split(split)))]

    def seed(self, split: str, index: int) -> int:
        """The generator seed of scene ``index`` of ``split`` (procedural suites)."""
        sp = self._split(split)
        self._check_index(sp, index)
        return sp.start + index

    def scene_file(self, split: str, index: int) -> Path:
        """The mesh file of scene ``index`` of ``split`` (folder suites)."""
        sp = self._split(split)
        self._check_index(sp, index)
        assert self.folder is not None
        return self.folder / sp.files[index]

    def _check_index(self, sp: Split, index: int) -> None:
        if not 0 <= index < len(sp):
            raise NavFusionError(f"suite {self.name!r} split {sp.name!r} has {len(sp)} scenes (0..{len(sp) - 1}); "
                                 f"no index {index}")

    def fingerprint(self) -> str:
        """Hash of what defines this suite's scenes: generator config and the generator's source code
        (so a changed generator never serves stale cached scenes)."""
        gen = self.generator.to_json() if self.generator else None
        return hash_jsonable({"v": GENERATOR_VERSION, "src": _generator_source_hash(), "generator": gen,
                              "kind": self.kind})


_SRC_HASH: str | None = None


def _generator_source_hash() -> str:
    global _SRC_HASH
    if _SRC_HASH is None:
        here = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for name in ("generator.py", "floorplan.py", "furniture.py", "materials.py", "meshes.py", "scene.py"):
            f = here / name
            h.update(f.read_bytes() if f.is_file() else name.encode())
        _SRC_HASH = h.hexdigest()
    return _SRC_HASH


# ----------------------------------------------------------------------------- loading suites

_REGISTRY: dict[str, Suite] = {}


def suites_dir() -> Path:
    """The folder of shipped suites (``envs/`` at the repository root)."""
    return repo_root() / "envs"


def list_suites() -> list[str]:
    """Names of the shipped suites plus those loaded from other paths in this process."""
    names = {p.stem for p in suites_dir().glob("*.yaml")} if suites_dir().is_dir() else set()
    return sorted(names | set(_REGISTRY))


def _parse_split(name: str, spec: Any, where: str) -> Split:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: splits.{name} must be a mapping like {{start: 100, count: 4}} or {{files: [...]}}")
    unknown = [k for k in spec if k not in ("start", "count", "files")]
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} in splits.{name}; allowed: start, count, files."
                          f"{suggest(unknown[0], ('start', 'count', 'files'))}")
    if "files" in spec:
        files = spec["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ConfigError(f"{where}: splits.{name}.files must be a list of file names")
        return Split(name, files=list(files))
    start, count = spec.get("start"), spec.get("count")
    for k, v in (("start", start), ("count", count)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ConfigError(f"{where}: splits.{name}.{k}={v!r}: must be a non-negative integer")
    return Split(name, start=int(start), count=int(count))


def _suite_from_yaml(path: Path) -> Suite:
    where = str(path)
    data = load_yaml(path, "suite file")
    unknown = [k for k in data if k not in _TOP_FIELDS]
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(_TOP_FIELDS)}."
                          f"{suggest(unknown[0], _TOP_FIELDS)}")
    name = str(data.get("name", path.stem))
    kind = data.get("kind", "procedural")
    if kind not in ("procedural", "folder"):
        raise ConfigError(f"{where}: kind={kind!r}: must be 'procedural' or 'folder'")
    task = data.get("task") or {}
    if not isinstance(task, dict):
        raise ConfigError(f"{where}: task must be a mapping")
    raw_splits = data.get("splits") or {}
    if not isinstance(raw_splits, dict):
        raise ConfigError(f"{where}: splits must be a mapping from split name to its spec")
    for s in raw_splits:
        if s not in SPLITS:
            raise ConfigError(f"{where}: unknown split {s!r}; allowed: {', '.join(SPLITS)}.{suggest(s, SPLITS)}")
    suite = Suite(name=name, kind=kind, splits={}, task=dict(task), description=str(data.get("description", "")),
                  path=path)
    if kind == "procedural":
        for k in ("path", "labels", "split_rule", "scale", "up"):
            if k in data:
                raise ConfigError(f"{where}: field {k!r} is only for kind: folder")
        suite.generator = from_dict(SceneConfig, data.get("generator") or {}, where=f"{where}: generator")
        suite.splits = {s: _parse_split(s, spec, where) for s, spec in raw_splits.items()}
        for s, sp in suite.splits.items():
            if sp.files:
                raise ConfigError(f"{where}: splits.{s}: a procedural suite takes start/count, not files")
        _check_disjoint(suite, where)
        return suite
    # folder suite
    if "generator" in data:
        raise ConfigError(f"{where}: field 'generator' is only for kind: procedural")
    if "path" not in data:
        raise ConfigError(f"{where}: a folder suite needs 'path' (the folder of mesh files)")
    folder = (path.parent / str(data["path"])).resolve()
    if not folder.is_dir():
        raise NavFusionError(f"{where}: scene folder not found: {folder}")
    suite.folder = folder
    if data.get("labels"):
        suite.labels = (path.parent / str(data["labels"])).resolve()
    if data.get("floor_height") is not None:
        suite.floor_height = float(data["floor_height"])
    if data.get("scale") is not None:
        sc = data["scale"]
        if not (sc == "auto" or (isinstance(sc, (int, float)) and not isinstance(sc, bool) and sc > 0)):
            raise ConfigError(f"{where}: scale={sc!r}: must be a positive number (metres per file unit) or auto")
        suite.scale = sc
    if data.get("up") is not None:
        if data["up"] not in ("y", "z"):
            raise ConfigError(f"{where}: up={data['up']!r}: must be y or z")
        suite.up = str(data["up"])
    if raw_splits:
        suite.splits = {s: _parse_split(s, spec, where) for s, spec in raw_splits.items()}
        for s, sp in suite.splits.items():
            if not sp.files:
                raise ConfigError(f"{where}: splits.{s}: a folder suite lists files")
            for f in sp.files:
                if not (folder / f).is_file():
                    raise NavFusionError(f"{where}: splits.{s}: file not found: {folder / f}")
    elif data.get("split_rule"):
        rule = data["split_rule"]
        if not isinstance(rule, dict) or not all(k in SPLITS for k in rule) or \
                not all(isinstance(v, (int, float)) and v >= 0 for v in rule.values()) or sum(rule.values()) <= 0:
            raise ConfigError(f"{where}: split_rule must map split names ({', '.join(SPLITS)}) to fractions")
        files = sorted(p.name for p in folder.iterdir()
                       if p.suffix.lower() in _MESH_EXTS)
        total = float(sum(rule.values()))
        edges = np.cumsum([v / total for v in rule.values()])
        suite.splits = {s: Split(s, files=[]) for s in rule}
        for f in files:
            u = int(hashlib.sha256(f.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            k = min(int(np.searchsorted(edges, u, side="right")), len(edges) - 1)
            suite.splits[list(rule)[k]].files.append(f)
    else:
        raise ConfigError(f"{where}: a folder suite needs 'splits' (file lists) or 'split_rule'")
    _check_disjoint(suite, where)
    return suite


def _check_disjoint(suite: Suite, where: str) -> None:
    seen: dict[Any, str] = {}
    for s, sp in suite.splits.items():
        keys = sp.files if sp.files else range(sp.start, sp.start + sp.count)
        for k in keys:
            if k in seen:
                raise ConfigError(f"{where}: splits {seen[k]!r} and {s!r} overlap (scene {k!r}); "
                                  "splits must be disjoint")
            seen[k] = s


#: Suites loaded from a path, as ``name=path`` entries separated by ``os.pathsep``: child processes
#: (feature builders, vector envs, evaluation pools) inherit it and resolve the suite's scene ids.
SUITE_PATHS_ENV = "NAVFUSION_SUITE_PATHS"


def _remembered_paths() -> dict[str, str]:
    out = {}
    for entry in os.environ.get(SUITE_PATHS_ENV, "").split(os.pathsep):
        name, sep, path = entry.partition("=")
        if sep and name:
            out[name] = path
    return out


def _remember_path(name: str, path: Path) -> None:
    known = _remembered_paths()
    if known.get(name) != str(path):
        known[name] = str(path)
        os.environ[SUITE_PATHS_ENV] = os.pathsep.join(f"{k}={v}" for k, v in known.items())


def load_suite(name_or_path: str | os.PathLike | Suite) -> Suite:
    """Load a suite by name (``envs/<name>.yaml``) or from a YAML path.

    Unknown names raise with suggestions and the list of known suites; malformed YAML or an unknown
    field raises naming the file and the field. A suite loaded from a path is remembered by name so
    its scene ids resolve later in this process and in the processes it starts (``SUITE_PATHS_ENV``).
    """
    if isinstance(name_or_path, Suite):
        return name_or_path
    text = str(name_or_path)
    p = Path(text).expanduser()
    if p.suffix in (".yaml", ".yml") or os.sep in text or p.is_file():
        if not p.is_file():
            raise NavFusionError(f"suite file not found: {p}")
        suite = _suite_from_yaml(p.resolve())
        _REGISTRY[suite.name] = suite
        _remember_path(suite.name, p.resolve())
        return suite
    if text in _REGISTRY:
        return _REGISTRY[text]
    remembered = _remembered_paths().get(text)
    if remembered is not None and Path(remembered).is_file():  # loaded by path in a parent process
        suite = _suite_from_yaml(Path(remembered))
        _REGISTRY[text] = suite
        return suite
    shipped = suites_dir() / f"{text}.yaml"
    if not shipped.is_file():
        known = list_suites()
        raise NavFusionError(f"unknown suite {text!r}; known suites: {', '.join(known) or '(none)'}."
                             f"{suggest(text, known)}")
    suite = _suite_from_yaml(shipped)
    if suite.name != text:
        raise ConfigError(f"{shipped}: name={suite.name!r} must match the file name {text!r}")
    _REGISTRY[text] = suite
    return suite


# ----------------------------------------------------------------------------- scene cache

_MEMO: dict[tuple[str, str], Scene] = {}


def scene_to_npz_arrays(scene: Scene) -> dict[str, np.ndarray]:
    """A scene as arrays for an ``.npz`` (geometry concatenated, everything else as a JSON string)."""
    meta = {**scene_labels_json(scene), "content_hash": scene.content_hash()}
    return {
        "vertices": np.concatenate([np.asarray(i.vertices, np.float32) for i in scene.instances]),
        "faces": np.concatenate([np.asarray(i.faces, np.int32) for i in scene.instances]),
        "vcount": np.array([len(i.vertices) for i in scene.instances], np.int64),
        "fcount": np.array([len(i.faces) for i in scene.instances], np.int64),
        "meta": np.array(json.dumps(meta, default=_jsonable)),
    }


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def scene_from_npz_arrays(arrays) -> Scene:
    """Inverse of :func:`scene_to_npz_arrays`; raises ``ValueError`` if the content hash does not match."""
    meta = json.loads(str(arrays["meta"]))
    v, f = arrays["vertices"], arrays["faces"]
    vo = np.concatenate([[0], np.cumsum(arrays["vcount"])])
    fo = np.concatenate([[0], np.cumsum(arrays["fcount"])])
    instances = [Instance(d["id"], d["name"], d["category"], d["material"], np.array(v[vo[k]:vo[k + 1]]),
                          np.array(f[fo[k]:fo[k + 1]]), d["room"]) for k, d in enumerate(meta["instances"])]
    scene = Scene(meta["scene_id"], instances, [Room.from_json(r) for r in meta["rooms"]],
                  {m["name"]: Material.from_json(m) for m in meta["materials"]}, float(meta["floor_height"]),
                  float("inf") if meta["ceiling_height"] is None else float(meta["ceiling_height"]), meta["metadata"])
    if scene.content_hash() != meta["content_hash"]:
        raise ValueError("content hash mismatch")
    return scene


def _cache_file(suite: Suite, sid: SceneId) -> Path:
    return scenes_dir() / f"{sid.slug}-{suite.fingerprint()[:12]}-{suite.seed(sid.split, sid.index)}.npz"


def load_scene(scene_id: str | SceneId) -> Scene:
    """The scene ``<suite>/<split>/<index>``: generated (procedural suites) or imported (folder suites).

    Memoised in-process; procedural scenes are also cached on disk under ``cache_root()/scenes``.
    Callers must not modify the returned scene in place (copy it first).
    """
    sid = scene_id if isinstance(scene_id, SceneId) else SceneId.parse(str(scene_id))
    suite = load_suite(sid.suite)
    if suite.kind == "folder":
        key = (str(sid), str(suite.folder))
        if key not in _MEMO:
            from navfusion.scenes.io import load_any

            scene = load_any(suite.scene_file(sid.split, sid.index), labels=suite.labels,
                             floor_height=suite.floor_height, scale=suite.scale, up=suite.up)
            scene.scene_id = str(sid)
            _MEMO[key] = scene
        return _MEMO[key]
    seed = suite.seed(sid.split, sid.index)
    key = (str(sid), suite.fingerprint())
    if key in _MEMO:
        return _MEMO[key]
    path = _cache_file(suite, sid)
    scene = None
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                scene = scene_from_npz_arrays(z)
        except Exception:  # corrupt or stale cache file: regenerate below
            scene = None
    if scene is None:
        assert suite.generator is not None
        scene = generate_scene(suite.generator, seed, scene_id=str(sid))
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            atomic_save_npz(path, **scene_to_npz_arrays(scene))
    _MEMO[key] = scene
    return scene


def clear_memo() -> None:
    """Forget in-process memoised scenes and loaded suites (tests)."""
    _MEMO.clear()
    _REGISTRY.clear()
