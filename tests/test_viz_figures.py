"""Figures, animation and the HTML report on synthetic data (no model needed)."""

from __future__ import annotations

import numpy as np

from navfusion.eval.stats import correlation_ci
from navfusion.viz import plots
from navfusion.viz.animation import episode_frames, write_gif
from navfusion.viz.html import Section, missing_references, write_html


def test_figures_and_html(tmp_path):
    rng = np.random.default_rng(0)
    names = ["depth_zbuffer", "normal", "segment_semantic", "vanishing_point", "edge_texture"]
    groups = [plots.group_of(n) for n in names]
    s = rng.random(5)
    f1 = plots.single_expert_bars(names, s, s - 0.05, s + 0.05, groups, tmp_path / "figs/single.png",
                                  reference={"action fusion": 0.8})
    f2 = plots.robustness_curves({"A": {"drop": [[0, .8, .7, .9], [.5, .6, .5, .7]], "noise": [[0, .8, .7, .9]]},
                                  "F": {"drop": [[0, .7, .6, .8], [.5, .3, .2, .4]]}}, tmp_path / "figs/rob.png")
    f3 = plots.gate_bars({"a/test/0": rng.dirichlet(np.ones(5)), "a/test/1": rng.dirichlet(np.ones(5))}, names,
                         tmp_path / "figs/gb.png")
    f4 = plots.gate_heatmap(rng.dirichlet(np.ones(5), size=3), ["x", "y", "z"], names, tmp_path / "figs/hm.png")
    pos = rng.random((50, 3)) * 5
    vals = rng.random(50)
    vals[:3] = np.nan
    f5 = plots.topdown_values(pos, vals, tmp_path / "figs/td.png", trajectory=np.arange(5))
    x = rng.random(100)
    series = {"3d": -x + rng.random(100) * 0.2, "semantic": x + rng.random(100) * 0.2}
    f6 = plots.openness_scatter(x, series, {g: correlation_ci(x, y) for g, y in series.items()}, tmp_path / "o.png")
    f7 = plots.table_bars(["Random", "Ours"], [0.1, 0.7], [0.05, 0.6], [0.15, 0.8], tmp_path / "figs/t1.png")
    for f in (f1, f2, f3, f4, f5, f6, f7):
        assert f.is_file() and f.read_bytes()[:4] == b"\x89PNG"
    views = rng.integers(0, 255, size=(3, 8, 16, 16, 3), dtype=np.uint8)
    gates = rng.dirichlet(np.ones(5), size=3)
    frames = episode_frames(views, pos, np.array([0, 1, 2]), gates, names, goal_nodes=np.array([7]))
    assert len(frames) == 3 and frames[0].ndim == 3
    gif = write_gif(frames, tmp_path / "figs/ep.gif")
    assert gif.read_bytes()[:3] == b"GIF"
    sec = Section("Results").p("hello").table(["a", "b"], [[1, 2]]).img("figs/single.png", "cap")
    sec.img("figs/does_not_exist.png", "missing")
    page = write_html(tmp_path / "index.html", "Report", [sec, Section("Anim").img("figs/ep.gif")])
    text = page.read_text()
    assert "data:image/png;base64" in text and "<table>" in text
    assert missing_references(page) == []


def test_validation_curves_from_run_logs(tmp_path):
    """The report's validation curves come from each run's metrics.csv (val points only)."""
    from types import SimpleNamespace

    from navfusion.report.recipe import AgentEntry
    from navfusion.report.tables import plateau, validation_curves

    for seed, vals in ((0, [0.2, 0.4, 0.5, 0.52, 0.51, 0.5]), (1, [0.1, 0.3, 0.45, 0.5, 0.55, 0.6])):
        d = tmp_path / "runs" / f"action_fusion-s{seed}"
        d.mkdir(parents=True)
        rows = ["iteration,loss,val_success"]
        for i, v in enumerate(vals):
            rows += [f"{(i + 1) * 50 - 25},1.0,", f"{(i + 1) * 50},0.9,{v}"]
        (d / "metrics.csv").write_text("\n".join(rows) + "\n")
    cfg = SimpleNamespace(agents={"action_fusion": AgentEntry(label="AF"), "random": AgentEntry(label="R")},
                          single_experts=None, seeds=[0, 1])
    vc = validation_curves(tmp_path, cfg)
    assert list(vc) == ["AF"] and vc["AF"][0] == [[50 * (i + 1), v] for i, v in
                                                   enumerate([0.2, 0.4, 0.5, 0.52, 0.51, 0.5])]
    assert plateau(vc["AF"][0]) == "-0.005" and plateau(vc["AF"][1]) == "+0.100"
    assert plots.validation_curves(vc, tmp_path / "v.png").is_file()


def test_gate_bars_explain_colours_and_the_dotted_line(tmp_path, monkeypatch):
    import numpy as np

    from navfusion.viz import plots

    figs = []
    real = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figs.append(fig), real(fig, path))[1])
    names = ["depth_zbuffer", "segment_semantic", "autoencoding"]
    plots.gate_bars({"s/test/0": np.array([0.5, 0.3, 0.2])}, names, tmp_path / "g.png")
    legend = figs[0].axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert {"3D", "semantic", "2D"} <= set(labels) and "uniform gate (1/3)" in labels
