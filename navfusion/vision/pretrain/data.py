"""The pretraining dataset: ``samples_per_scene`` random camera poses per ``pretrain`` scene (see
:mod:`navfusion.vision.sampling`), rendered at ``image_size``; dense targets are pooled to
``dense_size`` (masked mean for regression, nearest for classes). Inputs are stored as uint8.
Cache: ``cache_root()/pretrain/data-<hash>/<scene slug>.npz`` (atomic, one file per scene, sha256
recorded in ``hashes.json``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from navfusion.common import SceneId, cache_root
from navfusion.errors import NavFusionError
from navfusion.io import atomic_save_npz, atomic_write_json, hash_jsonable, read_json, sha256_file
from navfusion.vision.pretrain.config import PretrainConfig
from navfusion.vision.tasks import TASKS, TaskSpec, task_spec


def data_dir(cfg: PretrainConfig) -> Path:
    return cache_root() / "pretrain" / f"data-{hash_jsonable(cfg.data_key())[:16]}"


def _pool_dense(t: np.ndarray, mask: np.ndarray | None, size: int, classes: bool):
    """Pool dense targets (N, C, H, W) / (N, H, W) and masks (N, H, W) to ``size``."""
    h = t.shape[-1]
    if h == size:
        return t, mask
    f = h // size
    if classes:
        return t[..., f // 2::f, f // 2::f], None if mask is None else mask[..., f // 2::f, f // 2::f]
    n, c = t.shape[:2]
    blocks = t.reshape(n, c, size, f, size, f)
    if mask is None:
        return blocks.mean((3, 5)), None
    m = mask.reshape(n, 1, size, f, size, f).astype(np.float32)
    cnt = m.sum((3, 5))
    val = (blocks * m).sum((3, 5)) / np.maximum(cnt, 1)
    return val, cnt[:, 0] >= (f * f) / 2


def _quantize(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def render_scene_data(scene_id: str, cfg: PretrainConfig) -> dict[str, np.ndarray]:
    """Render ``samples_per_scene`` samples of all 25 tasks in one scene (arrays for the npz cache)."""
    from navfusion.render import create_renderer
    from navfusion.render.camera import Camera
    from navfusion.scenes.suites import load_scene
    from navfusion.vision.sampling import render_task_batches

    scene = load_scene(scene_id)
    camera = Camera(width=cfg.image_size, height=cfg.image_size)
    renderer = create_renderer(scene, camera, backend=cfg.backend)
    try:
        rng = np.random.default_rng([cfg.seed, int(hash_jsonable(scene_id)[:8], 16)])
        batches = render_task_batches(renderer, scene, TASKS, cfg.samples_per_scene, rng)
    finally:
        renderer.close()
    out: dict[str, np.ndarray] = {}
    for task, b in batches.items():
        spec = task_spec(task)
        x, t, m = task_arrays(spec, b, cfg)
        if spec.views == 1 and spec.input == "rgb":
            out.setdefault("rgb", x)  # every plain single-view task sees the same base views
        else:
            out[f"{task}.inputs"] = x
        out[f"{task}.target"] = t.astype(np.int16 if spec.classification else np.float16) if spec.dense else t
        if m is not None:
            out[f"{task}.mask"] = m.astype(bool)
    return out


def task_arrays(spec: TaskSpec, b, cfg: PretrainConfig,
                size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A ``TaskBatch`` -> (uint8 inputs (N, V, 3, S, S), target (dense pooled to ``size``, default
    ``cache_dense_size``), mask)."""
    x = _quantize(b.inputs)
    if spec.views == 1:
        x = x[:, None]
    t, m = b.target, b.mask
    if spec.dense:
        t, m = _pool_dense(t, m, size or cfg.cache_dense_size, spec.classification)
    return x, t, m


def build_dataset(cfg: PretrainConfig, scene_ids: Sequence[str], progress: bool = True) -> Path:
    """Render and cache the samples of ``scene_ids`` (skips scenes already cached)."""
    from tqdm import tqdm

    d = data_dir(cfg)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_json(d / "config.json", cfg.data_key())
    hashes = _verified_hashes(d, scene_ids)
    todo = [s for s in scene_ids if SceneId.parse(s).slug not in hashes]
    bar = tqdm(total=len(todo), desc="render pretrain data", unit="scene", disable=not progress or not todo)
    if cfg.workers > 1 and len(todo) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn: a forked child would inherit a GL context (EGL hangs after fork)
        with ProcessPoolExecutor(min(cfg.workers, len(todo)), mp_context=mp.get_context("spawn")) as ex:
            for f in as_completed([ex.submit(_render_to_file, s, cfg, d) for s in todo]):
                f.result()
                bar.update()
    else:
        for s in todo:
            _render_to_file(s, cfg, d)
            bar.update()
    bar.close()
    for s in todo:
        slug = SceneId.parse(s).slug
        hashes[slug] = sha256_file(d / f"{slug}.npz")
    atomic_write_json(d / HASHES, dict(sorted(hashes.items())))
    return d


#: Per data folder: ``{scene slug: sha256 of its npz}``, checked before each pretraining run.
HASHES = "hashes.json"


def _verified_hashes(d: Path, scene_ids: Sequence[str]) -> dict[str, str]:
    """The recorded hashes of the cached scene files that are present and intact. A file whose
    content no longer matches (corrupt, truncated, modified) is deleted so it is rendered again; a
    file cached before hashes were recorded is adopted (its hash recorded now)."""
    import warnings

    f = d / HASHES
    known = read_json(f, "pretraining data hashes") if f.is_file() else {}
    out: dict[str, str] = {}
    for s in scene_ids:
        slug = SceneId.parse(s).slug
        p = d / f"{slug}.npz"
        if not p.is_file():
            continue
        h = sha256_file(p)
        if slug in known and known[slug] != h:
            warnings.warn(f"pretraining data {p} does not match its recorded sha256; rendering it again",
                          stacklevel=3)
            p.unlink()
            continue
        out[slug] = h
    return out


def _render_to_file(scene_id: str, cfg: PretrainConfig, d: Path) -> None:
    atomic_save_npz(d / f"{SceneId.parse(scene_id).slug}.npz", **render_scene_data(scene_id, cfg))


@dataclass
class TaskData:
    """One task's samples: ``inputs`` uint8 (N, V, 3, S, S), ``target`` (as TaskBatch, dense pooled),
    ``mask`` bool (N, h, w) or None."""

    inputs: np.ndarray
    target: np.ndarray
    mask: np.ndarray | None

    def __len__(self) -> int:
        return len(self.inputs)

    @staticmethod
    def concat(parts: Sequence[TaskData]) -> TaskData:
        """The samples of ``parts`` one after another."""
        if len(parts) == 1:
            return parts[0]
        mask = None if parts[0].mask is None else np.concatenate([p.mask for p in parts])
        return TaskData(np.concatenate([p.inputs for p in parts]), np.concatenate([p.target for p in parts]), mask)

    def pooled(self, task: str, size: int) -> TaskData:
        """The same samples with dense targets pooled to ``size`` (inputs shared, not copied)."""
        spec = task_spec(task)
        if not spec.dense or self.target.shape[-1] == size:
            return self
        target, mask = _pool_dense(self.target, self.mask, size, spec.classification)
        return TaskData(self.inputs, target, mask)


def load_task_data(d: Path, scene_ids: Sequence[str], task: str, dense_size: int | None = None) -> TaskData:
    """Concatenate one task's cached samples over scenes (dense targets pooled to ``dense_size``)."""
    xs, ts, ms = [], [], []
    spec = task_spec(task)
    for s in scene_ids:
        f = d / f"{SceneId.parse(s).slug}.npz"
        try:
            with np.load(f, allow_pickle=False) as z:
                xs.append(z[f"{task}.inputs"] if f"{task}.inputs" in z.files else z["rgb"])
                ts.append(z[f"{task}.target"])
                ms.append(z[f"{task}.mask"] if f"{task}.mask" in z.files else None)
        except (OSError, KeyError, ValueError) as e:
            raise NavFusionError(f"pretraining data {f} is unreadable ({e}); delete it to re-render") from None
    mask = None if ms[0] is None else np.concatenate(ms)
    target = np.concatenate(ts)
    target = target.astype(np.int64) if spec.classification else target.astype(np.float32)
    if spec.dense and dense_size is not None and target.shape[-1] != dense_size:
        target, mask = _pool_dense(target, mask, dense_size, spec.classification)
    return TaskData(np.concatenate(xs), target, mask)
