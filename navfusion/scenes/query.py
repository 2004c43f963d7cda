"""Questions about a scene's layout: which room a point is in, and how open or cramped each room is."""

from __future__ import annotations

import numpy as np

from navfusion.scenes.scene import Scene


def room_at(scene: Scene, xy) -> np.ndarray:
    """Room id of each point (N, 2) (or one point (2,)); -1 outside every room polygon.

    Returns:
        (N,) int64 (a 0-d array for a single point).
    """
    from matplotlib.path import Path

    pts = np.asarray(xy, np.float64)
    single = pts.ndim == 1
    pts = pts.reshape(-1, 2)
    out = np.full(len(pts), -1, np.int64)
    for room in scene.rooms:
        inside = Path(np.asarray(room.polygon, np.float64)).contains_points(pts, radius=1e-9)
        out[(out < 0) & inside] = room.id
    return out[0] if single else out


def room_situations(scene: Scene) -> dict[int, str]:
    """Per room id: ``"narrow"`` (corridors), ``"cluttered"`` or ``"open"``.

    Generated scenes record each room's clutter level in ``metadata["rooms"]``; rooms without a
    record (imported scenes) are ``"open"`` unless they are corridors.
    """
    meta = {int(m["id"]): m for m in scene.metadata.get("rooms", []) if isinstance(m, dict) and "id" in m}
    out = {}
    for room in scene.rooms:
        if room.type == "corridor":
            out[room.id] = "narrow"
        else:
            out[room.id] = str(meta.get(room.id, {}).get("clutter", "open"))
    return out
