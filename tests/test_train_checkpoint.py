"""Checkpoint integrity: flipped bytes and non-finite weights are refused, an unusable run folder
is not silently restarted."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from navfusion.agents import load_agent_config
from navfusion.checkpoint import load_state, read_metadata, tensors_sha256
from navfusion.errors import NavFusionError
from navfusion.train import checkpoint as ckpt
from navfusion.train.data import synthetic_split
from navfusion.train.imitation import TrainConfig, build_agent, train_imitation

AGENT = {"kind": "concat", "encoders": ["x"], "expert": {"hidden": 16}}


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic_split(num_scenes=2, num_encoders=2, seed=0, rgb_resolution=16, episodes_per_scene=8,
                           width=8, height=6)


def _flip_one_byte(path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x40  # inside the last tensor's data, after the header
    path.write_bytes(bytes(raw))


def test_flipped_tensor_bytes_are_refused(data, tmp_path):
    agent = build_agent(load_agent_config(AGENT), data, 0)
    p = tmp_path / "a.safetensors"
    ckpt.save_weights(p, agent)
    ckpt.load_weights(p, agent)  # intact: loads
    _flip_one_byte(p)
    with pytest.raises(NavFusionError, match=r"a\.safetensors is corrupt.*sha256"):
        ckpt.load_weights(p, agent)


def test_nan_weights_are_refused_even_with_a_matching_checksum(data, tmp_path):
    agent = build_agent(load_agent_config(AGENT), data, 0)
    p = tmp_path / "nan.safetensors"
    ckpt.save_weights(p, agent)
    md = read_metadata(p)
    sd = load_file(str(p))
    name = next(k for k, v in sd.items() if v.is_floating_point())
    sd[name] = torch.full_like(sd[name], float("nan"))
    save_file(sd, str(p), metadata={**md, "sha256": tensors_sha256(sd)})
    with pytest.raises(NavFusionError, match=f"tensor '{name}' holds NaN"):
        ckpt.load_weights(p, agent)


def _short_run(data, run, iterations: int, every: int) -> tuple[TrainConfig, object]:
    """Train ``iterations`` steps checkpointing every ``every``; returns (config, checkpoint folder)."""
    cfg = TrainConfig(iterations=iterations, batch_size=16, checkpoint_every=every, eval_every=0,
                      dagger_start=100, log_every=every, val_episodes=4)
    train_imitation(load_agent_config(AGENT), cfg, run, data, None, progress=False)
    return cfg, run / "checkpoints"


def test_unreadable_checkpoints_are_not_silently_restarted(data, tmp_path):
    run = tmp_path / "run"
    cfg, ck = _short_run(data, run, 4, 2)
    for f in ("last.state.pt", "prev.state.pt"):
        (ck / f).write_bytes(b"garbage")
    before = (ck / "last.safetensors").read_bytes()
    with pytest.raises(NavFusionError, match=r"cannot resume from .*last\.state\.pt.*--restart"):
        train_imitation(load_agent_config(AGENT), TrainConfig(**{**cfg.__dict__, "iterations": 8}), run, data,
                        None, progress=False)
    assert (ck / "last.safetensors").read_bytes() == before  # nothing overwritten
    # --restart starts over on purpose
    train_imitation(load_agent_config(AGENT), cfg, run, data, None, progress=False, restart=True)
    assert load_state(ck / "last.state.pt")["iteration"] == 4


def test_state_missing_keys_is_named_not_a_keyerror(data, tmp_path):
    run = tmp_path / "run"
    cfg, ck = _short_run(data, run, 2, 1)
    for f in ("last.state.pt", "prev.state.pt"):
        st = torch.load(ck / f, weights_only=True)
        del st["numpy_rng"]
        torch.save(st, ck / f)
    with pytest.raises(NavFusionError, match=r"lacks numpy_rng.*--restart"):
        train_imitation(load_agent_config(AGENT), TrainConfig(**{**cfg.__dict__, "iterations": 4}), run, data,
                        None, progress=False)


def test_checkpoint_every_is_a_cli_flag(capsys):
    from navfusion.cli import main
    from navfusion.train.imitation import resolve_train_config

    cfg = resolve_train_config(load_agent_config(AGENT), {"checkpoint_every": 7})
    assert cfg.checkpoint_every == 7
    assert main(["train", "--agent", "concat", "--out", "unused", "--checkpoint-every", "0"]) == 1
    assert "checkpoint_every=0: must be an int >= 1" in capsys.readouterr().err
