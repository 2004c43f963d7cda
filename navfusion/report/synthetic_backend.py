"""A model-free backend on synthetic grid worlds, for testing the reproduction pipeline fast.

No learning happens: a "trained" agent follows the oracle with a fixed per-kind probability and
otherwise moves at random, and its gate is a fixed function of how open the node is (3D experts
weighted in narrow places, semantic ones in open places). Reports made with it say so.
"""

from __future__ import annotations

import zlib
from collections import deque
from pathlib import Path

import numpy as np

from navfusion.errors import NavFusionError
from navfusion.eval.backend import SceneData
from navfusion.io import atomic_write_json, read_json
from navfusion.nav.engine import PolicyStep
from navfusion.nav.synthetic import grid_world, sample_episodes

EXPERTS = ["depth_zbuffer", "normal", "edge_texture", "segment_semantic", "class_object", "vanishing_point"]
_EXPERT_Q = np.array([0.75, 0.7, 0.45, 0.7, 0.5, 0.2])
_SLOPE = np.array([-1.0, -0.8, 0.0, 1.0, 0.8, 0.0])     # gate logit slope vs openness
_KIND_Q = {"resnet": 0.5, "concat": 0.6, "feature_fusion": 0.65, "action_fusion": 0.72,
           "action_fusion_affinity": 0.75, "single_all": 0.0}
KINDS = ["random", *_KIND_Q]


def _openness(a) -> np.ndarray:
    """Graph distance (m, spacing 0.5) to the nearest node with a blocked move."""
    n = a.num_nodes
    d = np.full(n, -1.0)
    q = deque()
    for u in np.flatnonzero((a.neighbors < 0).any(1)):
        d[u] = 0.25
        q.append(int(u))
    while q:
        u = q.popleft()
        for v in a.neighbors[u]:
            if v >= 0 and d[v] < 0:
                d[v] = d[u] + 0.5
                q.append(int(v))
    d[d < 0] = d.max() + 0.5
    return d


class _Agent:
    def __init__(self, kind: str, q: float):
        self.kind = kind
        self.q = q
        self.expert_names = EXPERTS if kind not in ("random", "resnet", "concat") else None
        if kind == "concat":
            self.expert_names = None

    def _gate_logits(self, openness: np.ndarray) -> np.ndarray:
        return 0.8 * (openness[:, None] - 1.0) * _SLOPE[None] + np.log(_EXPERT_Q)[None]

    def node_gates(self, scene: SceneData, nodes: np.ndarray, target: int) -> np.ndarray | None:
        if self.kind not in ("feature_fusion", "action_fusion", "action_fusion_affinity"):
            return None
        g = np.exp(self._gate_logits(scene.openness[nodes]))
        return g / g.sum(1, keepdims=True)

    def policy(self, scene: SceneData, *, seed: int, expert_mask=None, noise_mask=None, noise_std=0.0,
               only_expert=None, greedy=False):
        rng = np.random.default_rng(seed)
        orc = scene.arrays.oracle
        q = self.q
        if only_expert is not None:
            q = float(_EXPERT_Q[only_expert])
        k = len(EXPERTS)
        lost = 0.0
        if expert_mask is not None:
            lost += 1.0 - np.asarray(expert_mask, bool).mean()
        if noise_mask is not None:
            lost += 0.5 * min(1.0, noise_std) * np.asarray(noise_mask, bool).mean()
        # Mixing actions degrades gracefully; mixing features is hurt more by missing inputs.
        if self.kind == "feature_fusion":
            q *= (1.0 - lost) ** 1.5
        elif self.kind in ("action_fusion", "action_fusion_affinity"):
            q *= (1.0 - 0.5 * lost)
        del k

        def act(nodes, targets, t, idx):
            if self.kind == "random":
                return PolicyStep(rng.integers(0, 9, size=len(nodes)))
            follow = rng.random(len(nodes)) < q
            a = np.where(follow, orc[targets, nodes], rng.integers(0, 8, size=len(nodes)))
            return PolicyStep(a, self.node_gates(scene, nodes, 0))

        return act


class SyntheticBackend:
    """Backend for ``suite: synthetic`` (see the module docstring)."""

    name = "synthetic"

    def check(self, cfg) -> None:
        for key, e in cfg.agents.items():
            if e.agent not in KINDS:
                from navfusion.common import suggest

                raise NavFusionError(f"agents.{key}: unknown agent {e.agent!r} for the synthetic backend; known: "
                                     f"{', '.join(KINDS)}.{suggest(e.agent, KINDS)}")

    def prepare(self, cfg, log) -> dict:
        return {"scenes": self.test_scenes(cfg)}

    def test_scenes(self, cfg) -> list[str]:
        n = cfg.max_test_scenes or 3
        return [f"synthetic/{cfg.eval_split}/{i}" for i in range(n)]

    def scene(self, scene_id: str, cfg) -> SceneData:
        idx = int(scene_id.rsplit("/", 1)[1])
        a = grid_world(width=22 + 2 * idx, height=16, seed=100 + idx)
        eps = sample_episodes(a, cfg.episodes_per_scene, seed=idx)
        op = _openness(a)

        def views(nodes):
            v = np.zeros((len(nodes), 8, 24, 24, 3), np.uint8)
            v[..., 0] = (op[nodes] * 60).clip(0, 255).astype(np.uint8)[:, None, None, None]
            v[..., 2] = np.arange(8, dtype=np.uint8)[None, :, None, None] * 30
            return v

        goals = {t: np.flatnonzero(a.distance[t] == 0) for t in range(a.distance.shape[0])}
        return SceneData(scene_id, a, eps, openness=op, views=views, goal_nodes=goals)

    def train(self, key, entry, seed, run_dir: Path, cfg, log) -> None:
        jitter = (zlib.crc32(f"{key}-{seed}".encode()) % 1000) / 1000.0 * 0.04 - 0.02
        q = _KIND_Q.get(entry.agent, 0.0) + jitter
        atomic_write_json(Path(run_dir) / "checkpoint.json", {"kind": entry.agent, "q": q, "seed": seed})

    def load(self, run_dir: Path, entry, cfg):
        ck = Path(run_dir) / "checkpoint.json"
        if not ck.is_file():
            raise NavFusionError(f"run folder {run_dir} has no checkpoint (checkpoint.json); train it first")
        d = read_json(ck, "checkpoint")
        return _Agent(d["kind"], float(d["q"]))

    def versions(self) -> dict:
        return {"backend": "synthetic (no learning; orchestration test)"}
