"""Pretraining a zoo: every task of a recipe (resumable, tasks already trained with the same recipe
kept), written as one safetensors file per task + ``manifest.json``. Checkpoints live under
``cache_root()/pretrain/ckpt-<zoo>/<task>.ckpt.safetensors``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from navfusion.common import cache_root
from navfusion.config import to_dict
from navfusion.io import atomic_path, atomic_write_json, folder_lock, read_json, sha256_file
from navfusion.markdown import markdown_table
from navfusion.vision.encoders import NORMALIZATION, ZooEncoder, count_params
from navfusion.vision.pretrain.config import FORMAT, PretrainConfig
from navfusion.vision.pretrain.data import TaskData, build_dataset, load_task_data
from navfusion.vision.pretrain.loop import train_task
from navfusion.vision.pretrain.losses import head_info
from navfusion.vision.pretrain.scenes import extra_scenes, split_scenes
from navfusion.vision.tasks import TASKS, task_spec
from navfusion.vision.zoo import MANIFEST


def default_out(cfg: PretrainConfig) -> Path:
    return cache_root() / "encoders" / cfg.zoo


def write_manifest(out: Path, cfg: PretrainConfig, results: dict[str, dict], data_info: dict | None = None) -> dict:
    """Write ``manifest.json`` for the tasks in ``results`` (in canonical task order)."""
    tasks = {}
    for t in TASKS:
        if t not in results:
            continue
        r = dict(results[t])
        f = out / f"{t}.safetensors"
        tasks[t] = {"file": f.name, "sha256": sha256_file(f), "bytes": f.stat().st_size, **r}
    m = {"zoo": cfg.zoo, "format": FORMAT, "architecture": {"family": "nfresnet", **cfg.arch.to_json()},
         "input_size": cfg.arch.input_size, "normalization": NORMALIZATION,
         "output_shape": list(cfg.arch.output_shape), "params_per_encoder": count_params(ZooEncoder(cfg.arch)),
         "weights_dtype": "float16", "file_layout": "encoder.* (the encoder), head.* (its pretraining decoder), "
         "target_mean/target_std (regression target standardisation), baseline (the trivial predictor)",
         "training": to_dict(cfg) | {"tasks": _trained_order(cfg, tasks)}, "data": data_info or {},
         "reproduce": f"navfusion encoders pretrain --config configs/zoo_{cfg.zoo}.yaml --out <dir>",
         "tasks": tasks}
    atomic_write_json(out / MANIFEST, m)
    return m


def _trained_order(cfg: PretrainConfig, trained: Iterable[str]) -> list[str]:
    """The trained tasks in training order: those from earlier runs that this recipe does not list
    first, then the recipe's order (a task comes after the one it starts from, ``init_from``)."""
    trained, listed = list(trained), cfg.task_list()
    return [t for t in trained if t not in listed] + [t for t in listed if t in trained]


def pretrain(cfg: PretrainConfig, out: str | os.PathLike | None = None, progress: bool = True,
             data: tuple[Path, list[str], list[str]] | None = None,
             on_step: Callable[[str, int], None] | None = None, device: str | torch.device = "cpu") -> dict:
    """Train every task of ``cfg`` (skipping those already done), write the zoo, return the manifest.

    Args:
        device: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available);
            CUDA where there is none is a one-line error before any work.
        out: zoo folder (default ``cache_root()/encoders/<zoo>``).
        data: ``(data dir, training scene ids, held-out scene ids)`` of an already built dataset
            (default: :func:`split_scenes` + :func:`build_dataset`).
        on_step: ``on_step(task, step)`` after every step.
    """
    from tqdm import tqdm

    from navfusion.device import resolve_device

    dev = resolve_device(device)
    torch.set_num_threads(cfg.threads)
    out = Path(out) if out is not None else default_out(cfg)
    out.mkdir(parents=True, exist_ok=True)
    if data is None:
        train_ids, held_ids = split_scenes(cfg)
        d = build_dataset(cfg, train_ids + held_ids, progress=progress)
        info = {"train_scenes": train_ids, "heldout_scenes": held_ids, "suite_fingerprints": cfg.data_key()["scenes"]}
    else:
        d, train_ids, held_ids = data
        info = {"train_scenes": list(train_ids), "heldout_scenes": list(held_ids)}
    extra = {t: extra_scenes(cfg, t) for t in cfg.task_extra_suites}
    if extra:
        info["extra_train_scenes"] = extra
    ckdir = cache_root() / "pretrain" / f"ckpt-{cfg.zoo}"
    ckdir.mkdir(parents=True, exist_ok=True)
    # two runs of one recipe would interleave checkpoints and manifest writes: the second stops
    with folder_lock(ckdir, wait=False, what=f"zoo {cfg.zoo!r}: the checkpoint folder"):
        results: dict[str, dict] = {}
        old = out / MANIFEST
        if old.is_file():  # keep tasks trained earlier with the same recipe
            for t, e in read_json(old, "zoo manifest").get("tasks", {}).items():
                f = out / e.get("file", "")
                same = e.get("key") == cfg.train_key(t)
                if t in TASKS and same and f.is_file() and sha256_file(f) == e.get("sha256"):
                    results[t] = {k: v for k, v in e.items() if k not in ("file", "sha256", "bytes")}
        todo = [t for t in cfg.task_list() if t not in results]
        bar = tqdm(todo, desc=f"pretrain {cfg.zoo}", unit="task", disable=not progress or not todo)
        for task in bar:
            bar.set_postfix(task=task)
            # dense labels at the cached resolution: per-cell statistics (``cell_targets``) need it
            train_full, held_full = load_task_data(d, train_ids, task), load_task_data(d, held_ids, task)
            if task in cfg.task_extra_suites:
                train_full = TaskData.concat([train_full, _extra_data(cfg, task, extra[task], progress)])
            train, held = train_full.pooled(task, cfg.dense_size), held_full.pooled(task, cfg.dense_size)
            cb = (lambda s, _t=task: on_step(_t, s)) if on_step else None
            init = None
            if task in cfg.init_from:
                from navfusion.vision.zoo import load_zoo_encoder

                init = load_zoo_encoder(out, cfg.init_from[task])
            trained, res = train_task(task, train, held, cfg, ckdir / f"{task}.ckpt.safetensors", progress, cb, init,
                                      device=dev, cell_data=(train_full, held_full))
            if init is not None:
                res["init_from"] = cfg.init_from[task]
                if task in cfg.init_lr_scale:
                    res["init_lr_scale"] = float(cfg.init_lr_scale[task])
            if task in cfg.balanced_loss:
                res["loss"] = "class-balanced cross-entropy"
            res["head"] = head_info(task_spec(task), cfg)
            with atomic_path(out / f"{task}.safetensors") as tmp:
                save_file(trained.tensors(), str(tmp), metadata={"task": task, "zoo": cfg.zoo})
            results[task] = res
            write_manifest(out, cfg, results, info)
            (ckdir / f"{task}.ckpt.safetensors").unlink(missing_ok=True)
            tag = "beats" if res["beats_baseline"] else "DOES NOT beat"
            bar.write(f"{task:>17}: {res['metric']} {res['heldout']:.4f} vs baseline {res['baseline']:.4f} ({tag})")
        return write_manifest(out, cfg, results, info)


def _extra_data(cfg: PretrainConfig, task: str, ids: list[str], progress: bool) -> TaskData:
    """``task``'s samples of its ``task_extra_suites`` scenes ``ids`` (rendered and cached like the
    main data, in the data folder of a recipe whose ``suites`` are those suites)."""
    extra_cfg = replace(cfg, suites=list(cfg.task_extra_suites[task]), task_extra_suites={})
    return load_task_data(build_dataset(extra_cfg, ids, progress=progress), ids, task)


def results_table(manifest: dict) -> str:
    """A Markdown table of held-out metric vs baseline per task."""
    rank = {t: i for i, t in enumerate(TASKS)}
    rows = []
    for t in sorted(manifest["tasks"], key=lambda t: (rank.get(t, len(rank)), t)):
        e = manifest["tasks"][t]
        arrow = "↑" if e["higher_is_better"] else "↓"
        rows.append([t, e["group"], f"{e['metric']} {arrow}", f"{e['heldout']:.4f}", f"{e['baseline']:.4f}",
                     "yes" if e["beats_baseline"] else "NO"])
    return markdown_table(["task", "group", "metric", "held-out", "baseline", "beats"], rows)


def with_overrides(cfg: PretrainConfig, **kw: Any) -> PretrainConfig:
    """A copy of ``cfg`` with fields replaced (validated again)."""
    return replace(cfg, **{k: v for k, v in kw.items() if v is not None})
