"""Goal nodes, BFS distances, the oracle, unreachable targets and episodes."""

from __future__ import annotations

import json
import warnings

import networkx as nx
import numpy as np
import pytest
import shapely

from navfusion.common import TARGETS
from navfusion.nav.episodes import episodes_path, evaluation_episodes, sample_episode
from navfusion.nav.goals import UnreachableTargetWarning, footprint, goal_infos
from navfusion.nav.graph import build_graph
from navfusion.nav.testing import toy_scene
from navfusion.nav.world import load_world


@pytest.fixture(scope="module")
def toy():
    scene = toy_scene()
    g = build_graph(scene)
    return scene, g, goal_infos(g, scene)


def test_all_targets_reachable(toy):
    _, g, goals = toy
    assert tuple(goals) == TARGETS
    for info in goals.values():
        assert len(info.goal_nodes) > 0
        assert info.distance.shape == (g.num_nodes,) and (info.distance >= 0).all()
        assert (info.distance[info.goal_nodes] == 0).all()


def test_goal_nodes_near_and_visible(toy):
    scene, g, goals = toy
    door = scene.instances_of("door")[0]
    pts = shapely.points(g.positions[goals["door"].goal_nodes, :2])
    assert (shapely.distance(pts, footprint(door)) <= 1.0 + 1e-9).all()
    # the door leaf stands against the east side of the inner wall (x = 6, y 3.5..4.4): nodes just west
    # of the wall are within 1 m of it but cannot see it; nodes east of it can
    goal = set(goals["door"].goal_nodes.tolist())
    behind = [g.nearest_node((5.5, y)) for y in (4.0, 4.5)]
    assert all(np.allclose(g.positions[n, :2], (5.5, y)) for n, y in zip(behind, (4.0, 4.5)))
    assert not goal & set(behind)
    assert g.nearest_node((6.5, 4.0)) in goal


def test_distance_is_multi_source_bfs(toy):
    _, g, goals = toy
    rev = g.nx.reverse(copy=True)
    for cat, info in goals.items():
        lengths = nx.multi_source_dijkstra_path_length(rev, {int(s) for s in info.goal_nodes})
        expect = np.array([lengths.get(i, -1) for i in range(g.num_nodes)])
        np.testing.assert_array_equal(info.distance, expect, err_msg=cat)


def test_oracle_follows_shortest_path(toy):
    _, g, goals = toy
    for info in goals.values():
        a = info.oracle_action
        assert ((a == 8) == (info.distance == 0)).all()
        moving = np.nonzero(info.distance > 0)[0]
        nxt = g.neighbors[moving, a[moving]]
        assert (nxt >= 0).all() and (info.distance[nxt] == info.distance[moving] - 1).all()
        # deterministic tie-break: no lower action index also decreases the distance
        for i in moving[:50]:
            better = [k for k in range(a[i]) if g.neighbors[i, k] >= 0
                      and info.distance[g.neighbors[i, k]] == info.distance[i] - 1]
            assert not better


def test_unreachable_target_dropped_with_warning():
    scene = toy_scene(with_bed=False)
    g = build_graph(scene)
    with pytest.warns(UnreachableTargetWarning, match="bed"):
        goals = goal_infos(g, scene)
    assert "bed" not in goals and {"chair", "table", "door"} <= set(goals)


def test_episodes_deterministic_and_in_range(nf_cache):
    from navfusion.nav.testing import flat_renderer_factory

    world = load_world(toy_scene(), resolution=8, renderer_factory=flat_renderer_factory)
    a = [sample_episode(world, np.random.default_rng(3)) for _ in range(3)]
    b = [sample_episode(world, np.random.default_rng(3)) for _ in range(3)]
    assert a == b
    eps = evaluation_episodes(world, count=200, seed=1)
    assert len(eps) == 200
    assert all(6 <= e.distance <= 32 and e.distance == world.goals[e.target].distance[e.start] for e in eps)
    assert len({e.target for e in eps}) == 4  # all four targets drawn
    path = episodes_path(world, 200, 1)
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["count"] == 200 and len(data["content_hash"]) == 64
    assert evaluation_episodes(world, count=200, seed=1) == eps  # read back
    # a tampered file fails its hash and is regenerated
    data["episodes"][0]["start"] = -5
    path.write_text(json.dumps(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluation_episodes(world, count=200, seed=1) == eps
    assert json.loads(path.read_text())["episodes"][0]["start"] == eps[0].start


@pytest.mark.parametrize("barrier_top, visible", [(0.75, True), (2.5, False)])
def test_visibility_over_low_furniture(barrier_top, visible):
    from navfusion.nav.testing import boxes_scene

    # a barrier (a low table or a wall) right in front of a chair: the eye (1.25 m) sees over the table
    scene = boxes_scene([("table" if barrier_top < 1 else "wall", (2.0, 0.5, 0), (2.4, 3.5, barrier_top)),
                         ("chair", (2.45, 1.8, 0), (2.9, 2.2, 0.9))], floor=((-0.1, -0.1), (6.1, 4.1)))
    g = build_graph(scene)
    node = g.nearest_node((1.5, 2.0))
    assert np.allclose(g.positions[node, :2], (1.5, 2.0))
    goals = goal_infos(g, scene, ("chair",))["chair"].goal_nodes
    assert (node in set(goals.tolist())) == visible
