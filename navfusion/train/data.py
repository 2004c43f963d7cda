"""Training data as lookups: an observation is a function of (scene, node, target).

``NavData`` holds, for every scene of a split, the navigation tables (neighbors, distances, oracle
actions), the frozen-encoder features of every node (from the FeatureStore, concatenated over the
split's scenes) and the RGB views at the agent's resolution. A batch of states is three index
arrays; ``inputs(scene, node, target)`` gathers the agent's input with one indexing operation per
tensor -- no encoder runs during training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from navfusion.agents.models import InputSpec
from navfusion.agents.types import AgentInput
from navfusion.common import TARGETS, scene_slug
from navfusion.errors import NavFusionError
from navfusion.nav.engine import Episodes, NavArrays


def suite_of_env(env_id: str) -> str:
    """The suite name of an ``--env`` value: a registered id (``NavFusion/OctoNav-<suite>-v0``), a suite
    name, or a suite YAML path (see :func:`navfusion.nav.registration.resolve_env`)."""
    from navfusion.nav.registration import resolve_env

    return resolve_env(env_id).suite


def split_scene_ids(suite: str, split: str) -> list[str]:
    """Scene ids of a suite's split."""
    from navfusion.scenes import load_suite

    ids = [str(s) for s in load_suite(suite).scene_ids(split)]
    if not ids:
        raise NavFusionError(f"suite {suite!r} has no scenes in split {split!r}")
    return ids


@dataclass
class NavData:
    """Every scene of one split, ready for batched lookups.

    Attributes:
        scene_ids: the scenes (index s in the ``scene`` arrays).
        arrays: per scene, its :class:`NavArrays` (neighbors (N,8), distance (T,N), oracle (T,N)).
        offsets: ``(S+1,)`` start of each scene's nodes in the concatenated node axis.
        features: ``(N_total, K, 8, C, h, w)`` float16, or a list of K ``(N_total, 8, C_k, h_k, w_k)``
            when encoders' output shapes differ; ``None`` for RGB-only agents.
        rgb: ``(N_total, 8, r, r, 3)`` uint8 views at the agent's resolution, or ``None``.
        spec: encoder names and shapes for building the agent.
        episodes: per scene, fixed validation/test episodes (optional).
    """

    scene_ids: list[str]
    arrays: list[NavArrays]
    offsets: np.ndarray
    features: torch.Tensor | list[torch.Tensor] | None
    rgb: torch.Tensor | None
    spec: InputSpec
    episodes: list[Episodes] = field(default_factory=list)

    @property
    def num_scenes(self) -> int:
        return len(self.scene_ids)

    def inputs(self, scene: np.ndarray, node: np.ndarray, target: np.ndarray) -> AgentInput:
        """The agent's input for states ``(scene, node, target)`` (each ``(B,)`` int)."""
        g = torch.as_tensor(self.offsets[np.asarray(scene)] + np.asarray(node), dtype=torch.long)
        f = self.features
        if isinstance(f, list):
            f = [x[g] for x in f]
        elif f is not None:
            f = f[g]
        return AgentInput(target=torch.as_tensor(np.asarray(target), dtype=torch.long), features=f,
                          rgb=None if self.rgb is None else self.rgb[g])

    def oracle(self, scene: np.ndarray, node: np.ndarray, target: np.ndarray) -> np.ndarray:
        """``(B,)`` oracle actions of states."""
        out = np.empty(len(node), np.int64)
        for s in np.unique(scene):
            m = scene == s
            out[m] = self.arrays[s].oracle[target[m], node[m]]
        return out

    def free(self, scene: np.ndarray, node: np.ndarray) -> np.ndarray:
        """``(B, 8)`` bool: move k from the node is not blocked (the free-space auxiliary labels)."""
        out = np.empty((len(node), 8), bool)
        for s in np.unique(scene):
            m = scene == s
            out[m] = self.arrays[s].neighbors[node[m]] >= 0
        return out

    def distance(self, scene: np.ndarray, node: np.ndarray, target: np.ndarray) -> np.ndarray:
        out = np.empty(len(node), np.int64)
        for s in np.unique(scene):
            m = scene == s
            out[m] = self.arrays[s].distance[target[m], node[m]]
        return out


def world_arrays(world) -> NavArrays:
    """A navigation World's tables as the evaluator's :class:`NavArrays`."""
    return NavArrays(neighbors=np.asarray(world.graph.neighbors, np.int64),
                     distance=np.asarray(world.distance_table(), np.int64),
                     oracle=np.asarray(world.oracle_table(), np.int64),
                     positions=np.asarray(world.graph.positions))


def world_episodes(world, count: int, seed: int) -> Episodes:
    """Fixed episodes of one world (NAV's evaluation episode sets)."""
    from navfusion.nav.episodes import evaluation_episodes

    eps = evaluation_episodes(world, count=count, seed=seed)
    return Episodes(start=np.array([e.start for e in eps], np.int64),
                    target=np.array([e.target_index for e in eps], np.int64),
                    shortest=np.array([e.distance for e in eps], np.int64))


def load_split(suite: str, split: str, encoders: list[str], rgb_resolution: int | None,
               episodes_per_scene: int = 0, episode_seed: int = 0, max_scenes: int | None = None,
               zoo: str | None = None, build: bool = True, view_resolution: int = 64) -> NavData:
    """Load a suite split: tables, features (built incrementally if missing) and RGB views.

    Args:
        encoders: encoder names (may be empty for RGB-only agents).
        rgb_resolution: side of the RGB views the agent reads, or ``None`` for none.
        episodes_per_scene: fixed episodes per scene for validation (0: none).
        max_scenes: use only the first scenes of the split.
        zoo: FeatureStore namespace (default: the default zoo).
        view_resolution: resolution of the rendered views the RGB input is resized from (the views
            the encoders saw, so nothing is rendered twice).
    """
    from navfusion.build.runners import build_features
    from navfusion.nav import load_world
    from navfusion.vision.features import FeatureStore
    from navfusion.vision.zoo import DEFAULT_ZOO

    zoo = zoo or DEFAULT_ZOO
    ids = split_scene_ids(suite, split)[: max_scenes or None]
    if encoders and build:
        build_features(ids, zoo, encoders, progress=False)
    store = FeatureStore(zoo)
    arrays, feats, rgbs, eps, shapes = [], [], [], [], None
    for sid in ids:
        world = load_world(sid, resolution=view_resolution, views=rgb_resolution is not None, progress=False)
        arrays.append(world_arrays(world))
        if episodes_per_scene:
            eps.append(world_episodes(world, episodes_per_scene, episode_seed))
        if rgb_resolution is not None:
            rgbs.append(torch.from_numpy(resize_views(np.asarray(world.views.rgb), rgb_resolution)))
        if encoders:
            slug = scene_slug(sid)
            per = [store.load(slug, [e])[:, 0] for e in encoders]  # (N, 8, C, h, w) each
            shapes = [tuple(int(v) for v in p.shape[2:]) for p in per]
            feats.append(per)
    offsets = np.concatenate([[0], np.cumsum([a.num_nodes for a in arrays])]).astype(np.int64)
    features = None
    if encoders:
        per_enc = [torch.from_numpy(np.concatenate([f[k] for f in feats])) for k in range(len(encoders))]
        # float32 in memory when it is small: no per-batch conversion
        small = sum(p.numel() for p in per_enc) * 4 < (512 << 20)
        per_enc = [p.float() for p in per_enc] if small else per_enc
        features = torch.stack(per_enc, 1) if len(set(shapes)) == 1 else per_enc
    spec = InputSpec(tuple(encoders), tuple(shapes or ()), len(TARGETS))
    rgb = torch.cat(rgbs) if rgbs else None
    return NavData(ids, arrays, offsets, features, rgb, spec, eps)


def resize_views(rgb: np.ndarray, size: int) -> np.ndarray:
    """``(N, 8, H, W, 3)`` uint8 → ``(N, 8, size, size, 3)`` (area interpolation)."""
    if rgb.shape[2] == size and rgb.shape[3] == size:
        return np.array(rgb)  # a writable in-memory copy of the (read-only, memory-mapped) views
    import cv2

    flat = rgb.reshape(-1, *rgb.shape[2:])
    out = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in flat])
    return out.reshape(*rgb.shape[:2], size, size, 3)


# ----------------------------------------------------------------------------- synthetic data

def synthetic_split(num_scenes: int = 3, num_encoders: int = 4, seed: int = 0, feature_shape=(8, 8, 8),
                    rgb_resolution: int | None = 16, episodes_per_scene: int = 0, width: int = 16,
                    height: int = 12) -> NavData:
    """A synthetic split for tests and development: grid worlds with features derived from what
    a view could see (free run length along the view, goal visible along it, per target), seen
    by each fake encoder through its own random projection and noise (encoder k's signal weakens
    with k, so experts differ)."""
    from navfusion.nav.synthetic import MOVES, grid_world, sample_episodes

    c, h, w = feature_shape
    gen = np.random.default_rng(seed)
    proj = gen.standard_normal((num_encoders, 1 + len(TARGETS), c * h * w)).astype(np.float32)
    rgb_proj = gen.standard_normal((1 + len(TARGETS), 3 * 8 * 8)).astype(np.float32)
    arrays, feats, rgbs, eps = [], [], [], []
    for s in range(num_scenes):
        a = grid_world(width, height, seed=seed * 1000 + s)
        n = a.num_nodes
        desc = np.zeros((n, 8, 1 + len(TARGETS)), np.float32)
        for k in range(8):
            cur = np.arange(n)
            for step in range(1, 6):
                nxt = np.where(cur >= 0, a.neighbors[np.maximum(cur, 0), k], -1)
                ok = nxt >= 0
                desc[ok, k, 0] += 1
                for t in range(len(TARGETS)):
                    hit = ok & (a.distance[t, np.maximum(nxt, 0)] == 0)
                    desc[hit, k, 1 + t] = np.maximum(desc[hit, k, 1 + t], 1.0 - 0.15 * step)
                cur = nxt
        f = np.einsum("nvd,kdf->nkvf", desc, proj)
        strength = np.linspace(1.0, 0.2, num_encoders)[None, :, None, None]
        f = strength * f + gen.standard_normal(f.shape).astype(np.float32) * 0.5
        feats.append(f.reshape(n, num_encoders, 8, c, h, w).astype(np.float16))
        if rgb_resolution:
            img = np.einsum("nvd,df->nvf", desc, rgb_proj).reshape(n, 8, 8, 8, 3)
            img = np.clip(128 + 40 * img, 0, 255).astype(np.uint8)
            rep = max(1, rgb_resolution // 8)
            rgbs.append(img.repeat(rep, 2).repeat(rep, 3)[:, :, :rgb_resolution, :rgb_resolution])
        arrays.append(a)
        if episodes_per_scene:
            eps.append(sample_episodes(a, episodes_per_scene, seed=seed * 1000 + s + 7))
    del MOVES
    offsets = np.concatenate([[0], np.cumsum([a.num_nodes for a in arrays])]).astype(np.int64)
    spec = InputSpec(tuple(f"fake{k}" for k in range(num_encoders)), (tuple(feature_shape),) * num_encoders,
                     len(TARGETS))
    rgb = torch.from_numpy(np.concatenate(rgbs)) if rgbs else None
    return NavData([f"synthetic/train/{s}" for s in range(num_scenes)], arrays, offsets,
                   torch.from_numpy(np.concatenate(feats)), rgb, spec, eps)
