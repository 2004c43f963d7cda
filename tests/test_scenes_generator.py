"""Procedural generator: determinism, targets present and reachable, variety, config validation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from navfusion.common import DISTRACTORS, ROOM_TYPES, TARGETS
from navfusion.errors import ConfigError, NavFusionError
from navfusion.scenes import SceneConfig, generate_scene, load_scene, load_suite
from navfusion.scenes.scene import TEXTURE_KINDS
from navfusion.scenes.topdown import band_raster, scene_grid

TINY = SceneConfig(rooms=(2, 3), room_size=(2.6, 4.2))


def free_space(scene, cell=0.1, band=(0.2, 1.5), radius=0.2):
    """Cells a disk agent of ``radius`` can stand on: floor below, no geometry in the height band nearby."""
    origin, shape = scene_grid(scene, cell)
    v, f, _ = scene.merged()
    occ = band_raster(v, f, band, cell, origin, shape)
    floor = band_raster(v, f, (-0.05, 0.05), cell, origin, shape)
    free = floor & (ndimage.distance_transform_edt(~occ) * cell > radius)
    return free, origin


def test_same_seed_same_scene_other_seed_differs():
    a, b, c = generate_scene(TINY, 7), generate_scene(TINY, 7), generate_scene(TINY, 8)
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != c.content_hash()
    assert a.num_triangles == b.num_triangles


def test_generation_uses_no_global_rng():
    np.random.seed(0)
    h1 = generate_scene(TINY, 3).content_hash()
    np.random.seed(12345)
    np.random.random(100)
    assert generate_scene(TINY, 3).content_hash() == h1


@pytest.mark.parametrize("split", ["pretrain", "train", "val", "test"])
def test_tiny_scenes_have_reachable_targets(nf_cache, split):
    for sid in load_suite("tiny").scene_ids(split):
        scene = load_scene(sid)
        scene.validate()
        cats = scene.categories()
        assert set(TARGETS) <= cats, (sid, cats)
        assert len(cats & set(DISTRACTORS)) >= 6, (sid, cats)
        assert 2 <= len(scene.rooms) <= 3
        free, origin = free_space(scene)
        lab, n = ndimage.label(free)
        sizes = np.bincount(lab.ravel())[1:]
        main = lab == int(np.argmax(sizes)) + 1
        # walkable space is essentially one piece (what is cut off are small pockets behind furniture)
        assert sizes.max() >= 0.9 * sizes.sum(), (sid, sorted(sizes)[-4:])
        for inst in scene.instances:
            if inst.category not in TARGETS:
                continue
            lo, hi = inst.vertices[:, :2].min(0), inst.vertices[:, :2].max(0)
            i0 = np.floor((lo - 0.6 - origin) / 0.1).astype(int).clip(0)
            i1 = np.ceil((hi + 0.6 - origin) / 0.1).astype(int)
            near = main[i0[0]:i1[0], i0[1]:i1[1]]
            assert near.any(), f"{sid}: {inst.name} is not reachable"


def test_structure_and_materials():
    s = generate_scene(SceneConfig(), 11)
    assert s.floor_height == 0.0 and 2.6 <= s.ceiling_height <= 3.0
    assert {r.type for r in s.rooms} <= set(ROOM_TYPES)
    assert {"wall", "floor", "ceiling"} <= s.categories()
    assert {m.texture for m in s.materials.values()} <= set(TEXTURE_KINDS)
    assert len({m.texture for m in s.materials.values()}) >= 4
    b = s.bounds()
    assert abs(b[0, 2]) < 1e-6 and abs(b[1, 2] - s.ceiling_height) < 0.05
    rooms = {r.id for r in s.rooms}
    assert all(i.room in rooms for i in s.instances if i.category in TARGETS)
    # every door joins two rooms, and the doors connect all rooms
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(rooms)
    g.add_edges_from(tuple(d["rooms"]) for d in s.metadata["doors"])
    assert nx.is_connected(g)


def test_colours_overlap_between_categories():
    """Colour alone must not give the category away: the same palettes serve several categories."""
    cols: dict[str, set] = {}
    for seed in range(6):
        s = generate_scene(TINY, seed)
        for inst in s.instances:
            if inst.category in ("chair", "table", "door", "cabinet", "sofa", "bed"):
                m = s.materials[inst.material]
                cols.setdefault(inst.category, set()).add((m.texture, tuple(round(c * 4) for c in m.color)))
    shared = sum(len(cols["chair"] & cols[c]) for c in ("table", "door", "cabinet", "sofa", "bed"))
    assert shared > 0


def test_corridors_and_open_rooms_both_occur():
    cfg = SceneConfig()
    kinds, corridors = set(), 0
    for seed in range(8):
        s = generate_scene(cfg, seed)
        kinds |= {m["clutter"] for m in s.metadata["rooms"]}
        corridors += any(r.type == "corridor" for r in s.rooms)
    assert kinds == {"open", "cluttered"}
    assert 1 <= corridors <= 7


def test_min_triangles():
    s = generate_scene(SceneConfig(rooms=(3, 3), min_triangles=5000), 2)
    assert s.num_triangles >= 5000


@pytest.mark.parametrize("field,value", [("rooms", (1, 3)), ("rooms", (3, 9)), ("corridor_prob", 1.5),
                                         ("door_width", 0.5), ("room_size", (1.0, 3.0)), ("rooms", 3)])
def test_bad_config_names_field(field, value):
    with pytest.raises(ConfigError, match=field):
        SceneConfig(**{field: value})


def test_bad_seed():
    with pytest.raises(NavFusionError, match="seed"):
        generate_scene(TINY, -1)


def test_room_queries():
    from navfusion.scenes import room_at, room_situations

    s = generate_scene(SceneConfig(corridor_prob=1.0, rooms=(4, 4)), 3)
    centres = np.array([np.asarray(r.polygon).mean(0) for r in s.rooms])
    assert room_at(s, centres).tolist() == [r.id for r in s.rooms]
    assert int(room_at(s, s.bounds()[0, :2] - 5.0)) == -1
    sit = room_situations(s)
    assert set(sit.values()) <= {"narrow", "cluttered", "open"}
    assert [sit[r.id] for r in s.rooms if r.type == "corridor"] == ["narrow"]
