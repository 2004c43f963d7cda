"""Ground truth computed from the image itself (2D tasks) and the semantic tasks."""

from __future__ import annotations

import numpy as np
import pytest
from vision_gt_synth import plane_frames

from navfusion.common import CATEGORIES, OBJECT_CATEGORIES
from navfusion.render.camera import Camera, Frames, Poses
from navfusion.vision import gt_image as im
from navfusion.vision.ground_truth import compute_targets
from navfusion.vision.tasks import JIGSAW_GRID, JIGSAW_PERMUTATIONS

H = W = 48
CAM = Camera(width=W, height=H)


def _frames(rgb: np.ndarray, semantic: np.ndarray | None = None, n: int = 1) -> Frames:
    fr = plane_frames(np.full((H, W), 2.0, np.float32), (0, 0, 1), rgb=rgb)
    if semantic is not None:
        fr.semantic = semantic[None].astype(np.uint8)
    if n > 1:
        fr = Frames(*(np.repeat(getattr(fr, b), n, axis=0) for b in ("rgb", "depth_z", "depth_euclidean", "normal",
                                                                     "semantic", "instance")))
    return fr


def _poses(n=1):
    return Poses(np.zeros((n, 3)), np.zeros(n))


def _noise_image(seed=0):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
    return np.kron(small, np.ones((8, 8, 1), np.uint8))  # 8x8 blocks: every tile differs


def test_autoencoding_colorization_denoising():
    rgb = _noise_image()
    fr, p = _frames(rgb, n=2), _poses(2)
    img = rgb.astype(np.float32).transpose(2, 0, 1) / 255
    a = compute_targets("autoencoding", fr, p, None, CAM, np.random.default_rng(0))
    np.testing.assert_allclose(a.inputs[0], img)
    np.testing.assert_allclose(a.target[0], img)
    c = compute_targets("colorization", fr, p, None, CAM, np.random.default_rng(0))
    np.testing.assert_allclose(c.target[0], img)
    assert np.allclose(c.inputs[0, 0], c.inputs[0, 1]) and np.allclose(c.inputs[0, 1], c.inputs[0, 2])
    np.testing.assert_allclose(c.inputs[0, 0], 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2], atol=1e-6)
    d = compute_targets("denoising", fr, p, None, CAM, np.random.default_rng(0))
    np.testing.assert_allclose(d.target[0], img)
    diff = d.inputs[0] - img
    assert 0.05 < diff.std() < 0.12 and d.inputs.min() >= 0 and d.inputs.max() <= 1
    assert not np.allclose(d.inputs[0], d.inputs[1])  # fresh noise per sample
    d2 = compute_targets("denoising", fr, p, None, CAM, np.random.default_rng(0))
    np.testing.assert_array_equal(d.inputs, d2.inputs)  # same seed, same noise


def test_inpainting_hole_and_mask():
    rgb = _noise_image()
    b = compute_targets("inpainting", _frames(rgb, n=3), _poses(3), None, CAM, np.random.default_rng(5))
    img = rgb.astype(np.float32).transpose(2, 0, 1) / 255
    for k in range(3):
        m = b.mask[k]
        assert m.sum() == (H // 2) * (W // 2)
        ys, xs = np.nonzero(m)
        assert ys.max() - ys.min() + 1 == H // 2 and xs.max() - xs.min() + 1 == W // 2  # one square
        assert np.all(b.inputs[k][:, m] == im.FILL_GREY)
        np.testing.assert_allclose(b.inputs[k][:, ~m], img[:, ~m])
        np.testing.assert_allclose(b.target[k], img)
    assert len({tuple(np.argwhere(b.mask[k])[0]) for k in range(3)}) > 1  # the hole moves


def test_jigsaw_target_indexes_applied_permutation():
    perms = im.jigsaw_permutations()
    assert perms.shape == (JIGSAW_PERMUTATIONS, JIGSAW_GRID**2)
    assert (perms[0] == np.arange(9)).all()
    assert all(sorted(p) == list(range(9)) for p in perms)
    ham = (perms[:, None] != perms[None]).sum(-1) + 10 * np.eye(len(perms), dtype=int)
    assert ham.min() >= 6  # well separated classes
    rgb = _noise_image(1)
    b = compute_targets("jigsaw", _frames(rgb, n=8), _poses(8), None, CAM, np.random.default_rng(2))
    img = rgb.astype(np.float32) / 255
    t = H // 3
    assert len(set(b.target.tolist())) > 1
    for k in range(8):
        perm = perms[b.target[k]]
        x = b.inputs[k].transpose(1, 2, 0)
        for i, src in enumerate(perm):
            ry, rx = divmod(i, 3)
            sy, sx = divmod(int(src), 3)
            np.testing.assert_allclose(x[ry * t:(ry + 1) * t, rx * t:(rx + 1) * t],
                                       img[sy * t:(sy + 1) * t, sx * t:(sx + 1) * t])
        # the applied permutation is the only one that explains the tiles
        others = [j for j in range(len(perms)) if j != b.target[k]]
        j = others[0]
        wrong = im.jigsaw_input(img, j)
        assert not np.allclose(wrong, x)


def _step_image():
    rgb = np.full((H, W, 3), 60, np.uint8)
    rgb[:, W // 2:] = 200
    return rgb


def test_texture_edges_at_intensity_step_only():
    e = compute_targets("edge_texture", _frames(_step_image()), _poses(), None, CAM, np.random.default_rng(0))
    e = e.target[0, 0]
    assert e[:, W // 2 - 1:W // 2 + 1].min() > 0.9
    assert e[:, :W // 2 - 5].max() < 1e-3 and e[:, W // 2 + 5:].max() < 1e-3
    flat = im.texture_edges(np.full((H, W, 3), 0.5, np.float32))
    assert flat.max() < 1e-6


def test_keypoints2d_peak_at_corner():
    rgb = np.full((H, W, 3), 40, np.uint8)
    rgb[16:32, 16:32] = 220  # a bright square: 4 corners
    k = compute_targets("keypoints2d", _frames(rgb), _poses(), None, CAM, np.random.default_rng(0)).target[0, 0]
    corners = [(16, 16), (16, 31), (31, 16), (31, 31)]
    for y, x in corners:
        assert k[y - 2:y + 3, x - 2:x + 3].max() > 0.8
    assert k[24, 16] < 0.5 * k[14:19, 14:19].max()  # mid-edge responds much less than a corner
    assert k[2:10, 2:10].max() < 1e-3
    assert im.keypoints2d(np.full((H, W, 3), 0.3, np.float32)).max() < 1e-3


def test_segment_unsup2d_boundary_at_colour_border():
    b = compute_targets("segment_unsup2d", _frames(_step_image()), _poses(), None, CAM, np.random.default_rng(0))
    b = b.target[0, 0]
    assert b[:, W // 2 - 2:W // 2 + 2].any(axis=1).all()
    assert set(np.unique(b)) <= {0.0, 1.0}
    again = im.segment_unsup2d(_step_image().astype(np.float32) / 255)
    np.testing.assert_array_equal(again, b)  # no randomness in the clustering


def test_kmeans_labels_canonical():
    f = np.zeros((20, 20, 1), np.float32)
    f[:, 10:] = 1.0
    lab = im.kmeans_labels(f, k=2, stride=1)
    assert (lab[:, :10] == 0).all() and (lab[:, 10:] == 1).all()  # sorted by the first feature


def test_semantic_targets():
    sem = np.full((H, W), CATEGORIES["wall"].id, np.uint8)
    sem[30:, :] = CATEGORIES["floor"].id
    sem[20:40, 10:20] = CATEGORIES["chair"].id  # 200 px = 8.7%
    sem[0, 0:5] = CATEGORIES["tv"].id  # 5 px = 0.2% < 0.5%: absent
    fr = _frames(_noise_image(), semantic=sem)
    s = compute_targets("segment_semantic", fr, _poses(), None, CAM, np.random.default_rng(0))
    np.testing.assert_array_equal(s.target[0], sem.astype(np.int64))
    o = compute_targets("class_object", fr, _poses(), None, CAM, np.random.default_rng(0)).target[0]
    present = {OBJECT_CATEGORIES[i] for i in np.nonzero(o)[0]}
    assert present == {"chair"}


@pytest.mark.parametrize("task", ["denoising", "inpainting", "jigsaw"])
def test_random_tasks_deterministic_per_seed(task):
    fr, p = _frames(_noise_image(), n=4), _poses(4)
    a = compute_targets(task, fr, p, None, CAM, np.random.default_rng(11))
    b = compute_targets(task, fr, p, None, CAM, np.random.default_rng(11))
    c = compute_targets(task, fr, p, None, CAM, np.random.default_rng(12))
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.target, b.target)
    assert not (np.array_equal(a.inputs, c.inputs) and np.array_equal(a.target, c.target))


def test_segment_unsup2d_smooth_gradient_is_one_segment():
    ramp = np.linspace(90, 150, W, dtype=np.float32)[None, :, None] * np.ones((H, 1, 3), np.float32)
    b = im.segment_unsup2d(ramp / 255)
    assert b.max() == 0.0


@pytest.mark.slow
def test_stored_jigsaw_permutations_match_the_greedy_construction():
    np.testing.assert_array_equal(im.jigsaw_permutations(), im.greedy_permutations())
