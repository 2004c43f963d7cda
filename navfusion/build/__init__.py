"""Per-scene data builds: one typed job per scene (world and views, features, evaluation episodes)
run in this process, in spawned processes or on Ray, with the cache root passed in each job.

- :mod:`navfusion.build.jobs`: :class:`SceneJob`, :func:`run_job` (one scene, idempotent).
- :mod:`navfusion.build.runners`: lists of jobs on the ``serial`` / ``process`` / ``ray`` runners
  (:func:`build_features`, :func:`build_views_sharded`, ...), hashes checked afterwards.

Where each artefact lives under a cache root is :mod:`navfusion.cache_layout` (a base module: the
stores below this layer write there too). Names are imported lazily.
"""

from __future__ import annotations

from navfusion.lazy import lazy_exports

_EXPORTS = {
    "SceneJob": "jobs", "SceneResult": "jobs", "run_job": "jobs", "scene_features": "jobs",
    "run_jobs": "runners", "build_features": "runners", "build_features_sharded": "runners",
    "build_views_sharded": "runners", "build_episodes_sharded": "runners", "verify_features": "runners",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
