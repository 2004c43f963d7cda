"""Goal nodes of target categories, geodesic distances and the shortest-path oracle.

A node is a goal of an object instance when it lies within ``radius`` metres of the instance's
footprint (convex hull of its vertices, seen from above) and the instance is visible from it: a
straight line from the node to one of a few points of the footprint crosses no other geometry of
the agent's height band. The distance of a node is the number of moves to the nearest goal node of
the category (multi-source BFS on the reversed graph); the oracle takes the move that decreases it,
the lowest action index among equals, and stops (action 8) on goal nodes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import shapely

from navfusion.common import STOP_ACTION, TARGETS
from navfusion.nav.graph import OctoGraph
from navfusion.nav.occupancy import BAND, rasterize_instance
from navfusion.scenes.scene import Instance, Scene

#: Default eye height for visibility tests (the default camera's, metres above the floor).
EYE_HEIGHT = 1.25


class UnreachableTargetWarning(UserWarning):
    """A target category is present in a scene but no graph node can see and reach it."""


@dataclass
class GoalInfo:
    """Goals of one target category in one scene.

    Attributes:
        category: the category name.
        goal_nodes: (G,) int64 sorted goal node ids.
        distance: (N,) int32 moves to the nearest goal node, ``-1`` where unreachable.
        oracle_action: (N,) int8 shortest-path action in 0..8 (8 = stop on goal and unreachable nodes).
        instances: ids of the instances that have goal nodes.
    """

    category: str
    goal_nodes: np.ndarray
    distance: np.ndarray
    oracle_action: np.ndarray
    instances: tuple[int, ...] = ()


def footprint(inst: Instance) -> shapely.Geometry:
    """The instance's footprint seen from above: convex hull of its vertices' xy."""
    return shapely.MultiPoint(np.asarray(inst.vertices, np.float64)[:, :2]).convex_hull


def instance_goal_nodes(graph: OctoGraph, inst: Instance, radius: float = 1.0,
                        eye_height: float = EYE_HEIGHT) -> np.ndarray:
    """(G,) sorted ids of nodes within ``radius`` m of ``inst``'s footprint from which it is visible.

    Visibility is a 2.5D line-of-sight test on the occupancy height map: the sight line from the
    eye (``eye_height`` above the node) to a point of the object's top must pass above every other
    geometry on the way (so a chair behind a table stays visible, one behind a wall does not).
    Sight lines go to the footprint point nearest the node, the hull's corners and its centroid.
    """
    occ = graph.occupancy
    fp = footprint(inst)
    xy = graph.positions[:, :2]
    near = np.nonzero(shapely.distance(shapely.points(xy), fp) <= radius + 1e-9)[0]
    if len(near) == 0:
        return near.astype(np.int64)
    # the object's own cells do not hide it (not grown: a door leaf touching a wall must not hide the wall)
    own = rasterize_instance(occ, inst.vertices, inst.faces)
    top = min(float(inst.bounds()[1, 2]) - occ.floor_height, BAND[1])
    hull = fp if fp.geom_type == "Polygon" else fp.buffer(1e-3)
    samples = np.concatenate([np.asarray(hull.exterior.coords)[:-1], np.asarray(hull.centroid.coords)])
    lines = shapely.shortest_line(hull, shapely.points(xy[near]))
    nearest = shapely.get_coordinates(lines).reshape(len(near), 2, 2)[:, 0]
    targets = np.concatenate([nearest[:, None], np.broadcast_to(samples, (len(near), *samples.shape))], axis=1)
    starts = np.broadcast_to(xy[near][:, None], targets.shape)
    visible = sight_lines_clear(occ, starts, targets, own, eye_height, top).any(axis=1)
    return near[visible].astype(np.int64)


def sight_lines_clear(occ, p0: np.ndarray, p1: np.ndarray, ignore: np.ndarray, z0: float, z1: float) -> np.ndarray:
    """Whether sight lines from xy ``p0`` at height ``z0`` to xy ``p1`` at height ``z1`` (heights above
    the floor) pass above the occupancy height map, skipping ``ignore`` cells. Returns (...,) bool."""
    length = float(np.max(np.linalg.norm(p1 - p0, axis=-1), initial=0.0))
    n = max(2, int(np.ceil(length / (0.5 * occ.resolution))) + 1)
    t = np.linspace(0.0, 1.0, n)
    pts = p0[..., None, :] + (p1 - p0)[..., None, :] * t[:, None]
    z = z0 + (z1 - z0) * t
    ok = (occ.lookup(occ.height, pts, outside=np.float32(np.inf)) <= z + 1e-3) | occ.lookup(ignore, pts)
    return ok.all(axis=-1)


def bfs_distance(neighbors: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """(N,) int32 moves from every node to the nearest of ``sources`` (-1 if none is reachable).

    Multi-source BFS on the reversed graph, level by level over the (N, 8) move table.
    """
    n = len(neighbors)
    dist = np.full(n, -1, np.int32)
    dist[np.asarray(sources, np.int64)] = 0
    valid = neighbors >= 0
    safe = np.where(valid, neighbors, 0)
    level, frontier = 0, np.zeros(n, bool)
    frontier[np.asarray(sources, np.int64)] = True
    while frontier.any():
        reached = (valid & frontier[safe]).any(axis=1) & (dist < 0)
        level += 1
        dist[reached] = level
        frontier = reached
    return dist


def oracle_actions(neighbors: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """(N,) int8 shortest-path action: the lowest move index reaching ``distance - 1``; stop at 0 or -1."""
    big = np.iinfo(np.int32).max
    nd = np.where(neighbors >= 0, distance[np.maximum(neighbors, 0)], big)
    nd = np.where(nd < 0, big, nd)
    act = np.argmin(nd, axis=1).astype(np.int8)  # argmin returns the first minimum: lowest index
    act[distance <= 0] = STOP_ACTION
    return act


def goal_info(graph: OctoGraph, scene: Scene, category: str, radius: float = 1.0) -> GoalInfo:
    """Goal nodes, distances and oracle actions of ``category`` (empty goals if none is reachable)."""
    goals, owners = [], []
    for inst in scene.instances_of(category):
        g = instance_goal_nodes(graph, inst, radius)
        if len(g):
            goals.append(g)
            owners.append(inst.id)
    goal_nodes = np.unique(np.concatenate(goals)) if goals else np.zeros(0, np.int64)
    dist = bfs_distance(graph.neighbors, goal_nodes)
    return GoalInfo(category, goal_nodes.astype(np.int64), dist, oracle_actions(graph.neighbors, dist),
                    tuple(owners))


def goal_infos(graph: OctoGraph, scene: Scene, categories: tuple[str, ...] = TARGETS,
               radius: float = 1.0) -> dict[str, GoalInfo]:
    """``goal_info`` of every category present in the scene that the agent can reach.

    A category present in the scene but without reachable goal nodes is dropped with an
    :class:`UnreachableTargetWarning`; absent categories are simply left out.
    """
    out = {}
    present = scene.categories()
    for cat in categories:
        if cat not in present:
            continue
        info = goal_info(graph, scene, cat, radius)
        if len(info.goal_nodes) == 0:
            warnings.warn(f"scene {scene.scene_id}: no node within {radius} m can see a {cat!r}; "
                          f"dropping target {cat!r} for this scene", UnreachableTargetWarning, stacklevel=2)
            continue
        out[cat] = info
    return out
