"""The scene data model: pure data, no rendering or generation logic.

World frame: metres, ``+z`` up, the floor at ``z = floor_height`` (0 for generated scenes),
``+x`` east and ``+y`` north (move k of the agent points at angle ``k * 45°`` from ``+x``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from navfusion.common import CATEGORIES, category_id
from navfusion.io import hash_arrays, hash_jsonable

#: Procedural texture kinds understood by every renderer backend (see ``navfusion.render.shading``).
TEXTURE_KINDS: tuple[str, ...] = ("plain", "wood", "tiles", "fabric", "wall", "marble", "metal", "carpet")


@dataclass
class Material:
    """A procedural or image-textured material.

    Attributes:
        name: unique within the scene.
        texture: one of ``TEXTURE_KINDS``; the pattern is computed from world position at render time.
        color: base RGB in [0, 1] (with ``image``: the factor the image is multiplied by).
        color2: secondary RGB in [0, 1] (grain, grout, weave, noise).
        scale: pattern period in metres.
        image: name of an image in ``Scene.textures`` sampled at the instance's ``uv`` (imported
            meshes: glTF ``baseColorTexture``, OBJ ``map_Kd``); ``""`` for procedural materials,
            whose ``texture`` pattern is then ignored.
    """

    name: str
    texture: str = "plain"
    color: tuple[float, float, float] = (0.8, 0.8, 0.8)
    color2: tuple[float, float, float] = (0.6, 0.6, 0.6)
    scale: float = 0.25
    image: str = ""

    def to_json(self) -> dict[str, Any]:
        d = {"name": self.name, "texture": self.texture, "color": list(self.color),
             "color2": list(self.color2), "scale": self.scale}
        if self.image:  # only when set: procedural scenes keep their JSON and content hashes
            d["image"] = self.image
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Material:
        return cls(d["name"], d.get("texture", "plain"), tuple(d.get("color", (0.8,) * 3)),
                   tuple(d.get("color2", (0.6,) * 3)), float(d.get("scale", 0.25)), str(d.get("image", "")))


@dataclass
class Instance:
    """One object or structural element with its own triangle mesh.

    Attributes:
        id: instance id (>= 0, unique in the scene); written into the ``instance`` render buffer.
        name: human-readable name, e.g. ``"chair_3"``.
        category: a name from ``navfusion.common.CATEGORIES``.
        material: name of a ``Material`` of the scene.
        vertices: (V, 3) float32 world coordinates.
        faces: (F, 3) int32 vertex indices, counter-clockwise seen from outside.
        room: id of the room it stands in, or -1.
        uv: (V, 2) float32 texture coordinates (``u`` right, ``v`` up, image row 0 at ``v = 1``,
            repeating outside [0, 1]) when the material has an ``image``, else None.
        colors: (V, 3) uint8 per-vertex colours (scans) multiplying the material's colour, or None.
    """

    id: int
    name: str
    category: str
    material: str
    vertices: np.ndarray
    faces: np.ndarray
    room: int = -1
    uv: np.ndarray | None = None
    colors: np.ndarray | None = None

    @property
    def semantic_id(self) -> int:
        return category_id(self.category)

    def bounds(self) -> np.ndarray:
        """(2, 3) axis-aligned bounding box ``[min, max]``."""
        return np.stack([self.vertices.min(0), self.vertices.max(0)])


@dataclass
class Room:
    """A room: type (``navfusion.common.ROOM_TYPES``) and floor polygon (P, 2) counter-clockwise."""

    id: int
    type: str
    polygon: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "polygon": np.asarray(self.polygon).tolist()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Room:
        return cls(int(d["id"]), str(d["type"]), np.asarray(d["polygon"], dtype=np.float64))


@dataclass
class Scene:
    """A 3D indoor scene.

    Attributes:
        scene_id: ``<suite>/<split>/<index>`` for generated scenes, or a free name for imports.
        instances: every mesh of the scene, structure (wall/floor/ceiling) included.
        rooms: room polygons (empty for imported scenes without room info).
        materials: materials by name.
        floor_height: z of the walkable floor.
        ceiling_height: z of the ceiling (``inf`` if none).
        metadata: free-form JSON-able data (generator config, seed, source file).
        textures: images of image-textured materials by name, (H, W, 3) uint8, row 0 at the top
            (empty for generated scenes).
    """

    scene_id: str
    instances: list[Instance]
    rooms: list[Room] = field(default_factory=list)
    materials: dict[str, Material] = field(default_factory=dict)
    floor_height: float = 0.0
    ceiling_height: float = float("inf")
    metadata: dict[str, Any] = field(default_factory=dict)
    textures: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_triangles(self) -> int:
        return int(sum(len(i.faces) for i in self.instances))

    def bounds(self) -> np.ndarray:
        """(2, 3) axis-aligned bounding box of all geometry."""
        b = np.stack([i.bounds() for i in self.instances])
        return np.stack([b[:, 0].min(0), b[:, 1].max(0)])

    def instances_of(self, category: str) -> list[Instance]:
        """All instances of a category."""
        return [i for i in self.instances if i.category == category]

    def categories(self) -> set[str]:
        return {i.category for i in self.instances}

    def merged_appearance(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-vertex appearance in :meth:`merged` vertex order: uv (V, 2) float32 (0 where an
        instance has none) and colours (V, 3) uint8 (255 where an instance has none)."""
        uv, col = [], []
        for inst in self.instances:
            n = len(inst.vertices)
            uv.append(np.zeros((n, 2), np.float32) if inst.uv is None else np.asarray(inst.uv, np.float32))
            col.append(np.full((n, 3), 255, np.uint8) if inst.colors is None else np.asarray(inst.colors, np.uint8))
        return np.concatenate(uv), np.concatenate(col)

    def merged(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All geometry in one mesh.

        Returns:
            vertices (V, 3) float32, faces (F, 3) int32, face_instance (F,) int32 — the index into
            ``self.instances`` of each face's instance.
        """
        verts, faces, owner, off = [], [], [], 0
        for k, inst in enumerate(self.instances):
            verts.append(np.asarray(inst.vertices, np.float32))
            faces.append(np.asarray(inst.faces, np.int64) + off)
            owner.append(np.full(len(inst.faces), k, np.int32))
            off += len(inst.vertices)
        return (np.concatenate(verts), np.concatenate(faces).astype(np.int32), np.concatenate(owner))

    @property
    def has_appearance(self) -> bool:
        """Whether any instance carries texture coordinates or vertex colours (imported meshes)."""
        return any(i.uv is not None or i.colors is not None for i in self.instances)

    def content_hash(self) -> str:
        """sha256 over all geometry, labels, materials, rooms and textures; equal scenes hash equal."""
        parts = []
        for inst in self.instances:
            parts += [np.asarray(inst.vertices, np.float32), np.asarray(inst.faces, np.int32)]
            # appearance arrays only where present: scenes without them hash as they always did
            if inst.uv is not None:
                parts += [np.asarray(inst.uv, np.float32)]
            if inst.colors is not None:
                parts += [np.asarray(inst.colors, np.uint8)]
        for name in sorted(self.textures):
            parts += [np.asarray(self.textures[name], np.uint8)]
        meta = {
            "labels": [(i.id, i.name, i.category, i.material, i.room) for i in self.instances],
            "materials": [m.to_json() for m in sorted(self.materials.values(), key=lambda m: m.name)],
            "rooms": [r.to_json() for r in self.rooms],
            "floor": self.floor_height,
            "ceiling": None if not np.isfinite(self.ceiling_height) else self.ceiling_height,
        }
        if self.has_appearance or self.textures:
            meta["appearance"] = {"uv": [i.uv is not None for i in self.instances],
                                  "colors": [i.colors is not None for i in self.instances],
                                  "textures": sorted(self.textures)}
        return hash_arrays(*parts, extra=hash_jsonable(meta))

    def validate(self) -> None:
        """Check invariants (unique ids, known categories and materials, index ranges)."""
        from navfusion.errors import NavFusionError

        seen = set()
        for inst in self.instances:
            if inst.id in seen:
                raise NavFusionError(f"scene {self.scene_id}: duplicate instance id {inst.id}")
            seen.add(inst.id)
            if inst.category not in CATEGORIES:
                raise NavFusionError(f"scene {self.scene_id}: instance {inst.name!r} has unknown category "
                                     f"{inst.category!r}")
            if inst.material not in self.materials:
                raise NavFusionError(f"scene {self.scene_id}: instance {inst.name!r} uses unknown material "
                                     f"{inst.material!r}")
            f = np.asarray(inst.faces)
            if f.size and (f.min() < 0 or f.max() >= len(inst.vertices)):
                raise NavFusionError(f"scene {self.scene_id}: instance {inst.name!r} has face indices out of range")
            for attr, cols, dtype in (("uv", 2, np.float32), ("colors", 3, np.uint8)):
                a = getattr(inst, attr)
                if a is not None and (a.shape != (len(inst.vertices), cols) or a.dtype != dtype):
                    raise NavFusionError(f"scene {self.scene_id}: instance {inst.name!r}: {attr} must be "
                                         f"({len(inst.vertices)}, {cols}) {np.dtype(dtype).name}, got "
                                         f"{a.shape} {a.dtype}")
            image = self.materials[inst.material].image
            if image and image not in self.textures:
                raise NavFusionError(f"scene {self.scene_id}: material {inst.material!r} names texture {image!r}, "
                                     "which the scene does not have")
            if image and inst.uv is None:
                raise NavFusionError(f"scene {self.scene_id}: instance {inst.name!r} has an image-textured "
                                     f"material {inst.material!r} but no uv coordinates")
        for name, img in self.textures.items():
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or 0 in img.shape:
                raise NavFusionError(f"scene {self.scene_id}: texture {name!r} must be (H, W, 3) uint8, "
                                     f"got {img.shape} {img.dtype}")
