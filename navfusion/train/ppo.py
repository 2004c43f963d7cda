"""Reinforcement learning: stable-baselines3 PPO with a policy that wraps the same fusion model.

The environment runs in feature mode (``obs_mode="features"``): frozen-encoder features reach the
policy through the observation, read from the FeatureStore, so no encoder is inside the policy
and PPO's initialisation never touches encoder weights. The policy's action distribution is the
agent's fused distribution; a small value head reads the mean representation and the target.
A policy can warm-start from an imitation checkpoint (``init``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from navfusion.agents import AgentConfig, AgentInput, InputSpec, create_agent, resolve_encoders
from navfusion.agents.config import load_agent_config
from navfusion.config import check
from navfusion.errors import NavFusionError
from navfusion.io import atomic_write_json


class PassThrough(BaseFeaturesExtractor):
    """SB3 needs a features extractor; the fusion policy reads the observation dict itself."""

    def __init__(self, observation_space) -> None:
        super().__init__(observation_space, features_dim=1)

    def forward(self, obs: Any) -> Any:
        return obs


def obs_to_input(obs: dict[str, torch.Tensor], uses_rgb: bool) -> AgentInput:
    """An SB3 observation batch (dict of tensors) as an :class:`AgentInput`."""
    t = obs["target"]
    target = t.reshape(t.shape[0], -1)[:, 0].round().long() if t.dim() > 1 else t.round().long()
    feats = obs.get("features")
    return AgentInput(target=target, features=None if feats is None else feats.float(),
                      rgb=obs["rgb"] if uses_rgb else None)


class FusionPolicy(ActorCriticPolicy):
    """An SB3 actor-critic whose actor is a navfusion agent (action/feature fusion, concat, ...).

    Extra keyword arguments: ``agent_config`` (a recipe mapping), ``input_spec`` (encoder names and
    feature shapes) and ``affinity`` (K×K list, for λ > 0).
    """

    def __init__(self, observation_space, action_space, lr_schedule, agent_config: dict | None = None,
                 input_spec: dict | None = None, affinity: list | None = None, **kwargs: Any) -> None:
        self._agent_cfg = load_agent_config(dict(agent_config or {}))
        spec = dict(input_spec or {})
        self._spec = InputSpec(tuple(spec.get("encoders", ())), tuple(tuple(s) for s in spec.get("feature_shapes", ())))
        self._affinity = None if affinity is None else np.asarray(affinity, np.float64)
        kwargs.update(ortho_init=False, normalize_images=False, features_extractor_class=PassThrough,
                      share_features_extractor=True)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule) -> None:
        self.agent = create_agent(self._agent_cfg, self._spec, self._affinity)
        k = max(self._spec.num_experts, 1)
        c, h, w = self._agent_cfg.expert.channels
        in_dim = (8 * c * h * w if self._agent_cfg.uses_features else 0) + self._spec.num_targets
        del k
        self.value_mlp = nn.Sequential(nn.Linear(in_dim, 64), nn.Tanh(), nn.Linear(64, 1))
        self.action_dist = CategoricalDistribution(int(self.action_space.n))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    # -- pieces

    def _input(self, obs) -> AgentInput:
        return obs_to_input(obs, self._agent_cfg.uses_rgb)

    def _value(self, inp: AgentInput) -> torch.Tensor:
        parts = []
        if self._agent_cfg.uses_features:
            x = self.agent.frontend(inp.features)  # (B, K, 8, C, h, w) canonical shape
            parts.append(x.mean(1).reshape(x.shape[0], -1))
        parts.append(self.agent.onehot(inp.target))
        return self.value_mlp(torch.cat(parts, -1))

    def _dist(self, inp: AgentInput):
        out = self.agent(inp)
        # clamp: the random agent / a masked stop has log-prob -inf, which Categorical rejects
        return self.action_dist.proba_distribution(action_logits=out.log_probs.clamp_min(-1e4))

    # -- the SB3 interface

    def forward(self, obs, deterministic: bool = False):
        inp = self._input(obs)
        dist = self._dist(inp)
        actions = dist.get_actions(deterministic=deterministic)
        return actions, self._value(inp), dist.log_prob(actions)

    def evaluate_actions(self, obs, actions: torch.Tensor):
        inp = self._input(obs)
        dist = self._dist(inp)
        return self._value(inp), dist.log_prob(actions), dist.entropy()

    def get_distribution(self, obs):
        return self._dist(self._input(obs))

    def predict_values(self, obs) -> torch.Tensor:
        return self._value(self._input(obs))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(agent_config=self._agent_cfg.to_dict(),
                    input_spec={"encoders": list(self._spec.encoders),
                                "feature_shapes": [list(s) for s in self._spec.feature_shapes]},
                    affinity=None if self._affinity is None else self._affinity.tolist())
        for k in ("ortho_init", "normalize_images", "features_extractor_class", "share_features_extractor"):
            data.pop(k, None)
        return data


@dataclass
class PPOConfig:
    """PPO settings.

    Attributes:
        env: environment id (feature mode is switched on here).
        timesteps: environment steps.
        seed: seeds PPO, the environments and the policy initialisation.
        n_envs, n_steps, batch_size, n_epochs, lr, gamma, gae_lambda, ent_coef, clip_range: PPO's.
        init: imitation checkpoint (``.safetensors``) to warm-start the policy's agent from.
        eval_episodes: episodes per scene of ``eval_split`` for success before / after.
        eval_split: split of the before/after evaluation.
        threads: torch CPU threads (0: torch's default).
        vec_env: ``dummy`` (environments in this process) or ``subproc`` (one spawned worker process
            per environment: ``navfusion.parallel.vecenv``).
        device: where PPO's policy trains (``cpu``, ``cuda``, ``auto``).
    """

    env: str = "NavFusion/OctoNav-tiny-v0"
    timesteps: int = 20000
    seed: int = 0
    n_envs: int = 4
    n_steps: int = 256
    batch_size: int = 256
    n_epochs: int = 4
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    clip_range: float = 0.2
    init: str | None = None
    eval_episodes: int = 64
    eval_split: str = "val"
    threads: int = 0
    vec_env: str = "dummy"
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("timesteps", "n_envs", "n_steps", "batch_size", "n_epochs"):
            v = getattr(self, name)
            check(isinstance(v, int) and v >= 1, name, v, "an int >= 1")
        check(self.lr > 0, "lr", self.lr, "> 0")
        check(self.vec_env in ("dummy", "subproc"), "vec_env", self.vec_env, "'dummy' or 'subproc'")
        check(isinstance(self.eval_episodes, int) and self.eval_episodes >= 0, "eval_episodes", self.eval_episodes,
              "an int >= 0")


def make_ppo(agent_cfg: AgentConfig, cfg: PPOConfig, encoders: list[str], feature_shapes: list[tuple[int, int, int]],
             affinity: np.ndarray | None = None, env_kwargs: dict[str, Any] | None = None):
    """A PPO model on vectorised feature-mode environments with a :class:`FusionPolicy`."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from navfusion.device import resolve_device
    from navfusion.env import register_envs
    from navfusion.train.data import suite_of_env

    register_envs()
    suite = suite_of_env(cfg.env)
    env_id = cfg.env if cfg.env.startswith("NavFusion/") else f"NavFusion/OctoNav-{suite}-v0"
    kw: dict[str, Any] = {"split": "train", "resolution": agent_cfg.rgb_resolution}
    if agent_cfg.uses_features:
        kw.update(obs_mode="features", encoders=list(encoders))
    kw.update(env_kwargs or {})
    vec = {}
    if cfg.vec_env == "subproc":  # spawned workers (navfusion.parallel.vecenv): never fork after EGL
        from stable_baselines3.common.vec_env import SubprocVecEnv

        vec = {"vec_env_cls": SubprocVecEnv, "vec_env_kwargs": {"start_method": "spawn"}}
    venv = make_vec_env(env_id, n_envs=cfg.n_envs, seed=cfg.seed, env_kwargs=kw, **vec)
    policy_kwargs = {"agent_config": agent_cfg.to_dict(),
                     "input_spec": {"encoders": list(encoders), "feature_shapes": [list(s) for s in feature_shapes]},
                     "affinity": None if affinity is None else np.asarray(affinity).tolist()}
    torch.manual_seed(cfg.seed)
    return PPO(FusionPolicy, venv, learning_rate=cfg.lr, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
               n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, ent_coef=cfg.ent_coef,
               clip_range=cfg.clip_range, seed=cfg.seed, policy_kwargs=policy_kwargs, verbose=0,
               device=str(resolve_device(cfg.device)))


def train_ppo(agent_cfg: AgentConfig, cfg: PPOConfig, out: str | os.PathLike, eval_data=None) -> dict[str, Any]:
    """Train by PPO; returns ``{"success_before", "success_after", ...}`` and writes ``out``:
    ``policy.zip`` (SB3), ``checkpoints/last.safetensors`` (the agent, loadable like an imitation
    checkpoint), ``result.json`` and ``config.json``."""
    from navfusion.agents import load_affinity_matrix
    from navfusion.train import checkpoint as ckpt
    from navfusion.train.data import load_split, suite_of_env
    from navfusion.train.rollout import evaluate

    if not agent_cfg.uses_features and agent_cfg.kind != "resnet":
        raise NavFusionError(f"agent {agent_cfg.name!r} ({agent_cfg.kind}) has nothing to train with PPO")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    encoders = resolve_encoders(agent_cfg)
    if eval_data is None:
        eval_data = load_split(suite_of_env(cfg.env), cfg.eval_split, encoders,
                               agent_cfg.rgb_resolution if agent_cfg.uses_rgb else None,
                               episodes_per_scene=cfg.eval_episodes)
    shapes = list(eval_data.spec.feature_shapes)
    affinity = load_affinity_matrix(agent_cfg, encoders) if agent_cfg.uses_features else None
    model = make_ppo(agent_cfg, cfg, encoders, shapes, affinity)
    agent = model.policy.agent
    if cfg.init:
        ckpt.load_weights(cfg.init, agent)
    before = evaluate(agent, eval_data, seed=cfg.seed).success if cfg.eval_episodes else None
    model.learn(total_timesteps=cfg.timesteps, progress_bar=False)
    after = evaluate(agent, eval_data, seed=cfg.seed).success if cfg.eval_episodes else None
    model.save(str(out / "policy.zip"))
    ckpt.save_weights(out / "checkpoints" / "last.safetensors", agent, {"timesteps": cfg.timesteps, "algo": "ppo"})
    res = {"success_before": before, "success_after": after, "timesteps": cfg.timesteps,
           "eval_split": cfg.eval_split, "eval_scenes": eval_data.scene_ids}
    atomic_write_json(out / "result.json", res)
    atomic_write_json(out / "config.json", {"agent": agent_cfg.to_dict(), "ppo": asdict(cfg), "encoders": encoders})
    return res
