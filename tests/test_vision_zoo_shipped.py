"""The shipped zoo: files match the manifest, it loads frozen, and every task beats its baseline --
also when re-scored on freshly rendered views of the held-out pretrain scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from navfusion.config import repo_root
from navfusion.errors import NavFusionError
from navfusion.vision.registry import create_encoder, list_encoders
from navfusion.vision.tasks import TASKS
from navfusion.vision.zoo import DEFAULT_ZOO, verify_zoo

ZOO = repo_root() / "assets" / "encoders" / DEFAULT_ZOO


@pytest.fixture(scope="module")
def manifest():
    return json.loads((ZOO / "manifest.json").read_text())


def test_manifest_matches_files_and_every_task_beats_its_baseline(manifest):
    assert sorted(manifest["tasks"]) == sorted(TASKS)
    assert verify_zoo(ZOO) == []
    size = sum((ZOO / e["file"]).stat().st_size for e in manifest["tasks"].values())
    assert size <= 30e6
    for task, e in manifest["tasks"].items():
        better = e["heldout"] > e["baseline"] if e["higher_is_better"] else e["heldout"] < e["baseline"]
        assert better and e["beats_baseline"], (task, e)
    assert manifest["output_shape"] == [8, 8, 8] and manifest["input_size"] == 64


def test_create_encoder_loads_the_shipped_zoo_frozen():
    assert {"normal", f"{DEFAULT_ZOO}/normal", "depth_zbuffer"} <= set(list_encoders())
    enc = create_encoder("normal")
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    with torch.no_grad():
        y = enc(torch.zeros(2, 3, 64, 64))
    assert y.shape == (2, 8, 8, 8) and torch.isfinite(y).all()
    with pytest.raises(NavFusionError, match="Did you mean 'normal'"):
        create_encoder("normals")


def test_tampered_weight_file_is_refused(tmp_path, monkeypatch):
    import shutil

    shutil.copytree(ZOO, tmp_path / DEFAULT_ZOO)
    f = tmp_path / DEFAULT_ZOO / "normal.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    monkeypatch.setenv("NAVFUSION_ZOO_PATH", str(tmp_path))
    with pytest.raises(NavFusionError, match="corrupt or was modified"):
        create_encoder("normal")


def _rescore(task: str, n: int, scenes=None, bootstrap: int = 0):
    from navfusion.vision.pretrain import fresh_heldout_eval

    r = fresh_heldout_eval(ZOO, task, n=n, scenes=scenes, bootstrap=bootstrap)
    value, base, higher = r["metric"], r["baseline"], r["higher_is_better"]
    assert np.isfinite(value) and np.isfinite(base) and r["n"] == n
    assert (value > base) if higher else (value < base), (task, value, base)
    return r


@pytest.mark.parametrize("task", ["depth_zbuffer", "segment_semantic", "normal"])
def test_heldout_metric_recomputed_on_fresh_views(task, nf_cache):
    _rescore(task, n=32, scenes=["tiny/pretrain/3"])


#: Room type is one label per view, and the held-out scenes' rarer rooms (a kitchen, a corridor)
#: get few views out of 128: score it on more views and require a clear margin -- the whole 95%
#: interval of (balanced accuracy - baseline) above zero and the estimate >= 0.05 above the
#: baseline (the class_scene encoder trained without class balancing scored 0.284 vs 0.25 here).
_FRESH_N = {"class_scene": 600}
_MARGIN = 0.05


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_heldout_metric_recomputed_on_fresh_views_all_tasks(task, nf_cache):
    n = _FRESH_N.get(task, 128)
    r = _rescore(task, n=n, bootstrap=500 if task in _FRESH_N else 0)
    if task in _FRESH_N:
        lo, hi = r["diff_ci95"]
        diff = r["metric"] - r["baseline"]
        assert (lo > 0 and diff >= _MARGIN) if r["higher_is_better"] else (hi < 0 and -diff >= _MARGIN), r


def test_fresh_heldout_eval_reports_counts_and_an_interval(nf_cache):
    from navfusion.vision.pretrain import fresh_heldout_eval

    r = fresh_heldout_eval(ZOO, "class_scene", n=24, scenes=["tiny/pretrain/3"], bootstrap=50)
    assert r["n"] == 24 and sum(r["counts"]) == 24 and len(r["counts"]) == 6
    lo, hi = r["diff_ci95"]
    assert np.isfinite(lo) and np.isfinite(hi) and lo <= hi


def test_malformed_or_mismatched_zoo_file_names_the_problem(tmp_path, monkeypatch):
    import shutil

    from safetensors.torch import save_file

    from navfusion.io import sha256_file

    d = tmp_path / DEFAULT_ZOO
    shutil.copytree(ZOO, d)
    m = json.loads((d / "manifest.json").read_text())
    monkeypatch.setenv("NAVFUSION_ZOO_PATH", str(tmp_path))

    def rewrite(task):
        m["tasks"][task]["sha256"] = sha256_file(d / m["tasks"][task]["file"])
        (d / "manifest.json").write_text(json.dumps(m))

    (d / "normal.safetensors").write_bytes(b"\x00\x01not a safetensors file")
    rewrite("normal")
    with pytest.raises(NavFusionError, match="not a valid safetensors file"):
        create_encoder("normal")
    save_file({"encoder.stem.0.weight": torch.zeros(4, 3, 3, 3)}, str(d / "curvature.safetensors"))
    rewrite("curvature")
    stem = m["architecture"]["width"]
    want = rf"tensor 'stem.0.weight' has shape \(4, 3, 3, 3\), expected \({stem}, 3, 3, 3\)"
    with pytest.raises(NavFusionError, match=want):
        create_encoder("curvature")


def test_package_exports():
    import navfusion.vision as v

    assert v.create_encoder is create_encoder and "normal" in v.list_encoders("norm*")
