"""Ground truth from camera poses and the scene's rooms: relative poses, point matching, room
layout, vanishing points and the scene class.

Poses follow :mod:`navfusion.render.camera`: ``camera_rotation(yaw, pitch)`` maps camera-frame
vectors to the world (``+z`` up); the camera looks along its ``-z``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

from navfusion.common import ROOM_TYPES
from navfusion.errors import NavFusionError
from navfusion.render.camera import Camera, Poses, camera_rotation
from navfusion.scenes.scene import Room, Scene

#: point_matching: the projected point must land within this many pixels (at 128 px width;
#: scaled with the width) of the second view's centre, and its depth must agree within MATCH_DEPTH_REL.
MATCH_RADIUS_PX_AT_128: float = 2.0
MATCH_DEPTH_REL: float = 0.05


# ----------------------------------------------------------------------------- relative pose


def relative_pose(pos_a: np.ndarray, rot_a: np.ndarray, pos_b: np.ndarray, rot_b: np.ndarray) -> np.ndarray:
    """Pose of camera b in camera a's frame.

    Args:
        pos_a, pos_b: (3,) world positions; rot_a, rot_b: (3, 3) camera-to-world rotations.

    Returns:
        (6,) float32: translation ``R_aᵀ (p_b − p_a)`` (metres, a's camera frame) and the
        axis-angle vector of ``R_aᵀ R_b`` (radians, a's camera frame). For two level cameras at the
        same place whose yaws differ by ``d`` this is ``(0, 0, 0, 0, d, 0)`` (rotation about ``y``, up).
    """
    t = rot_a.T @ (np.asarray(pos_b, np.float64) - np.asarray(pos_a, np.float64))
    r = Rotation.from_matrix(rot_a.T @ rot_b).as_rotvec()
    return np.concatenate([t, r]).astype(np.float32)


def relative_poses(poses: Poses, views: int) -> np.ndarray:
    """Poses of views 2..V of each group of ``views`` consecutive poses, relative to view 1.

    Args:
        poses: N·V poses ordered sample-major (sample 0's views, then sample 1's, ...).

    Returns:
        (N, 6 (V − 1)) float32.
    """
    rots = poses.rotations()
    n = len(poses) // views
    out = np.zeros((n, 6 * (views - 1)), np.float32)
    for s in range(n):
        a = s * views
        for v in range(1, views):
            out[s, 6 * (v - 1):6 * v] = relative_pose(poses.positions[a], rots[a], poses.positions[a + v], rots[a + v])
    return out


# ----------------------------------------------------------------------------- point matching


def center_point(depth_z: np.ndarray, camera: Camera) -> np.ndarray | None:
    """Camera-frame 3D point seen at the centre pixel (row H//2, column W//2), ``None`` if empty."""
    i, j = camera.height // 2, camera.width // 2
    z = float(depth_z[i, j])
    if z <= 0:
        return None
    x = (j + 0.5 - camera.cx) / camera.fx
    y = -(i + 0.5 - camera.cy) / camera.fy
    return np.array([x * z, y * z, -z])


def project(points_cam: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) camera-frame points -> (..., 2) pixel coordinates (x = column, y = row; centres at +0.5)
    and (...,) depth along the optical axis (positive in front of the camera)."""
    p = np.asarray(points_cam, np.float64)
    z = -p[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = camera.cx + camera.fx * p[..., 0] / z
        v = camera.cy - camera.fy * p[..., 1] / z
    return np.stack([u, v], axis=-1), z


def point_match_label(depth_a: np.ndarray, pose_a: tuple[np.ndarray, np.ndarray], depth_b: np.ndarray,
                      pose_b: tuple[np.ndarray, np.ndarray], camera: Camera) -> int:
    """1 if the 3D point at the centre pixel of view a is the one at the centre pixel of view b.

    The point (from a's depth) is moved into b's frame; it matches when it projects within
    ``MATCH_RADIUS_PX_AT_128 · W / 128`` pixels of b's centre pixel and b's depth there agrees
    within ``MATCH_DEPTH_REL`` (so an occluded point does not match).

    Args:
        depth_a, depth_b: (H, W) z-buffer depths; pose_a, pose_b: (position (3,), rotation (3, 3)).
    """
    pa = center_point(depth_a, camera)
    if pa is None:
        return 0
    world = pose_a[0] + pose_a[1] @ pa
    pb = pose_b[1].T @ (world - pose_b[0])
    uv, z = project(pb, camera)
    if not np.isfinite(uv).all() or z <= 0:
        return 0
    radius = MATCH_RADIUS_PX_AT_128 * camera.width / 128.0
    centre = np.array([camera.width // 2 + 0.5, camera.height // 2 + 0.5])
    if np.abs(uv - centre).max() > radius:
        return 0
    col, row = int(np.clip(np.floor(uv[0]), 0, camera.width - 1)), int(np.clip(np.floor(uv[1]), 0, camera.height - 1))
    zb = float(depth_b[row, col])
    return int(zb > 0 and abs(zb - z) <= MATCH_DEPTH_REL * z)


# ----------------------------------------------------------------------------- rooms


def _contains(poly: np.ndarray, xy: np.ndarray) -> bool:
    """Even-odd point-in-polygon test."""
    x, y = float(xy[0]), float(xy[1])
    inside = False
    n = len(poly)
    for k in range(n):
        x1, y1 = poly[k]
        x2, y2 = poly[(k + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _dist_to_polygon(poly: np.ndarray, xy: np.ndarray) -> float:
    a = np.asarray(poly, np.float64)
    b = np.roll(a, -1, axis=0)
    ab = b - a
    t = np.clip(((xy - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
    return float(np.min(np.linalg.norm(a + t[:, None] * ab - xy, axis=1)))


def room_at(scene: Scene, xy: np.ndarray) -> Room | None:
    """The room whose polygon contains ``xy`` (x, y), else the nearest room; ``None`` without rooms."""
    if not scene.rooms:
        return None
    xy = np.asarray(xy, np.float64)[:2]
    for room in scene.rooms:
        if _contains(np.asarray(room.polygon, np.float64), xy):
            return room
    return min(scene.rooms, key=lambda r: _dist_to_polygon(np.asarray(r.polygon, np.float64), xy))


def manhattan_angle(polygon: np.ndarray) -> float:
    """Orientation of a polygon's dominant wall axes in [-π/4, π/4): the length-weighted mean edge
    direction modulo 90° (exactly the axis angle for rectangular/rectilinear rooms)."""
    p = np.asarray(polygon, np.float64)
    e = np.roll(p, -1, axis=0) - p
    ang = np.arctan2(e[:, 1], e[:, 0])
    w = np.linalg.norm(e, axis=1)
    a = math.atan2(float((w * np.sin(4 * ang)).sum()), float((w * np.cos(4 * ang)).sum())) / 4
    return (a + math.pi / 4) % (math.pi / 2) - math.pi / 4


def _room_frame(scene: Scene, position: np.ndarray, yaw: float) -> tuple[float, np.ndarray | None]:
    """(beta, polygon): the Manhattan axis closest to the view direction (world angle beta) and the
    polygon of the camera's room (``None`` when the scene has no rooms; then the axes are the world's)."""
    room = room_at(scene, position)
    alpha = manhattan_angle(room.polygon) if room is not None else 0.0
    rel = yaw - alpha
    k = math.floor((rel + math.pi / 4) / (math.pi / 2))
    return alpha + k * math.pi / 2, (np.asarray(room.polygon, np.float64) if room is not None else None)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def room_layout(scene: Scene, position: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """(9,) float32 camera pose in its room's Manhattan frame.

    Order: distances (m) from the camera to the front, back, left and right walls of the room's
    bounding rectangle aligned with the axis ``beta`` closest to the view direction; height above
    the floor; distance to the ceiling; ``sin 4φ``, ``cos 4φ`` with ``φ = yaw − beta`` in
    [−45°, 45°); pitch (rad). Scenes without rooms use the world axes and the scene's bounds.
    When ``scene.metadata["wall_thickness"]`` is set (generated scenes, whose room polygons run
    along the wall centre lines) the distances are to the wall surfaces.
    """
    position = np.asarray(position, np.float64)
    beta, poly = _room_frame(scene, position, yaw)
    if poly is None:
        b = scene.bounds()
        poly = np.array([[b[0, 0], b[0, 1]], [b[1, 0], b[0, 1]], [b[1, 0], b[1, 1]], [b[0, 0], b[1, 1]]])
    c, s = math.cos(beta), math.sin(beta)
    to_frame = np.array([[c, s], [-s, c]])  # world xy -> frame with +x along beta, +y to its left
    q = poly @ to_frame.T
    cam = to_frame @ position[:2]
    # generated scenes give room polygons on the wall centre lines: measure to the wall surfaces
    half = 0.5 * float(scene.metadata.get("wall_thickness", 0.0) or 0.0)
    lo, hi = q.min(0) + half, q.max(0) - half
    ceiling = scene.ceiling_height if np.isfinite(scene.ceiling_height) else float(scene.bounds()[1, 2])
    phi = _wrap(yaw - beta)
    return np.array([
        hi[0] - cam[0], cam[0] - lo[0], hi[1] - cam[1], cam[1] - lo[1],
        position[2] - scene.floor_height, ceiling - position[2],
        math.sin(4 * phi), math.cos(4 * phi), pitch,
    ], np.float32)


def vanishing_directions(scene: Scene, position: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """(3, 3) float32: the room's Manhattan axes in the camera frame, one per row.

    Row 0: the horizontal axis closest to the view direction, pointing forward (its vanishing
    point is in front of the camera); row 1: the other horizontal axis, pointing to the camera's
    right; row 2: the vertical, pointing up. A level camera looking along a wall axis gets
    ``[[0, 0, -1], [1, 0, 0], [0, 1, 0]]``: the forward vanishing point is the image centre.
    """
    beta, _ = _room_frame(scene, np.asarray(position, np.float64), yaw)
    r = camera_rotation(yaw, pitch)
    fwd = np.array([math.cos(beta), math.sin(beta), 0.0])
    right = np.array([math.sin(beta), -math.cos(beta), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    return (np.stack([fwd, right, up]) @ r).astype(np.float32)  # rows: Rᵀ d


def vanishing_points_px(directions: np.ndarray, camera: Camera) -> np.ndarray:
    """(3, 3) camera-frame directions -> (3, 2) image positions of their vanishing points
    (x = column, y = row; inf/nan for directions parallel to the image plane)."""
    uv, _ = project(np.asarray(directions, np.float64), camera)
    return uv


def scene_class(scene: Scene, position: np.ndarray) -> int:
    """Index into ``ROOM_TYPES`` of the room the camera stands in (nearest room if in none)."""
    room = room_at(scene, position)
    if room is None:
        raise NavFusionError(f"scene {scene.scene_id} has no rooms: class_scene needs room labels")
    if room.type not in ROOM_TYPES:
        raise NavFusionError(f"scene {scene.scene_id}: room {room.id} has type {room.type!r}, "
                             f"not one of {', '.join(ROOM_TYPES)}")
    return ROOM_TYPES.index(room.type)
