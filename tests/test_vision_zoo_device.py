"""Where encoders run: ``--device`` of ``features build`` and ``encoders pretrain`` (CPU path, GPU
path when there is one, one-line error when CUDA is asked for and missing)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from navfusion.build import jobs
from navfusion.build.runners import build_features
from navfusion.cli import main
from navfusion.vision import features as fmod
from navfusion.vision.features import FeatureStore
from navfusion.vision.registry import create_encoder, register_encoder, unregister_encoder

ENC = "test_dev_enc"


@pytest.fixture(autouse=True)
def tiny_encoder():
    register_encoder(ENC, lambda: create_encoder("random", seed=5, width=8, max_width=16), overwrite=True)
    yield
    unregister_encoder(ENC)


@pytest.fixture
def fake_views(monkeypatch):
    """Synthetic views per scene instead of rendering the suite (the build logic is what is tested)."""

    def views(scene_id, resolution):
        seed = sum(map(ord, scene_id))
        return np.random.default_rng(seed).integers(0, 256, (5, 8, resolution, resolution, 3), dtype=np.uint8)

    monkeypatch.setattr(jobs, "scene_views", views)


def _files(zoo, sid):
    d = FeatureStore(zoo).scene_dir(sid.replace("/", "__"))
    return (d / f"{ENC}.npy").read_bytes(), fmod.read_json(d / "manifest.json")


def test_cpu_device_builds_the_same_float16_files(nf_cache, fake_views, capsys):
    ids = ["tiny/test/0", "tiny/test/1"]
    for zoo in ("dev_default", "dev_cli"):  # start empty: a reused NAVFUSION_TEST_CACHE holds earlier files
        shutil.rmtree(FeatureStore(zoo).root, ignore_errors=True)
    build_features(ids, "dev_default", [ENC], progress=False)
    rc = main(["features", "build", "--env", "tiny", "--splits", "test", "--zoo", "dev_cli", "--encoders", ENC,
               "--device", "cpu"])
    assert rc == 0 and "2 feature files computed" in capsys.readouterr().out
    for sid in ids:
        a, ma = _files("dev_default", sid)
        b, mb = _files("dev_cli", sid)
        assert a == b
        e = mb["encoders"][ENC]
        assert e["dtype"] == "float16" and e["device"] == "cpu" and e["shape"] == [5, 8, 8, 8, 8]
        arr = np.load(FeatureStore("dev_cli").scene_dir(sid.replace("/", "__")) / f"{ENC}.npy")
        assert arr.dtype == np.float16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_features_match_cpu_features(nf_cache, fake_views):
    sid = "tiny/test/0"
    build_features([sid], "dev_cpu", [ENC], progress=False, device="cpu")
    build_features([sid], "dev_gpu", [ENC], progress=False, device="cuda")
    d_cpu = FeatureStore("dev_cpu").scene_dir(sid.replace("/", "__"))
    d_gpu = FeatureStore("dev_gpu").scene_dir(sid.replace("/", "__"))
    a, b = np.load(d_cpu / f"{ENC}.npy"), np.load(d_gpu / f"{ENC}.npy")
    assert a.dtype == b.dtype == np.float16 and a.shape == b.shape
    np.testing.assert_allclose(a.astype(np.float32), b.astype(np.float32), atol=4e-3, rtol=4e-3)
    assert fmod.read_json(d_gpu / "manifest.json")["encoders"][ENC]["device"].startswith("cuda")


@pytest.mark.parametrize("cmd", [
    ["features", "build", "--env", "tiny", "--zoo", "dev_nogpu", "--encoders", ENC, "--device", "cuda"],
    ["features", "build", "--env", "tiny", "--zoo", "dev_nogpu", "--encoders", ENC, "--device", "cuda:1"],
    ["encoders", "pretrain", "--config", "configs/zoo_smoke.yaml", "--device", "cuda"],
])
def test_cuda_without_a_gpu_is_a_one_line_error(cmd, nf_cache, monkeypatch, capsys):
    from navfusion.config import repo_root

    monkeypatch.chdir(repo_root())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(cmd) == 1
    err = capsys.readouterr().err.strip()
    assert "sees no CUDA GPU" in err and "--device cpu" in err and len(err.splitlines()) == 1, err
    assert not FeatureStore("dev_nogpu").root.exists()  # nothing was built


def test_unknown_device_is_a_one_line_error(nf_cache, capsys):
    assert main(["features", "build", "--env", "tiny", "--encoders", ENC, "--device", "gpu"]) == 1
    err = capsys.readouterr().err.strip()
    assert "'gpu'" in err and "'auto'" in err and len(err.splitlines()) == 1
