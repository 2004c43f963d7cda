"""FeatureStore: incremental, resumable, tamper-detecting feature caches."""

from __future__ import annotations

import numpy as np
import pytest

from navfusion.errors import NavFusionError
from navfusion.vision.features import FeatureStore, encoder_key
from navfusion.vision.registry import create_encoder, register_encoder, unregister_encoder

ENCODERS = ["test_fs_a", "test_fs_b", "test_fs_c"]


@pytest.fixture(scope="module", autouse=True)
def tiny_encoders():
    for i, name in enumerate(ENCODERS):
        register_encoder(name, lambda seed=i: create_encoder("random", seed=seed, width=8, max_width=16),
                         overwrite=True)
    yield
    for name in ENCODERS:
        unregister_encoder(name)


@pytest.fixture
def views():
    return np.random.default_rng(0).integers(0, 256, (6, 8, 64, 64, 3), dtype=np.uint8)


def _bytes(store, slug):
    return {n: (store.scene_dir(slug) / f"{encoder_key(n)}.npy").read_bytes() for n in ENCODERS}


def test_build_is_incremental_and_loads(tmp_path, views):
    store = FeatureStore("nfzoo", root=tmp_path)
    st = store.build_scene("s0", views, ENCODERS[:2])
    assert st.computed == ENCODERS[:2] and st.reused == []
    st = store.build_scene("s0", views, ENCODERS)
    assert st.computed == ENCODERS[2:] and st.reused == ENCODERS[:2]
    feats = store.load("s0", ENCODERS)
    assert feats.shape == (6, 3, 8, 8, 8, 8) and feats.dtype == np.float16
    # node 2, view 5 of encoder b is that view encoded on its own
    from navfusion.vision.encoders import encode_rgb

    one = encode_rgb(create_encoder("test_fs_b"), views[2, 5][None])[0]
    np.testing.assert_allclose(feats[2, 1, 5].astype(np.float32), one, atol=2e-2, rtol=1e-2)


def test_killed_build_resumes_to_identical_bytes(tmp_path, views):
    ref = FeatureStore("nfzoo", root=tmp_path / "ref")
    ref.build_scene("s0", views, ENCODERS)

    store = FeatureStore("nfzoo", root=tmp_path / "killed")
    done = []

    def kill_after_first(name, what):
        done.append(name)
        raise KeyboardInterrupt  # as if the process died right after the first file

    with pytest.raises(KeyboardInterrupt):
        store.build_scene("s0", views, ENCODERS, on_encoder=kill_after_first)
    assert done == ENCODERS[:1]
    st = store.build_scene("s0", views, ENCODERS)
    assert st.reused == ENCODERS[:1] and st.computed == ENCODERS[1:]
    assert _bytes(store, "s0") == _bytes(ref, "s0")
    assert not list(store.scene_dir("s0").glob("*.tmp"))


def test_tampered_file_is_detected_and_rebuilt(tmp_path, views):
    store = FeatureStore("nfzoo", root=tmp_path)
    store.build_scene("s0", views, ENCODERS)
    good = _bytes(store, "s0")
    f = store.scene_dir("s0") / f"{encoder_key('test_fs_b')}.npy"
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(NavFusionError, match="corrupt"):
        store.load("s0", ENCODERS)
    st = store.build_scene("s0", views, ENCODERS)
    assert st.computed == ["test_fs_b"]
    assert _bytes(store, "s0") == good


def test_changed_views_make_features_stale(tmp_path, views):
    store = FeatureStore("nfzoo", root=tmp_path)
    store.build_scene("s0", views, ENCODERS[:1])
    views2 = views.copy()
    views2[0, 0, 0, 0, 0] ^= 1
    st = store.build_scene("s0", views2, ENCODERS[:1])
    assert st.computed == ENCODERS[:1]
    with pytest.raises(NavFusionError, match="missing"):
        store.load("s0", ENCODERS)


def test_rejects_bad_views(tmp_path):
    store = FeatureStore("nfzoo", root=tmp_path)
    with pytest.raises(NavFusionError, match=r"\(N, 8, H, W, 3\)"):
        store.build_scene("s0", np.zeros((2, 4, 8, 8, 3), np.uint8), ENCODERS)


@pytest.mark.slow
def test_parallel_build_matches_serial_build(nf_cache):
    """Two spawned workers over two tiny scenes give the bytes one process gives."""
    from navfusion.build.runners import build_features

    ids = ["tiny/test/0", "tiny/test/1"]
    par = build_features(ids, "par_zoo", ["random"], workers=2, progress=False)
    assert all(c == ["random"] for c, _ in par.values())
    ser = build_features(ids, "ser_zoo", ["random"], workers=1, progress=False)
    again = build_features(ids, "par_zoo", ["random"], workers=2, progress=False)
    assert all(r == ["random"] and not c for c, r in again.values())
    for sid in ids:
        slug = sid.replace("/", "__")
        a = (FeatureStore("par_zoo").scene_dir(slug) / "random.npy").read_bytes()
        b = (FeatureStore("ser_zoo").scene_dir(slug) / "random.npy").read_bytes()
        assert a == b and ser[sid][0] == ["random"]
