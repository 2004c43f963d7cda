"""Scenes: the data model, the procedural generator, suites and mesh import/export."""

from navfusion.scenes.scene import TEXTURE_KINDS, Instance, Material, Room, Scene

__all__ = ["TEXTURE_KINDS", "Instance", "Material", "Room", "Scene"]
