"""Taskonomy adapter: the visualpriors state-dict layout loads from local files, safely."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from navfusion.errors import NavFusionError
from navfusion.vision.registry import create_encoder
from navfusion.vision.taskonomy import TaskonomyEncoder


@pytest.fixture(scope="module")
def random_taskonomy():
    torch.manual_seed(0)
    enc = TaskonomyEncoder().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics so a wrong key mapping would show
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return enc


def test_layout_matches_visualpriors_keys(random_taskonomy):
    sd = random_taskonomy.state_dict()
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight", "layer1.2.conv3.weight",
                "layer3.5.bn3.bias", "layer4.2.conv2.weight", "compress1.weight", "compress_bn.running_mean"):
        assert key in sd
    assert "layer1.2.downsample.0.weight" not in sd  # the strided last block's shortcut is a max-pool
    assert tuple(sd["compress1.weight"].shape) == (8, 2048, 3, 3)


def test_round_trip_pth_and_safetensors(tmp_path, random_taskonomy):
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        ref = random_taskonomy(x)
    assert ref.shape == (1, 8, 16, 16)
    sd = random_taskonomy.state_dict()
    pth = tmp_path / "normal_encoder-0000.pth"
    torch.save({"state_dict": {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}}, pth)
    st = tmp_path / "normal_encoder.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(st))
    for path in (pth, st):
        enc = create_encoder("taskonomy", weights=str(path))
        assert enc.output_shape == (8, 16, 16) and not enc.training
        with torch.no_grad():
            np.testing.assert_allclose(enc(x).numpy(), ref.numpy(), atol=1e-5)


def test_bad_files_give_clear_errors(tmp_path, random_taskonomy):
    with pytest.raises(NavFusionError, match="not found"):
        create_encoder("taskonomy", weights=str(tmp_path / "nope.pth"))
    sd = dict(random_taskonomy.state_dict())
    sd["compress1.weight"] = torch.zeros(8, 1024, 3, 3)
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    with pytest.raises(NavFusionError, match=r"compress1.weight.*\(8, 1024, 3, 3\).*expected \(8, 2048, 3, 3\)"):
        create_encoder("taskonomy", weights=str(bad))
    del sd["compress1.weight"]
    torch.save(sd, bad)
    with pytest.raises(NavFusionError, match="missing tensor 'compress1.weight'"):
        create_encoder("taskonomy", weights=str(bad))


class _Evil:
    def __reduce__(self):
        return (open, ("/tmp/navfusion_pwned_marker", "w"))


def test_loading_never_executes_code(tmp_path):
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"state_dict": _Evil()}, protocol=2))
    with pytest.raises(NavFusionError, match="could not be read safely"):
        create_encoder("taskonomy", weights=str(evil))
    import os

    assert not os.path.exists("/tmp/navfusion_pwned_marker")
