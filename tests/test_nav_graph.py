"""Octagonal graph: structure, collision-free edges, caching, floor detection."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from navfusion.common import MOVE_NAMES
from navfusion.nav.graph import MOVE_OFFSETS, GraphSettings, build_graph, graph_cache_path, load_graph
from navfusion.nav.testing import boxes_scene, toy_scene


@pytest.fixture(scope="module")
def toy():
    scene = toy_scene()
    return scene, build_graph(scene)


def test_structure(toy):
    scene, g = toy
    n = g.num_nodes
    assert n > 100 and g.positions.shape == (n, 3) and g.neighbors.shape == (n, 8)
    assert g.positions.dtype == np.float64 and g.neighbors.dtype == np.int32
    assert np.all(g.positions[:, 2] == 0.0)
    # positions sit on the lattice and every edge goes to the lattice neighbour of its move
    np.testing.assert_allclose(g.positions[:, :2] / 0.5, np.round(g.positions[:, :2] / 0.5), atol=1e-9)
    src, k = np.nonzero(g.neighbors >= 0)
    step = g.positions[g.neighbors[src, k], :2] - g.positions[src, :2]
    np.testing.assert_allclose(step, MOVE_OFFSETS[k] * 0.5, atol=1e-9)
    # moves are reversible: k from i to j means k+4 from j to i
    back = g.neighbors[g.neighbors[src, k], (k + 4) % 8]
    assert np.all(back == src)
    assert len(MOVE_NAMES) == 8 and MOVE_NAMES[2] == "N" and tuple(MOVE_OFFSETS[2]) == (0, 1)


def test_networkx_view(toy):
    _, g = toy
    nxg = g.nx
    assert nxg.number_of_nodes() == g.num_nodes and nxg.number_of_edges() == g.num_edges
    assert nxg.nodes[0]["pos"] == tuple(g.positions[0])
    import networkx as nx

    assert nx.is_strongly_connected(nxg)  # only the largest component is kept


def _obstacles(scene):
    """xy rectangles of every box reaching into the agent's height band (0.1..1.5 m)."""
    out = []
    for inst in scene.instances:
        lo, hi = inst.bounds()
        if hi[2] >= 0.1 and lo[2] <= 1.5:
            out.append(shapely.box(lo[0], lo[1], hi[0], hi[1]))
    return out


def test_edges_never_cross_geometry(toy):
    scene, g = toy
    obstacles = shapely.union_all(_obstacles(scene))
    src, k = np.nonzero(g.neighbors >= 0)
    segs = shapely.linestrings(np.stack([g.positions[src, :2], g.positions[g.neighbors[src, k], :2]], 1))
    d = shapely.distance(segs, obstacles)
    # the raster is 5 cm: allow one cell of slack on the 20 cm radius, never a touch
    assert d.min() >= 0.2 - 0.05, d.min()
    # and the inflation is not wildly conservative: some edges pass within 35 cm of geometry
    assert d.min() <= 0.35


def test_door_opening_connects_rooms(toy):
    _, g = toy
    x = g.positions[:, 0]
    assert (x < 6).any() and (x > 6).any()  # both rooms are in the single component


def test_narrow_gap_is_blocked():
    # two rooms joined by a 0.3 m gap: too narrow for a 0.4 m wide agent, so one room is dropped
    walls = [("wall", (4.95, 0, 0), (5.05, 2.0, 2.5)), ("wall", (4.95, 2.3, 0), (5.05, 6.0, 2.5))]
    g = build_graph(boxes_scene(walls))
    xs = g.positions[:, 0]
    assert (xs < 5).all() or (xs > 5).all()


def test_cache_reuse_and_rebuild(nf_cache, toy):
    scene, g = toy
    g1 = load_graph(scene)
    path = graph_cache_path(scene, GraphSettings())
    assert path.is_file() and str(path).startswith(nf_cache)
    g2 = load_graph(scene)
    np.testing.assert_array_equal(g1.neighbors, g2.neighbors)
    np.testing.assert_array_equal(g.neighbors, g2.neighbors)
    # other settings -> other file
    g3 = load_graph(scene, spacing=0.4)
    assert g3.num_nodes != g1.num_nodes and graph_cache_path(scene, GraphSettings(spacing=0.4)) != path
    # corrupt file -> rebuilt and rewritten
    path.write_bytes(b"not a zip")
    g4 = load_graph(scene)
    np.testing.assert_array_equal(g4.neighbors, g1.neighbors)
    assert path.stat().st_size > 1000
    # changed scene -> other key
    moved = toy_scene()
    moved.instances[-1].vertices = moved.instances[-1].vertices + np.float32([0.3, 0, 0])
    assert graph_cache_path(moved, GraphSettings()) != path


def test_floor_detection_on_imported_mesh():
    scene = toy_scene()
    for inst in scene.instances:
        inst.vertices = inst.vertices + np.float32([0, 0, 1.0])
        if inst.category == "floor":
            inst.category = "misc"  # an unlabelled mesh: the floor must be found from geometry
    scene.floor_height = 0.0  # wrong on purpose: detection must ignore it
    g = build_graph(scene)
    assert np.allclose(g.positions[:, 2], 1.0)
    assert g.num_nodes == build_graph(toy_scene()).num_nodes


def test_bad_settings():
    from navfusion.errors import ConfigError

    with pytest.raises(ConfigError, match="spacing"):
        build_graph(toy_scene(), spacing=-1)


def test_graph_on_imported_unlabelled_mesh(tmp_path):
    import trimesh

    from navfusion.scenes.io import import_mesh

    scene = toy_scene()
    v, f, _ = scene.merged()
    path = tmp_path / "flat.ply"
    trimesh.Trimesh((v + np.float32([0, 0, 0.7])), f, process=False).export(path)
    with pytest.warns(UserWarning):
        imported = import_mesh(path, up="z")  # one unlabelled mesh: the floor is found from geometry
    g = build_graph(imported)
    assert np.allclose(g.positions[:, 2], 0.7, atol=0.03)
    assert abs(g.num_nodes - build_graph(scene).num_nodes) <= 2


def test_valid_but_modified_graph_file_is_rebuilt(nf_cache, toy):
    scene, _ = toy
    g1 = load_graph(scene)
    path = graph_cache_path(scene, GraphSettings())
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["neighbors"] = np.full_like(arrays["neighbors"], -1)  # every move blocked, still a valid file
    np.savez(path, **arrays)
    g2 = load_graph(scene)
    np.testing.assert_array_equal(g2.neighbors, g1.neighbors)
    assert (g2.neighbors >= 0).any()
