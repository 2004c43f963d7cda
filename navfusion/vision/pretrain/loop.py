"""Training one task's encoder + head: Adam, cosine learning rate, ``steps`` x ``batch_size``
samples; regression targets are standardised per channel for the loss; batch ``k`` of task ``t``
is drawn from ``default_rng([seed, t, k])``, so a resumed run sees exactly the data an
uninterrupted one would. Checkpoints (safetensors, model + Adam state, see
:mod:`navfusion.checkpoint`) every ``ckpt_every`` steps."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from navfusion.checkpoint import load_optimizer_tensors, load_tensors, optimizer_tensors, read_metadata, save_tensors
from navfusion.errors import NavFusionError
from navfusion.vision.encoders import TaskNet, ZooEncoder
from navfusion.vision.pretrain.cells import CellTargets, cell_channels, cell_statistics
from navfusion.vision.pretrain.config import PretrainConfig
from navfusion.vision.pretrain.data import TaskData
from navfusion.vision.pretrain.losses import (
    Standardizer,
    balanced_class_weights,
    baseline_prediction,
    head_for,
    metric_name,
    metric_value,
    task_loss,
    to_input,
    to_prediction,
)
from navfusion.vision.tasks import TASKS, TaskSpec, task_spec


@dataclass
class TrainedTask:
    """A pretrained task: ``net`` (encoder + head), target statistics and the baseline predictor."""

    net: TaskNet
    std: Standardizer
    baseline: np.ndarray

    def tensors(self) -> dict[str, torch.Tensor]:
        """What a zoo file holds: ``encoder.*`` and ``head.*`` (float16), ``target_mean``,
        ``target_std`` and ``baseline`` (the trivial predictor, float32)."""
        t = {f"encoder.{k}": v.detach().half().contiguous() for k, v in self.net.encoder.state_dict().items()}
        t |= {f"head.{k}": v.detach().half().contiguous() for k, v in self.net.head.state_dict().items()}
        if self.net.cells is not None:
            t |= {f"cells.{k}": v.detach().half().contiguous() for k, v in self.net.cells.state_dict().items()}
        t["target_mean"] = torch.from_numpy(self.std.mean.astype(np.float32))
        t["target_std"] = torch.from_numpy(self.std.std.astype(np.float32))
        t["baseline"] = torch.from_numpy(np.ascontiguousarray(self.baseline))
        return t


def _save_checkpoint(path: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, step: int, key: str) -> None:
    """One file per task: the net (``model.*``) and Adam's state (``opt.*``), written atomically
    with their sha256 (see :mod:`navfusion.checkpoint`)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_tensors(path, tensors | optimizer_tensors(opt), {"step": str(step), "key": key})


def _resume(path: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, key: str) -> int:
    """Restore a task's checkpoint; returns the step to continue from (0 when there is none or it
    belongs to another recipe, which then gets overwritten). An unreadable, corrupt or non-finite
    checkpoint is refused (a checkpoint written before its sha256 was recorded still resumes)."""
    if not path.is_file():
        return 0
    try:
        meta = read_metadata(path)
        if meta.get("key") != key:
            return 0
        tensors = load_tensors(path, meta)
    except NavFusionError as e:
        raise NavFusionError(f"{e}; delete it to pretrain this task from its first step") from None
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    load_optimizer_tensors(opt, tensors)
    return int(meta["step"])


def lr_at(cfg: PretrainConfig, step: int, steps: int | None = None) -> float:
    """Linear warm-up over 5% of the steps, then cosine decay to 5% of ``lr``."""
    steps = steps or cfg.steps
    warm = max(1, steps // 20)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    p = (step - warm) / max(1, steps - warm)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def _param_groups(net: TaskNet, encoder_scale: float) -> list[dict]:
    """One Adam group, or the encoder at ``encoder_scale`` of the rate and the rest at the full rate."""
    if encoder_scale == 1.0:
        return [{"params": list(net.parameters())}]
    enc = list(net.encoder.parameters())
    ids = {id(p) for p in enc}
    rest = [p for p in net.parameters() if id(p) not in ids]
    return [{"params": enc, "lr_scale": encoder_scale}, {"params": rest}]


@torch.no_grad()
def evaluate(spec: TaskSpec, net: TaskNet, data: TaskData, std: Standardizer, batch: int = 128,
             metric: str | None = None) -> float:
    """Held-out metric of a trained net (see :func:`metric_name`)."""
    mask = None if data.mask is None else torch.from_numpy(data.mask)
    return metric_value(spec, predict(spec, net, data, std, batch), torch.from_numpy(data.target), mask, metric)


@torch.no_grad()
def predict(spec: TaskSpec, net: TaskNet, data: TaskData, std: Standardizer, batch: int = 128) -> torch.Tensor:
    """Predictions in target space (see :func:`to_prediction`) for every sample of ``data``."""
    was_training = net.training
    net.eval()
    preds = []
    dev = next(net.parameters()).device
    for i in range(0, len(data), batch):
        preds.append(to_prediction(spec, net(to_input(data.inputs[i:i + batch]).to(dev)).float().cpu(), std))
    net.train(was_training)
    return torch.cat(preds)


def baseline_value(spec: TaskSpec, base_pred: np.ndarray, held: TaskData, metric: str | None = None) -> float:
    """Held-out metric of the trivial predictor (see :func:`baseline_prediction`)."""
    base = torch.from_numpy(np.asarray(base_pred))
    pred = base.unsqueeze(0).expand(len(held), *base.shape)
    mask = None if held.mask is None else torch.from_numpy(held.mask)
    return metric_value(spec, pred, torch.from_numpy(held.target), mask, metric)


@torch.no_grad()
def cell_mse(net: TaskNet, data: TaskData, spec: TaskSpec, cells: CellTargets, grid: int, batch: int = 128) -> float:
    """Mean squared error of the net's per-cell statistics on ``data``, in units of the training
    statistics' standard deviation (1.0: no better than their mean)."""
    was_training = net.training
    net.eval()
    dev = next(net.parameters()).device
    err, n = 0.0, 0
    for i in range(0, len(data), batch):
        _, out = net.forward_cells(to_input(data.inputs[i:i + batch]).to(dev))
        m = None if data.mask is None else data.mask[i:i + batch]
        ref = cells.standardise(cell_statistics(spec, data.target[i:i + batch], m, grid))
        err += float(((out.float().cpu() - torch.from_numpy(ref)) ** 2).sum())
        n += ref.size
    net.train(was_training)
    return err / max(n, 1)


def train_task(task: str, train: TaskData, held: TaskData, cfg: PretrainConfig, ckpt: Path,
               progress: bool = True, on_step: Callable[[int], None] | None = None,
               init_encoder: ZooEncoder | None = None,
               device: str | torch.device = "cpu",
               cell_data: tuple[TaskData, TaskData] | None = None) -> tuple[TrainedTask, dict]:
    """Train one task's encoder + head; returns them (with target statistics) and the result record.

    ``device``: where the net trains (batches are drawn on the host and copied there; the returned
    net is on the CPU). A GPU run draws the same batches but its float arithmetic differs, so its
    weights are not bit-identical to a CPU run's.

    ``cell_data``: (train, held-out) samples with dense labels at a finer resolution than
    ``train``/``held`` (the cached one) for the per-cell statistics of ``cfg.cell_targets``
    (default: ``train``/``held`` themselves; same samples, same order).

    Resumes from ``ckpt`` when it holds a checkpoint of the same configuration. ``on_step(step)``
    is called after every step (tests use it to simulate a kill).
    """
    from tqdm import tqdm

    spec = task_spec(task)
    t_idx = TASKS.index(task)
    with torch.random.fork_rng():  # module init draws from torch's RNG; keep it local and seeded
        torch.manual_seed(cfg.seed * 1000 + t_idx)
        cell_w = float(cfg.cell_targets.get(task, 0.0))
        net = TaskNet(ZooEncoder(cfg.arch), head_for(spec, cfg), n_inputs=spec.views,
                      cell_dim=cell_channels(spec) if cell_w else 0)
    if init_encoder is not None:
        net.encoder.load_state_dict(init_encoder.state_dict())
    device = torch.device(device)
    net.to(device)
    opt = torch.optim.Adam(_param_groups(net, float(cfg.init_lr_scale.get(task, 1.0))), lr=cfg.lr,
                           weight_decay=cfg.weight_decay)
    key = cfg.train_key(task)
    start = _resume(ckpt, net, opt, key)
    std = Standardizer.fit(spec, train)
    class_weight = balanced_class_weights(spec, train).to(device) if task in cfg.balanced_loss else None
    grid = cfg.arch.output_shape[1]
    cell_train, cell_held = cell_data or (train, held)
    cells = CellTargets(spec, cell_train.target, cell_train.mask, grid) if cell_w else None
    t0 = time.perf_counter()
    steps = cfg.steps_for(task)
    bar = tqdm(range(start, steps), desc=f"{task:>17}", unit="step", leave=False, disable=not progress,
               initial=start, total=steps)
    ema = None
    for step in bar:
        idx = np.sort(np.random.default_rng([cfg.seed, t_idx, step]).integers(0, len(train), cfg.batch_size))
        x = to_input(train.inputs[idx]).to(device)
        tgt = torch.from_numpy(train.target[idx])
        if not spec.classification:
            tgt = std.norm(spec, tgt)
        tgt = tgt.to(device)
        mask = None if train.mask is None else torch.from_numpy(train.mask[idx]).to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step, steps) * g.get("lr_scale", 1.0)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16"):
            out, cell_out = net.forward_cells(x)
        loss = task_loss(spec, out.float(), tgt, mask, class_weight)
        if cells is not None:
            loss = loss + cell_w * torch.nn.functional.mse_loss(cell_out.float(), cells.batch(idx).to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lv = loss.item()
        ema = lv if ema is None else 0.9 * ema + 0.1 * lv
        bar.set_postfix(loss=f"{ema:.3f}")
        if (step + 1) % cfg.ckpt_every == 0 and step + 1 < steps:
            _save_checkpoint(ckpt, net, opt, step + 1, key)
        if on_step is not None:
            on_step(step)
    bar.close()
    with torch.no_grad():  # the zoo ships float16 weights: score exactly what is shipped
        for prm in net.parameters():
            prm.copy_(prm.half().float())
    name, higher = metric_name(spec)
    value = evaluate(spec, net, held, std)
    base_pred = np.asarray(baseline_prediction(spec, train))
    base = baseline_value(spec, base_pred, held)
    beats = value > base if higher else value < base
    extra = {}
    if name == "balanced_accuracy":  # the plain accuracy too, for the record
        extra = {"accuracy": evaluate(spec, net, held, std, metric="accuracy"),
                 "baseline_accuracy": baseline_value(spec, base_pred, held, metric="accuracy")}
    if cells is not None:  # how well the shipped features carry the statistics (standardised units)
        extra["cell_mse"] = cell_mse(net, cell_held, spec, cells, grid)
        extra["cell_weight"] = cell_w
    result = {"task": task, "group": spec.group, "metric": name, "higher_is_better": higher,
              "heldout": value, "baseline": base, "beats_baseline": bool(beats),
              "baseline_kind": spec.baseline, "train_samples": len(train), "heldout_samples": len(held),
              "steps": steps, "train_seconds": round(time.perf_counter() - t0, 1), "resumed_from_step": start,
              "key": key, **extra}
    if device.type != "cpu":
        result["device"] = str(device)
    net.cpu().eval()
    return TrainedTask(net, std, base_pred), result
