"""Vision: the 25 Taskonomy-style tasks and their ground truth, the encoder zoo, the encoder
registry (plug-ins), the FeatureStore and task affinity.

Names are imported lazily (torch is only loaded when an encoder is needed).
"""

from __future__ import annotations

from navfusion.lazy import lazy_exports

_EXPORTS = {
    "create_encoder": "registry", "list_encoders": "registry", "register_encoder": "registry",
    "unregister_encoder": "registry",
    "encode_rgb": "encoders", "EncoderArch": "encoders", "ZooEncoder": "encoders",
    "DEFAULT_ZOO": "zoo", "find_zoo": "zoo", "list_zoos": "zoo", "load_manifest": "zoo", "verify_zoo": "zoo",
    "FeatureStore": "features",
    "load_affinity": "affinity",
    "TASKS": "tasks", "task_spec": "tasks", "list_tasks": "tasks",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
