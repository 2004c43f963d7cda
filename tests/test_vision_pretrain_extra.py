"""More training scenes for some tasks (``task_extra_suites``) and the per-cell pooled head
(``cell_pool``): keyed per task, validated, and doing what they are for."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml

from navfusion.common import SceneId
from navfusion.errors import ConfigError, NavFusionError
from navfusion.io import atomic_save_npz
from navfusion.vision.encoders import EncoderArch, TaskNet, ZooEncoder, make_head
from navfusion.vision.pretrain import PretrainConfig, pretrain
from navfusion.vision.pretrain.config import extra_suite_key
from navfusion.vision.pretrain.data import data_dir
from navfusion.vision.pretrain.scenes import extra_scenes


def _suite_file(tmp_path, name: str, count: int, with_pretrain: bool = True) -> str:
    """A procedural suite YAML (tiny's generator) on a seed block no shipped suite uses."""
    from navfusion.config import repo_root

    tiny = yaml.safe_load((repo_root() / "envs" / "tiny.yaml").read_text())
    splits = {"pretrain": {"start": 9_500_000, "count": count}} if with_pretrain else \
        {"train": {"start": 9_600_000, "count": 1}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(dict(tiny, name=name, splits=splits)))
    return str(path)


def test_extra_suites_enter_only_their_task_key_with_their_size(tmp_path):
    small = _suite_file(tmp_path, "extra_key_test", 2)
    big = _suite_file(tmp_path, "extra_key_test_big", 3)
    base = PretrainConfig(zoo="a", suites=["tiny"])
    more = replace(base, task_extra_suites={"depth_zbuffer": [small]})
    assert base.train_key("normal") == more.train_key("normal")
    assert base.train_key("depth_zbuffer") != more.train_key("depth_zbuffer")
    # more scenes are other training data: another key (a split's size enters it)
    assert extra_suite_key([small])[small]["pretrain"][:2] == [9_500_000, 2]
    bigger = replace(base, task_extra_suites={"depth_zbuffer": [big]})
    assert bigger.train_key("depth_zbuffer") != more.train_key("depth_zbuffer")
    assert extra_suite_key([big])[big]["pretrain"][:2] == [9_500_000, 3]
    assert extra_scenes(more, "depth_zbuffer") == ["extra_key_test/pretrain/0", "extra_key_test/pretrain/1"]
    assert extra_scenes(more, "normal") == []


def test_extra_suites_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="task_extra_suites.depth_zbuffer"):
        PretrainConfig(suites=["tiny"], task_extra_suites={"depth_zbuffer": ["tiny"]})  # already in suites
    with pytest.raises(ConfigError, match="task_extra_suites.depth_zbuffer"):
        PretrainConfig(task_extra_suites={"depth_zbuffer": []})
    with pytest.raises(NavFusionError, match="depht_zbuffer"):
        PretrainConfig(task_extra_suites={"depht_zbuffer": ["paper"]})
    no_pre = _suite_file(tmp_path, "extra_nopre_test", 1, with_pretrain=False)
    cfg = PretrainConfig(suites=["tiny"], task_extra_suites={"normal": [no_pre]})
    with pytest.raises(NavFusionError, match="task_extra_suites.normal: suite '.*extra_nopre_test.yaml' has no 'pre"):
        extra_scenes(cfg, "normal")


def test_init_from_follows_the_configs_task_order():
    # curvature comes before normal in the canonical order, but the recipe may train normal first
    cfg = PretrainConfig(tasks=["normal", "curvature"], init_from={"curvature": "normal"})
    assert cfg.train_key("curvature") != replace(cfg, init_from={}).train_key("curvature")
    assert cfg.train_key("normal") == replace(cfg, init_from={}).train_key("normal")
    with pytest.raises(ConfigError, match="init_from.curvature"):
        PretrainConfig(tasks=["curvature", "normal"], init_from={"curvature": "normal"})
    with pytest.raises(ConfigError, match="init_from.normal"):
        PretrainConfig(init_from={"normal": "normal"})
    with pytest.raises(NavFusionError, match="nromal"):
        PretrainConfig(init_from={"curvature": "nromal"})


def _toy_scene(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Brightness encodes depth (one value per image)."""
    level = rng.uniform(0.1, 0.9, n)
    rgb = (level[:, None, None, None, None] * 255 * np.ones((n, 1, 3, 16, 16))).astype(np.uint8)
    depth = np.repeat(level[:, None, None, None] * 4.0, 16, 2).repeat(16, 3).astype(np.float16)
    return {"rgb": rgb, "depth_zbuffer.target": depth, "depth_zbuffer.mask": np.ones((n, 16, 16), bool),
            "normal.target": np.repeat(depth, 3, 1), "normal.mask": np.ones((n, 16, 16), bool)}


def test_extra_scenes_join_only_their_task_training_data(tmp_path, monkeypatch):
    monkeypatch.setenv("NAVFUSION_CACHE", str(tmp_path / "cache"))
    extra = _suite_file(tmp_path, "extra_data_test", 2)
    cfg = PretrainConfig(zoo="toyx", suites=["toy"], tasks=["depth_zbuffer", "normal"], image_size=16,
                         cache_dense_size=16, dense_size=16, steps=3, batch_size=8, threads=1,
                         task_extra_suites={"depth_zbuffer": [extra]},
                         arch=EncoderArch(input_size=16, out_size=8, width=8, max_width=16))
    rng = np.random.default_rng(0)
    main = tmp_path / "data"
    for s in ("toy/pretrain/0", "toy/pretrain/1"):
        atomic_save_npz(main / f"{SceneId.parse(s).slug}.npz", **_toy_scene(rng, 12))
    # the extra scenes' data, where pretraining would render and cache them
    extra_dir = data_dir(replace(cfg, suites=[extra], task_extra_suites={}))
    for s in extra_scenes(cfg, "depth_zbuffer"):
        atomic_save_npz(extra_dir / f"{SceneId.parse(s).slug}.npz", **_toy_scene(rng, 5))
    m = pretrain(cfg, out=tmp_path / "zoo", progress=False, data=(main, ["toy/pretrain/0"], ["toy/pretrain/1"]))
    assert m["tasks"]["depth_zbuffer"]["train_samples"] == 12 + 2 * 5
    assert m["tasks"]["normal"]["train_samples"] == 12
    assert m["tasks"]["depth_zbuffer"]["heldout_samples"] == 12  # held-out scenes unchanged
    assert m["data"]["extra_train_scenes"] == {"depth_zbuffer": ["extra_data_test/pretrain/0",
                                                                 "extra_data_test/pretrain/1"]}


def _encoder_drift(tmp_path, scale: float) -> float:
    """Relative distance of depth_zbuffer's encoder (started from normal's, which the canonical task
    order puts later) from its start."""
    from navfusion.vision.zoo import load_zoo_encoder

    cfg = PretrainConfig(zoo="toyl", suites=["toy"], tasks=["normal", "depth_zbuffer"], image_size=16,
                         cache_dense_size=16, dense_size=16, steps=20, batch_size=8, threads=1,
                         init_from={"depth_zbuffer": "normal"}, init_lr_scale={"depth_zbuffer": scale},
                         arch=EncoderArch(input_size=16, out_size=8, width=8, max_width=16))
    rng = np.random.default_rng(0)
    main = tmp_path / "data"
    for s in ("toy/pretrain/0", "toy/pretrain/1"):
        atomic_save_npz(main / f"{SceneId.parse(s).slug}.npz", **_toy_scene(rng, 12))
    out = tmp_path / f"zoo{scale}"
    m = pretrain(cfg, out=out, progress=False, data=(main, ["toy/pretrain/0"], ["toy/pretrain/1"]))
    assert m["tasks"]["depth_zbuffer"]["init_lr_scale"] == scale
    # the manifest keeps the recipe's order, so the recipe it records is valid (affinity rebuilds it)
    assert m["training"]["tasks"] == ["normal", "depth_zbuffer"]
    PretrainConfig(**m["training"])
    if scale == 1.0:  # retraining one task keeps the others, and the recorded order stays valid
        m = pretrain(replace(cfg, tasks=["depth_zbuffer"], task_steps={"depth_zbuffer": 21}), out=out,
                     progress=False, data=(main, ["toy/pretrain/0"], ["toy/pretrain/1"]))
        assert m["training"]["tasks"] == ["normal", "depth_zbuffer"] and set(m["tasks"]) == {"normal", "depth_zbuffer"}
        PretrainConfig(**m["training"])
    src, dst = (load_zoo_encoder(out, t).state_dict() for t in ("normal", "depth_zbuffer"))
    keys = [k for k, v in src.items() if v.is_floating_point()]
    num = sum(float((dst[k] - src[k]).float().norm() ** 2) for k in keys)
    return (num / sum(float(src[k].float().norm() ** 2) for k in keys)) ** 0.5


def test_a_second_pretraining_run_of_one_recipe_stops_with_a_clear_error(tmp_path, monkeypatch):
    import subprocess
    import sys

    from navfusion.common import cache_root

    monkeypatch.setenv("NAVFUSION_CACHE", str(tmp_path / "cache"))
    ckdir = cache_root() / "pretrain" / "ckpt-locked"
    # another process holds the recipe's checkpoint folder while this one starts
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from navfusion.io import folder_lock\n"
        f"with folder_lock({str(ckdir)!r}):\n    print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        cfg = PretrainConfig(zoo="locked", suites=["toy"], tasks=["normal"], image_size=16, cache_dense_size=16,
                             dense_size=16, steps=2, batch_size=8, threads=1,
                             arch=EncoderArch(input_size=16, out_size=8, width=8, max_width=16))
        with pytest.raises(NavFusionError, match="'locked'.*in use by another process"):
            pretrain(cfg, out=tmp_path / "zoo", progress=False, data=(tmp_path, [], []))
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "zoo" / "manifest.json").exists()


def test_init_lr_scale_keeps_the_source_encoder_close(tmp_path, monkeypatch):
    monkeypatch.setenv("NAVFUSION_CACHE", str(tmp_path / "cache"))
    full, slow = _encoder_drift(tmp_path, 1.0), _encoder_drift(tmp_path, 0.01)
    assert full > 0 and slow < 0.1 * full, (full, slow)
    base = PretrainConfig(init_from={"class_scene": "segment_semantic"})
    scaled = replace(base, init_lr_scale={"class_scene": 0.1})
    assert scaled.train_key("class_scene") != base.train_key("class_scene")
    assert scaled.train_key("segment_semantic") == base.train_key("segment_semantic")
    with pytest.raises(ConfigError, match="init_lr_scale"):
        PretrainConfig(init_lr_scale={"class_scene": 0.1})  # not initialised from another task
    with pytest.raises(ConfigError, match="init_lr_scale.class_scene"):
        replace(base, init_lr_scale={"class_scene": 0.0})


def _square_views(rng: np.random.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """16x16 grey views; half hold a bright 4x4 square in one random cell of the 4x4 grid.
    Returns (images (N, 1, 3, 16, 16), labels (N, 1) present/absent, the square's cell or -1)."""
    x = np.full((n, 1, 3, 16, 16), 0.3, np.float32) + rng.normal(0, 0.05, (n, 1, 3, 16, 16)).astype(np.float32)
    cell = np.where(rng.random(n) < 0.5, rng.integers(0, 16, n), -1)
    for i, c in enumerate(cell):
        if c >= 0:
            r, k = divmod(int(c), 4)
            x[i, 0, :, 4 * r:4 * r + 4, 4 * k:4 * k + 4] = 1.0
    return torch.from_numpy(x), torch.from_numpy((cell >= 0).astype(np.float32)[:, None]), cell


def test_cell_pool_head_localises_an_image_level_label():
    arch = EncoderArch(input_size=16, out_size=4, width=8, max_width=16)
    assert make_head(arch, "cell_pool", 5)(torch.zeros(2, 8, 4, 4)).shape == (2, 5)
    with pytest.raises(ValueError, match="cell_pool"):
        make_head(arch, "cellpool", 5)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = TaskNet(ZooEncoder(arch), make_head(arch, "cell_pool", 1))
    rng = np.random.default_rng(0)
    x, y, _ = _square_views(rng, 256)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(150):
        idx = torch.from_numpy(np.random.default_rng([0, step]).integers(0, len(x), 32))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    xt, yt, cell = _square_views(np.random.default_rng(1), 128)
    with torch.no_grad():
        acc = float(((net(xt) > 0).float() == yt).float().mean())
        per_cell = net.head.cell(net.encoder(xt[:, 0]))[:, 0].flatten(1)  # (N, 16) logits per cell
    has = cell >= 0
    hit = float((per_cell[torch.from_numpy(has)].argmax(1).numpy() == cell[has]).mean())
    # trained on present/absent only, the per-cell logits point at the cell that holds the square
    # (chance: 1/16; the encoder's receptive field spreads it to neighbouring cells)
    assert acc > 0.9 and hit > 0.5, (acc, hit)


def test_cell_pool_is_a_head_override_for_global_tasks_only():
    cfg = PretrainConfig(task_heads={"class_object": "cell_pool"})
    assert cfg.train_key("class_object") != PretrainConfig().train_key("class_object")
    with pytest.raises(ConfigError, match="task_heads.depth_zbuffer"):
        PretrainConfig(task_heads={"depth_zbuffer": "cell_pool"})
