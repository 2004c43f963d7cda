"""Scene-shard builds: process and Ray backends, killed workers retried without duplicated results."""

from __future__ import annotations

import os

import pytest

from navfusion.build.runners import build_features_sharded, feature_job, payload_key
from navfusion.errors import NavFusionError
from navfusion.parallel.shards import KillOnce, Shard, ShardError, run_shards


def test_process_backend_retries_a_killed_worker(tmp_path):
    shards = [Shard(k, (k,)) for k in ("a", "b", "c")]
    fn = KillOnce(payload_key, payload_key, "b", tmp_path, when="after")
    seen = []
    out = run_shards(fn, shards, backend="process", workers=2, on_result=lambda k, r: seen.append(k))
    assert out == {"a": "a", "b": "b", "c": "c"}
    assert sorted(seen) == ["a", "b", "c"]  # each shard reported once
    assert len(list(tmp_path.glob("killed-*"))) == 1  # the worker really died once


def test_runner_errors():
    with pytest.raises(NavFusionError, match="unknown shard backend"):
        run_shards(payload_key, [], backend="slurm")
    with pytest.raises(NavFusionError, match="unique"):
        run_shards(payload_key, [Shard("a", ("a",)), Shard("a", ("a",))])
    assert ShardError.__mro__[1].__name__ == "NavFusionError"


def _store_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.npy"))}


@pytest.mark.slow  # ~60-90 s on 2 loaded cores: a local Ray cluster, 2 worker processes, one killed
def test_ray_feature_build_matches_single_process_and_survives_a_kill(tmp_path, tiny_worlds):
    ray = pytest.importorskip("ray")
    from navfusion.build.runners import build_features
    from navfusion.vision.features import FeatureStore

    ids = [w.scene_id for w in tiny_worlds]
    zoo = "scaletest"
    build_features(ids, zoo, ["random"], workers=1, progress=False)  # the single-process reference
    ref_root = FeatureStore(zoo).root

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        killer = KillOnce(feature_job, payload_key, ids[1], tmp_path, when="after")
        out = build_features_sharded(ids, zoo, ["random"], backend="ray", workers=2, store_root=tmp_path / "ray",
                                     progress=False, job=killer)
    finally:
        ray.shutdown()
    assert len(list(tmp_path.glob("killed-*"))) == 1  # a worker died after writing ids[1]'s features
    assert out[ids[1]] == ([], ["random"])  # the retry found them on disk: nothing computed twice
    assert all(out[s] == (["random"], []) for s in ids if s != ids[1])
    ray_bytes, ref_bytes = _store_bytes(tmp_path / "ray"), _store_bytes(ref_root)
    assert ray_bytes.keys() == ref_bytes.keys() and len(ref_bytes) == len(ids)
    assert ray_bytes == ref_bytes
    assert not [p for p in (tmp_path / "ray").rglob("*") if p.name.endswith(".tmp")]
    assert os.environ.get("NAVFUSION_CACHE")


def test_views_and_episodes_shards_in_processes(tiny_worlds):
    from navfusion.build.runners import build_episodes_sharded, build_views_sharded

    ids = [w.scene_id for w in tiny_worlds[:2]]
    nodes = build_views_sharded(ids, resolution=64, backend="process", workers=2)
    assert nodes == {w.scene_id: int(w.graph.positions.shape[0]) for w in tiny_worlds[:2]}
    eps = build_episodes_sharded(ids, count=16, seed=0, backend="serial")
    assert eps == dict.fromkeys(ids, 16)
