"""Pretraining on a toy budget: learns, records baselines, resumes exactly after a kill."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from safetensors.torch import load_file

from navfusion.common import SceneId
from navfusion.errors import ConfigError, NavFusionError
from navfusion.io import atomic_save_npz, read_json
from navfusion.vision.encoders import EncoderArch
from navfusion.vision.pretrain import PretrainConfig, assert_pretrain_only, pretrain, results_table
from navfusion.vision.registry import create_encoder
from navfusion.vision.zoo import verify_zoo

TASKS2 = ["depth_zbuffer", "point_matching"]
SCENES = ["toy/pretrain/0", "toy/pretrain/1", "toy/pretrain/2"]


def _toy_scene(rng: np.random.Generator, n: int = 48) -> dict[str, np.ndarray]:
    """Images whose brightness encodes 'depth' and whose pairs match when brightness agrees."""
    level = rng.uniform(0.1, 0.9, n)
    rgb = (level[:, None, None, None, None] * 255 * np.ones((n, 1, 3, 64, 64))).astype(np.uint8)
    rgb[:, :, :, 32:] //= 2  # lower half darker: a per-pixel structure
    depth = np.repeat(level[:, None, None, None] * 4.0, 16, 2).repeat(16, 3).astype(np.float16)
    mask = np.ones((n, 16, 16), bool)
    mask[:, :2] = False
    same = rng.integers(0, 2, n)
    other = np.where(same == 1, level, rng.uniform(0.1, 0.9, n))
    pair = np.concatenate([rgb, (other[:, None, None, None, None] * 255 * np.ones((n, 1, 3, 64, 64)))
                           .astype(np.uint8)], axis=1)
    return {"rgb": rgb, "depth_zbuffer.target": depth, "depth_zbuffer.mask": mask,
            "point_matching.inputs": pair, "point_matching.target": same.astype(np.int64)}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("toyzoo")
    mp = pytest.MonkeyPatch()
    mp.setenv("NAVFUSION_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "data"
    rng = np.random.default_rng(0)
    for s in SCENES:
        atomic_save_npz(d / f"{SceneId.parse(s).slug}.npz", **_toy_scene(rng))
    cfg = PretrainConfig(zoo="toy", suites=["toy"], tasks=TASKS2, dense_size=16, steps=16, batch_size=16,
                         ckpt_every=4, lr=3e-3, threads=1,
                         arch=EncoderArch(input_size=64, out_size=8, width=8, max_width=16))
    data = (d, SCENES[:2], SCENES[2:])
    ref = pretrain(cfg, out=tmp_path / "zoo" / "toy", progress=False, data=data)
    yield cfg, data, tmp_path, ref
    mp.undo()


def test_pretrain_learns_and_writes_a_loadable_zoo(toy, tmp_path, monkeypatch):
    cfg, data, tmp, m = toy
    out = tmp / "zoo" / "toy"
    assert sorted(m["tasks"]) == sorted(TASKS2)
    dz = m["tasks"]["depth_zbuffer"]
    assert dz["beats_baseline"] and dz["heldout"] < 0.6 * dz["baseline"], dz  # clearly learned
    pm = m["tasks"]["point_matching"]
    assert pm["metric"] == "balanced_accuracy" and pm["higher_is_better"] and 0 <= pm["baseline"] <= 1
    assert "| depth_zbuffer |" in results_table(m)
    assert verify_zoo(out) == []
    shutil.copytree(out, tmp_path / "zoos" / "toy")
    monkeypatch.setenv("NAVFUSION_ZOO_PATH", str(tmp_path / "zoos"))
    enc = create_encoder("toy/depth_zbuffer")
    assert enc.output_shape == (8, 8, 8) and not enc.training
    # a corrupted weight file is refused with a clear message
    f = tmp_path / "zoos" / "toy" / "point_matching.safetensors"
    f.write_bytes(f.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(NavFusionError, match="corrupt or was modified"):
        create_encoder("toy/point_matching")
    assert "point_matching" in verify_zoo(tmp_path / "zoos" / "toy")[0]


def test_killed_pretraining_resumes_exactly(toy):
    cfg, data, tmp, ref = toy

    def kill(task, step):
        if task == "point_matching" and step == 9:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, out=tmp / "run", progress=False, data=data, on_step=kill)
    done = read_json(tmp / "run" / "manifest.json")["tasks"]
    assert list(done) == ["depth_zbuffer"]  # the finished task was written before the kill
    m = pretrain(cfg, out=tmp / "run", progress=False, data=data)
    assert m["tasks"]["point_matching"]["resumed_from_step"] == 8  # last checkpoint before step 9
    for t in TASKS2:
        a = load_file(str(tmp / "zoo" / "toy" / f"{t}.safetensors"))
        b = load_file(str(tmp / "run" / f"{t}.safetensors"))
        for k in a:
            # float16 files: an ulp of float noise may flip a rounding, so compare values, not bytes
            np.testing.assert_allclose(a[k].float().numpy(), b[k].float().numpy(), atol=2e-3, rtol=1e-2,
                                       err_msg=f"{t}: {k}")
    assert m["tasks"]["depth_zbuffer"]["resumed_from_step"] == 0  # not retrained: kept from the first run
    assert m["tasks"]["depth_zbuffer"]["sha256"] == done["depth_zbuffer"]["sha256"]
    assert m["tasks"]["point_matching"]["heldout"] == pytest.approx(ref["tasks"]["point_matching"]["heldout"],
                                                                   abs=0.05)


def test_config_validation_and_pretrain_only_guard():
    with pytest.raises(ConfigError, match="arch.input_size"):
        PretrainConfig(image_size=64, arch=EncoderArch(input_size=128, out_size=8))
    with pytest.raises(NavFusionError, match="unknown task"):
        PretrainConfig(tasks=["normals"])
    with pytest.raises(NavFusionError, match="only use 'pretrain' scenes"):
        assert_pretrain_only(["tiny/train/0"], ["tiny"])


def test_pretrain_refuses_a_scene_that_is_an_agent_scene_elsewhere(tmp_path):
    import yaml

    from navfusion.config import repo_root

    tiny = yaml.safe_load((repo_root() / "envs" / "tiny.yaml").read_text())
    train = tiny["splits"]["train"]
    leaky = dict(tiny, name="leaky_zoo_test", splits={"pretrain": {"start": train["start"], "count": 2},
                                                      "train": {"start": 9_100_000, "count": 1}})
    path = tmp_path / "leaky_zoo_test.yaml"
    path.write_text(yaml.safe_dump(leaky))
    with pytest.raises(NavFusionError, match="same scene as tiny/train/0"):
        assert_pretrain_only(["leaky_zoo_test/pretrain/0"], [str(path)])
    clean = dict(leaky, name="clean_zoo_test", splits={"pretrain": {"start": 9_000_000, "count": 2},
                                                       "train": {"start": 9_100_000, "count": 1}})
    path2 = tmp_path / "clean_zoo_test.yaml"
    path2.write_text(yaml.safe_dump(clean))
    assert_pretrain_only(["clean_zoo_test/pretrain/0", "clean_zoo_test/pretrain/1"], [str(path2)])


def test_per_task_head_and_balanced_loss_change_only_their_task():
    import torch

    from navfusion.vision.encoders import make_head
    from navfusion.vision.pretrain import TaskData, balanced_class_weights, task_loss
    from navfusion.vision.tasks import TASKS, task_spec

    plain = PretrainConfig(suites=["tiny"])
    tuned = PretrainConfig(suites=["tiny"], task_heads={"class_scene": "pool"}, balanced_loss=["class_scene"])
    changed = [t for t in TASKS if plain.train_key(t) != tuned.train_key(t)]
    assert changed == ["class_scene"]  # retraining one task keeps the other trained encoders valid
    with pytest.raises(ConfigError, match="balanced_loss"):
        PretrainConfig(balanced_loss=["depth_zbuffer"])
    with pytest.raises(ConfigError, match="task_heads.normal"):
        PretrainConfig(task_heads={"normal": "pool"})

    arch = EncoderArch(input_size=64, out_size=8, width=8, max_width=16)
    assert make_head(arch, "pool", 6)(torch.zeros(3, 8, 8, 8)).shape == (3, 6)

    spec = task_spec("class_scene")
    target = np.array([0, 0, 0, 0, 0, 0, 1, 1, 4])
    w = balanced_class_weights(spec, TaskData(np.zeros((9, 1, 3, 1, 1), np.uint8), target, None))
    per_class = [float(w[target[target == c]].sum()) for c in (0, 1, 4)]
    assert per_class == pytest.approx([3.0, 3.0, 3.0]) and float(w[2]) == 0.0  # each class weighs the same
    # a net that always says class 0 pays more under the balanced loss than under the plain one
    logits = torch.tensor([[4.0, 0, 0, 0, 0, 0]]).repeat(9, 1)
    t = torch.from_numpy(target)
    assert task_loss(spec, logits, t, None, w) > 1.5 * task_loss(spec, logits, t, None)
