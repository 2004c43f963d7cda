"""The findings' statistics on synthetic data whose verdict is known (clear effect -> reproduced,
none -> inconclusive, reversed -> contradicted), and the hierarchical bootstrap's behaviour."""

from __future__ import annotations

import json

import numpy as np
import pytest

from navfusion.errors import NavFusionError
from navfusion.report import findings as F

SCENES, PER_SCENE = 8, 200


def _scene() -> np.ndarray:
    return np.repeat([f"s/test/{i}" for i in range(SCENES)], PER_SCENE)


def _success(rng, p_scene: np.ndarray, shift: float = 0.0, seeds: int = 1) -> np.ndarray:
    """(seeds, E) Bernoulli outcomes with a per-scene base rate plus ``shift``."""
    p = np.clip(np.repeat(p_scene, PER_SCENE) + shift, 0, 1)
    return (rng.random((seeds, p.size)) < p).astype(float)


def test_verdict_rule():
    assert F.verdict(0.01, 0.2) == F.REPRODUCED
    assert F.verdict(-0.2, -0.01) == F.CONTRADICTED
    assert F.verdict(-0.1, 0.1) == F.INCONCLUSIVE
    assert F.verdict(-0.2, -0.01, direction=-1) == F.REPRODUCED
    assert F.verdict(float("nan"), 0.1) == F.INCONCLUSIVE


def test_hierarchical_weights_resample_scenes_then_episodes():
    scene = np.repeat(["a", "b", "c"], [2, 3, 5])
    ws = np.concatenate(list(F.hierarchical_weights(scene, 500, seed=1, chunk=64)))
    assert ws.shape == (500, 10)
    # each draw has as many scene slots as scenes: picked scenes contribute m * n episodes
    per_scene = np.stack([ws[:, scene == s].sum(1) for s in "abc"], 1)
    assert np.all(per_scene % np.array([2, 3, 5]) == 0)
    assert np.all((per_scene / np.array([2, 3, 5])).sum(1) == 3)
    assert (per_scene == 0).any()  # some draws leave a scene out: the scene level is resampled
    again = np.concatenate(list(F.hierarchical_weights(scene, 500, seed=1, chunk=64)))
    assert np.array_equal(ws, again)  # deterministic for a seed
    whole = np.concatenate(list(F.hierarchical_weights(scene, 200, seed=1, within=False)))
    for s in "abc":  # scene-only: every member of a drawn scene weighs the times it was drawn
        assert np.all(whole[:, scene == s] == whole[:, scene == s][:, :1])


@pytest.mark.parametrize("shift, expected", [(0.15, F.REPRODUCED), (0.0, F.INCONCLUSIVE), (-0.15, F.CONTRADICTED)])
def test_paired_difference_verdicts(shift, expected):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, SCENES)
    b = _success(rng, base, seeds=3)
    a = _success(rng, base, shift, seeds=3)
    st = F.paired_difference(a, b, _scene(), n_boot=400)
    assert F.verdict(*st.ci) == expected
    assert st.ci[0] <= st.estimate <= st.ci[1]
    assert len(st.extra["per_seed"]) == 3


def test_scene_level_resampling_widens_the_interval():
    """With scene-to-scene variation of the effect, the hierarchical interval is wider than an
    episodes-only bootstrap would be (the scenes, not the episodes, are the unit)."""
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.6, SCENES)
    eff = rng.normal(0.05, 0.15, SCENES)  # some scenes gain, some lose
    b = _success(rng, base)
    a = (rng.random(b.shape) < np.clip(np.repeat(base + eff, PER_SCENE), 0, 1)).astype(float)
    hier = F.paired_difference(a, b, _scene(), n_boot=400)
    flat = F.paired_difference(a, b, np.zeros(a.shape[1]), n_boot=400)  # one "scene": episodes only
    assert hier.ci[1] - hier.ci[0] > 1.5 * (flat.ci[1] - flat.ci[0])


def test_paired_difference_needs_the_same_episodes():
    with pytest.raises(NavFusionError, match="same episodes"):
        F.paired_difference(np.zeros((1, 10)), np.zeros((1, 12)), np.zeros(10))


@pytest.mark.parametrize("gap, expected", [(0.2, F.REPRODUCED), (0.0, F.INCONCLUSIVE), (-0.2, F.CONTRADICTED)])
def test_margin_over_best_expert(gap, expected):
    rng = np.random.default_rng(2)
    base = rng.uniform(0.2, 0.5, SCENES)
    experts = np.stack([_success(rng, base, d) for d in (0.0, -0.1, -0.2)])  # (K, 1, E)
    a = _success(rng, base, gap)
    st = F.margin_over_best(a, experts, ["x", "y", "z"], _scene(), n_boot=300)
    assert F.verdict(*st.ci) == expected
    assert st.extra["best"] == "x"


@pytest.mark.parametrize("order, expected", [(1, F.REPRODUCED), (0, F.INCONCLUSIVE), (-1, F.CONTRADICTED)])
def test_rank_agreement(order, expected):
    rng = np.random.default_rng(3)
    tiers = np.array([2, 2, 2, 1, 1, 1, 0, 0, 0])
    base = rng.uniform(0.2, 0.5, SCENES)
    eff = order * 0.12 * (tiers - 1)
    S = np.stack([_success(rng, base, e)[0] for e in eff])
    st = F.rank_agreement(S, tiers, _scene(), n_boot=300)
    assert F.verdict(*st.ci) == expected


@pytest.mark.parametrize("slope, expected", [(0.5, F.REPRODUCED), (0.0, F.INCONCLUSIVE), (-0.5, F.CONTRADICTED)])
def test_correlation(slope, expected):
    rng = np.random.default_rng(4)
    group = np.repeat(np.arange(SCENES), 150)
    x = rng.uniform(0, 2, group.size)
    y = slope * x + rng.normal(0, 0.5, group.size)
    st = F.correlation(x, y, group, n_boot=300)
    assert F.verdict(*st.ci) == expected


@pytest.mark.parametrize("gap, expected", [(0.3, F.REPRODUCED), (0.0, F.INCONCLUSIVE), (-0.3, F.CONTRADICTED)])
def test_slope_difference(gap, expected):
    """b loses 0.5 success per unit share; a loses 0.5 - gap (less than b when gap > 0)."""
    rng = np.random.default_rng(5)
    base = rng.uniform(0.5, 0.7, SCENES)
    shares = np.array([0.0, 0.33, 0.67])
    a = np.stack([np.stack([_success(rng, base, (-0.5 + gap) * s)[0] for s in shares]) for _ in range(2)])
    b = np.stack([np.stack([_success(rng, base, -0.5 * s)[0] for s in shares]) for _ in range(2)])
    st = F.slope_difference(a, b, shares, _scene(), n_boot=300)
    assert F.verdict(*st.ci) == expected
    assert abs(st.estimate - gap) < 0.12


def test_expected_tiers():
    assert F.expected_tier("depth_zbuffer") == 2 and F.expected_tier("nf64/segment_semantic") == 2
    assert F.expected_tier("vanishing_point") == 0 and F.expected_tier("egomotion") == 0
    assert F.expected_tier("edge_texture") == 1


def test_findings_json_is_strict():
    f = F.Finding(1, "c", "s", float("nan"), [float("nan"), 1.0], "> 0", F.INCONCLUSIVE)
    text = json.dumps(F.findings_json([f], bootstrap=10), allow_nan=False)
    assert '"verdict": "inconclusive"' in text


def test_margin_over_many_equal_experts_is_not_contradicted():
    """25 experts exactly as good as the fused agent: the strongest one's margin is noise-inflated,
    and the simultaneous interval must not call that a contradiction."""
    rng = np.random.default_rng(6)
    base = rng.uniform(0.25, 0.4, SCENES)
    experts = np.stack([_success(rng, base) for _ in range(25)])
    a = _success(rng, base)
    st = F.margin_over_best(a, experts, [f"e{i}" for i in range(25)], _scene(), n_boot=300)
    assert st.estimate < -0.01  # the plug-in strongest expert looks better than it is...
    assert F.verdict(*st.ci) == F.INCONCLUSIVE  # ...and the verdict says so


@pytest.mark.parametrize("s_low, s_high, expected", [(-0.5, 0.5, F.REPRODUCED), (0.0, 0.0, F.INCONCLUSIVE),
                                                     (0.5, 0.5, F.CONTRADICTED), (-0.5, 0.0, F.INCONCLUSIVE)])
def test_both_halves(s_low, s_high, expected):
    """Finding 5: 3D weight falls and semantic weight rises with openness -- both halves must hold."""
    rng = np.random.default_rng(11)
    group = np.repeat(np.arange(SCENES), 150)
    x = rng.uniform(0, 2, group.size)
    low = s_low * x + rng.normal(0, 0.5, group.size)
    high = s_high * x + rng.normal(0, 0.5, group.size)
    st = F.both_halves(x, low, high, group, n_boot=300)
    assert F.verdict(*st.ci) == expected
