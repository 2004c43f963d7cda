"""`navfusion reproduce configs/test_tiny.yaml` on the real stack (scenes, renderer, features, agents).

Marked slow (about two minutes on 2 cores): the fast suite runs the same orchestration on the
synthetic backend (tests/test_reproduce_pipeline.py). One interrupted run that continues, then a
re-run that must reuse everything; plus `evaluate`, `visualize` on its runs and the recipe errors.
"""

from __future__ import annotations

import json

import pytest

from navfusion.config import repo_root
from navfusion.errors import NavFusionError

ENCODERS = ["depth_zbuffer", "normal", "segment_semantic", "vanishing_point"]


@pytest.fixture(scope="module")
def recipe(nf_cache, tmp_path_factory):
    """configs/test_tiny.yaml; without the shipped zoo, its 4 encoders are stood in by random ones."""
    from navfusion.agents.registry import available_encoders
    from navfusion.vision.registry import create_encoder, register_encoder, unregister_encoder

    text = (repo_root() / "configs" / "test_tiny.yaml").read_text()
    added = []
    if not set(ENCODERS) <= set(available_encoders()):
        for i, n in enumerate(ENCODERS):
            register_encoder(n, lambda seed=i: create_encoder("random", seed=seed, width=8, max_width=16),
                             overwrite=True)
            added.append(n)
        d = tmp_path_factory.mktemp("aff")
        aff = d / "affinity.json"
        aff.write_text(json.dumps({"names": ENCODERS, "matrix": [[1, .8, .3, .2], [.8, 1, .3, .2],
                                                                  [.3, .3, 1, .1], [.2, .2, .1, 1]]}))
        text = text.replace("  action_fusion_affinity: {}",
                            f"  action_fusion_affinity: {{overrides: {{fusion: {{affinity: '{aff}'}}}}}}")
    p = tmp_path_factory.mktemp("recipe") / "test_tiny.yaml"
    p.write_text(text)
    yield p
    for n in added:
        unregister_encoder(n)


class _Stop(Exception):
    pass


@pytest.fixture(scope="module")
def finished(recipe, tmp_path_factory):
    """A reproduction interrupted after 3 trainings, then continued to the end."""
    from navfusion.report.real_backend import RealBackend
    from navfusion.report.reproduce import reproduce

    trained: list[list[str]] = [[], []]

    class Counting(RealBackend):
        def __init__(self, run: int, stop_after: int | None = None):
            super().__init__()
            self.run, self.stop_after = run, stop_after

        def train(self, key, entry, seed, run_dir, cfg, log):
            if self.stop_after is not None and len(trained[self.run]) >= self.stop_after:
                raise _Stop
            trained[self.run].append(key)
            super().train(key, entry, seed, run_dir, cfg, log)

    out = tmp_path_factory.mktemp("repro") / "out"
    with pytest.raises(_Stop):
        reproduce(recipe, out, backend=Counting(0, stop_after=3), log=lambda s: None)
    index = reproduce(recipe, out, backend=Counting(1), log=lambda s: None)
    return out, index, trained


@pytest.mark.slow
def test_tiny_reproduction_outputs(finished):
    from navfusion.viz.html import missing_references

    out, index, trained = finished
    # the first run stopped after 3 agents (the pool's order: those with robustness/situational steps
    # first, untrained ones last); the second trained only the other 4
    assert trained[0] == ["feature_fusion", "action_fusion", "action_fusion_affinity"]
    assert not set(trained[0]) & set(trained[1])          # the interrupted run continued
    assert sorted(trained[1]) == ["concat", "random", "resnet", "single_experts"]
    for name in ("table1", "single_experts", "robustness", "situational"):
        for ext in ("md", "csv", "json"):
            assert (out / "tables" / f"{name}.{ext}").is_file(), name
    t1 = json.loads((out / "tables" / "table1.json").read_text())
    assert [v["label"] for v in t1] == ["Random", "ResNet", "Concat", "Feature-level fusion",
                                                 "Action-level fusion", "Action-level fusion + affinity"]
    assert all(0.0 <= v["success"] <= 1.0 and v["episodes"] == 48 for v in t1)
    se = json.loads((out / "tables" / "single_experts.json").read_text())
    assert {v["representation"] for v in se} == set(ENCODERS)
    for f in ("figures/table1.png", "figures/single_experts.png", "figures/robustness.png",
              "situational/figures/gate_bars.png", "situational/figures/gate_heatmap.png",
              "situational/figures/openness.png", "situational/figures/episode.gif"):
        assert (out / f).is_file(), f
    assert list((out / "situational" / "figures").glob("map_*_3d.png"))
    assert missing_references(index) == []
    found = json.loads((out / "findings.json").read_text())
    assert [f["id"] for f in found["findings"]] == list(range(1, 8))
    assert {f["verdict"] for f in found["findings"]} <= {"reproduced", "contradicted", "inconclusive"}
    assert "split 'test'" in found["test_scenes"]
    page = index.read_text()
    assert "small sample" in page.lower() and "Versions and hardware" in page


@pytest.mark.slow
def test_rerun_reuses_everything(finished, recipe, monkeypatch):
    from navfusion.report.real_backend import RealBackend
    from navfusion.report.reproduce import reproduce

    out, _, _ = finished
    before = {p.name: p.read_bytes() for p in (out / "tables").iterdir()}

    def no_training(*a, **k):
        raise AssertionError("a finished folder must not be retrained")

    monkeypatch.setattr(RealBackend, "train", no_training)
    reproduce(recipe, out, log=lambda s: None)
    assert {p.name: p.read_bytes() for p in (out / "tables").iterdir()} == before


@pytest.mark.slow
def test_fresh_seed_block_reuses_the_trained_runs(finished, recipe, monkeypatch, tmp_path):
    """`reproduce --test-seeds` on a copy of a finished folder: nothing retrained, every evaluation
    redone on the fresh scenes, and the report says which block it used."""
    import shutil

    from navfusion.report.real_backend import RealBackend
    from navfusion.report.reproduce import reproduce

    out, _, _ = finished
    copy = tmp_path / "fresh"
    shutil.copytree(out, copy)

    def no_training(*a, **k):
        raise AssertionError("trained runs must be reused on a fresh seed block")

    monkeypatch.setattr(RealBackend, "train", no_training)
    reproduce(recipe, copy, log=lambda s: None, test_seeds="1900000:2")
    t1 = json.loads((copy / "tables" / "table1.json").read_text())
    assert all(v["episodes"] == 48 for v in t1)
    found = json.loads((copy / "findings.json").read_text())
    assert "fresh seed block 1900000:2" in found["test_scenes"] and found["scenes"] == 2
    scenes = set(json.loads((copy / "eval" / "action_fusion-s0" / "summary.json").read_text())["per_scene"])
    assert scenes == {"tiny-fresh1900000x2/test/0", "tiny-fresh1900000x2/test/1"}


@pytest.mark.slow
def test_evaluate_and_visualize_a_run(finished, tmp_path, capsys):
    from navfusion.cli import main

    out, _, _ = finished
    run = out / "runs" / "action_fusion_affinity-s0"
    assert main(["evaluate", str(run), "--episodes-per-scene", "8", "--json", "--out", str(tmp_path / "e")]) == 0
    o = json.loads(capsys.readouterr().out)
    assert o["episodes"] == 16 and 0 <= o["success_ci"][0] <= o["success"] <= o["success_ci"][1] <= 1
    assert main(["visualize", str(run), "--out", str(tmp_path / "v"), "--episodes-per-scene", "8",
                 "--map-scenes", "1", "--no-animation"]) == 0
    vis = capsys.readouterr()
    assert "gate_heatmap.png" in vis.out and "loading scene" not in vis.out  # stdout: the figures only
    assert "loading scene tiny/test/" in vis.err and "recording gate weights" in vis.err  # progress: stderr
    assert (tmp_path / "v" / "figures" / "gate_heatmap.png").is_file()
    assert (tmp_path / "v" / "figures" / "openness.png").is_file()
    # a fresh seed block of tiny's generator: scenes nobody has looked at
    capsys.readouterr()
    assert main(["evaluate", str(run), "--test-seeds", "1900000:1", "--episodes-per-scene", "8", "--json",
                 "--out", str(tmp_path / "f")]) == 0
    o = json.loads(capsys.readouterr().out)
    assert o["test_seeds"] == "1900000:1" and o["scenes"] == 1 and o["suite"] == "tiny-fresh1900000x1"
    assert o["episodes"] == 8 and list(o["per_scene"]) == ["tiny-fresh1900000x1/test/0"]


def test_recipe_errors(recipe, tmp_path, capsys):
    from navfusion.cli import main
    from navfusion.report.reproduce import reproduce

    bad = tmp_path / "bad.yaml"
    bad.write_text(recipe.read_text().replace("  concat: {}", "  concat: {agent: concatt}"))
    with pytest.raises(NavFusionError, match=r"agents\.concat:.*concatt"):
        reproduce(bad, tmp_path / "o", log=lambda s: None)
    bad.write_text(recipe.read_text().replace("suite: tiny", "suite: tinyy"))
    with pytest.raises(NavFusionError, match="tinyy"):
        reproduce(bad, tmp_path / "o", log=lambda s: None)
    # through the command line: one line on stderr, exit code 1
    f = tmp_path / "afile"
    f.write_text("x")
    for argv, msg in ((["reproduce", str(bad), "--out", str(tmp_path / "o")], "unknown suite 'tinyy'"),
                      (["reproduce", str(recipe), "--out", str(tmp_path / "o"), "--test-seeds", "1300001:5"],
                       "overlaps suite 'tiny' split 'test'"),
                      (["evaluate", "random", "--env", "tiny", "--test-seeds", "1000000:1"],
                       "overlaps suite 'tiny' split 'pretrain'"),
                      (["reproduce", str(recipe), "--out", str(f)], "is a file"),
                      (["reproduce", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")], "recipe not found")):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
