"""Agents: shapes, gates, masks/noise, adapters, recipes and their errors (synthetic tensors, fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from navfusion.agents import (
    AGENT_KINDS,
    AgentInput,
    InputSpec,
    create_agent,
    load_affinity_matrix,
    load_agent_config,
    resolve_encoders,
)
from navfusion.agents.config import list_recipes
from navfusion.agents.experts import ExpertPolicy, make_bank
from navfusion.agents.resnet import ResNetTrunk
from navfusion.errors import ConfigError, NavFusionError

B = 6
SPEC = InputSpec(("a", "b", "c"), ((8, 8, 8), (8, 8, 8), (8, 8, 8)))


def _cfg(kind: str, **kw):
    enc = ["a"] if kind == "single" else ["a", "b", "c"]
    return load_agent_config({"kind": kind, "encoders": enc, "gate": {"resolution": 16, "channels": [8, 8]},
                              "resnet": {"width": 8}, **kw})


def _input(spec: InputSpec = SPEC, seed: int = 0) -> AgentInput:
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(B, 8, *s, generator=g) for s in spec.feature_shapes]
    feats = torch.stack(feats, 1) if len(set(spec.feature_shapes)) == 1 else feats
    rgb = torch.randint(0, 256, (B, 8, 16, 16, 3), generator=g, dtype=torch.uint8)
    return AgentInput(torch.arange(B) % 4, feats, rgb)


def _build(kind: str, **kw):
    cfg = _cfg(kind, **kw)
    spec = SPEC if kind != "single" else InputSpec(("a",), ((8, 8, 8),))
    aff = torch.eye(3) + 0.5 if cfg.fusion.affinity_weight > 0 else None
    torch.manual_seed(0)
    return create_agent(cfg, spec, aff), spec


@pytest.mark.parametrize("kind", AGENT_KINDS)
def test_every_agent_kind_gives_a_distribution_and_typed_outputs(kind):
    agent, spec = _build(kind)
    out = agent(_input(spec))
    assert out.log_probs.shape == (B, 9)
    torch.testing.assert_close(out.probs.sum(-1), torch.ones(B))
    if kind in ("action_fusion", "action_fusion_affinity", "feature_fusion"):
        assert out.gate.shape == (B, 3)
        torch.testing.assert_close(out.gate.sum(-1), torch.ones(B))
        assert (out.gate >= 0).all()
    if kind in ("action_fusion", "action_fusion_affinity", "single", "single_all"):
        assert out.expert_logits.shape == (B, spec.num_experts, 9)
    if kind == "random":
        assert out.probs[:, 8].max() == 0  # never stops
    else:
        loss, logs = agent.loss(out, torch.randint(0, 8, (B,)))
        loss.backward()
        assert torch.isfinite(loss) and "nll" in logs


def test_action_fusion_is_the_gate_weighted_mixture_of_the_experts():
    agent, _ = _build("action_fusion")
    out = agent(_input())
    mix = (out.gate.unsqueeze(-1) * torch.softmax(out.expert_logits, -1)).sum(1)
    torch.testing.assert_close(out.probs, mix, atol=1e-6, rtol=1e-5)


def test_expert_mask_drops_a_representation_and_noise_perturbs():
    agent, _ = _build("action_fusion")
    inp = _input()
    keep = torch.tensor([True, False, True])
    out = agent(inp, expert_mask=keep)
    assert torch.all(out.gate[:, 1] == 0)
    torch.testing.assert_close(out.gate.sum(-1), torch.ones(B))
    changed = AgentInput(inp.target, inp.features.clone(), inp.rgb)
    changed.features[:, 1] += 100.0  # the dropped representation no longer matters
    torch.testing.assert_close(agent(changed, expert_mask=keep).probs, out.probs)
    noisy = agent(inp, noise=1.0, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(noisy.probs, agent(inp).probs)
    with pytest.raises(ValueError, match="at least one"):
        agent(inp, expert_mask=torch.zeros(3, dtype=torch.bool))


def test_encoder_with_another_output_shape_is_adapted_and_trained():
    spec = InputSpec(("a", "user"), ((8, 8, 8), (32, 4, 6)))
    cfg = load_agent_config({"kind": "action_fusion", "encoders": ["a", "user"], "gate": {"resolution": 16}})
    agent = create_agent(cfg, spec)
    out = agent(_input(spec))
    assert out.expert_logits.shape == (B, 2, 9)
    agent.loss(out, torch.zeros(B, dtype=torch.long))[0].backward()
    proj = agent.frontend.adapters["1"].proj
    assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0


def test_expert_bank_equals_separate_experts_and_free_space_head_shapes_the_moves():
    from navfusion.agents.config import ExpertConfig
    from navfusion.agents.experts import LoopBank

    cfg = ExpertConfig(free_space=True)
    torch.manual_seed(0)
    bank = make_bank(lambda: ExpertPolicy(cfg, 4), 3)
    assert type(bank).__name__ == "ExpertBank"
    experts = bank.to_modules()
    loop = LoopBank(lambda: ExpertPolicy(cfg, 4), 3)
    loop.experts = experts
    x = torch.randn(5, 3, 8, 8, 8, 8)
    t = torch.nn.functional.one_hot(torch.arange(5) % 4, 4).float()
    out = bank(x, t)
    assert out.shape == (5, 3, 17)
    torch.testing.assert_close(out, loop(x, t))
    # move logits carry log P(free): a move predicted blocked loses probability
    head = experts[0].head
    with torch.no_grad():
        head.free.bias.fill_(-20.0)
    blocked = experts[0](x[:, 0], t)
    assert (torch.softmax(blocked[:, :9], -1)[:, 8] > 0.99).all()  # only stop remains


def test_free_space_auxiliary_loss_is_used_when_labels_are_given():
    agent, _ = _build("action_fusion", expert={"free_space": True})
    out = agent(_input())
    actions = torch.zeros(B, dtype=torch.long)
    plain, logs = agent.loss(out, actions)
    with_free, logs2 = agent.loss(out, actions, torch.ones(B, 8, dtype=torch.bool))
    assert "free_bce" not in logs and "free_bce" in logs2 and with_free > plain


def test_direction_policy_is_equivariant_to_45_degree_turns():
    agent, _ = _build("single")
    agent.eval()
    inp = _input(InputSpec(("a",), ((8, 8, 8),)))
    out = agent(inp).log_probs
    turned = AgentInput(inp.target, inp.features.roll(2, dims=2), inp.rgb)  # views turn by 90°
    out2 = agent(turned).log_probs
    torch.testing.assert_close(out2[:, :8], out[:, :8].roll(2, dims=1), atol=1e-5, rtol=1e-5)


def test_recipes_ship_and_validate():
    names = list_recipes()
    for must in ("action_fusion", "action_fusion_affinity", "concat", "feature_fusion", "resnet", "random",
                 "single_all"):
        assert must in names
    for n in names:
        cfg = load_agent_config(n)
        assert cfg.name == n
    assert load_agent_config("action_fusion_affinity").fusion.affinity_weight > 0
    assert load_agent_config("single:depth_zbuffer").encoders == ["depth_zbuffer"]


def test_bad_recipes_get_clear_errors(tmp_path):
    with pytest.raises(NavFusionError, match="Did you mean 'action_fusion'"):
        load_agent_config("action_fusoin")
    with pytest.raises(ConfigError, match="kind='action_fuson'.*Did you mean"):
        load_agent_config({"kind": "action_fuson"})
    with pytest.raises(ConfigError, match="gate.*unknown field 'resolutoin'.*Did you mean 'resolution'"):
        load_agent_config({"kind": "action_fusion", "gate": {"resolutoin": 32}})
    with pytest.raises(ConfigError, match="aux_weight"):
        load_agent_config({"kind": "action_fusion", "fusion": {"aux_weight": -1}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    with pytest.raises(NavFusionError, match="not valid YAML"):
        load_agent_config(str(bad))
    with pytest.raises(NavFusionError, match="unknown encoder 'no_such_encoder'"):
        resolve_encoders(load_agent_config({"kind": "concat", "encoders": ["no_such_encoder"]}))


def test_affinity_files_and_missing_affinity(tmp_path):
    cfg = load_agent_config({"kind": "action_fusion_affinity", "encoders": ["a", "b"],
                             "fusion": {"affinity": str(tmp_path / "missing.json")}})
    with pytest.raises(NavFusionError, match="affinity file not found"):
        load_affinity_matrix(cfg, ["a", "b"])
    f = tmp_path / "aff.json"
    f.write_text(json.dumps({"names": ["b", "a", "z"], "matrix": [[1, 0.2, 0], [0.2, 1, 0], [0, 0, 1]]}))
    cfg.fusion.affinity = str(f)
    a = load_affinity_matrix(cfg, ["a", "b"])
    np.testing.assert_allclose(a, [[1, 0.2], [0.2, 1]])
    with pytest.raises(NavFusionError, match="no affinity for encoder 'q'"):
        load_affinity_matrix(cfg, ["a", "q"])
    with pytest.raises(NavFusionError, match="needs an affinity"):
        create_agent(cfg, InputSpec(("a", "b"), ((8, 8, 8),) * 2))


def test_resnet_loads_a_torchvision_format_state_dict(tmp_path):
    src = ResNetTrunk(8, [1, 1, 1, 1])
    sd = {k: v + 1.0 if v.is_floating_point() else v for k, v in src.state_dict().items()}
    sd["fc.weight"] = torch.zeros(10, 64)  # torchvision's classifier is ignored
    path = tmp_path / "r.pth"
    torch.save(sd, path)
    cfg = load_agent_config({"kind": "resnet", "resnet": {"width": 8, "init": str(path)}, "resolution": 16})
    agent = create_agent(cfg, InputSpec())
    torch.testing.assert_close(agent.trunk.conv1.weight, sd["conv1.weight"])
    cfg.resnet.init, cfg.resnet.width = str(path), 16
    with pytest.raises(NavFusionError, match="no tensor"):
        create_agent(cfg, InputSpec())
