"""Vision: the 25 Taskonomy-style tasks and their ground truth, the encoder zoo, the encoder
registry (plug-ins), the FeatureStore and task affinity.

Names are imported lazily (torch is only loaded when an encoder is needed).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "create_encoder": "registry", "list_encoders": "registry", "register_encoder": "registry",
    "unregister_encoder": "registry",
    "encode_rgb": "encoders", "EncoderArch": "encoders", "ZooEncoder": "encoders",
    "DEFAULT_ZOO": "zoo", "find_zoo": "zoo", "list_zoos": "zoo", "load_manifest": "zoo", "verify_zoo": "zoo",
    "FeatureStore": "features", "build_features": "features",
    "load_affinity": "affinity",
    "TASKS": "tasks", "task_spec": "tasks", "list_tasks": "tasks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"navfusion.vision.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'navfusion.vision' has no attribute {name!r}")
