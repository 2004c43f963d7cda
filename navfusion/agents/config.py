"""Agent recipes: validated dataclass configs loaded from ``agents/<name>.yaml`` or a path.

A recipe names the agent ``kind`` (see :func:`navfusion.agents.list_agents`), the encoders whose
features the experts read, and the model's hyper-parameters. An optional ``train:`` section holds
training overrides (iterations, learning rate, ...) that ``navfusion train`` merges under its own
command-line flags.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from navfusion.config import check, from_dict, load_yaml, repo_root
from navfusion.errors import ConfigError, NavFusionError

AGENT_KINDS: tuple[str, ...] = (
    "random",
    "resnet",
    "concat",
    "feature_fusion",
    "single",
    "single_all",
    "action_fusion",
    "action_fusion_affinity",
)

#: kinds that read frozen-encoder features (all but ``random`` and ``resnet``)
FEATURE_KINDS: frozenset[str] = frozenset(AGENT_KINDS) - {"random", "resnet"}
#: kinds with an RGB gate
GATED_KINDS: frozenset[str] = frozenset({"feature_fusion", "action_fusion", "action_fusion_affinity"})


@dataclass
class ExpertConfig:
    """One expert policy: a view-shared stem embeds each of the 8 views' ``C×h×w`` features, then
    an MLP acts on the 8 view embeddings (world-aligned order) and the target one-hot.

    Attributes:
        channels: canonical feature shape ``(C, h, w)``; encoders with another output shape are
            adapted to it (adaptive average pooling + 1×1 projection, trained with the expert).
        stem: ``"linear"`` (one view-shared linear layer on the flattened view features -- the
            features are already high-level, and this is ~10× cheaper on a CPU) or ``"conv"`` (two
            3×3 convs, the second with stride 2).
        stem_channels: view embedding size (linear) or conv channels (conv).
        policy: ``"direction"`` (one MLP shared by the 8 move directions, each seeing the views
            rolled to put its own view first: equivariant to 45° turns of the world) or ``"flat"``
            (one MLP on the concatenated views).
        hidden: width of the MLP's hidden layer (also the embedding size for feature fusion / concat).
        free_space: also predict which of the 8 moves are blocked (auxiliary loss from the graph,
            weight ``fusion.free_weight``) and add ``log P(free)`` to each move's logit. Off by
            default: on ``tiny`` with random stand-in encoders it did not lower test collisions.
    """

    channels: list[int] = field(default_factory=lambda: [8, 8, 8])
    stem: str = "linear"
    stem_channels: int = 16
    policy: str = "direction"
    hidden: int = 64
    free_space: bool = False

    def __post_init__(self) -> None:
        check(isinstance(self.channels, (list, tuple)) and len(self.channels) == 3
              and all(isinstance(c, int) and c > 0 for c in self.channels),
              "expert.channels", self.channels, "three positive ints [C, h, w]")
        self.channels = [int(c) for c in self.channels]
        check(self.stem in ("linear", "conv"), "expert.stem", self.stem, "'linear' or 'conv'")
        check(self.policy in ("direction", "flat"), "expert.policy", self.policy, "'direction' or 'flat'")
        check(isinstance(self.stem_channels, int) and self.stem_channels > 0, "expert.stem_channels",
              self.stem_channels, "a positive int")
        check(isinstance(self.hidden, int) and self.hidden > 0, "expert.hidden", self.hidden, "a positive int")


@dataclass
class GateConfig:
    """The RGB gate: a small CNN whose trunk uses CondConv2d, run on each of the 8 views at
    ``resolution``², view embeddings concatenated (views are world-aligned, so order matters),
    optionally joined by the target one-hot, then an MLP to ``K`` logits and a softmax.

    Attributes:
        resolution: side of the square RGB views the gate sees (64 on CPU).
        channels: output channels of the trunk's conv layers: a plain "patchify" conv (kernel =
            stride = ``stem_stride``), then stride-2 CondConv2d layers.
        stem_stride: the first layer's stride (4: a 64² view costs as much as a 16² one after it;
            the gate runs on 8 views × batch images per step, the bulk of a step's compute).
        cond_experts: number of kernels mixed by each CondConv2d layer.
        hidden: MLP width.
        sees_target: whether the gate also gets the target one-hot (default yes: which
            representation helps depends on what is sought).
        temperature: softmax temperature of the mixing weights.
    """

    resolution: int = 64
    channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    stem_stride: int = 4
    cond_experts: int = 4
    hidden: int = 64
    sees_target: bool = True
    temperature: float = 1.0

    def __post_init__(self) -> None:
        check(isinstance(self.resolution, int) and 8 <= self.resolution <= 512, "gate.resolution",
              self.resolution, "an int in [8, 512]")
        check(isinstance(self.channels, (list, tuple)) and len(self.channels) >= 1
              and all(isinstance(c, int) and c > 0 for c in self.channels), "gate.channels", self.channels,
              "a non-empty list of positive ints")
        self.channels = [int(c) for c in self.channels]
        check(isinstance(self.stem_stride, int) and self.stem_stride >= 1, "gate.stem_stride", self.stem_stride,
              "an int >= 1")
        check(isinstance(self.cond_experts, int) and self.cond_experts >= 1, "gate.cond_experts",
              self.cond_experts, "an int >= 1")
        check(isinstance(self.hidden, int) and self.hidden > 0, "gate.hidden", self.hidden, "a positive int")
        check(isinstance(self.sees_target, bool), "gate.sees_target", self.sees_target, "true or false")
        check(isinstance(self.temperature, (int, float)) and self.temperature > 0, "gate.temperature",
              self.temperature, "a positive number")


@dataclass
class FusionConfig:
    """Losses of the fused models.

    Attributes:
        aux_weight: weight of the auxiliary per-expert imitation loss (mean cross-entropy of every
            expert's own policy against the oracle action). Without it the mixture likelihood lets
            an expert the gate ignores stay untrained, so the gate has nothing to switch to.
        label_smoothing: ε: the imitation target is ``(1-ε)·oracle + ε·uniform over the 8 moves``,
            so on unseen scenes the policy stays broad instead of repeating a blocked move (a
            memoryless agent sees the same views after a collision). Default 0.3: on ``tiny`` it
            took unseen-scene success from 0.02 to 0.26 (collisions per episode 37 → 23) at the
            same training-scene success (0.98-1.0).
        smooth_over: ``"free"`` (default): the ε mass goes uniformly to the moves that are not
            blocked at the state (the graph knows), so the policy also learns which moves are
            wasted; ``"moves"``: all 8 moves. On ``tiny`` (240 iterations, seeds 0-3) ``free`` took
            the blocked-move probability on training scenes from 0.13 to 0.03 and mean unseen-scene
            success from 0.30 to 0.33.
        free_weight: weight of the auxiliary free-space loss (binary cross-entropy of every
            expert's / head's "move k is not blocked" prediction against the graph; 0: off).
        affinity_weight: λ of the inter-task affinity regulariser ``λ · mean_b w_bᵀ Ã w_b`` where Ã
            is the zoo's affinity (similarity) matrix, off-diagonal scaled to [0, 1], unit diagonal.
            Used by ``action_fusion_affinity`` (default 1.0 there).
        affinity: where the affinity comes from: ``"zoo"`` (the default zoo's ``affinity.json``,
            linear CKA between the task encoders' features) or a path to a ``.json``
            (``{"names"|"tasks": [...], "matrix": [[...]]}``), a zoo-format ``.csv`` or a ``.npy``
            (K×K in expert order) file.
    """

    aux_weight: float = 0.5
    label_smoothing: float = 0.3
    smooth_over: str = "free"
    free_weight: float = 0.5
    affinity_weight: float = 0.0
    affinity: str = "zoo"

    def __post_init__(self) -> None:
        check(isinstance(self.aux_weight, (int, float)) and self.aux_weight >= 0, "fusion.aux_weight",
              self.aux_weight, "a number >= 0")
        check(isinstance(self.label_smoothing, (int, float)) and 0 <= self.label_smoothing < 1,
              "fusion.label_smoothing", self.label_smoothing, "a number in [0, 1)")
        check(self.smooth_over in ("free", "moves"), "fusion.smooth_over", self.smooth_over, "'free' or 'moves'")
        check(isinstance(self.free_weight, (int, float)) and self.free_weight >= 0, "fusion.free_weight",
              self.free_weight, "a number >= 0")
        check(isinstance(self.affinity_weight, (int, float)) and self.affinity_weight >= 0,
              "fusion.affinity_weight", self.affinity_weight, "a number >= 0")
        check(isinstance(self.affinity, str) and self.affinity != "", "fusion.affinity", self.affinity,
              "'zoo' or a path to an affinity file")


@dataclass
class ResNetConfig:
    """The end-to-end ResNet baseline: a ResNet-18-shaped CNN (torchvision parameter names) run on
    each RGB view, view embeddings concatenated with the target one-hot, then an MLP.

    Attributes:
        width: channels of the first stage (64 = torchvision's resnet18; 16 fits a CPU).
        blocks: BasicBlocks per stage (torchvision resnet18: [2, 2, 2, 2]).
        hidden: MLP width.
        init: optional local torchvision-format state-dict file (``.pth``/``.safetensors``) to
            initialise the trunk from; nothing is downloaded.
    """

    width: int = 16
    blocks: list[int] = field(default_factory=lambda: [1, 1, 1, 1])
    hidden: int = 128
    init: str | None = None

    def __post_init__(self) -> None:
        check(isinstance(self.width, int) and self.width > 0, "resnet.width", self.width, "a positive int")
        check(isinstance(self.blocks, (list, tuple)) and len(self.blocks) == 4
              and all(isinstance(b, int) and b >= 1 for b in self.blocks), "resnet.blocks", self.blocks,
              "four ints >= 1")
        self.blocks = [int(b) for b in self.blocks]
        check(isinstance(self.hidden, int) and self.hidden > 0, "resnet.hidden", self.hidden, "a positive int")
        check(self.init is None or isinstance(self.init, str), "resnet.init", self.init, "a file path or null")


@dataclass
class MemoryConfig:
    """The agent's short-term action memory (``navfusion.agents.memory``), applied when it acts in an
    episode (evaluation, validation and DAgger rollouts); nothing in it is learned.

    Attributes:
        avoid_collided: do not retry a move that collided at the current node until the agent has
            moved (after a collision a reactive agent sees the same views and would repeat it).
        avoid_backtrack: do not step straight back along the last move unless every other move has
            collided here (a non-backtracking walk; a memoryless policy otherwise dithers between
            two nodes). Both off gives the paper's reactive agent. On ``tiny`` (docs/agents.md)
            the two together took the default imitation agent's unseen-scene success from 0.455 to
            0.795, and the random walk's from 0.24 to 0.45.
    """

    avoid_collided: bool = True
    avoid_backtrack: bool = True

    def __post_init__(self) -> None:
        for name in ("avoid_collided", "avoid_backtrack"):
            check(isinstance(getattr(self, name), bool), f"memory.{name}", getattr(self, name), "true or false")


@dataclass
class AgentConfig:
    """A full agent recipe.

    Attributes:
        kind: one of :data:`AGENT_KINDS`.
        name: the recipe's name (file stem by default); used in run folders and reports.
        encoders: ``"all"`` (every registered encoder of the zoo) or a list of encoder names; their
            order is the expert order.
        resolution: side of the RGB views the gate / ResNet sees (overrides ``gate.resolution``
            when set).
        expert, gate, fusion, resnet, memory: sub-configs (see their docs).
        train: training overrides merged under the command line (see ``TrainConfig``).
    """

    kind: str
    name: str = ""
    encoders: Any = "all"
    resolution: int | None = None
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    resnet: ResNetConfig = field(default_factory=ResNetConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    train: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from navfusion.common import suggest

        if self.kind not in AGENT_KINDS:
            raise ConfigError(f"kind={self.kind!r}: must be one of {', '.join(AGENT_KINDS)}."
                              f"{suggest(self.kind, AGENT_KINDS)}")
        enc = self.encoders
        ok = enc == "all" or (isinstance(enc, (list, tuple)) and len(enc) > 0 and all(isinstance(e, str) for e in enc))
        check(ok, "encoders", enc, "'all' or a non-empty list of encoder names")
        if isinstance(enc, (list, tuple)):
            self.encoders = list(enc)
            dup = sorted({e for e in enc if enc.count(e) > 1})
            check(not dup, "encoders", enc, f"without duplicates (repeated: {', '.join(dup)})")
        if self.kind == "single":
            check(isinstance(self.encoders, list) and len(self.encoders) == 1, "encoders", self.encoders,
                  "exactly one encoder for kind 'single'")
        check(self.resolution is None or (isinstance(self.resolution, int) and 8 <= self.resolution <= 512),
              "resolution", self.resolution, "null or an int in [8, 512]")
        for name, tp in (("expert", ExpertConfig), ("gate", GateConfig), ("fusion", FusionConfig),
                         ("resnet", ResNetConfig), ("memory", MemoryConfig)):
            if isinstance(getattr(self, name), dict):
                setattr(self, name, from_dict(tp, getattr(self, name), where=name))
            check(isinstance(getattr(self, name), tp), name, getattr(self, name),
                  f"a mapping of {tp.__name__} fields ({', '.join(f.name for f in dataclasses.fields(tp))})")
        check(isinstance(self.train, dict), "train", self.train, "a mapping of training overrides")
        if self.kind == "action_fusion_affinity" and self.fusion.affinity_weight == 0:
            self.fusion.affinity_weight = 1.0
        if not self.name:
            self.name = self.kind

    @property
    def rgb_resolution(self) -> int:
        """Side of the RGB views this agent reads."""
        return self.resolution or self.gate.resolution

    @property
    def uses_features(self) -> bool:
        return self.kind in FEATURE_KINDS

    @property
    def uses_rgb(self) -> bool:
        return self.kind in GATED_KINDS or self.kind == "resnet"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recipe_dir() -> Path:
    """The folder of shipped recipes (top-level ``agents/``)."""
    return repo_root() / "agents"


def list_recipes() -> list[str]:
    """Names of the shipped recipes."""
    d = recipe_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def load_agent_config(name_or_path: str | os.PathLike | dict[str, Any], **overrides: Any) -> AgentConfig:
    """Resolve ``--agent``: a recipe name (``agents/<name>.yaml``), a path to a YAML file,
    ``single:<encoder>``, a bare kind (``random``, ``action_fusion``, ...) or a mapping.

    ``overrides`` replace top-level fields (e.g. ``encoders=[...]``).
    """
    from navfusion.common import suggest

    if isinstance(name_or_path, dict):
        data, where = dict(name_or_path), "agent config"
    else:
        text = str(name_or_path)
        path = Path(text)
        if text.startswith("single:"):
            data, where = {"kind": "single", "name": text.replace(":", "_"), "encoders": [text.split(":", 1)[1]]}, text
        elif path.suffix in (".yaml", ".yml") or os.sep in text or path.is_file():
            data, where = load_yaml(path, what="agent recipe"), str(path)
            data.setdefault("name", path.stem)
        elif (recipe_dir() / f"{text}.yaml").is_file():
            p = recipe_dir() / f"{text}.yaml"
            data, where = load_yaml(p, what="agent recipe"), str(p)
            data.setdefault("name", text)
        elif text in AGENT_KINDS:
            data, where = {"kind": text, "name": text}, text
        else:
            known = list_recipes() + [k for k in AGENT_KINDS if k not in list_recipes()]
            raise NavFusionError(
                f"unknown agent {text!r}: not a recipe in {recipe_dir()}, a YAML path, 'single:<encoder>' or a kind; "
                f"known: {', '.join(known)}.{suggest(text, known)}"
            )
    data.update(overrides)
    if "kind" not in data:
        raise ConfigError(f"{where}: missing field 'kind' (one of {', '.join(AGENT_KINDS)})")
    return from_dict(AgentConfig, data, where=where)
