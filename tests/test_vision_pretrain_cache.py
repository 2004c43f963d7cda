"""Pretraining data cache: every scene file's sha256 is recorded and checked; a modified file is
rendered again, an intact one never."""

from __future__ import annotations

import json

import numpy as np
import pytest

from navfusion.vision import pretrain as P
from navfusion.vision.pretrain import data as pretrain_data


def test_modified_scene_file_is_rendered_again(tmp_path, monkeypatch):
    monkeypatch.setenv("NAVFUSION_CACHE", str(tmp_path))
    calls = []

    def fake_render(scene_id, cfg):
        calls.append(scene_id)
        return {"rgb": np.full((2, 1, 3, 4, 4), len(scene_id), np.uint8)}

    monkeypatch.setattr(pretrain_data, "render_scene_data", fake_render)
    cfg = P.PretrainConfig(suites=["tiny"])
    ids = ["tiny/pretrain/0", "tiny/pretrain/1"]
    d = P.build_dataset(cfg, ids, progress=False)
    assert calls == ids
    hashes = json.loads((d / P.HASHES).read_text())
    assert set(hashes) == {"tiny__pretrain__0", "tiny__pretrain__1"}
    P.build_dataset(cfg, ids, progress=False)
    assert calls == ids  # intact: nothing rendered again
    f = d / "tiny__pretrain__1.npz"
    raw = bytearray(f.read_bytes())
    raw[-10] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="does not match its recorded sha256"):
        P.build_dataset(cfg, ids, progress=False)
    assert calls == [*ids, "tiny/pretrain/1"]
    assert json.loads((d / P.HASHES).read_text()) == hashes  # same content again
