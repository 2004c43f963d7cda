"""Real-scene appearance: image textures, vertex colours, labels from files, scale and up axis.

The textured files are made here with trimesh (nothing downloaded): a 4 x 3 x 2.6 m room whose
walls and floor carry a red/blue checkerboard and a table with a green/white stripe texture.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import trimesh
from PIL import Image

from navfusion.errors import NavFusionError
from navfusion.render import Camera, Poses, create_renderer, egl_available
from navfusion.scenes.io import import_mesh, load_scene_file, save_scene

ROOM = (4.0, 3.0, 2.6)
# z-up -> y-up (glTF), as navfusion.scenes.io writes it
Z2Y = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]], float)


def _checker(n: int = 64, cells: int = 8) -> Image.Image:
    k = (np.indices((n, n)) // (n // cells)).sum(0) % 2
    img = np.where(k[..., None] == 1, [220, 30, 30], [30, 40, 220]).astype(np.uint8)
    return Image.fromarray(img)


def _stripes(n: int = 32) -> Image.Image:
    k = (np.arange(n) // 4) % 2
    img = np.where(k[None, :, None] == 1, [30, 200, 40], [240, 240, 240]).astype(np.uint8)
    return Image.fromarray(np.broadcast_to(img, (n, n, 3)).copy())


def _quads(corners: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quads (4 corners each, counter-clockwise seen from the side that shows) with uv = metres / 1.5."""
    v, f, uv = [], [], []
    for q in corners:
        o = len(v)
        v += list(q)
        f += [[o, o + 1, o + 2], [o, o + 2, o + 3]]
        a, b = q[1] - q[0], q[3] - q[0]
        uv += [[0, 0], [np.linalg.norm(a), 0], [np.linalg.norm(a), np.linalg.norm(b)], [0, np.linalg.norm(b)]]
    return np.array(v, float), np.array(f), np.array(uv) / 1.5


def _room_meshes() -> list[tuple[str, trimesh.Trimesh]]:
    w, d, h = ROOM
    p = np.array
    # faces wound to be seen from inside the room
    room = _quads([
        p([[0, 0, 0], [w, 0, 0], [w, d, 0], [0, d, 0]]),  # floor (seen from above)
        p([[0, 0, h], [0, d, h], [w, d, h], [w, 0, h]]),  # ceiling
        p([[0, 0, 0], [0, 0, h], [w, 0, h], [w, 0, 0]])[[0, 3, 2, 1]],  # south wall, seen from +y
        p([[0, d, 0], [w, d, 0], [w, d, h], [0, d, h]])[[1, 0, 3, 2]],  # north wall
        p([[0, 0, 0], [0, d, 0], [0, d, h], [0, 0, h]])[[1, 0, 3, 2]],  # west wall
        p([[w, 0, 0], [w, 0, h], [w, d, h], [w, d, 0]])[[3, 2, 1, 0]],  # east wall
    ])
    table = trimesh.creation.box((1.2, 0.8, 0.75))
    table.apply_translation((2.6, 1.5, 0.375))
    tv = np.asarray(table.vertices)
    table_uv = np.c_[tv[:, 0] + tv[:, 2], tv[:, 1] + tv[:, 2]]
    out = []
    for name, (v, f, uv), img in (("room", room, _checker()), ("table_0", (tv, np.asarray(table.faces), table_uv),
                                                                  _stripes())):
        m = trimesh.Trimesh(v, f, process=False)
        m.visual = trimesh.visual.TextureVisuals(uv=uv, material=trimesh.visual.material.PBRMaterial(
            baseColorTexture=img, baseColorFactor=[255, 255, 255, 255]))
        out.append((name, m))
    return out


def _write_glb(path) -> None:
    sc = trimesh.Scene()
    for name, m in _room_meshes():
        m = m.copy()
        m.apply_transform(Z2Y)
        sc.add_geometry(m, node_name=name, geom_name=name)
    path.write_bytes(sc.export(file_type="glb"))


def _write_obj(folder, up: str = "z"):
    sc = trimesh.Scene()
    for name, m in _room_meshes():
        m = m.copy()
        if up == "y":
            m.apply_transform(Z2Y)
        sc.add_geometry(m, node_name=name, geom_name=name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "room.obj"
    sc.export(path)
    return path


LABELS = {"room": "wall", "table_*": "table"}


def _poses() -> Poses:
    pos = np.array([[1.2, 1.5, 1.25]] * 4 + [[3.5, 0.6, 1.6]])
    return Poses(pos, np.array([0.0, np.pi / 2, np.pi, -np.pi / 2, 2.5]), np.array([0.0, 0.1, -0.3, 0.0, -0.5]))


def _render_both(scene, res: int = 64):
    backends = ["raycast"] + (["gl"] if egl_available() else [])
    out = {}
    for b in backends:
        with create_renderer(scene, Camera(res, res), b) as r:
            out[b] = r.render(_poses())
    return out


def _assert_pattern_and_agreement(frames) -> None:
    for b, f in frames.items():
        rgb = f.rgb.astype(int)
        red = (rgb[..., 0] > rgb[..., 2] + 60).mean()
        blue = (rgb[..., 2] > rgb[..., 0] + 60).mean()
        green = ((rgb[..., 1] > rgb[..., 0] + 60) & (rgb[..., 1] > rgb[..., 2] + 60)).mean()
        # both checker colours cover a good part of the views; the table's green stripes are seen
        assert red > 0.1 and blue > 0.1 and green > 0.003, (b, red, blue, green)
        assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 200, b  # not a flat colour
        assert set(np.unique(f.semantic)) >= {1, 6}, b  # wall and table
    if "gl" in frames:
        g, r = frames["gl"], frames["raycast"]
        close = np.abs(g.rgb.astype(int) - r.rgb.astype(int)).max(-1) <= 16
        assert close.mean() >= 0.97, close.mean()
        assert (g.semantic == r.semantic).mean() >= 0.99
        assert (np.abs(g.depth_z - r.depth_z) <= 0.01).mean() >= 0.99


def test_textured_import_glb(tmp_path):
    path = tmp_path / "room.glb"
    _write_glb(path)
    scene = import_mesh(path, labels=LABELS)
    assert len(scene.textures) == 2 and all(i.uv is not None for i in scene.instances)
    np.testing.assert_allclose(scene.bounds(), [[0, 0, 0], list(ROOM)], atol=1e-5)  # y-up turned to z-up
    _assert_pattern_and_agreement(_render_both(scene))


def test_textured_import_obj_mtl(tmp_path):
    path = _write_obj(tmp_path / "obj")
    assert (path.parent / "material.mtl").is_file() or list(path.parent.glob("*.mtl"))
    scene = import_mesh(path, labels=LABELS)
    assert len(scene.textures) == 2
    np.testing.assert_allclose(scene.bounds(), [[0, 0, 0], list(ROOM)], atol=1e-5)  # OBJ default: z-up
    _assert_pattern_and_agreement(_render_both(scene))


def test_textured_import_y_up_obj_and_named_texture(tmp_path):
    # y-up OBJ furniture comes in lying on its side unless up="y" is given
    path = _write_obj(tmp_path / "yup", up="y")
    lying = import_mesh(path, labels=LABELS)
    standing = import_mesh(path, labels=LABELS, up="y")
    height = [float(np.ptp(s.bounds()[:, 2])) for s in (lying, standing)]
    assert height == pytest.approx([ROOM[1], ROOM[2]], abs=1e-4)
    # an OBJ whose .mtl is missing takes the texture the user names
    for p in path.parent.glob("*.mtl"):
        p.unlink()
    tex = tmp_path / "checker.png"
    _checker().save(tex)
    bare = import_mesh(path, labels={"*": "wall"}, up="y")
    assert not bare.textures
    named = import_mesh(path, labels={"*": "wall"}, up="y", texture=tex)
    assert list(named.textures) == ["tex_0"] and all(m.image == "tex_0" for m in named.materials.values())
    with pytest.raises(NavFusionError, match="texture file not found"):
        import_mesh(path, labels={"*": "wall"}, texture=tmp_path / "nope.png")


def test_textured_scene_round_trips_through_glb(tmp_path):
    path = tmp_path / "room.glb"
    _write_glb(path)
    scene = import_mesh(path, labels=LABELS)
    scene.instances[1].colors = np.tile(np.array([[200, 180, 160]], np.uint8), (len(scene.instances[1].vertices), 1))
    scene.instances[1].colors[::3] = (90, 90, 250)
    glb, side = save_scene(scene, tmp_path / "saved")
    back = load_scene_file(glb)
    assert back.content_hash() == scene.content_hash()
    assert back.materials == scene.materials and set(back.textures) == set(scene.textures)
    frames = _render_both(back)
    ref = _render_both(scene)
    for b in frames:
        np.testing.assert_array_equal(frames[b].rgb, ref[b].rgb)
    assert json.loads(side.read_text())["instances"][1]["colors"] is True


def test_ply_scan_vertex_colours_and_face_labels(tmp_path):
    # a "scan": one mesh, per-vertex colours, per-face semantic and instance ids (navfusion ids)
    box_room = trimesh.creation.box((4.0, 3.0, 2.6))
    box_room.apply_translation((2.0, 1.5, 1.3))
    box_room.invert()
    chair = trimesh.creation.box((0.5, 0.5, 0.9))
    chair.apply_translation((2.0, 1.5, 0.45))
    v = np.concatenate([box_room.vertices, chair.vertices])
    f = np.concatenate([box_room.faces, chair.faces + len(box_room.vertices)])
    nv_room = len(box_room.vertices)
    colors = np.zeros((len(v), 3), np.uint8)
    colors[:nv_room] = [[250, 250, 0], [0, 250, 250], [250, 0, 250], [20, 20, 20]] * (nv_room // 4)
    colors[nv_room:] = (200, 30, 30)
    sem = np.r_[np.full(len(box_room.faces), 1), np.full(len(chair.faces), 5)]  # wall, chair
    inst = np.r_[np.full(len(box_room.faces), 10), np.full(len(chair.faces), 11)]
    lines = ["ply", "format ascii 1.0", f"element vertex {len(v)}", "property float x", "property float y",
             "property float z", "property uchar red", "property uchar green", "property uchar blue",
             f"element face {len(f)}", "property list uchar int vertex_indices", "property int semantic",
             "property int object_id", "end_header"]
    lines += [f"{x} {y} {z} {r} {g} {b}" for (x, y, z), (r, g, b) in zip(v, colors)]
    lines += [f"3 {a} {b} {c} {s} {i}" for (a, b, c), s, i in zip(f, sem, inst)]
    path = tmp_path / "scan.ply"
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # labelled from the file: no 'unlabelled' warning
        scene = import_mesh(path)
    assert sorted(i.category for i in scene.instances) == ["chair", "wall"]
    assert all(i.colors is not None for i in scene.instances)
    frames = _render_both(scene, 48)
    for f_ in frames.values():
        assert len(np.unique(f_.rgb.reshape(-1, 3), axis=0)) > 100  # interpolated vertex colours
        assert 5 in f_.semantic
    if "gl" in frames:
        close = np.abs(frames["gl"].rgb.astype(int) - frames["raycast"].rgb.astype(int)).max(-1) <= 16
        assert close.mean() >= 0.97
    # ids from another label space map through the label map's semantic_ids
    lab = import_mesh(path, labels={"semantic_ids": {"1": "wall", "5": "sofa"}})
    assert sorted(i.category for i in lab.instances) == ["sofa", "wall"]


def test_import_scale_and_unit_detection(tmp_path):
    path = tmp_path / "room.glb"
    _write_glb(path)
    cm = tmp_path / "room_cm.glb"
    tm = trimesh.load(str(path), force="scene", process=False)
    tm.apply_scale(100.0)
    cm.write_bytes(tm.export(file_type="glb"))
    with pytest.warns(UserWarning, match=r"looks like cm; pass scale=0.01"):
        big = import_mesh(cm, labels=LABELS)
    assert big.bounds()[1, 2] == pytest.approx(260.0, rel=1e-5)
    with pytest.warns(UserWarning, match="scaled by 0.01"):
        auto = import_mesh(cm, labels=LABELS, scale="auto")
    np.testing.assert_allclose(auto.bounds()[1], ROOM, rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        given = import_mesh(cm, labels=LABELS, scale=0.01)
    np.testing.assert_allclose(given.bounds()[1], ROOM, rtol=1e-5)
    assert given.metadata["scale"] == 0.01
    with pytest.warns(UserWarning, match="m tall is implausible"):
        import_mesh(path, labels=LABELS, scale=0.1)
    with pytest.raises(NavFusionError, match="scale='big'"):
        import_mesh(path, scale="big")
