"""configs/standard.yaml is sized to decide (issue 14) and its suite shares no scene with any other."""

from __future__ import annotations

from navfusion.report.recipe import load_recipe


def test_standard_recipe_scale():
    from navfusion.scenes import load_suite

    cfg, _ = load_recipe("standard")
    suite = load_suite(cfg.suite)
    n = {s: len(suite.scene_ids(s)) for s in ("train", "val", "test")}
    assert n["train"] >= 24 and n["val"] >= 6 and n["test"] >= 12
    assert len(cfg.seeds) >= 3 and n["test"] * cfg.episodes_per_scene >= 3000
    assert cfg.eval_split == "test" and cfg.train.get("eval_every", 0) > 0 and cfg.train.get("val_episodes", 0) > 0
    from navfusion.agents import load_agent_config
    from navfusion.agents.registry import resolve_encoders
    from navfusion.vision.zoo import DEFAULT_ZOO

    assert DEFAULT_ZOO == "nf5" and "encoders" not in cfg.agent_overrides  # every recipe's `all`: nf5's 25
    assert len(resolve_encoders(load_agent_config("action_fusion"))) == 25
    assert suite.fingerprint() == load_suite("quickstart").fingerprint()  # quickstart's scene distribution


def test_seed_blocks_of_all_suites_are_disjoint():
    from navfusion.eval.heldout import _named_blocks, check_fresh, parse_seed_block

    blocks = sorted(_named_blocks(), key=lambda b: b[2])
    for (s1, p1, a, n), (s2, p2, b, _) in zip(blocks, blocks[1:]):
        assert a + n <= b, f"{s1}/{p1} overlaps {s2}/{p2}"
    check_fresh(parse_seed_block("4900000:12"))  # the block configs/standard.yaml suggests is free
