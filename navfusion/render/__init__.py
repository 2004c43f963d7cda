"""Rendering: cameras, poses, the ``Frames`` container and the renderer backends."""

from navfusion.render.base import BACKENDS, Renderer, create_renderer, egl_available
from navfusion.render.camera import BUFFERS, Camera, Frames, Poses, camera_rotation

__all__ = ["BACKENDS", "BUFFERS", "Camera", "Frames", "Poses", "Renderer", "camera_rotation", "create_renderer",
           "egl_available"]
