"""The navigation probe (``navfusion encoders probe``): it tells ground truth from untrained features,
its report's schema, its bootstrap, and one-line errors naming the bad value."""

from __future__ import annotations

import json

import numpy as np
import pytest

from navfusion.cli import main
from navfusion.errors import NavFusionError
from navfusion.eval import probe as probe_mod
from navfusion.eval.probe import ProbeConfig, bootstrap_ci, probe_representations, probe_scenes

#: tiny suite, trained on its 3 train scenes, scored on its 2 test scenes (val has one scene)
QUICK = dict(suite="tiny", split="test", max_pretrain_scenes=0, tasks=[], gt_tasks=["depth_zbuffer"], epochs=20)


@pytest.fixture(scope="module")
def tiny_report(nf_cache):
    return probe_representations(cfg=ProbeConfig(**QUICK), progress=False)


def test_probe_tells_ground_truth_depth_from_untrained_features(tiny_report):
    reps = tiny_report["representations"]
    assert list(reps) == ["gt/depth_zbuffer", "rgb_thumbnail", "random"]
    gt, rnd = reps["gt/depth_zbuffer"], reps["random"]
    # depth says where the walls are: far fewer collisions and far more oracle moves
    assert gt["accuracy"] > rnd["accuracy"] + 0.1, (gt, rnd)
    assert gt["blocked"] < rnd["blocked"], (gt, rnd)
    assert gt["ci_state"][0] > rnd["accuracy"]
    n = tiny_report["states"]["scored"]
    assert n > 100 and tiny_report["scenes"]["scored"] == ["tiny/test/0", "tiny/test/1"]


def test_report_schema(tiny_report):
    rep = json.loads(json.dumps(tiny_report))  # JSON-ready
    for name, r in rep["representations"].items():
        assert set(r) >= {"accuracy", "ci", "ci_state", "blocked", "optimal", "gt_ratio", "kind"}, name
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["blocked"] <= 1
        assert r["ci"][0] <= r["accuracy"] <= r["ci"][1]
        assert r["ci_state"][0] <= r["accuracy"] <= r["ci_state"][1]
        assert r["optimal"] >= r["accuracy"] - 1e-9  # the oracle's move is a shortest one
    assert rep["representations"]["gt/depth_zbuffer"]["gt_ratio"] == 1.0
    assert rep["representations"]["random"]["gt_ratio"] is None
    assert rep["protocol"]["split"] == "test" and rep["protocol"]["epochs"] == 20


def test_bootstrap_intervals():
    rng = np.random.default_rng(0)
    scene = np.repeat(np.arange(8), 250)
    # scenes differ a lot: the scene-level interval must be wider than the state-level one
    p = np.repeat(rng.uniform(0.2, 0.8, 8), 250)
    correct = rng.random(2000) < p
    (lo_s, hi_s), (lo, hi) = bootstrap_ci(correct, scene, 8, 2000, seed=0)
    m = correct.mean()
    assert lo < m < hi and lo_s < m < hi_s
    assert hi - lo == pytest.approx(2 * 1.96 * np.sqrt(m * (1 - m) / 2000), rel=0.15)
    assert hi_s - lo_s > 2 * (hi - lo)


def test_scenes_of_the_protocol(nf_cache):
    train, scored = probe_scenes(ProbeConfig(suite="tiny", max_pretrain_scenes=2))
    assert train == ["tiny/pretrain/0", "tiny/pretrain/1", "tiny/train/0", "tiny/train/1", "tiny/train/2"]
    assert scored == ["tiny/val/0"]
    train, scored = probe_scenes(ProbeConfig(suite="quickstart"))
    assert len(train) == 8 + 4 and len(scored) == 8  # quickstart's val split: 8 scenes


def test_cli_json_is_the_api_report_again(tiny_report, monkeypatch, capsys):
    real = probe_mod.probe_representations

    def quick(encoders, cfg, progress):  # the CLI's protocol with only the depth reference
        cfg.gt_tasks = ["depth_zbuffer"]
        return real(encoders, cfg, progress=progress)

    monkeypatch.setattr(probe_mod, "probe_representations", quick)
    rc = main(["encoders", "probe", "--suite", "tiny", "--split", "test", "--tasks", "none", "--epochs", "20",
               "--max-pretrain-scenes", "0", "--json", "--no-progress"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert set(rep["representations"]) == {"gt/depth_zbuffer", "rgb_thumbnail", "random"}
    for name, r in rep["representations"].items():  # same protocol, same seed: the same numbers
        assert r["accuracy"] == tiny_report["representations"][name]["accuracy"], name
        assert r["ci"] == tiny_report["representations"][name]["ci"], name
    print(probe_mod.probe_summary(rep))
    print(probe_mod.probe_table(rep))
    out = capsys.readouterr().out
    assert "| `gt/depth_zbuffer` |" in out and "scored on test" in out


@pytest.mark.parametrize("args, bad", [
    (["--split", "tset"], "tset"),
    (["--split", "train"], "split='train'"),
    (["--zoo", "nozoo"], "nozoo"),
    (["--tasks", "depth_zbufer"], "depth_zbufer"),
    (["--encoders", "mypkg/nosuch"], "mypkg/nosuch"),
    (["--suite", "nosuite"], "nosuite"),
    (["--max-pretrain-scenes", "-1"], "max_pretrain_scenes=-1"),
])
def test_cli_errors_name_the_bad_value(args, bad, nf_cache, capsys):
    assert main(["encoders", "probe", "--suite", "tiny", "--no-progress", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert bad in err and len(err.splitlines()) == 1, err


def test_config_checks_gt_tasks():
    with pytest.raises(NavFusionError, match="gt_tasks"):
        ProbeConfig(gt_tasks=["jigsaw"])


@pytest.mark.slow
def test_quickstart_probe_with_the_shipped_zoo(nf_cache):
    """The full protocol on quickstart val (minutes): ground truth beats the thumbnail and random."""
    rep = probe_representations(cfg=ProbeConfig(suite="quickstart", tasks=["depth_zbuffer", "segment_semantic"]),
                                progress=False)
    r, zoo = rep["representations"], rep["protocol"]["zoo"]
    assert len(rep["scenes"]["scored"]) == 8 and rep["states"]["scored"] > 1000
    for t in ("depth_zbuffer", "segment_semantic"):
        assert r[f"gt/{t}"]["accuracy"] > r["rgb_thumbnail"]["accuracy"] + 0.05
        assert r[f"{zoo}/{t}"]["gt_ratio"] == pytest.approx(r[f"{zoo}/{t}"]["accuracy"] / r[f"gt/{t}"]["accuracy"])
    assert abs(r["random"]["accuracy"] - r["rgb_thumbnail"]["accuracy"]) < 0.1


def test_quickstart_recipe_keeps_one_val_scene(nf_cache, monkeypatch):
    """The suite's val split grew to 8 scenes for the probe; the quickstart job still builds and
    validates on one."""
    import navfusion.parallel.shards as shards
    from navfusion.report import real_backend as real
    from navfusion.report.recipe import load_recipe
    from navfusion.train.imitation import TrainConfig, resolve_train_config

    built = []
    monkeypatch.setattr(shards, "run_shards", lambda fn, todo, **kw: built.extend(s.key for s in todo))
    cfg, _ = load_recipe("quickstart")
    backend = real.RealBackend()
    info = backend.prepare(cfg, lambda msg: None)
    assert info["val"] == ["quickstart/val/0"] and len(built) == 7
    tc = resolve_train_config(backend.agent_config(cfg.agents["concat"], cfg), {"env": "quickstart"})
    assert tc.max_val_scenes == 1
    with pytest.raises(NavFusionError, match="max_val_scenes"):
        TrainConfig(max_val_scenes=0)


def test_a_partly_trained_zoo_probes_the_tasks_it_has(tmp_path, monkeypatch):
    """A zoo being trained task by task: its manifest lists some tasks; those are probed, with gt_ratio."""
    import shutil

    from navfusion.eval.probe import probe_representations_list
    from navfusion.io import atomic_write_json, read_json
    from navfusion.vision.zoo import find_zoo

    src = find_zoo("nf64")
    dst = tmp_path / "part"
    dst.mkdir()
    m = read_json(src / "manifest.json")
    m["tasks"] = {t: e for t, e in m["tasks"].items() if t in ("normal", "jigsaw")}
    for e in m["tasks"].values():
        shutil.copy(src / e["file"], dst / e["file"])
    atomic_write_json(dst / "manifest.json", m)
    monkeypatch.setenv("NAVFUSION_ZOO_PATH", str(tmp_path))
    reps = probe_representations_list(ProbeConfig(zoo="part"))
    zoo = [(r.name, r.store, r.task) for r in reps if r.kind == "zoo"]
    assert zoo == [("part/jigsaw", "jigsaw", "jigsaw"), ("part/normal", "normal", "normal")]  # task order
    assert [r.name for r in reps][:2] == ["gt/depth_zbuffer", "gt/depth_euclidean"]
    with pytest.raises(NavFusionError, match="'depth_zbuffer'.*Its tasks: jigsaw, normal"):
        probe_representations_list(ProbeConfig(zoo="part", tasks=["depth_zbuffer"]))
