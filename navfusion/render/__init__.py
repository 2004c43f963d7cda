"""Rendering: cameras, poses, the ``Frames`` container and the renderer backends."""

from navfusion.render.camera import BUFFERS, Camera, Frames, Poses, camera_rotation

__all__ = ["BUFFERS", "Camera", "Frames", "Poses", "camera_rotation"]
