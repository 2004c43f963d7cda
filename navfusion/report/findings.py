"""Verdicts on the paper's findings, each with the statistic it rests on.

Every statistic comes with a percentile-bootstrap 95% interval from a *hierarchical* bootstrap:
resample the test scenes with replacement, then the episodes within each drawn scene (graph
nodes, which are not independent of their neighbours, stay whole with their scene). Scenes are
the unit the findings generalise over, so an interval that resampled episodes alone would be far
too narrow when there are few scenes. Comparisons of agents are *paired*: every
agent runs the same fixed episodes (same scenes, starts and targets), so per-episode differences
cancel the episodes' difficulty. Training seeds are pooled by averaging each episode's outcome over
seeds (with 3 seeds there is too little to resample; the per-seed differences are reported next to
the pooled one).

Verdict rule (``verdict``): the interval excludes 0 on the paper's side -> ``reproduced``; excludes 0
on the other side -> ``contradicted``; otherwise ``inconclusive``. A finding whose data the recipe
did not produce is ``not measured``.

The seven findings (``FINDINGS``): (1) fusion > ResNet; (2) action fusion > Concat; (3) fusion >
every single expert; (4) 3D and semantic experts strongest, vanishing point / pose weakest; (5) the
gate is situational (3D group heavier in narrow places, semantic heavier in open ones); (6) action-
level fusion degrades less than feature-level fusion as representations are dropped or noised;
(7) the affinity regulariser helps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as _st

from navfusion.errors import NavFusionError
from navfusion.markdown import markdown_table
from navfusion.viz.plots import group_of

REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_MEASURED = "reproduced", "contradicted", "inconclusive", "not measured"

#: Finding 4's expected tiers: 2 = strongest (3D and semantic groups), 0 = weakest (vanishing point
#: and camera pose), 1 = the rest.
WEAKEST_TASKS: frozenset[str] = frozenset({"vanishing_point", "egomotion", "fixated_pose", "nonfixated_pose"})
STRONGEST_GROUPS: frozenset[str] = frozenset({"3d", "semantic"})

#: Fewest scenes for a verdict from a whole-scene bootstrap (finding 5): 5 scenes give 126 distinct
#: resamples, 2 give 3.
MIN_WHOLE_SCENES = 5

#: The paper's method (Table 1, "ours": action-level fusion with the affinity regulariser) and its
#: fallback; fixed here, before any result is seen, so no choice is made on the test split.
FUSION_KEYS: tuple[str, ...] = ("action_fusion_affinity", "action_fusion")


def verdict(lo: float, hi: float, direction: int = 1) -> str:
    """``reproduced`` / ``contradicted`` / ``inconclusive`` from an interval and the paper's sign."""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return INCONCLUSIVE
    lo, hi = (lo, hi) if direction > 0 else (-hi, -lo)
    if lo > 0:
        return REPRODUCED
    if hi < 0:
        return CONTRADICTED
    return INCONCLUSIVE


# ----------------------------------------------------------------------------- the bootstrap

def hierarchical_weights(group: np.ndarray, n_boot: int, seed: int = 0, chunk: int = 256,
                         within: bool = True) -> Iterator[np.ndarray]:
    """Bootstrap draws as multiplicity weights, ``chunk`` draws at a time: (b, E) float arrays.

    One draw picks ``G`` groups (scenes) with replacement out of the ``G`` in ``group`` (E,), then,
    for a group picked ``m`` times, ``m`` resamples of its ``n`` members (episodes) with replacement;
    the weight of an item is how often it was drawn. ``m`` resamples of ``n`` summed are one
    multinomial of ``m·n`` over the group, which is how it is drawn here. ``within=False`` keeps
    every member of a drawn group (weight ``m``): for members that are not independent samples,
    such as neighbouring graph nodes.
    """
    g = np.asarray(group)
    names, inv = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(inv == j) for j in range(len(names))]
    rng = np.random.default_rng(seed)
    G, E = len(names), len(g)
    for s in range(0, n_boot, chunk):
        b = min(chunk, n_boot - s)
        picks = rng.integers(0, G, size=(b, G))
        times = np.stack([(picks == j).sum(1) for j in range(G)], 1)  # (b, G)
        w = np.zeros((b, E))
        for j, idx in enumerate(members):
            n = len(idx)
            if within:
                w[:, idx] = rng.multinomial(times[:, j] * n, np.full(n, 1.0 / n))
            else:
                w[:, idx] = times[:, j, None]
        yield w


def _ci(draws: np.ndarray, level: float) -> tuple[float, float]:
    d = np.asarray(draws, np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return (math.nan, math.nan)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(d, [a, 1.0 - a])
    return (float(lo), float(hi))


def _wmean(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Weighted means of the rows of ``v`` (..., E) under draws ``w`` (b, E): (b, ...)."""
    tot = w.sum(1)
    return np.einsum("be,...e->b...", w, v) / tot.reshape((-1,) + (1,) * (v.ndim - 1))


@dataclass
class Stat:
    """A statistic with its bootstrap interval and what it is."""

    name: str
    estimate: float
    ci: tuple[float, float]
    extra: dict[str, Any] = field(default_factory=dict)


def paired_difference(a: np.ndarray, b: np.ndarray, scene: np.ndarray, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> Stat:
    """Mean of ``a - b`` over the same episodes, seeds pooled.

    Args:
        a, b: (S_a, E) and (S_b, E) per-seed per-episode outcomes (e.g. success 0/1) of two agents
            on the same E episodes (a (E,) array is one seed).
        scene: (E,) scene of each episode (the bootstrap's first level).
    Returns:
        the pooled difference, its interval, and ``per_seed`` differences when the seed counts match.
    """
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    if a.shape[1] != b.shape[1] or a.shape[1] != len(scene):
        raise NavFusionError(f"paired difference: {a.shape[1]} vs {b.shape[1]} episodes ({len(scene)} scene labels); "
                             "the agents were not evaluated on the same episodes")
    d = a.mean(0) - b.mean(0)
    draws = np.concatenate([_wmean(w, d) for w in hierarchical_weights(scene, n_boot, seed)])
    extra: dict[str, Any] = {"a": float(a.mean()), "b": float(b.mean()), "episodes": int(d.size),
                             "scenes": len(set(np.asarray(scene).tolist())), "seeds": [a.shape[0], b.shape[0]]}
    if a.shape[0] == b.shape[0]:
        extra["per_seed"] = [float(x) for x in (a - b).mean(1)]
    return Stat("paired difference in success", float(d.mean()), _ci(draws, level), extra)


def min_with_band(point: np.ndarray, draws: np.ndarray, level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """The smallest of K statistics with a simultaneous interval.

    ``draws`` (B, K) are bootstrap replicates of ``point`` (K,). ``c`` is the ``level`` quantile of
    ``max_k |draw_k - point_k|``, so all K intervals ``point_k ± c`` hold together, and then so does
    ``min(point) ± c`` for the smallest (the minimum moves by at most the largest shift). Unlike a
    percentile interval of the per-draw minimum, it is not pulled down by the noise of K competitors
    (the maximum of 25 noisy success rates is biased upwards), and it accounts for K comparisons.
    """
    point = np.asarray(point, np.float64)
    dev = np.abs(np.asarray(draws, np.float64) - point[None]).max(1)
    dev = dev[np.isfinite(dev)]
    m = float(point.min())
    if dev.size == 0 or not math.isfinite(m):
        return m, (math.nan, math.nan)
    c = float(np.quantile(dev, level))
    return m, (m - c, m + c)


def margin_over_best(a: np.ndarray, others: np.ndarray, names: list[str], scene: np.ndarray,
                     n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Stat:
    """``a`` minus the strongest of ``others``: the smallest of the K paired margins, with a
    simultaneous interval (:func:`min_with_band`).

    Args:
        a: (S, E) per-seed outcomes of one agent; others: (K, S', E) those of K competitors, all on
            the same E episodes.
    Reproduced (interval above 0) means ``a`` beats every competitor; contradicted (below 0) means
    some competitor beats ``a`` even allowing for K comparisons.
    """
    a = np.atleast_2d(np.asarray(a, np.float64)).mean(0)
    o = np.asarray(others, np.float64)
    o = o.mean(1) if o.ndim == 3 else o  # (K, E)
    if o.shape[-1] != a.size:
        raise NavFusionError("margin over the best: the agents were not evaluated on the same episodes")
    point = a.mean() - o.mean(1)
    best = int(np.argmin(point))
    draws = np.concatenate([_wmean(w, a)[:, None] - _wmean(w, o) for w in hierarchical_weights(scene, n_boot, seed)])
    m, ci = min_with_band(point, draws, level)
    extra = {"best": names[best], "best_success": float(o[best].mean()), "success": float(a.mean()),
             "margins": {n: float(v) for n, v in zip(names, point)}}
    return Stat("paired difference in success to the strongest single expert", m, ci, extra)


def both_halves(x: np.ndarray, y_low: np.ndarray, y_high: np.ndarray, group: np.ndarray, n_boot: int = 2000,
                seed: int = 0, level: float = 0.95) -> Stat:
    """Finding 5's statistic: ``min(-r(x, y_low), r(x, y_high))`` with a simultaneous interval.

    Positive when ``y_low`` falls and ``y_high`` rises with ``x`` (both halves of the claim);
    negative beyond the interval when at least one half goes the other way. Pooled Pearson
    correlations; the bootstrap resamples whole groups (scenes) and keeps all their items (nodes),
    because neighbouring nodes are not independent observations.
    """
    x, lo, hi = (np.asarray(v, np.float64) for v in (x, y_low, y_high))
    ones = np.ones((1, x.size))
    point = np.array([-_wpearson(ones, x, lo)[0], _wpearson(ones, x, hi)[0]])
    draws = np.concatenate([np.stack([-_wpearson(w, x, lo), _wpearson(w, x, hi)], 1)
                            for w in hierarchical_weights(group, n_boot, seed, within=False)])
    m, ci = min_with_band(point, draws, level)
    return Stat("the weaker of -r(openness, 3D weight) and r(openness, semantic weight)", m, ci,
                {"r_low": float(-point[0]), "r_high": float(point[1]), "n": int(x.size)})


def expected_tier(name: str) -> int:
    """Finding 4's expected tier of a representation (see :data:`WEAKEST_TASKS`)."""
    task = name.rsplit("/", 1)[-1]
    if task in WEAKEST_TASKS:
        return 0
    return 2 if group_of(task) in STRONGEST_GROUPS else 1


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``x`` (b, K) with ``y`` (K,) (ties get average ranks)."""
    rx = _st.rankdata(x, axis=1)
    ry = _st.rankdata(y)
    rx = rx - rx.mean(1, keepdims=True)
    ry = ry - ry.mean()
    den = np.sqrt((rx ** 2).sum(1) * (ry ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def rank_agreement(success: np.ndarray, tiers: np.ndarray, scene: np.ndarray, n_boot: int = 2000, seed: int = 0,
                   level: float = 0.95) -> Stat:
    """Spearman correlation between K experts' success (K, E) (or (K, S, E)) and their expected tiers (K,)."""
    s = np.asarray(success, np.float64)
    s = s.mean(1) if s.ndim == 3 else s
    t = np.asarray(tiers, np.float64)
    point = float(_spearman_rows(s.mean(1)[None], t)[0])
    draws = np.concatenate([_spearman_rows(_wmean(w, s), t) for w in hierarchical_weights(scene, n_boot, seed)])
    return Stat("Spearman rank correlation of single-expert success with the expected tiers", point,
                _ci(draws, level), {"experts": int(s.shape[0])})


def _wpearson(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    mx, my = _wmean(w, x), _wmean(w, y)
    cov = _wmean(w, x * y) - mx * my
    vx, vy = _wmean(w, x * x) - mx ** 2, _wmean(w, y * y) - my ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt(np.clip(vx, 0, None) * np.clip(vy, 0, None))


def correlation(x: np.ndarray, y: np.ndarray, group: np.ndarray, n_boot: int = 2000, seed: int = 0,
                level: float = 0.95) -> Stat:
    """Pearson correlation of ``x`` and ``y`` (N,) with a hierarchical interval (groups, then items)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w1 = np.ones((1, x.size))
    point = float(_wpearson(w1, x, y)[0])
    draws = np.concatenate([_wpearson(w, x, y) for w in hierarchical_weights(group, n_boot, seed)])
    return Stat("Pearson correlation", point, _ci(draws, level), {"n": int(x.size)})


def _slopes(means: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Least-squares slopes of (b, P) curves over ``shares`` (P,)."""
    xc = shares - shares.mean()
    return (means - means.mean(-1, keepdims=True)) @ xc / (xc @ xc)


def slope_difference(a: np.ndarray, b: np.ndarray, shares: np.ndarray, scene: np.ndarray, n_boot: int = 2000,
                     seed: int = 0, level: float = 0.95) -> Stat:
    """Slope of ``a``'s success over the share of corrupted representations minus ``b``'s.

    Args:
        a, b: (M, P, E) outcomes of two agents for M corruption modes (or (P, E) for one) at P shares,
            every point on the same E episodes; the statistic averages the M modes' differences.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = (a[None], b[None]) if a.ndim == 2 else (a, b)
    x = np.asarray(shares, np.float64)
    if len(x) < 2 or a.shape != b.shape or a.shape[1] != len(x):
        raise NavFusionError(f"slope difference: curves of shape {a.shape} and {b.shape} over {len(x)} shares")
    pa, pb = _slopes(a.mean(-1), x), _slopes(b.mean(-1), x)  # (M,)
    draws = []
    for w in hierarchical_weights(scene, n_boot, seed):
        draws.append((_slopes(_wmean(w, a), x) - _slopes(_wmean(w, b), x)).mean(-1))
    return Stat("slope difference (success per unit share corrupted)", float((pa - pb).mean()),
                _ci(np.concatenate(draws), level), {"slope_a": pa.tolist(), "slope_b": pb.tolist()})


# ----------------------------------------------------------------------------- the seven findings

@dataclass
class Finding:
    """One row of the verdict table (``findings.json``)."""

    id: int
    claim: str
    statistic: str
    estimate: float | None
    ci: list[float] | None
    direction: str
    verdict: str
    detail: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def cells(self) -> list[str]:
        """Markdown/HTML table cells: #, claim, statistic, estimate [CI], verdict."""
        if self.estimate is None or self.ci is None:
            est = "—"
        else:
            est = f"{self.estimate:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}]"
        return [str(self.id), self.claim, self.statistic, est, self.verdict]


HEADER = ["#", "Paper's finding", "Statistic (paper's direction)", "Estimate [95% CI]", "Verdict"]


def _finding(i: int, claim: str, stat: Stat | None, what: str, direction: int = 1, note: str = "",
             why_missing: str = "") -> Finding:
    dirn = "> 0" if direction > 0 else "< 0"
    if stat is None:
        return Finding(i, claim, what, None, None, dirn, NOT_MEASURED, note=why_missing or note)
    return Finding(i, claim, what, stat.estimate, list(stat.ci), dirn, verdict(*stat.ci, direction),
                   detail=stat.extra, note=note)


def _load(d: Path) -> dict[str, np.ndarray]:
    p = d / "episodes.npz"
    if not p.is_file():
        raise FileNotFoundError(p)
    with np.load(p) as z:
        return {k: z[k] for k in z.files}


def _stack(runs: list[dict[str, np.ndarray]], where: str, ref: dict[str, np.ndarray] | None = None,
           col: str = "success_reach") -> np.ndarray:
    """(S, E) outcomes of runs checked to cover the same episodes as ``ref`` (or the first run)."""
    ref = ref or runs[0]
    for r in runs:
        same = all(len(r[k]) == len(ref[k]) and np.array_equal(r[k], ref[k]) for k in ("scene", "start", "target"))
        if not same:
            raise NavFusionError(f"{where}: episodes differ from the reference's (scene, start, target); "
                                 "paired comparisons need the same episodes")
    return np.stack([np.asarray(r[col], np.float64) for r in runs])


class _Results:
    """Per-episode results of a finished reproduction folder, loaded on demand."""

    def __init__(self, out: Path, cfg):
        self.out, self.cfg = out, cfg
        self._cache: dict[str, list[dict[str, np.ndarray]]] = {}

    def agent(self, key: str) -> list[dict[str, np.ndarray]] | None:
        if key not in self.cfg.agents:
            return None
        if key not in self._cache:
            self._cache[key] = [_load(self.out / "eval" / f"{key}-s{s}") for s in self.cfg.seeds]
        return self._cache[key]

    def fusion_key(self) -> str | None:
        return next((k for k in FUSION_KEYS if k in self.cfg.agents), None)


def compute_findings(out: str | Path, cfg, n_boot: int | None = None, seed: int = 0) -> list[Finding]:
    """The seven findings of a finished reproduction in ``out`` (read from its saved results).

    ``cfg`` is its :class:`~navfusion.report.recipe.ReproduceConfig`; ``n_boot`` defaults to its
    ``bootstrap``. Deterministic for a given ``seed``.
    """
    out = Path(out)
    nb = int(n_boot or cfg.bootstrap)
    R = _Results(out, cfg)
    fkey = R.fusion_key()
    res = [_pair_finding(R, nb, seed, 1, "fusion beats ResNet", fkey, "resnet"),
           _pair_finding(R, nb, seed, 2, "action-level fusion beats Concat", "action_fusion", "concat")]
    names, single = _single_expert_results(out, cfg)
    res.append(_fusion_vs_experts_finding(R, names, single, nb, seed))
    res.append(_expert_tiers_finding(names, single, nb, seed))
    res.append(_situational_finding(out, cfg, nb, seed))
    res.append(_robustness_finding(out, cfg, nb, seed))
    res.append(_pair_finding(R, nb, seed, 7, "the affinity regulariser helps", "action_fusion_affinity",
                             "action_fusion"))
    return res


def _pair_finding(R: _Results, nb: int, seed: int, i: int, claim: str, a_key: str | None, b_key: str,
                  note: str = "") -> Finding:
    """Finding ``i`` (1, 2, 7): agent ``a_key`` beats ``b_key`` (paired success difference)."""
    what = f"paired success difference {a_key or '?'} − {b_key}"
    if a_key is None or a_key not in R.cfg.agents or b_key not in R.cfg.agents:
        return _finding(i, claim, None, what, why_missing=f"the recipe has no {a_key or 'fusion'} or {b_key} agent")
    a, b = R.agent(a_key), R.agent(b_key)
    A = _stack(a, f"finding {i}: {a_key}")
    B = _stack(b, f"finding {i}: {b_key}", ref=a[0])
    return _finding(i, claim, paired_difference(A, B, a[0]["scene"], nb, seed), what, note=note)


def _single_expert_results(out: Path, cfg) -> tuple[list[str], dict[str, list[dict[str, np.ndarray]]] | None]:
    """(expert names, per expert the per-seed results) of the recipe's single-expert agents, or
    ([], None) when it has none."""
    if cfg.single_experts is None:
        return [], None
    d0 = out / "eval" / f"single_experts-s{cfg.seeds[0]}"
    names = json.loads((d0 / "experts.json").read_text())
    return names, {n: [_load(out / "eval" / f"single_experts-s{s}" / n) for s in cfg.seeds] for n in names}


def _fusion_vs_experts_finding(R: _Results, names: list[str], single: dict | None, nb: int, seed: int) -> Finding:
    """Finding 3: the fusion agent beats every single expert (its margin over the strongest)."""
    fkey = R.fusion_key()
    claim = "fusion beats every single expert"
    what = (f"paired success difference {fkey or 'fusion'} − strongest single expert (simultaneous interval over "
            "all experts)")
    if not (single and fkey):
        return _finding(3, claim, None, what, why_missing="the recipe has no single_experts or no fusion agent")
    a = R.agent(fkey)
    A = _stack(a, f"finding 3: {fkey}")
    O = np.stack([_stack(single[n], f"finding 3: single expert {n}", ref=a[0]) for n in names])
    return _finding(3, claim, margin_over_best(A, O, names, a[0]["scene"], nb, seed), what)


def _expert_tiers_finding(names: list[str], single: dict | None, nb: int, seed: int) -> Finding:
    """Finding 4: single experts rank by their expected tiers (:func:`expected_tier`)."""
    claim = "3D and semantic experts strongest, vanishing point / pose weakest"
    what = "Spearman ρ of single-expert success with tiers (3D/semantic 2, vanishing point/pose 0, rest 1)"
    if not single:
        return _finding(4, claim, None, what, why_missing="the recipe has no single_experts")
    tiers = np.array([expected_tier(n) for n in names])
    if len(set(tiers.tolist())) < 2:
        return _finding(4, claim, None, what, why_missing="the single experts cover only one tier")
    ref = single[names[0]][0]
    S = np.stack([_stack(single[n], f"finding 4: {n}", ref=ref) for n in names])
    st = rank_agreement(S, tiers, ref["scene"], nb, seed)
    st.extra["tiers"] = {n: int(t) for n, t in zip(names, tiers)}
    return _finding(4, claim, st, what)


def _situational_finding(out: Path, cfg, nb: int, seed: int) -> Finding:
    """Finding 5: the gate is situational, from the per-node gate weights of the situational analysis."""
    what = "the weaker half: min(−r(openness, 3D group weight), r(openness, semantic group weight)), per node"
    claim = "gate is situational: 3D heavier in narrow places, semantic heavier in open ones"
    nodes = out / "situational" / "nodes.npz"
    if cfg.situational is None or not nodes.is_file():
        return _finding(5, claim, None, what, why_missing="no situational analysis with per-node data")
    with np.load(nodes) as z:
        node = {k: z[k] for k in z.files}
    if "w_3d" not in node or "w_semantic" not in node:
        return _finding(5, claim, None, what, why_missing="the gated agent has no 3D or no semantic expert")
    st = both_halves(node["openness"], node["w_3d"], node["w_semantic"], node["scene"], nb, seed)
    st.extra = {"r_3d": st.extra["r_low"], "r_semantic": st.extra["r_high"], "nodes": st.extra["n"],
                "r_semantic_minus_3d": float(_wpearson(np.ones((1, node["openness"].size)), node["openness"],
                                                       node["w_semantic"] - node["w_3d"])[0]),
                "agent": cfg.situational.agent}
    n_sc = len(set(node["scene"].tolist()))
    f5 = _finding(5, claim, st, what,
                  note=f"{cfg.situational.agent}, seed {cfg.seeds[0]}; both halves must hold; scenes are "
                  "resampled whole (neighbouring nodes are not independent)")
    if n_sc < MIN_WHOLE_SCENES:
        # G scenes give only C(2G-1, G) distinct resamples (3 for 2 scenes): no interval to trust.
        f5.verdict = INCONCLUSIVE
        f5.note += (f"; only {n_sc} scene(s), a whole-scene interval needs >= {MIN_WHOLE_SCENES}, "
                    "so no verdict")
    return f5


def _robustness_finding(out: Path, cfg, nb: int, seed: int) -> Finding:
    """Finding 6: action-level fusion's success falls more slowly than feature-level fusion's as
    representations are corrupted (slopes over the corrupted share, corruption modes averaged)."""
    what = "slope of success vs share corrupted: action − feature fusion (drop and noise averaged)"
    claim = "action-level fusion degrades less than feature-level fusion"
    rc = cfg.robustness
    if rc is None or not {"action_fusion", "feature_fusion"} <= set(rc.agents) or len(rc.shares) < 2:
        return _finding(6, claim, None, what,
                        why_missing="robustness needs action_fusion and feature_fusion at ≥ 2 shares")
    curves = {}
    ref = None
    for key in ("action_fusion", "feature_fusion"):
        per_mode = []
        for mode in rc.modes:
            pts = [_load(out / "robustness" / key / f"{mode}-{s:g}") for s in rc.shares]
            ref = ref or pts[0]  # every point of both agents on the first point's episodes
            per_mode.append(_stack(pts, f"finding 6: {key} {mode}", ref=ref))
        curves[key] = np.stack(per_mode)  # (M, P, E)
    st = slope_difference(curves["action_fusion"], curves["feature_fusion"], np.asarray(rc.shares, float),
                          ref["scene"], nb, seed)
    st.extra["modes"] = list(rc.modes)
    return _finding(6, claim, st, what, note=f"seed-{cfg.seeds[0]} models")


def findings_markdown(findings: list[Finding]) -> str:
    """The verdict table as Markdown."""
    return markdown_table(HEADER, [f.cells() for f in findings]) + "\n"


RULE = ("Verdict: the 95% interval excludes 0 in the paper's direction → reproduced; excludes 0 against it → "
        "contradicted; otherwise inconclusive. Intervals: bootstrap over test scenes, then episodes within each "
        "drawn scene (graph nodes: whole scenes); agents are compared on the same episodes; training seeds are "
        "pooled by averaging each episode over seeds; a finding over several comparisons (3, 5) uses one "
        "simultaneous interval for all of them.")


def findings_json(findings: list[Finding], **meta: Any) -> dict[str, Any]:
    """``findings.json``: the rule, ``meta`` (test scenes, bootstrap) and the findings."""
    return _finite({"rule": RULE, **meta, "findings": [asdict(f) for f in findings]})


def _finite(o: Any) -> Any:
    """NaN/inf -> None, so ``findings.json`` is strict JSON."""
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return float(o) if math.isfinite(o) else None
    if isinstance(o, np.integer):
        return int(o)
    return o
