"""Encoder registry: registration, helpful misses, early kwarg errors, entry-point plug-ins."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from navfusion.errors import NavFusionError
from navfusion.vision import registry
from navfusion.vision.encoders import encode_rgb
from navfusion.vision.registry import create_encoder, list_encoders, register_encoder, unregister_encoder


class _Tiny(torch.nn.Module):
    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.input_size = 32
        self.output_shape = (channels, 4, 4)
        self.conv = torch.nn.Conv2d(3, channels, 8, 8)

    def forward(self, x):
        return self.conv(x)


def test_register_create_list_and_duplicate():
    register_encoder("test_tiny_reg", _Tiny)
    try:
        assert "test_tiny_reg" in list_encoders("test_*")
        enc = create_encoder("test_tiny_reg", channels=6)
        assert enc.output_shape == (6, 4, 4)
        assert not enc.training and not any(p.requires_grad for p in enc.parameters())
        feats = encode_rgb(enc, np.zeros((3, 64, 64, 3), np.uint8))
        assert feats.shape == (3, 6, 4, 4)
        with pytest.raises(NavFusionError, match="already registered"):
            register_encoder("test_tiny_reg", _Tiny)
        register_encoder("test_tiny_reg", _Tiny, overwrite=True)
        with pytest.raises(NavFusionError, match="already registered"):
            register_encoder("random", _Tiny)  # built-ins are protected too
    finally:
        unregister_encoder("test_tiny_reg")
    assert "test_tiny_reg" not in list_encoders()


def test_unknown_name_suggests_and_unknown_kwargs_fail_early():
    with pytest.raises(NavFusionError, match="Did you mean 'random'"):
        create_encoder("randon")
    calls = []

    def factory(width: int = 8):
        calls.append(width)
        return _Tiny()

    register_encoder("test_kw", factory)
    try:
        with pytest.raises(NavFusionError, match="unknown argument.*'widht'.*Did you mean 'width'"):
            create_encoder("test_kw", widht=3)
        assert calls == []  # nothing was built
    finally:
        unregister_encoder("test_kw")


def test_factory_must_follow_protocol():
    register_encoder("test_bad", lambda: torch.nn.Identity())
    try:
        with pytest.raises(NavFusionError, match="input_size"):
            create_encoder("test_bad")
    finally:
        unregister_encoder("test_bad")


def test_entry_point_plugin_from_a_test_distribution(tmp_path, monkeypatch):
    pkg = tmp_path / "nf_plugin_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        import torch

        class Enc(torch.nn.Module):
            input_size = 32
            output_shape = (8, 8, 8)

            def __init__(self, scale: float = 1.0):
                super().__init__()
                self.pool = torch.nn.AdaptiveAvgPool2d(8)
                self.proj = torch.nn.Conv2d(3, 8, 1)
                self.scale = scale

            def forward(self, x):
                return self.proj(self.pool(x)) * self.scale

        def build(scale: float = 1.0):
            return Enc(scale)
    """))
    dist = tmp_path / "nf_plugin_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nf-plugin-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[navfusion.encoders]\ndemo_plugin = nf_plugin_demo:build\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reload_entry_points()
    try:
        assert "demo_plugin" in list_encoders("demo_*")
        enc = create_encoder("demo_plugin", scale=2.0)
        feats = encode_rgb(enc, np.full((2, 48, 48, 3), 200, np.uint8))
        assert feats.shape == (2, 8, 8, 8) and np.isfinite(feats).all()
        with pytest.raises(NavFusionError, match="already registered"):
            register_encoder("demo_plugin", _Tiny)
    finally:
        monkeypatch.undo()
        registry.reload_entry_points()
    assert "demo_plugin" not in list_encoders()


def test_random_encoder_is_deterministic_per_seed():
    x = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    a = encode_rgb(create_encoder("random", seed=3), x)
    b = encode_rgb(create_encoder("random", seed=3), x)
    c = encode_rgb(create_encoder("random", seed=4), x)
    assert a.shape == (2, 8, 8, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_documented_user_encoder_example_builds_features(tmp_path):
    import importlib.util

    from navfusion.config import repo_root
    from navfusion.vision.features import FeatureStore

    spec = importlib.util.spec_from_file_location("my_encoder_example", repo_root() / "examples" / "my_encoder.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    register_encoder("test_color_grid", mod.ColorGrid)
    try:
        views = np.random.default_rng(1).integers(0, 256, (3, 8, 64, 64, 3), dtype=np.uint8)
        store = FeatureStore("nf64", root=tmp_path)
        store.build_scene("s", views, ["test_color_grid"])
        feats = store.load("s", ["test_color_grid"])
        assert feats.shape == (3, 1, 8, 8, 8, 8)
        # channel 0 is the mean red of each cell, in [-1, 1]
        cell = views[2, 4, :8, 8:16, 0].mean() / 127.5 - 1
        assert float(feats[2, 0, 4, 0, 0, 1]) == pytest.approx(cell, abs=1e-2)
    finally:
        unregister_encoder("test_color_grid")
