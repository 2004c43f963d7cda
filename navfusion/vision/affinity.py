"""Task affinity of a zoo: how similar two encoders' representations are.

Method (documented choice): **linear CKA** (centred kernel alignment, Kornblith et al. 2019)
between the flattened features ``(n, C*h*w)`` of two encoders on the same ``n`` probe images
(views rendered in held-out ``pretrain`` scenes): ``CKA(X, Y) = |Y'X|_F^2 / (|X'X|_F |Y'Y|_F)`` with
``X, Y`` column-centred. It lies in [0, 1], is 1 on the diagonal and is invariant to rotations
and isotropic scaling of either representation, so it compares *what* the encoders encode. The
agents' regulariser ``lambda * w' A w`` uses it: two similar experts (e.g. depth and normals) get
penalised for sharing the weight, two dissimilar ones (normals and semantics) hardly at all.

Files: ``<zoo>/affinity.json`` (``tasks``, ``matrix``, ``method``, ``probe``); ``navfusion encoders
affinity --zoo NAME --out DIR`` also writes ``DIR/affinity.csv`` and ``DIR/affinity.png``.
A user-supplied CSV (header ``task,<t1>,...,<tK>``, one row per task) can replace it, e.g. the
published Taskonomy affinities: ``load_affinity("path/to/affinity.csv", tasks)``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from navfusion.common import suggest
from navfusion.errors import NavFusionError
from navfusion.io import atomic_write_json, atomic_write_text, read_json
from navfusion.vision.encoders import encode_rgb
from navfusion.vision.features import zoo_encoders
from navfusion.vision.zoo import AFFINITY, find_zoo, load_manifest, load_zoo_encoder

METHOD = "linear CKA of flattened features on probe views from held-out pretrain scenes"


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of ``x`` (n, d1) and ``y`` (n, d2)."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    x = x - x.mean(0)
    y = y - y.mean(0)
    num = np.linalg.norm(y.T @ x) ** 2
    den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(num / den) if den > 0 else 0.0


def affinity_matrix(features: Sequence[np.ndarray]) -> np.ndarray:
    """Symmetric (K, K) linear-CKA matrix of K feature arrays of the same n images."""
    k = len(features)
    a = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            a[i, j] = a[j, i] = linear_cka(features[i], features[j])
    return a


def probe_images(zoo: str, n: int = 256, seed: int = 0) -> np.ndarray:
    """uint8 (n, S, S, 3) views rendered at random poses in the zoo's held-out pretrain scenes."""
    from navfusion.render import create_renderer
    from navfusion.render.camera import Camera
    from navfusion.scenes.suites import load_scene
    from navfusion.vision.pretrain import PretrainConfig, split_scenes
    from navfusion.vision.sampling import sample_poses

    m = load_manifest(zoo)
    tr = {k: v for k, v in m["training"].items() if k in PretrainConfig.__dataclass_fields__}
    cfg = PretrainConfig(**tr)
    _, held = split_scenes(cfg)
    rng = np.random.default_rng(seed)
    per = [n // len(held) + (i < n % len(held)) for i in range(len(held))]
    out = []
    for sid, k in zip(held, per):
        scene = load_scene(sid)
        r = create_renderer(scene, Camera(width=cfg.image_size, height=cfg.image_size), backend=cfg.backend)
        try:
            out.append(r.render(sample_poses(scene, k, rng), buffers=("rgb",)).rgb)
        finally:
            r.close()
    return np.concatenate(out)


def compute_affinity(zoo: str, images: np.ndarray, tasks: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(task names, (K, K) affinity) of a zoo's encoders on uint8 images (n, H, W, 3)."""
    d = find_zoo(zoo)
    names = list(tasks) if tasks else zoo_encoders(d)
    feats = [encode_rgb(load_zoo_encoder(d, t), images) for t in names]
    return names, affinity_matrix(feats)


def to_csv(names: Sequence[str], a: np.ndarray) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", *names])
    for n, row in zip(names, a):
        w.writerow([n, *(f"{v:.6f}" for v in row)])
    return buf.getvalue()


def save_affinity(zoo: str, names: Sequence[str], a: np.ndarray, out: str | os.PathLike | None = None,
                  probe: dict | None = None) -> Path:
    """Write ``affinity.json`` into the zoo folder (and CSV + PNG heatmap into ``out``)."""
    d = find_zoo(zoo)
    path = d / AFFINITY
    atomic_write_json(path, {"method": METHOD, "tasks": list(names), "matrix": np.round(a, 6).tolist(),
                             "probe": probe or {}})
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "affinity.csv", to_csv(names, a))
        plot_affinity(names, a, out / "affinity.png", title=f"task affinity ({d.name}, linear CKA)")
    return path


def plot_affinity(names: Sequence[str], a: np.ndarray, path: str | os.PathLike, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(names)
    fig, ax = plt.subplots(figsize=(2 + 0.32 * k, 1.5 + 0.32 * k), dpi=110)
    im = ax.imshow(a, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(k), names, rotation=90, fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
        names = rows[0][1:]
        a = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
        if [r[0] for r in rows[1:]] != names or a.shape != (len(names), len(names)):
            raise ValueError("rows must list the same tasks as the header, in the same order")
    except (ValueError, IndexError) as e:
        raise NavFusionError(f"affinity CSV {path} is malformed ({e}); expected header 'task,<t1>,...' and "
                             "one row per task") from None
    return names, a


def load_affinity(zoo: str | os.PathLike, tasks: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(task names, (K, K) float64 affinity) restricted to ``tasks`` (in that order).

    ``zoo`` is a zoo name / folder (reads its ``affinity.json``) or a CSV file. Encoder names with
    a zoo prefix (``nf5/normal``) match their task name.
    """
    p = Path(zoo)
    if p.suffix == ".csv":
        if not p.is_file():
            raise NavFusionError(f"affinity file not found: {p}")
        names, a = _read_csv(p)
    else:
        d = find_zoo(zoo)
        f = d / AFFINITY
        if not f.is_file():
            raise NavFusionError(f"zoo {d.name!r} has no task affinity ({f} is missing); compute it with "
                                 f"`navfusion encoders affinity --zoo {d.name}`")
        data = read_json(f, "affinity file")
        names, a = list(data["tasks"]), np.asarray(data["matrix"], np.float64)
    if tasks is None:
        return names, a
    idx = []
    for t in tasks:
        key = str(t).rpartition("/")[2]
        if key not in names:
            raise NavFusionError(f"task affinity has no entry for {t!r}.{suggest(key, names)} "
                                 f"It covers: {', '.join(names)}")
        idx.append(names.index(key))
    return list(tasks), a[np.ix_(idx, idx)]
