"""Where every per-scene artefact lives under a cache root: the one definition of the cache layout.

::

    <root>/scenes/<scene slug>-<suite fingerprint>-<seed>.npz     generated scenes
    <root>/graphs/<scene slug>/graph-<key>.npz                    octagonal graphs
    <root>/views/<scene slug>/<W>x<H>/                            rendered views (ViewStore)
    <root>/episodes/<scene slug>/episodes-v<V>-n<count>-s<seed>.json   evaluation episodes
    <root>/features/<zoo>/<scene slug>/                           encoder features (FeatureStore)

``<root>`` is an explicit argument everywhere (a build job's ``cache_root`` field); ``None`` means
the process default, :func:`navfusion.common.cache_root` (``--cache-dir`` / ``NAVFUSION_CACHE``).
Scene folders are named by :func:`navfusion.common.scene_slug`, the only slug of a scene id. The
file names inside a folder (hash keys, versions) belong to the store that writes them.
"""

from __future__ import annotations

import os
from pathlib import Path

from navfusion.common import cache_root, scene_slug

Root = str | os.PathLike | None


def resolve_root(root: Root = None) -> Path:
    """``root`` as a path, or the process default cache root when ``None``."""
    return Path(root) if root is not None else cache_root()


def scenes_dir(root: Root = None) -> Path:
    """Folder of the generated scenes of every suite."""
    return resolve_root(root) / "scenes"


def graphs_dir(scene_id: str, root: Root = None) -> Path:
    """Folder of a scene's navigation graphs (one file per graph settings key)."""
    return resolve_root(root) / "graphs" / scene_slug(scene_id)


def views_dir(scene_id: str, root: Root = None) -> Path:
    """Folder of a scene's view stores (one sub-folder ``<W>x<H>`` per camera resolution)."""
    return resolve_root(root) / "views" / scene_slug(scene_id)


def episodes_dir(scene_id: str, root: Root = None) -> Path:
    """Folder of a scene's fixed evaluation episodes (one file per count, seed and version)."""
    return resolve_root(root) / "episodes" / scene_slug(scene_id)


def features_root(zoo: str, root: Root = None) -> Path:
    """Root of a zoo's FeatureStore (one sub-folder per scene slug); a zoo path counts by its name."""
    return resolve_root(root) / "features" / Path(zoo).name
