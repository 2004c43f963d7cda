"""Honest defaults: the budget the help text states, the ETA line, selection on val only."""

from __future__ import annotations

import pytest

from navfusion.errors import NavFusionError


def test_stated_budget_matches_the_defaults():
    from navfusion.agents import load_agent_config
    from navfusion.cli.train import _DEFAULT_ITERATIONS
    from navfusion.train.imitation import TrainConfig, resolve_train_config

    assert TrainConfig().iterations == _DEFAULT_ITERATIONS
    for name in ("action_fusion", "action_fusion_affinity", "concat", "feature_fusion", "resnet", "single_all"):
        assert resolve_train_config(load_agent_config(name)).iterations == _DEFAULT_ITERATIONS, name


def test_eta_line():
    from navfusion.train.imitation import eta_line

    line = eta_line("action_fusion", seconds=6.5, done=5, remaining=1995, now=0.0)
    assert "1.30 s/it over the first 5 iterations" in line and "about 43 min for the remaining 1995" in line
    assert "about 2 h 10 min" in eta_line("x", seconds=20.0, done=5, remaining=1950, now=0.0)
    assert "about 30 s" in eta_line("x", seconds=1.0, done=5, remaining=150, now=0.0)


@pytest.mark.parametrize("split", ["test", "train"])
def test_checkpoint_selection_never_on_test(split):
    from navfusion.train.imitation import TrainConfig

    with pytest.raises(NavFusionError, match="val_split"):
        TrainConfig(val_split=split)


def test_recipe_evaluates_unseen_scenes():
    from navfusion.report.recipe import ReproduceConfig

    with pytest.raises(NavFusionError, match="eval_split"):
        ReproduceConfig(name="x", suite="tiny", eval_split="train", agents={"random": {}})
    with pytest.raises(NavFusionError, match="test_seeds"):
        ReproduceConfig(name="x", suite="tiny", test_seeds=10440008, agents={"random": {}})  # YAML's 2900000:8
    with pytest.raises(NavFusionError, match="START:COUNT"):
        ReproduceConfig(name="x", suite="tiny", test_seeds="2900000", agents={"random": {}})


def test_evaluate_warns_about_an_unfinished_run(tmp_path):
    import json

    import torch
    from safetensors.torch import save_file

    from navfusion.train.run_folder import unfinished_warning

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"agent": {"name": "a"}, "train": {"env": "tiny", "iterations": 300}}))
    save_file({"w": torch.zeros(1)}, str(run / "checkpoints" / "last.safetensors"), metadata={"iteration": "100"})
    (run / "checkpoints" / "best.json").write_text(json.dumps({"iteration": 100, "val_success": 0.5}))
    w = unfinished_warning(run)
    assert w is not None and "stopped at iteration 100 of 300 planned" in w
    assert "best.safetensors is from iteration 100" in w
    save_file({"w": torch.zeros(1)}, str(run / "checkpoints" / "last.safetensors"), metadata={"iteration": "300"})
    assert unfinished_warning(run) is None
