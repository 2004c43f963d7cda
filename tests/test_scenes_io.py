"""GLB export/import, external meshes with label maps, placing objects, bad files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import trimesh

from navfusion.errors import NavFusionError
from navfusion.scenes import SceneConfig, generate_scene, import_mesh, load_scene_file, place_object, save_scene

CFG = SceneConfig(rooms=(2, 2), room_size=(2.6, 3.4))


@pytest.fixture(scope="module")
def scene():
    return generate_scene(CFG, 5, scene_id="tiny/train/0")


def test_glb_round_trip_keeps_instances_and_categories(scene, tmp_path):
    glb, side = save_scene(scene, tmp_path)
    assert glb.name == "tiny__train__0.glb" and side.name == "tiny__train__0.json"
    for path in (glb, side):
        back = load_scene_file(path)
        assert back.content_hash() == scene.content_hash()
        assert [(i.name, i.category, i.room) for i in back.instances] == \
            [(i.name, i.category, i.room) for i in scene.instances]
    side.unlink()  # the labels embedded in the GLB are enough
    back = load_scene_file(glb)
    assert back.content_hash() == scene.content_hash()
    assert [r.type for r in back.rooms] == [r.type for r in scene.rooms]


def test_glb_is_y_up_for_other_viewers(scene, tmp_path):
    glb, _ = save_scene(scene, tmp_path)
    tm = trimesh.load(str(glb), force="scene")
    up_extent = tm.bounds[1, 1] - tm.bounds[0, 1]
    assert abs(up_extent - scene.ceiling_height) < 0.1


def test_unlabelled_glb_warns_and_loads_as_misc(scene, tmp_path):
    glb, _ = save_scene(scene, tmp_path)
    tm = trimesh.load(str(glb), force="scene", process=False)
    tm.metadata.clear()
    for g in tm.geometry.values():
        g.metadata.clear()
    plain = tmp_path / "plain.glb"
    plain.write_bytes(tm.export(file_type="glb"))
    with pytest.warns(UserWarning, match="unlabelled"):
        imp = load_scene_file(plain)
    assert imp.categories() == {"misc"}
    v0, f0, _ = scene.merged()
    v1, f1, _ = imp.merged()
    np.testing.assert_allclose(v1, v0, atol=1e-5)
    assert np.array_equal(f0, f1)
    assert abs(imp.floor_height - 0.0) < 1e-3
    # a label map (names and patterns) restores categories
    labels = {"wall_*": "wall", "floor_*": "floor", "ceiling_*": "ceiling", "chair_*": "chair", "door_*": "door"}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab = import_mesh(plain, labels=tmp_path / "labels.json")
    assert {"wall", "floor", "chair", "door"} <= lab.categories()
    assert [i.category for i in lab.instances if i.name.startswith("chair_")] == \
        ["chair"] * len(scene.instances_of("chair"))


def test_obj_and_ply_import(tmp_path):
    box = trimesh.creation.box((2.0, 3.0, 1.0))
    box.apply_translation((0, 0, 0.5))
    box.export(tmp_path / "b.obj")
    box.export(tmp_path / "b.ply")
    for ext in ("obj", "ply"):
        with pytest.warns(UserWarning):
            s = import_mesh(tmp_path / f"b.{ext}")
        assert s.num_triangles == 12
        assert abs(s.bounds()[1, 2] - 1.0) < 1e-5  # z-up kept for OBJ/PLY


def test_bad_files(tmp_path):
    with pytest.raises(NavFusionError, match="not found"):
        load_scene_file(tmp_path / "nope.glb")
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"this is not a glb")
    with pytest.raises(NavFusionError, match="cannot read mesh file") as e:
        import_mesh(bad)
    assert "\n" not in str(e.value)
    js = tmp_path / "bad.json"
    js.write_text("{oops")
    with pytest.raises(NavFusionError, match="not valid JSON"):
        load_scene_file(js)
    js.write_text('{"format": "something else"}')
    with pytest.raises(NavFusionError, match="not a navfusion scene file"):
        load_scene_file(js)
    with pytest.raises(NavFusionError, match="unsupported mesh format"):
        (tmp_path / "x.stl").write_text("solid")
        import_mesh(tmp_path / "x.stl")
    box = tmp_path / "b.obj"
    trimesh.creation.box().export(box)
    (tmp_path / "l.json").write_text('{"geometry_0": "chiar"}')
    with pytest.raises(NavFusionError, match="unknown category 'chiar'.*Did you mean 'chair'"):
        import_mesh(box, labels=tmp_path / "l.json")


def test_save_leaves_nothing_half_written(scene, tmp_path, monkeypatch):
    from navfusion.scenes import io as sio

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sio, "sha256_file", boom)
    with pytest.raises(RuntimeError):
        save_scene(scene, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_place_object(scene, tmp_path):
    obj = tmp_path / "thing.obj"
    trimesh.creation.box((0.4, 0.6, 0.8)).export(obj)
    room = scene.rooms[0]
    x, y = np.asarray(room.polygon).mean(0)
    out = place_object(scene, obj, "chair", (x, y), yaw=np.pi / 2, scale=1.5)
    assert len(out.instances) == len(scene.instances) + 1
    assert len(scene.instances_of("chair")) + 1 == len(out.instances_of("chair"))
    new = out.instances[-1]
    lo, hi = new.bounds()
    np.testing.assert_allclose(hi - lo, [0.9, 0.6, 1.2], atol=1e-5)  # turned 90 degrees, scaled
    np.testing.assert_allclose([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]], [x, y, 0.0], atol=1e-5)
    assert new.room == room.id
    assert out.content_hash() != scene.content_hash()
    with pytest.raises(NavFusionError, match="unknown category"):
        place_object(scene, obj, "sofa_bed", (x, y))


def test_imported_scene_renders(scene, tmp_path):
    from navfusion.render import create_renderer
    from navfusion.render.camera import Camera, Poses

    glb, _ = save_scene(scene, tmp_path)
    tm = trimesh.load(str(glb), force="scene", process=False)
    tm.metadata.clear()
    plain = tmp_path / "plain.glb"
    plain.write_bytes(tm.export(file_type="glb"))
    with pytest.warns(UserWarning):
        imp = import_mesh(plain)
    x, y = np.asarray(scene.rooms[0].polygon).mean(0)
    r = create_renderer(imp, Camera(width=24, height=24), backend="raycast")
    try:
        f = r.render(Poses([[x, y, 1.25]], [0.3]))
    finally:
        r.close()
    assert (f.depth_z[0] > 0).mean() > 0.99  # closed rooms: every ray hits something
    assert set(np.unique(f.semantic[0])) <= {0, 19}  # everything unlabelled is 'misc'
    assert (f.semantic[0] == 19).all()
