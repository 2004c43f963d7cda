"""Pinhole camera, poses and the ``Frames`` container every renderer backend returns.

Defaults: 90° horizontal field of view, square images, eye 1.25 m above the floor, looking
horizontally (pitch 0). Camera frame (used by the ``normal`` buffer): ``x`` right, ``y`` up,
``z`` backwards (OpenGL convention: the camera looks along ``-z``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from navfusion.config import check

#: Names of the six buffers, in canonical order.
BUFFERS: tuple[str, ...] = ("rgb", "depth_z", "depth_euclidean", "normal", "semantic", "instance")


@dataclass(frozen=True)
class Camera:
    """Pinhole camera intrinsics.

    Attributes:
        width, height: image size in pixels (1..4096).
        hfov_deg: horizontal field of view in degrees (0, 180).
        eye_height: camera height above the floor in metres (used by the navigation graph's views).
        near, far: clip distances in metres.
    """

    width: int = 128
    height: int = 128
    hfov_deg: float = 90.0
    eye_height: float = 1.25
    near: float = 0.05
    far: float = 50.0

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            v = getattr(self, name)
            check(isinstance(v, (int, np.integer)) and 1 <= v <= 4096, f"camera.{name}", v, "an integer in 1..4096")
        check(0 < self.hfov_deg < 180, "camera.hfov_deg", self.hfov_deg, "in (0, 180) degrees")
        check(0 < self.near < self.far, "camera.near/far", (self.near, self.far), "0 < near < far")

    @property
    def fx(self) -> float:
        return 0.5 * self.width / math.tan(math.radians(self.hfov_deg) / 2)

    @property
    def fy(self) -> float:
        return self.fx  # square pixels

    @property
    def cx(self) -> float:
        return 0.5 * self.width

    @property
    def cy(self) -> float:
        return 0.5 * self.height

    def with_resolution(self, width: int, height: int | None = None) -> Camera:
        from dataclasses import replace

        return replace(self, width=width, height=height if height is not None else width)


def camera_rotation(yaw: float, pitch: float = 0.0) -> np.ndarray:
    """(3, 3) rotation taking camera-frame vectors to world-frame vectors.

    ``yaw`` is the heading in radians, counter-clockwise from ``+x`` (east) seen from above;
    ``pitch`` tilts the view up (positive) or down. The camera looks along its ``-z`` axis.
    """
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    forward = np.array([cy * cp, sy * cp, sp])
    right = np.array([sy, -cy, 0.0])
    up = np.cross(right, forward)
    return np.stack([right, up, -forward], axis=1)


@dataclass
class Frames:
    """A batch of rendered views. N = number of poses.

    Attributes:
        rgb: (N, H, W, 3) uint8.
        depth_z: (N, H, W) float32, metres along the optical axis; 0 where nothing was hit.
        depth_euclidean: (N, H, W) float32, metres from the camera centre; 0 where nothing was hit.
        normal: (N, H, W, 3) float32 unit surface normals in the camera frame, facing the camera;
            0 where nothing was hit.
        semantic: (N, H, W) uint8 category ids (``navfusion.common.CATEGORY_TABLE``; 0 = void).
        instance: (N, H, W) int32 instance ids; -1 where nothing was hit.
    """

    rgb: np.ndarray
    depth_z: np.ndarray
    depth_euclidean: np.ndarray
    normal: np.ndarray
    semantic: np.ndarray
    instance: np.ndarray

    def __len__(self) -> int:
        return int(self.rgb.shape[0])

    def __getitem__(self, idx) -> Frames:
        return Frames(*(getattr(self, b)[idx] for b in BUFFERS))


@dataclass
class Poses:
    """Camera poses. N = number of poses.

    Attributes:
        positions: (N, 3) float64 camera centres in world coordinates.
        yaws: (N,) float64 headings in radians (see :func:`camera_rotation`).
        pitches: (N,) float64, 0 for level views.
    """

    positions: np.ndarray
    yaws: np.ndarray
    pitches: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, np.float64).reshape(-1, 3)
        self.yaws = np.asarray(self.yaws, np.float64).reshape(-1)
        if self.pitches is None:
            self.pitches = np.zeros_like(self.yaws)
        self.pitches = np.asarray(self.pitches, np.float64).reshape(-1)
        if not (len(self.positions) == len(self.yaws) == len(self.pitches)):
            raise ValueError(f"poses: {len(self.positions)} positions, {len(self.yaws)} yaws, "
                             f"{len(self.pitches)} pitches; they must be equal")

    def __len__(self) -> int:
        return len(self.yaws)

    def rotations(self) -> np.ndarray:
        """(N, 3, 3) camera-to-world rotations."""
        return np.stack([camera_rotation(y, p) for y, p in zip(self.yaws, self.pitches)]) if len(self) else \
            np.zeros((0, 3, 3))
