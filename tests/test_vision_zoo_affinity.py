"""Task affinity: linear CKA properties, zoo round trip, user CSV, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from navfusion.errors import NavFusionError
from navfusion.io import atomic_write_json
from navfusion.vision.affinity import compute_affinity, linear_cka, load_affinity, save_affinity, to_csv
from navfusion.vision.encoders import NORMALIZATION, EncoderArch
from navfusion.vision.registry import create_encoder
from navfusion.vision.zoo import save_weights, sha256_file


def test_linear_cka_properties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 30))
    q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0)  # rotation, scale, shift invariant
    assert linear_cka(x, rng.normal(size=(200, 30))) < 0.3
    assert linear_cka(x, x[:, :10]) > linear_cka(x, rng.normal(size=(200, 10)))


@pytest.fixture
def fake_zoo(tmp_path, monkeypatch):
    """A 3-task zoo of random encoders; 'normal' and 'reshading' share their weights."""
    d = tmp_path / "zoos" / "fakezoo"
    arch = EncoderArch(width=8, max_width=16)
    tasks = {}
    for task, seed in (("normal", 1), ("reshading", 1), ("segment_semantic", 2)):
        enc = create_encoder("random", seed=seed, width=8, max_width=16)
        f = d / f"{task}.safetensors"
        save_weights(f, enc)
        tasks[task] = {"file": f.name, "sha256": sha256_file(f)}
    atomic_write_json(d / "manifest.json", {"zoo": "fakezoo", "architecture": {"family": "nfresnet",
                                            **arch.to_json()}, "normalization": NORMALIZATION, "tasks": tasks})
    monkeypatch.setenv("NAVFUSION_ZOO_PATH", str(tmp_path / "zoos"))
    return d


def test_zoo_affinity_round_trip(fake_zoo, tmp_path):
    with pytest.raises(NavFusionError, match="no task affinity.*navfusion encoders affinity --zoo fakezoo"):
        load_affinity("fakezoo")
    imgs = np.random.default_rng(0).integers(0, 256, (48, 64, 64, 3), dtype=np.uint8)
    names, a = compute_affinity("fakezoo", imgs)
    assert names == ["reshading", "normal", "segment_semantic"]  # canonical task order
    assert a[0, 1] == pytest.approx(1.0) and a[0, 2] < 0.99 and np.allclose(a, a.T)
    save_affinity("fakezoo", names, a, out=tmp_path / "out")
    assert (tmp_path / "out" / "affinity.png").stat().st_size > 0
    got_names, got = load_affinity("fakezoo", ["nf64/segment_semantic", "normal"])
    assert got_names == ["nf64/segment_semantic", "normal"]
    np.testing.assert_allclose(got, [[1.0, a[2, 1]], [a[1, 2], 1.0]], atol=1e-6)
    with pytest.raises(NavFusionError, match="no entry for 'normals'.*Did you mean 'normal'"):
        load_affinity("fakezoo", ["normals"])
    # a user CSV (e.g. Taskonomy's published affinities) loads the same way
    csv = tmp_path / "out" / "affinity.csv"
    n2, a2 = load_affinity(csv, ["reshading", "normal"])
    assert a2[0, 1] == pytest.approx(1.0, abs=1e-5)
    bad = tmp_path / "bad.csv"
    bad.write_text(to_csv(["a", "b"], np.eye(2)).replace("b,0", "c,0"))
    with pytest.raises(NavFusionError, match="malformed"):
        load_affinity(bad)
