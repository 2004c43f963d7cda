"""Scaling out: data-parallel training (DDP under torchrun), scene-shard builds on processes or
Ray, vectorised environments, and the GPU path.

Names are imported lazily: ``navfusion.dist`` costs nothing until a helper is used, and Ray is
imported only by the Ray runner (``pip install navfusion[distributed]``).
"""

from __future__ import annotations

from navfusion.lazy import lazy_exports

_EXPORTS = {
    "World": "world", "init_world": "world", "close_world": "world", "resolve_device": "world",
    "autocast": "device", "on_device": "device", "prepare_model": "device", "host_model": "device",
    "DeviceData": "device",
    "Shard": "shards", "run_shards": "shards", "ShardError": "shards",
    "build_features_sharded": "build", "build_views_sharded": "build", "build_episodes_sharded": "build",
    "make_vec_env": "vecenv", "make_sb3_vec_env": "vecenv",
    "torchrun_command": "launch", "launch_torchrun": "launch",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
