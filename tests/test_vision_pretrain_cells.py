"""Per-cell label statistics (``cell_targets``): same numbers as the ``gt/`` references, learnt by
the encoder, and keyed per task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from navfusion.common import CATEGORIES
from navfusion.errors import ConfigError
from navfusion.vision.encoders import EncoderArch
from navfusion.vision.pretrain import PretrainConfig
from navfusion.vision.pretrain.cells import CellTargets, cell_channels, cell_statistics
from navfusion.vision.pretrain.data import TaskData
from navfusion.vision.pretrain.loop import cell_mse, train_task
from navfusion.vision.references import DEPTH_MAX, cell_stats
from navfusion.vision.tasks import task_spec


def test_depth_statistics_equal_the_reference_features():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 14.0, (3, 1, 64, 64)).astype(np.float32)
    mask = rng.random((3, 64, 64)) > 0.1
    got = cell_statistics(task_spec("depth_zbuffer"), depth, mask, grid=8)
    # the reference reads "no surface" and beyond DEPTH_MAX as DEPTH_MAX
    ref = cell_stats(np.where(mask, np.minimum(depth[:, 0], DEPTH_MAX), DEPTH_MAX))
    assert got.shape == (3, 8, 8, 8) == (3, cell_channels(task_spec("depth_zbuffer")), 8, 8)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_class_shares_and_multichannel_statistics():
    spec = task_spec("segment_semantic")
    ids = np.full((2, 32, 32), CATEGORIES["wall"].id, np.int64)
    ids[0, :, 16:] = CATEGORIES["floor"].id  # right half of the first view is floor
    shares = cell_statistics(spec, ids, None, grid=8)
    assert shares.shape == (2, 8, 8, 8) == (2, cell_channels(spec), 8, 8)
    np.testing.assert_allclose(shares.sum(1), 1.0)
    # the reference's groups: targets (4), floor, wall, other objects, ceiling + void
    assert shares[0, 4, :, 4:].min() == 1.0 and shares[0, 4, :, :4].max() == 0.0
    assert shares[1, 5].min() == 1.0

    normal = np.zeros((1, 3, 32, 32), np.float32)
    normal[0, 1, :16] = 1.0  # top half points up
    st = cell_statistics(task_spec("normal"), normal, np.ones((1, 32, 32), bool), grid=8)
    assert st.shape == (1, 12, 8, 8)
    # channel y (index 1): mean, min, max, std at [4:8]
    assert st[0, 4, 0, 0] == 1.0 and st[0, 4, 7, 0] == 0.0 and st[0, 7].max() == 0.0


def test_cell_targets_enter_only_their_task_key_and_are_validated():
    base = PretrainConfig(zoo="a")
    cells = PretrainConfig(zoo="a", cell_targets={"depth_zbuffer": 1.0})
    assert base.train_key("depth_zbuffer") != cells.train_key("depth_zbuffer")
    assert base.train_key("normal") == cells.train_key("normal")
    with pytest.raises(ConfigError, match="cell_targets"):
        PretrainConfig(cell_targets={"jigsaw": 1.0})
    with pytest.raises(ConfigError, match="cell_targets.depth_zbuffer"):
        PretrainConfig(cell_targets={"depth_zbuffer": 0})


def _depth_data(rng: np.random.Generator, n: int) -> TaskData:
    """Views whose left/right brightness encodes the depth of the left/right half."""
    left, right = rng.uniform(0.1, 0.9, n), rng.uniform(0.1, 0.9, n)
    rgb = np.empty((n, 1, 3, 16, 16), np.uint8)
    rgb[..., :8] = (left[:, None, None, None, None] * 255).astype(np.uint8)
    rgb[..., 8:] = (right[:, None, None, None, None] * 255).astype(np.uint8)
    depth = np.empty((n, 1, 16, 16), np.float32)
    depth[..., :8] = left[:, None, None, None] * 8
    depth[..., 8:] = right[:, None, None, None] * 8
    return TaskData(rgb, depth, np.ones((n, 16, 16), bool))


def test_the_encoder_learns_the_cell_statistics(tmp_path):
    rng = np.random.default_rng(1)
    train, held = _depth_data(rng, 96), _depth_data(rng, 32)
    cfg = PretrainConfig(zoo="toy", suites=["toy"], image_size=16, cache_dense_size=16, dense_size=16, steps=120,
                         batch_size=16, lr=3e-3, threads=1, cell_targets={"depth_zbuffer": 1.0},
                         arch=EncoderArch(input_size=16, out_size=8, width=8, max_width=16, out_norm="layer"))
    trained, res = train_task("depth_zbuffer", train, held, cfg, tmp_path / "ck.safetensors", progress=False)
    assert trained.net.cells is not None and "cells.weight" in trained.tensors()
    # 1.0 is what predicting the statistics' mean scores; the toy's statistics are learnable
    assert res["cell_mse"] < 0.3, res["cell_mse"]
    untrained = CellTargets(task_spec("depth_zbuffer"), train.target, train.mask, 8)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        trained.net.cells.reset_parameters()
    assert cell_mse(trained.net, held, task_spec("depth_zbuffer"), untrained, 8) > 2 * res["cell_mse"]
