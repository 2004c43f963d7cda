"""Imitation training, resume, NaN handling, checkpoints, CLI and the bench (synthetic lookups, fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from navfusion.agents import load_agent_config
from navfusion.checkpoint import load_state, read_metadata
from navfusion.cli import main
from navfusion.errors import ConfigError, NavFusionError
from navfusion.train import checkpoint as ckpt
from navfusion.train.data import synthetic_split
from navfusion.train.imitation import TrainConfig, TrainingDiverged, build_agent, train_imitation

AGENT = {"kind": "action_fusion", "encoders": ["x"], "gate": {"resolution": 16, "channels": [8, 8]},
         "expert": {"hidden": 32}}


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic_split(num_scenes=2, num_encoders=3, seed=0, rgb_resolution=16, episodes_per_scene=16,
                           width=10, height=8)


def _cfg(**kw) -> TrainConfig:
    base = dict(iterations=12, batch_size=32, checkpoint_every=4, eval_every=6, dagger_start=4, dagger_every=4,
                dagger_episodes=8, log_every=2, val_episodes=16)
    base.update(kw)
    return TrainConfig(**base)


def _weights(run) -> dict:
    return load_file(str(run / "checkpoints" / "last.safetensors"))


def test_kill_and_resume_gives_the_uninterrupted_weights(data, tmp_path):
    acfg = load_agent_config(AGENT)
    full = train_imitation(acfg, _cfg(), tmp_path / "full", data, data, progress=False)
    assert full.iterations == 12
    # "killed" after 6 iterations: the last checkpoint is at 4, so 2 iterations are lost and redone
    part = train_imitation(acfg, _cfg(), tmp_path / "cut", data, data, progress=False, stop_after=6)
    assert part.iterations == 6
    res = train_imitation(acfg, _cfg(), tmp_path / "cut", data, data, progress=False)
    assert res.resumed_from == 4
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    import csv

    def losses(run):
        with open(run / "metrics.csv") as f:
            return [(r["iteration"], r["loss"], r.get("val_success")) for r in csv.DictReader(f)]

    assert losses(tmp_path / "cut") == losses(tmp_path / "full")  # the log resumes without duplicates
    assert (tmp_path / "full" / "checkpoints" / "best.safetensors").is_file()
    assert (tmp_path / "full" / "config.yaml").is_file() and any((tmp_path / "full" / "tb").iterdir())
    state = torch.load(tmp_path / "full" / "checkpoints" / "last.state.pt", weights_only=True)
    assert state["iteration"] == 12 and len(state["buffer"]) > 0


def test_resume_survives_a_kill_between_the_two_checkpoint_files(data, tmp_path):
    acfg = load_agent_config(AGENT)
    run = tmp_path / "run"
    train_imitation(acfg, _cfg(iterations=8), run, data, None, progress=False)
    ck = run / "checkpoints"
    (ck / "last.state.pt").unlink()  # killed after the weights, before the state was written
    found = ckpt.find_resume(ck)
    assert found is not None and found[1].name == "prev.state.pt"
    assert load_state(found[1])["iteration"] == 4


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch):
    acfg = load_agent_config(AGENT)
    from navfusion.agents.models import ActionFusion

    real = ActionFusion.loss
    calls = {"n": 0}

    def loss(self, out, actions, free=None):
        calls["n"] += 1
        total, logs = real(self, out, actions, free)
        return (total * float("nan") if calls["n"] > 6 else total), logs

    monkeypatch.setattr(ActionFusion, "loss", loss)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at iteration 6.*last\.safetensors \(iteration 4\)"):
        train_imitation(acfg, _cfg(eval_every=0), tmp_path / "nan", data, None, progress=False)
    w = _weights(tmp_path / "nan")
    assert all(torch.isfinite(v).all() for v in w.values() if v.is_floating_point())
    assert read_metadata(tmp_path / "nan" / "checkpoints" / "last.safetensors")["iteration"] == "4"


def test_checkpoint_of_another_agent_is_refused(data, tmp_path):
    fusion = build_agent(load_agent_config(AGENT), data, 0)
    concat = build_agent(load_agent_config({**AGENT, "kind": "concat"}), data, 0)
    ckpt.save_weights(tmp_path / "c.safetensors", concat)
    with pytest.raises(NavFusionError, match="different agent.*'concat'"):
        ckpt.load_weights(tmp_path / "c.safetensors", fusion)
    wider = build_agent(load_agent_config({**AGENT, "expert": {"hidden": 16}}), data, 0)
    ckpt.save_weights(tmp_path / "w.safetensors", wider)
    with pytest.raises(NavFusionError, match="does not fit"):
        ckpt.load_weights(tmp_path / "w.safetensors", fusion)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(NavFusionError, match="not a readable safetensors"):
        ckpt.load_weights(tmp_path / "junk.safetensors", fusion)
    # resuming a run folder with another agent
    run = tmp_path / "run"
    train_imitation(load_agent_config(AGENT), _cfg(iterations=4), run, data, None, progress=False)
    with pytest.raises(NavFusionError, match="holds a run of agent"):
        train_imitation(load_agent_config({**AGENT, "kind": "concat"}), _cfg(iterations=8), run, data, None,
                        progress=False)


def test_affinity_regulariser_lowers_weight_on_similar_pairs(data, tmp_path):
    """Same seed, λ = 0 vs λ > 0: the gate's mass on the similar pair (0, 1) drops."""
    aff = tmp_path / "aff.npy"
    np.save(aff, np.array([[1, 0.95, 0.1], [0.95, 1, 0.1], [0.1, 0.1, 1]]))
    mass = {}
    for lam in (0.0, 2.0):
        acfg = load_agent_config({**AGENT, "kind": "action_fusion_affinity",
                                  "fusion": {"affinity_weight": lam, "affinity": str(aff)}})
        if lam == 0.0:
            acfg.fusion.affinity_weight = 0.0
        run = tmp_path / f"lam{lam}"
        train_imitation(acfg, _cfg(iterations=30, dagger_every=0, eval_every=0), run, data, None, progress=False)
        agent = build_agent(acfg, data, 0) if lam > 0 else build_agent(acfg, data, 0)
        ckpt.load_weights(run / "checkpoints" / "last.safetensors", agent)
        s = np.repeat(np.arange(2), 40)
        n = np.concatenate([np.arange(40) % data.arrays[i].num_nodes for i in range(2)])
        with torch.no_grad():
            g = agent(data.inputs(s, n, n % 4)).gate
        mass[lam] = float((g[:, 0] * g[:, 1]).mean())
    assert mass[2.0] < 0.8 * mass[0.0], mass


def test_random_agent_run_and_cli_errors(data, tmp_path, capsys):
    res = train_imitation(load_agent_config("random"), _cfg(iterations=1), tmp_path / "rnd", data, data,
                          progress=False)
    assert res.best_val_success is not None and 0 <= res.best_val_success <= 1
    assert main(["train", "--agent", "action_fusoin", "--out", str(tmp_path / "x")]) == 1
    assert "Did you mean 'action_fusion'" in capsys.readouterr().err
    assert main(["train", "--agent", "random", "--env", "NavFusion/bad id", "--out", str(tmp_path / "y")]) == 1
    assert "bad env id" in capsys.readouterr().err


def test_bench_train_reports_speed_and_data_share(capsys):
    assert main(["bench", "train", "--agent", "action_fusion", "--experts", "3", "--batch-size", "16",
                 "--iterations", "2", "--gate-resolution", "16", "--json"]) == 0
    out = capsys.readouterr().out
    import json

    res = json.loads(out)
    assert res["experts"] == 3 and res["iterations_per_s"] > 0 and 0 <= res["data_share"] <= 1


def test_view_rotation_turns_views_moves_and_free_space_together(data):
    from navfusion.train.augment import rotate_views, rotation_steps

    rng = np.random.default_rng(0)
    s, n = np.zeros(64, np.int64), np.arange(64) % data.arrays[0].num_nodes
    tg = np.arange(64) % 4
    inp = data.inputs(s, n, tg)
    actions = torch.as_tensor(data.oracle(s, n, tg))
    actions[:3] = 8  # stop stays stop
    free = torch.as_tensor(data.free(s, n))
    r = rotation_steps(rng, 64, 2)
    assert set(r.tolist()) <= {0, 2, 4, 6} and len(set(r.tolist())) > 1
    rin, ract, rfree = rotate_views(inp, actions, free, r)
    for b in range(64):
        idx = (np.arange(8) + r[b]) % 8
        assert torch.equal(rin.features[b], inp.features[b][:, idx])
        assert torch.equal(rin.rgb[b], inp.rgb[b][idx]) and torch.equal(rfree[b], free[b][idx])
        if actions[b] < 8:  # the oracle's move still looks at the same view, and is still free
            assert torch.equal(rin.features[b][:, ract[b]], inp.features[b][:, actions[b]])
            assert rfree[b, ract[b]] == free[b, actions[b]]
        else:
            assert ract[b] == 8
    per = rotate_views(type(inp)(inp.target, list(inp.features.unbind(1)), None), actions, None, r)[0]
    assert all(torch.equal(p, rin.features[:, k]) for k, p in enumerate(per.features))


def test_training_with_view_rotation_runs_and_a_changed_setting_is_not_resumed(data, tmp_path):
    acfg = load_agent_config(AGENT)
    run = tmp_path / "rot"
    train_imitation(acfg, _cfg(iterations=4, view_rotation=2, eval_every=0), run, data, None, progress=False)
    with pytest.raises(NavFusionError, match="view_rotation=0"):
        train_imitation(acfg, _cfg(iterations=8, eval_every=0), run, data, None, progress=False)
    with pytest.raises(ConfigError, match="view_rotation"):
        _cfg(view_rotation=3)
