"""The navfusion Gymnasium environment: target-driven navigation on an octagonal graph.

Registered ids (``import navfusion`` registers them): ``NavFusion/OctoNav-tiny-v0``,
``NavFusion/OctoNav-quickstart-v0``, ``NavFusion/OctoNav-paper-v0`` — one per shipped scene suite —
and ``NavFusion/OctoNav-v0``, which takes any suite: ``gym.make("NavFusion/OctoNav-v0",
suite="path/to/suite.yaml")``; each with a 39-step ``TimeLimit``. :func:`make` also accepts a suite
name or YAML path directly.

Every observation depends only on the agent's node, so views are rendered once per scene
(``navfusion.nav.views.ViewStore``) and a step is a table lookup plus one copy of the 8 views. The
walk itself (moves, collisions, success, SPL) is the stepping engine's
(``navfusion.nav.engine.SingleEpisode``, the same rules as the batched evaluator).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from navfusion.common import (
    MAX_DISTANCE,
    MIN_DISTANCE,
    MOVE_NAMES,
    NUM_ACTIONS,
    NUM_SEMANTIC_CLASSES,
    STOP_ACTION,
    SUCCESS_RADIUS,
    TARGETS,
    suggest,
)
from navfusion.config import check, from_dict
from navfusion.errors import ConfigError, NavFusionError
from navfusion.nav.engine import SUCCESS_MODES, SingleEpisode
from navfusion.nav.episodes import Episode, episode_targets, sample_episode
from navfusion.nav.registration import (
    ENV_IDS,
    GENERIC_ID,
    SUITES,
    EnvSpec,
    env_id,
    register_envs,
    resolve_env,
)
from navfusion.nav.views import RendererFactory, render_node_views
from navfusion.nav.world import World, load_world
from navfusion.render.camera import Camera
from navfusion.scenes import load_suite
from navfusion.scenes.scene import Scene

VIEW_MODES: tuple[str, ...] = ("cached", "live")
#: Keys ``reset(options=...)`` understands: a fixed episode, or a scene and/or target to draw one in.
RESET_OPTIONS: tuple[str, ...] = ("episode", "scene_id", "target")


__all__ = ["ENV_IDS", "GENERIC_ID", "SUITES", "EnvSpec", "InvalidActionError", "OctoNavEnv",
           "RewardConfig", "env_id", "make", "register_envs", "register_obs_mode", "resolve_env"]


class InvalidActionError(NavFusionError, ValueError):
    """An action outside ``0..8``."""


@dataclass(frozen=True)
class RewardConfig:
    """Reward for RL (imitation learning ignores it).

    ``reward = progress * (d_before - d_after) - step_cost + success_bonus * success`` where ``d`` is
    the geodesic distance in moves to the nearest goal node. So a move towards the goal earns
    ``progress - step_cost``, a collision or a move away costs, and success adds the bonus once.
    """

    progress: float = 1.0
    step_cost: float = 0.01
    success_bonus: float = 10.0

    def __post_init__(self) -> None:
        for f in ("progress", "step_cost", "success_bonus"):
            v = getattr(self, f)
            check(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                  and math.isfinite(v), f"reward.{f}", v, "a finite number")

    @classmethod
    def coerce(cls, reward: RewardConfig | dict | None) -> RewardConfig:
        """A ``RewardConfig`` from itself, a dict of its fields or None (the defaults)."""
        return reward if isinstance(reward, cls) else from_dict(cls, reward, where="reward")


# ----------------------------------------------------------------------------- observation modes

class ObsProvider(Protocol):
    """Adds observation keys for an ``obs_mode`` (e.g. the vision zoo's ``features``).

    ``spaces()`` returns the extra Dict entries; ``observe(world, node)`` returns fresh arrays for
    them (never the same array object twice: Gymnasium's checker forbids it).
    """

    def spaces(self) -> dict[str, spaces.Space]: ...

    def observe(self, world: World, node: int) -> dict[str, Any]: ...


#: obs_mode -> factory(env) -> ObsProvider or None. ``"rgb"`` adds nothing beyond rgb/target.
OBS_MODES: dict[str, Callable[[OctoNavEnv], ObsProvider | None]] = {"rgb": lambda env: None}
#: Modules that register further obs modes when imported (looked up on first use of the mode).
OBS_MODE_MODULES: dict[str, str] = {"features": "navfusion.vision.env_features"}


def register_obs_mode(name: str, factory: Callable[[OctoNavEnv], ObsProvider | None]) -> None:
    """Register an observation mode; ``factory(env)`` is called once per environment instance."""
    if name in OBS_MODES:
        raise NavFusionError(f"obs_mode {name!r} is already registered")
    OBS_MODES[name] = factory


def _obs_mode_factory(name: str):
    if name not in OBS_MODES and name in OBS_MODE_MODULES:
        import importlib

        # by name: the module that registers the mode sits in a layer above the env
        importlib.import_module(OBS_MODE_MODULES[name])
    if name not in OBS_MODES:
        known = sorted(set(OBS_MODES) | set(OBS_MODE_MODULES))
        raise NavFusionError(f"unknown obs_mode {name!r}; known: {', '.join(known)}.{suggest(name, known)}")
    return OBS_MODES[name]


# ----------------------------------------------------------------------------- environment

class OctoNavEnv(gym.Env):
    """Go to the nearest object of a target category ("find a chair") in an indoor scene.

    **World.** An octagonal lattice graph (0.5 m spacing) over the free space of a scene. At every
    node the agent sees 8 world-aligned views: view ``k`` looks along move ``k``.

    **Actions.** ``Discrete(9)``: moves E, NE, N, NW, W, SW, S, SE (move ``k`` at ``k * 45°`` from
    east, counter-clockwise), then ``8`` = stop. A blocked move leaves the agent in place and sets
    ``info["collided"]``. Anything outside ``0..8`` raises :class:`InvalidActionError`.

    **Observation.** Dict: ``rgb`` (8, H, W, 3) uint8; ``target`` Discrete(4) index into
    ``navfusion.common.TARGETS`` (chair, table, bed, door); with ``buffers`` also ``depth``
    (8, H, W) float32 metres along the optical axis, ``semantic`` (8, H, W) uint8 category ids,
    ``normal`` (8, H, W, 3) float32 camera-frame normals; an ``obs_mode`` may add more
    (``"features"``: frozen-encoder features from the vision zoo).

    **Episodes.** A scene of the split is drawn per episode, then a target among those present and
    reachable, then a start node 6..32 moves from the nearest goal node (all from ``self.np_random``).
    Goal nodes lie within 1 m of a target instance that is visible from them.

    **Termination and success.** ``success_mode="reach"`` (the paper's): the episode ends with success
    as soon as the agent is within ``success_distance`` (3) moves of a goal node; ``stop`` ends it
    without success. ``success_mode="stop"``: success only when stop is called within 3 moves.
    Registered ids truncate after 39 steps (``TimeLimit``).

    **Reward.** See :class:`RewardConfig`: progress in geodesic distance minus a step cost, plus a
    success bonus.

    **Info.** ``distance`` (geodesic moves to the nearest goal), ``success``, ``spl`` (success weighted
    by path length, both counted in moves: ``success * l / max(l, p)`` with ``p`` the number of moves
    that changed node and ``l`` the shortest such count that succeeds: ``start distance - 3`` in
    ``reach`` mode, the start distance in ``stop`` mode, as in ``navfusion.nav.engine``; the oracle scores
    exactly 1),
    ``oracle_action`` (shortest-path action from here), ``node``, ``position`` (x, y, z) tuple, ``scene_id``,
    ``target``, ``collided``, ``steps``.

    Args:
        suite: scene suite name (``envs/<suite>.yaml``) or path.
        split: split of the suite whose scenes are used.
        resolution: view width = height in pixels.
        success_mode: ``"reach"`` or ``"stop"``.
        obs_mode: ``"rgb"`` or a registered mode (see :func:`register_obs_mode`).
        buffers: extra view buffers in the observation: any of ``depth``, ``semantic``, ``normal``.
        scenes: explicit scene ids or ``Scene`` objects instead of the suite's split.
        worlds: ready ``World`` objects (takes precedence over ``scenes``).
        views: ``"cached"`` (ViewStore lookups) or ``"live"`` (render the 8 views every step).
        success_distance, min_distance, max_distance: success radius and start distance range (moves).
        reward: reward weights.
        backend: renderer backend for views.
        renderer_factory: custom renderer (tests).
        render_mode: ``"rgb_array"`` or None.
        zoo, encoders: for ``obs_mode="features"``: the encoder zoo (default ``nf5``) and the
            encoders to stack (default: all of the zoo's tasks); see ``navfusion.vision.env_features``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, suite: str = "tiny", split: str = "train", resolution: int = 64,
                 success_mode: str = "reach", obs_mode: str = "rgb", buffers: Sequence[str] = (),
                 scenes: Sequence[str | Scene] | None = None, worlds: Sequence[World] | None = None,
                 views: str = "cached", success_distance: int = SUCCESS_RADIUS, min_distance: int = MIN_DISTANCE,
                 max_distance: int = MAX_DISTANCE, reward: RewardConfig | dict | None = None,
                 backend: str = "auto", renderer_factory: RendererFactory | None = None,
                 render_mode: str | None = None, zoo: str | None = None,
                 encoders: Sequence[str] | None = None, **unknown: Any) -> None:
        if unknown:  # name the bad keyword with a suggestion instead of a bare TypeError
            import inspect

            known = [p for p in inspect.signature(OctoNavEnv.__init__).parameters if p not in ("self", "unknown")]
            k = sorted(unknown)[0]
            raise ConfigError(f"OctoNavEnv: unknown argument {k!r}; allowed: {', '.join(known)}.{suggest(k, known)}")
        check(isinstance(resolution, (int, np.integer)) and 1 <= resolution <= 4096, "resolution", resolution,
              "an integer in 1..4096")
        check(success_mode in SUCCESS_MODES, "success_mode", success_mode, f"one of {SUCCESS_MODES}")
        check(views in VIEW_MODES, "views", views, f"one of {VIEW_MODES}")
        check(render_mode in (None, "rgb_array"), "render_mode", render_mode, "None or 'rgb_array'")
        for f, v in (("success_distance", success_distance), ("min_distance", min_distance),
                     ("max_distance", max_distance)):
            check(isinstance(v, (int, np.integer)) and not isinstance(v, bool), f, v, "an integer (moves)")
        check(success_distance >= 0, "success_distance", success_distance, ">= 0")
        check(success_distance < min_distance <= max_distance, "min_distance/max_distance",
              (min_distance, max_distance), "success_distance < min_distance <= max_distance")
        check(not isinstance(buffers, str), "buffers", buffers, f"a list of buffer names, e.g. [{buffers!r}]")
        buffers = tuple(buffers)
        for b in buffers:
            check(b in ("depth", "semantic", "normal"), "buffers", b, "any of 'depth', 'semantic', 'normal'")
        self.suite, self.split = suite, split
        self.resolution = int(resolution)
        self.success_mode, self.obs_mode, self.buffers = success_mode, obs_mode, buffers
        self.view_mode, self.backend = views, backend
        self.success_distance, self.min_distance, self.max_distance = success_distance, min_distance, max_distance
        self.reward_config = RewardConfig.coerce(reward)
        self.renderer_factory = renderer_factory
        self.render_mode = render_mode
        if obs_mode == "rgb" and (zoo is not None or encoders is not None):
            raise NavFusionError("zoo= and encoders= apply only to obs_mode='features'")
        self.zoo, self.encoders = zoo, (list(encoders) if encoders is not None else None)
        self.camera = worlds[0].camera if worlds else Camera().with_resolution(self.resolution)

        if worlds:
            self._worlds: dict[str, World] = {w.scene_id: w for w in worlds}
            self.scene_ids: list[str] = list(self._worlds)
            self._scene_objs: dict[str, Scene] = {}
        else:
            self._worlds = {}
            if scenes is None:
                scenes = [str(s) for s in load_suite(suite).scene_ids(split)]
            self._scene_objs = {s.scene_id: s for s in scenes if isinstance(s, Scene)}
            self.scene_ids = [s.scene_id if isinstance(s, Scene) else str(s) for s in scenes]
        if not self.scene_ids:
            raise NavFusionError(f"suite {suite!r} split {split!r} has no scenes")

        h, w = self.camera.height, self.camera.width
        obs = {"rgb": spaces.Box(0, 255, (8, h, w, 3), np.uint8), "target": spaces.Discrete(len(TARGETS))}
        if "depth" in buffers:
            obs["depth"] = spaces.Box(0.0, np.float32(self.camera.far), (8, h, w), np.float32)
        if "semantic" in buffers:
            obs["semantic"] = spaces.Box(0, NUM_SEMANTIC_CLASSES - 1, (8, h, w), np.uint8)
        if "normal" in buffers:
            obs["normal"] = spaces.Box(-1.0, 1.0, (8, h, w, 3), np.float32)
        self._provider = _obs_mode_factory(obs_mode)(self)
        if self._provider is not None:
            obs.update(self._provider.spaces())
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Discrete(NUM_ACTIONS)

        self._renderers: dict[str, Any] = {}
        self._world: World | None = None
        self.episode: Episode | None = None
        self._walk: SingleEpisode | None = None
        self._node = -1

    # -- worlds

    def world(self, scene_id: str) -> World:
        """The (lazily loaded, memoised) world of one of this env's scenes."""
        w = self._worlds.get(scene_id)
        if w is None:
            scene = self._scene_objs.get(scene_id, scene_id)
            w = load_world(scene, camera=self.camera, buffers=("rgb", *self.buffers), backend=self.backend,
                           views=self.view_mode == "cached", renderer_factory=self.renderer_factory)
            self._worlds[scene_id] = w
        return w

    def _pick_episode(self, options: dict | None) -> Episode:
        if options is not None and not isinstance(options, dict):
            raise NavFusionError(f"reset(options=...) must be a dict, got {type(options).__name__}")
        options = options or {}
        unknown = sorted(set(options) - set(RESET_OPTIONS))
        if unknown:
            raise NavFusionError(f"reset(options=...): unknown key(s) {', '.join(map(repr, unknown))}; "
                                 f"allowed: {', '.join(RESET_OPTIONS)}")
        if "episode" in options:
            ep = options["episode"]
            if not isinstance(ep, Episode):
                raise NavFusionError(f"options['episode'] must be an Episode, got {type(ep).__name__}")
            if ep.scene_id not in self.scene_ids:
                raise NavFusionError(f"episode scene {ep.scene_id!r} is not one of this env's scenes."
                                     f"{suggest(ep.scene_id, self.scene_ids)}")
            return ep
        candidates = [options["scene_id"]] if "scene_id" in options else list(self.scene_ids)
        while candidates:
            sid = candidates[int(self.np_random.integers(len(candidates)))] if len(candidates) > 1 else candidates[0]
            if sid not in self.scene_ids:
                raise NavFusionError(f"scene {sid!r} is not one of this env's scenes.{suggest(sid, self.scene_ids)}")
            world = self.world(sid)
            if episode_targets(world, self.min_distance, self.max_distance):
                return sample_episode(world, self.np_random, self.min_distance, self.max_distance,
                                      target=options.get("target"))
            warnings.warn(f"scene {sid}: no target has a start {self.min_distance}..{self.max_distance} moves "
                          "away; skipping it", stacklevel=3)
            self.scene_ids = [s for s in self.scene_ids if s != sid]
            candidates.remove(sid)
        raise NavFusionError("no scene of this environment has a valid episode")

    # -- gymnasium API

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        ep = self._pick_episode(options)
        world = self.world(ep.scene_id)
        if world is not self._world:
            self._bind(world)
        self.episode = ep
        t = ep.target_index
        self._target = t
        self._oracle = self._oracle_table[t]
        self._node = ep.start
        self._walk = SingleEpisode(self._nb, self._dist_table[t], ep.start, ep.distance, self.success_distance,
                                   self.success_mode)
        self._path = [ep.start]
        d = self._walk.distance[ep.start]
        return self._observe(ep.start), self._info(ep.start, d, False, False)

    def _bind(self, world: World) -> None:
        """Cache the per-world arrays the step reads, so a step touches no Python objects but these."""
        self._world = world
        self._scene_id = world.scene_id
        # Python lists index several times faster than numpy scalars, and position tuples let the
        # info dict allocate no array per step
        t = world._tables
        if "env_lists" not in t:
            t["env_lists"] = (world.graph.neighbors.tolist(), world.distance_table().tolist(),
                              world.oracle_table().tolist(), [tuple(p) for p in world.graph.positions.tolist()])
        self._nb, self._dist_table, self._oracle_table, self._positions = t["env_lists"]
        if self.view_mode == "cached":
            self._rgb = world.views.rgb
            self._extra = [(b, world.views.get(b)) for b in self.buffers]
        else:
            self._rgb, self._extra = None, []

    def _observe(self, node: int) -> dict[str, Any]:
        if self._rgb is not None:
            obs = {"rgb": self._rgb[node].copy(), "target": np.int64(self._target)}
            for name, arr in self._extra:
                obs[name] = arr[node].copy()
        else:
            obs = self._render_live(node)
        if self._provider is not None:
            obs.update(self._provider.observe(self._world, node))
        return obs

    def _render_live(self, node: int) -> dict[str, Any]:
        from navfusion.nav.views import default_renderer_factory

        sid = self._world.scene_id
        r = self._renderers.get(sid)
        if r is None:
            r = (self.renderer_factory or default_renderer_factory)(self._world.scene, self.camera, self.backend)
            self._renderers[sid] = r
        views = render_node_views(r, self._world.graph, self.camera, node, ("rgb", *self.buffers))
        return {"rgb": views.pop("rgb"), "target": np.int64(self._target), **views}

    def _info(self, node: int, d: int, success: bool, collided: bool) -> dict[str, Any]:
        return {"distance": d, "success": success, "spl": self._walk.spl(success),
                "oracle_action": self._oracle[node], "node": node,
                "position": self._positions[node], "scene_id": self._scene_id,
                "target": TARGETS[self._target], "collided": collided, "steps": self._walk.steps}

    def step(self, action):
        if self._walk is None:
            raise NavFusionError("call reset() before step()")
        if self._walk.done:
            raise NavFusionError("the episode has terminated; call reset() before step()")
        a = action
        if not isinstance(a, (int, np.integer)):
            a = _as_action(action)
        if not 0 <= a <= STOP_ACTION:
            raise InvalidActionError(f"action {action!r} is outside 0..8 (moves {', '.join(MOVE_NAMES)} = 0..7, "
                                     "stop = 8)")
        node, d_before, d, collided, success, terminated = self._walk.step(int(a))
        if a != STOP_ACTION and not collided:
            self._node = node
            self._path.append(node)
        rc = self.reward_config
        reward = rc.progress * (d_before - d) - rc.step_cost
        if success:
            reward += rc.success_bonus
        return self._observe(node), float(reward), terminated, False, self._info(node, d, success, collided)

    def render(self):
        if self.render_mode != "rgb_array" or self._world is None:
            return None
        from navfusion.nav.topdown import topdown_map, views_panel

        h = max(256, 2 * self.camera.height)
        views = self._observe(self._node)["rgb"]
        m = topdown_map(self._world, TARGETS[self._target], self._path, self._node, height=h)
        sep = np.full((h, 4, 3), 255, np.uint8)
        return np.concatenate([m, sep, views_panel(views, h)], axis=1)

    def close(self) -> None:
        for r in self._renderers.values():
            close = getattr(r, "close", None)
            if close:
                close()
        self._renderers.clear()
        super().close()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_renderers"] = {}  # native renderer contexts stay in their process
        return state

    # -- helpers for agents and evaluation

    @property
    def current_world(self) -> World | None:
        return self._world

    @property
    def node(self) -> int:
        return self._node

    def oracle_action(self) -> int:
        """The shortest-path action from the current node (8 = stop on a goal node)."""
        return int(self._oracle[self._node])


def _as_action(action) -> int:
    arr = np.asarray(action)
    if arr.size == 1 and arr.dtype.kind in "iub":
        return int(arr.reshape(()))
    if arr.size == 1 and arr.dtype.kind == "f" and float(arr.reshape(())).is_integer():
        return int(arr.reshape(()))
    raise InvalidActionError(f"action {action!r} is not an integer in 0..8 (moves {', '.join(MOVE_NAMES)} = 0..7, "
                             "stop = 8)")


# ----------------------------------------------------------------------------- registration

def check_env_id(eid: str) -> None:
    """Raise a one-line error with suggestions when ``eid`` is not a registered navfusion id."""
    from gymnasium.envs.registration import registry

    if eid not in registry:
        known = [k for k in registry if k.startswith("NavFusion/")] or list(ENV_IDS)
        raise NavFusionError(f"unknown environment id {eid!r}; navfusion ids: {', '.join(known)}."
                             f"{suggest(eid, known)}")


def make(env: str, **kwargs) -> gym.Env:
    """``gymnasium.make`` for a registered id, a suite name or a suite YAML path (see
    :func:`navfusion.nav.registration.resolve_env`), with a navfusion-style error (and suggestion)
    for unknown ones."""
    register_envs()
    spec = resolve_env(env)
    check_env_id(spec.env_id)
    return gym.make(spec.env_id, **{**spec.kwargs, **kwargs})
