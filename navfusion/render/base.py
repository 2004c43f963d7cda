"""The renderer protocol and ``create_renderer``, which picks a backend.

Backends:

* ``gl`` — moderngl on a headless EGL context (Mesa llvmpipe on a CPU, the vendor driver on a GPU).
  All six buffers in one pass, many views per draw. Fastest where EGL works.
* ``raycast`` — Embree through ``embreex``; needs no GL, exact, copes with heavy meshes.
* ``auto`` — ``gl`` when an EGL context can be made, else ``raycast``; the choice is logged and kept
  in ``Renderer.backend``.

An EGL context must be created in the process that renders, and a process must not fork after
creating one (the child hangs). Renderers therefore create their context lazily on the first
``render`` call, and ``auto`` probes EGL in a short-lived subprocess, never in the caller.
"""

from __future__ import annotations

import abc
import logging
import os
import subprocess
import sys
from collections.abc import Sequence

import numpy as np

from navfusion.common import suggest
from navfusion.errors import NavFusionError
from navfusion.render.camera import BUFFERS, Camera, Frames, Poses
from navfusion.scenes.scene import Scene

log = logging.getLogger(__name__)

#: Backend names accepted by :func:`create_renderer`.
BACKENDS: tuple[str, ...] = ("auto", "gl", "raycast")

#: Largest image side accepted (larger is almost surely a mistake on a 2-core machine and a GPU alike).
MAX_RESOLUTION = 4096


class Renderer(abc.ABC):
    """Renders batches of camera poses of one scene into :class:`Frames`.

    Attributes:
        backend: ``"gl"`` or ``"raycast"``.
        scene: the scene being rendered.
        camera: intrinsics (resolution, field of view, clip planes).
    """

    backend: str = ""

    def __init__(self, scene: Scene, camera: Camera) -> None:
        if not scene.instances:
            raise NavFusionError(f"scene {scene.scene_id} has no geometry to render")
        self.scene = scene
        self.camera = camera

    @abc.abstractmethod
    def render(self, poses: Poses, buffers: Sequence[str] = BUFFERS) -> Frames:
        """Render N poses.

        Args:
            poses: N camera poses (positions (N, 3), yaws (N,), pitches (N,)).
            buffers: which buffers to produce (names from ``BUFFERS``). Buffers not asked for are
                returned as empty arrays of shape (N, 0, 0[, 3]) with the right dtype.
        Returns:
            Frames with (N, H, W[, 3]) arrays; see :class:`navfusion.render.camera.Frames`.
        """

    def close(self) -> None:  # noqa: B027 — optional hook
        """Release native resources (GL context, Embree scene). Safe to call twice."""

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(scene={self.scene.scene_id!r}, backend={self.backend!r}, "
                f"{self.camera.width}x{self.camera.height})")


def check_buffers(buffers: Sequence[str]) -> tuple[str, ...]:
    """Validate buffer names; unknown ones raise with a suggestion."""
    if isinstance(buffers, str):
        buffers = (buffers,)
    out = tuple(buffers)
    for b in out:
        if b not in BUFFERS:
            raise NavFusionError(f"unknown render buffer {b!r}; known: {', '.join(BUFFERS)}.{suggest(b, BUFFERS)}")
    return out


def check_camera(camera: Camera) -> None:
    """Reject resolutions that are not positive or absurdly large with a one-line error."""
    for name in ("width", "height"):
        v = getattr(camera, name)
        if not isinstance(v, (int, np.integer)) or v <= 0 or v > MAX_RESOLUTION:
            raise NavFusionError(f"render resolution {name}={v!r}: must be an integer in 1..{MAX_RESOLUTION}")


def empty_buffer(name: str, n: int) -> np.ndarray:
    """The placeholder for a buffer that was not requested: (n, 0, 0[, 3]) of the buffer's dtype."""
    dtype = {"rgb": np.uint8, "semantic": np.uint8, "instance": np.int32}.get(name, np.float32)
    shape = (n, 0, 0, 3) if name in ("rgb", "normal") else (n, 0, 0)
    return np.zeros(shape, dtype)


def ray_directions(camera: Camera) -> np.ndarray:
    """(H, W, 3) float64 camera-frame ray directions through pixel centres, with z = -1
    (row 0 is the top of the image)."""
    j = (np.arange(camera.width) + 0.5 - camera.cx) / camera.fx
    i = -(np.arange(camera.height) + 0.5 - camera.cy) / camera.fy
    jj, ii = np.meshgrid(j, i)
    return np.stack([jj, ii, -np.ones_like(jj)], axis=-1)


# ----------------------------------------------------------------------------- EGL probe

_EGL_OK: bool | None = None
_PROBE_ENV = "NAVFUSION_EGL_PROBE"
_PROBE_CODE = (
    "import moderngl\n"
    "ctx = moderngl.create_standalone_context(backend='egl')\n"
    "ok = ctx.version_code >= 430\n"
    "print('ok' if ok else 'old', ctx.info['GL_RENDERER'])\n"
)


def egl_available(timeout: float = 60.0) -> bool:
    """Whether a headless EGL context (GL >= 4.3, as the gl backend needs) can be created here.

    Probed once in a subprocess, so the calling process holds no EGL state and may still fork.
    The answer is cached for this process and passed to child processes via the environment.
    """
    global _EGL_OK
    if _EGL_OK is None:
        env = os.environ.get(_PROBE_ENV)
        if env in ("0", "1"):
            _EGL_OK = env == "1"
        else:
            try:
                r = subprocess.run([sys.executable, "-c", _PROBE_CODE], capture_output=True, text=True,
                                   timeout=timeout)
                _EGL_OK = r.returncode == 0 and r.stdout.startswith("ok")
                if not _EGL_OK:
                    log.info("EGL probe failed: %s", (r.stderr.strip().splitlines() or [r.stdout.strip()])[-1:])
            except (OSError, subprocess.TimeoutExpired) as e:
                log.info("EGL probe failed: %s", e)
                _EGL_OK = False
            os.environ[_PROBE_ENV] = "1" if _EGL_OK else "0"
    return _EGL_OK


def resolve_backend(backend: str) -> str:
    """Turn ``"auto"`` into a concrete backend name; unknown names raise with suggestions."""
    if backend not in BACKENDS:
        raise NavFusionError(f"unknown render backend {backend!r}; choose one of {', '.join(BACKENDS)}."
                             f"{suggest(backend, BACKENDS)}")
    if backend != "auto":
        return backend
    chosen = "gl" if egl_available() else "raycast"
    log.info("render backend auto -> %s%s", chosen, "" if chosen == "gl" else " (no EGL context could be made)")
    return chosen


def create_renderer(scene: Scene, camera: Camera | None = None, backend: str = "auto", **options) -> Renderer:
    """Create a renderer for ``scene``.

    Args:
        scene: the scene to render.
        camera: intrinsics; default ``Camera()`` (128x128, 90° hfov).
        backend: ``"auto"`` (``gl`` if EGL works, else ``raycast``), ``"gl"`` or ``"raycast"``.
        options: backend-specific options (``gl``: ``max_views_per_pass``, ``chunk_size``).
    Returns:
        A :class:`Renderer`; its ``backend`` attribute names the backend actually used and
        ``auto_selected`` says whether ``auto`` chose it.
    """
    camera = Camera() if camera is None else camera
    check_camera(camera)
    name = resolve_backend(backend)
    if name == "gl":
        from navfusion.render.gl import GLRenderer

        r: Renderer = GLRenderer(scene, camera, **options)
    else:
        from navfusion.render.raycast import RaycastRenderer

        r = RaycastRenderer(scene, camera, **options)
    r.auto_selected = backend == "auto"
    return r
