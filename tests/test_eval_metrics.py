"""Evaluation protocol on a synthetic graph: oracle 1.0/1.0, random low, CIs against binomial cases."""

from __future__ import annotations

import numpy as np
import pytest

from navfusion.eval.metrics import episodes_csv, summarize, summary_markdown
from navfusion.eval.stats import bootstrap_ci, clopper_pearson_ci, correlation_ci, mean_std, wilson_ci
from navfusion.nav.engine import EpisodeResults, PolicyStep, run_batched
from navfusion.nav.policies import oracle_policy, random_policy
from navfusion.nav.synthetic import grid_world, sample_episodes


@pytest.fixture(scope="module")
def world():
    a = grid_world(width=30, height=20, seed=3)
    return a, sample_episodes(a, 300, seed=1)


def test_wilson_and_exact_match_known_binomial_case():
    # Reference values (e.g. R's binom.confint / statsmodels) for 50/100 and 9/10.
    assert wilson_ci(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert clopper_pearson_ci(50, 100) == pytest.approx((0.3983, 0.6017), abs=1e-4)
    assert wilson_ci(9, 10) == pytest.approx((0.5958, 0.9821), abs=1e-4)
    assert clopper_pearson_ci(9, 10) == pytest.approx((0.5550, 0.9975), abs=1e-4)
    assert clopper_pearson_ci(0, 20)[0] == 0.0 and clopper_pearson_ci(20, 20)[1] == 1.0


def test_bootstrap_agrees_with_binomial_and_is_seeded():
    v = np.r_[np.ones(300), np.zeros(700)]
    lo, hi = bootstrap_ci(v, seed=0)
    wl, wh = wilson_ci(300, 1000)
    assert abs(lo - wl) < 0.01 and abs(hi - wh) < 0.01
    assert bootstrap_ci(v, seed=0) == (lo, hi)
    assert bootstrap_ci(np.ones(5)) == (1.0, 1.0)
    assert mean_std([0.2, 0.4]) == pytest.approx((0.3, 0.1414), abs=1e-3)


def test_correlation_ci_contains_r():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = 0.5 * x + rng.normal(size=200)
    r, lo, hi, p = correlation_ci(x, y)
    assert lo < r < hi and r > 0.3 and p < 1e-6


def test_oracle_is_perfect_in_both_modes(world):
    a, eps = world
    res = run_batched(a, eps, oracle_policy(a))
    assert res.success_reach.mean() == 1.0 and res.spl_reach.mean() == 1.0
    assert res.success_stop.mean() == 1.0 and res.spl_stop.mean() == 1.0
    assert (res.collisions_stop == 0).all()
    # reach mode ends when the agent is 3 steps away from the goal
    assert (res.path_reach == eps.shortest - 3).all()
    assert (res.steps_stop == eps.shortest + 1).all()


def test_random_is_low_and_seeded(world):
    a, eps = world
    r1 = run_batched(a, eps, random_policy(seed=0))
    r2 = run_batched(a, eps, random_policy(seed=0))
    assert np.array_equal(r1.success_reach, r2.success_reach)
    assert r1.success_reach.mean() < 0.3
    assert r1.success_stop.mean() <= r1.success_reach.mean() + 0.05
    assert r1.spl_reach.mean() <= r1.success_reach.mean()
    assert r1.collisions_stop.sum() > 0


def test_reach_is_prefix_of_stop_trajectory(world):
    a, eps = world
    res = run_batched(a, eps, random_policy(seed=2, include_stop=False), record=True)
    for i in range(len(eps)):
        traj = res.nodes[i]
        d = a.distance[eps.target[i], traj[traj >= 0]]
        hit = np.flatnonzero(d <= 3)
        assert bool(res.success_reach[i]) == (hit.size > 0)
        if hit.size:
            assert res.steps_reach[i] == hit[0]


def test_policy_with_gates_is_recorded(world):
    a, eps = world
    orc = oracle_policy(a)

    def pol(nodes, targets, t, idx):
        g = np.tile([0.25, 0.75], (len(nodes), 1))
        return PolicyStep(orc(nodes, targets, t, idx).actions, g)

    res = run_batched(a, eps.subset(10), pol, record=True)
    assert res.gates.shape == (10, 39, 2)
    assert np.allclose(res.gates[:, 0], [0.25, 0.75])
    assert np.isnan(res.gates[:, -1]).all()


def test_summary_outputs(world):
    a, eps = world
    res = run_batched(a, eps, random_policy(seed=0))
    scene = np.array(["s/test/0"] * 150 + ["s/test/1"] * 150)
    s = summarize(res, scene, n_boot=200)
    assert s["episodes"] == 300 and set(s["per_scene"]) == {"s/test/0", "s/test/1"}
    assert s["success_ci"][0] <= s["success"] <= s["success_ci"][1]
    assert sum(v["episodes"] for v in s["per_category"].values()) == 300
    md = summary_markdown(s)
    assert "scene s/test/1" in md
    csv = episodes_csv(res, scene)
    assert csv.count("\n") == 301
    both = EpisodeResults.concat([res, res])
    assert len(both) == 600
