"""Scale-out: data-parallel training (DDP under torchrun), training data served on the GPU,
vectorised environments, and the scene-shard runner (one task per scene on processes or Ray).

Names are imported lazily: ``navfusion.parallel`` costs nothing until a helper is used, and Ray is
imported only by the Ray runner (``pip install navfusion[distributed]``). Per-scene data builds
(views, features, episodes) on these runners are :mod:`navfusion.build`; device resolution and the
generic GPU helpers are :mod:`navfusion.device`.
"""

from __future__ import annotations

from navfusion.lazy import lazy_exports

_EXPORTS = {
    "World": "world", "init_world": "world", "close_world": "world",
    "on_device": "device_data", "DeviceData": "device_data",
    "Shard": "shards", "run_shards": "shards", "ShardError": "shards",
    "make_vec_env": "vecenv",
    "torchrun_command": "launch", "launch_torchrun": "launch",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
