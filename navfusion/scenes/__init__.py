"""Scenes: the data model, the procedural generator, suites and mesh import/export."""

from navfusion.scenes.generator import SceneConfig, generate_scene
from navfusion.scenes.io import import_mesh, load_scene_file, place_object, save_scene
from navfusion.scenes.query import room_at, room_situations
from navfusion.scenes.scene import TEXTURE_KINDS, Instance, Material, Room, Scene
from navfusion.scenes.suites import Split, Suite, list_suites, load_scene, load_suite
from navfusion.scenes.topdown import draw_topdown

__all__ = [
    "TEXTURE_KINDS",
    "Instance",
    "Material",
    "Room",
    "Scene",
    "SceneConfig",
    "Split",
    "Suite",
    "draw_topdown",
    "generate_scene",
    "import_mesh",
    "list_suites",
    "load_scene",
    "load_scene_file",
    "load_suite",
    "place_object",
    "room_at",
    "room_situations",
    "save_scene",
]
