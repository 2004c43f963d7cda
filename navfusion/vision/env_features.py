"""The environment's feature mode: ``gym.make(ID, obs_mode="features", zoo=NAME[, encoders=[...]])``.

Adds ``features``, a float32 Box ``(K, 8, C, h, w)``: for each of the K encoders (default: every
task of the zoo, in the canonical task order) the features of the 8 views of the agent's node, read from the
:class:`~navfusion.vision.features.FeatureStore`. ``rgb`` stays at the env's ``resolution`` (the
gate's input); features are computed from views rendered at the encoders' input size, which need
not be the same. Privileged references (``encoders=["gt/depth_zbuffer"]``, see
:mod:`navfusion.vision.references`) work the same way: their files are computed from the
renderer's buffers at the views' poses. Missing or stale feature files are built on first use (incrementally); build
them ahead of time with ``navfusion features build``.

All K encoders must share one output shape ``(C, h, w)``; mixing shapes (e.g. the 8x8x8 zoo and
the 8x16x16 Taskonomy adapter) raises an error that lists them -- use one env per shape, or wrap
an encoder so its output is pooled to the common shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from navfusion.common import scene_slug
from navfusion.env import OctoNavEnv, register_obs_mode
from navfusion.errors import NavFusionError
from navfusion.nav.world import World, load_world
from navfusion.vision.features import FeatureStore, encoder_fingerprint, resolve_encoder, views_hash, zoo_encoders
from navfusion.vision.registry import create_encoder
from navfusion.vision.zoo import DEFAULT_ZOO

#: float16 range: features are stored as float16, so they never leave it.
FEATURE_BOUND = 65504.0


class FeatureProvider:
    """Serves ``features`` observations for one environment (see the module docstring)."""

    def __init__(self, env: OctoNavEnv) -> None:
        self.zoo = env.zoo or DEFAULT_ZOO
        self.encoders = list(env.encoders) if env.encoders else zoo_encoders(self.zoo)
        if not self.encoders:
            raise NavFusionError("obs_mode='features' needs at least one encoder")
        self.renderer_factory = env.renderer_factory
        self.backend = env.backend
        shapes, sizes = {}, set()
        for name in self.encoders:
            enc = create_encoder(resolve_encoder(self.zoo, name))
            shapes[name] = tuple(enc.output_shape)
            sizes.add(int(enc.input_size))
        if len(set(shapes.values())) > 1:
            detail = ", ".join(f"{n}: {s}" for n, s in shapes.items())
            raise NavFusionError(f"obs_mode='features': encoders have different output shapes ({detail}); "
                                 "pick encoders of one shape with encoders=[...]")
        if len(sizes) > 1:
            raise NavFusionError(f"obs_mode='features': encoders have different input sizes {sorted(sizes)}; "
                                 "pick encoders of one input size with encoders=[...]")
        self.input_size = sizes.pop()
        self.shape = (len(self.encoders), 8, *next(iter(shapes.values())))
        self._cache: dict[str, np.ndarray] = {}

    def spaces(self) -> dict[str, spaces.Space]:
        return {"features": spaces.Box(-FEATURE_BOUND, FEATURE_BOUND, self.shape, np.float32)}

    def _world(self, world: World) -> World:
        """The world with views at the encoders' input size (the env's own when it matches)."""
        if world.views is not None and world.views.rgb.shape[2] == self.input_size:
            return world
        return load_world(world.scene, resolution=self.input_size, backend=self.backend,
                          renderer_factory=self.renderer_factory)

    def scene_features(self, world: World) -> np.ndarray:
        """float16 ``(N, K, 8, C, h, w)`` of a world, built if missing or stale."""
        sid = world.scene_id
        feats = self._cache.get(sid)
        if feats is None:
            w = self._world(world)
            rgb = w.views.rgb
            store = FeatureStore(self.zoo)
            slug = scene_slug(sid)
            vh = views_hash(rgb)
            stale = [n for n in self.encoders
                     if store.status(slug, n, vh, encoder_fingerprint(create_encoder(resolve_encoder(self.zoo, n))))
                     != "ok"]
            if stale:
                # gt/* references render their buffers from w's poses
                store.build_scene(slug, rgb, stale, world=w, renderer_factory=self.renderer_factory)
            feats = store.load(slug, self.encoders, verify=False, vhash=vh)
            self._cache[sid] = feats
        return feats

    def observe(self, world: World, node: int) -> dict[str, Any]:
        return {"features": self.scene_features(world)[node].astype(np.float32)}


register_obs_mode("features", FeatureProvider)
