"""Expert policies over frozen-encoder features, the expert bank that runs K of them at once, and
the adapter that brings an encoder with another output shape to the experts' input shape."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from navfusion.agents.config import ExpertConfig
from navfusion.common import NUM_ACTIONS, NUM_VIEWS
from navfusion.nn.expert_bank import ExpertBank
from navfusion.nn.stacked_linear import gather_stacked_linear, stacked_linear, stacked_linear_shared

#: row k lists the views in the order direction k sees them (its own view first)
_ROLLS = torch.stack([(torch.arange(NUM_VIEWS) + k) % NUM_VIEWS for k in range(NUM_VIEWS)])
#: 1 for diagonal moves (odd k): they are √2 longer, so the shared MLP must be able to tell them apart
_DIAGONAL = (torch.arange(NUM_VIEWS) % 2).float().view(1, NUM_VIEWS, 1)


def view_stem(cfg: ExpertConfig) -> tuple[nn.Module, int]:
    """A view-shared stem ``(N, C, h, w) → (N, S)`` and its output size ``S``."""
    c, h, w = cfg.channels
    s = cfg.stem_channels
    if cfg.stem == "conv":
        stem = nn.Sequential(nn.Conv2d(c, s, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(s, s, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        return stem, s * ((h + 1) // 2) * ((w + 1) // 2)
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, s), nn.ReLU()), s


class PolicyTrunk(nn.Module):
    """View embeddings ``(B, 8, S)`` + target one-hot ``(B, T)`` → ``(B, D, H)``.

    ``policy="direction"`` (default, D = 8): for each move direction k, the 8 view embeddings are
    rolled so that view k comes first (view k looks along move k), joined with a diagonal-move flag
    and the target, and one MLP shared by all directions embeds them -- the policy is equivariant
    to 45° rotations of the world, which matters with few training scenes ("go where the target is
    seen" is learnt once, not once per direction). ``policy="flat"`` (D = 1): one MLP on the
    concatenated views.
    """

    def __init__(self, in_size: int, hidden: int, num_targets: int, policy: str) -> None:
        super().__init__()
        self.direction = policy == "direction"
        extra = num_targets + (1 if self.direction else 0)
        self.fc = nn.Linear(in_size * NUM_VIEWS + extra, hidden)

    def forward(self, v: torch.Tensor, target_onehot: torch.Tensor) -> torch.Tensor:
        b = v.shape[0]
        if not self.direction:
            return torch.relu(self.fc(torch.cat([v.reshape(b, -1), target_onehot], -1))).unsqueeze(1)
        z = v[:, _ROLLS.to(v.device)].reshape(b, NUM_VIEWS, -1)  # (B, 8 directions, 8·S)
        t = target_onehot.unsqueeze(1).expand(b, NUM_VIEWS, target_onehot.shape[-1])
        return torch.relu(self.fc(torch.cat([z, _DIAGONAL.to(v.device).expand(b, -1, -1), t], -1)))

    def forward_stacked(self, v: torch.Tensor, target_onehot: torch.Tensor) -> torch.Tensor:
        """K experts' trunks at once (``fc`` parameters stacked ``(K, ...)``):
        ``v (K, B, 8, S)``, target one-hot ``(B, T)`` → ``(K, B, D, H)``."""
        k, b = v.shape[:2]
        w, bias = self.fc.weight, self.fc.bias
        if not self.direction:
            z = stacked_linear_shared(v.reshape(k, b, -1), target_onehot.to(v.dtype), w, bias)
            return z.relu_().unsqueeze(2)
        z = v[:, :, _ROLLS.to(v.device)].reshape(k, b * NUM_VIEWS, -1)  # (K, B·8 directions, 8·S)
        # the columns every expert shares (diagonal flag, target), joined without a K-fold copy
        t = target_onehot.to(v.dtype).unsqueeze(1).expand(b, NUM_VIEWS, target_onehot.shape[-1])
        shared = torch.cat([_DIAGONAL.to(v.device, v.dtype).expand(b, -1, -1), t], -1).reshape(b * NUM_VIEWS, -1)
        return stacked_linear_shared(z, shared, w, bias).relu_().view(k, b, NUM_VIEWS, -1)


class PolicyHead(nn.Module):
    """``(B, D, H)`` → ``(B, 17)``: 9 action logits, then 8 free-space logits.

    Per direction a shared linear score (D = 8) and a stop logit from the max over directions; or
    linear layers (D = 1). With ``free_space`` the head also predicts whether each move is blocked
    (trained from the graph as an auxiliary task) and adds ``log P(move k is free)`` to move k's
    logit: with few training scenes, "is there a wall ahead" is learnt from 8 labels per state
    instead of being inferred from the oracle's single action.
    """

    def __init__(self, hidden: int, policy: str, free_space: bool = True) -> None:
        super().__init__()
        self.direction, self.free_space = policy == "direction", free_space
        if self.direction:
            self.move = nn.Linear(hidden, 1)
            self.stop = nn.Linear(hidden, 1)
            self.free = nn.Linear(hidden, 1) if free_space else None
        else:
            self.out = nn.Linear(hidden, NUM_ACTIONS)
            self.free = nn.Linear(hidden, NUM_VIEWS) if free_space else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.direction:
            logits = torch.cat([self.move(z).squeeze(-1), self.stop(z.amax(1))], -1)
            free = self.free(z).squeeze(-1) if self.free is not None else None
        else:
            logits = self.out(z[:, 0])
            free = self.free(z[:, 0]) if self.free is not None else None
        return _join_free(logits, free)

    def forward_stacked(self, z: torch.Tensor) -> torch.Tensor:
        """K experts' heads at once (parameters stacked ``(K, ...)``): ``(K, B, D, H)`` → ``(K, B, 17)``."""
        k, b, d, h = z.shape
        if self.direction:
            flat = z.reshape(k, b * d, h)
            moves = stacked_linear(flat, self.move.weight, self.move.bias).view(k, b, d)
            stop = stacked_linear(z.amax(2), self.stop.weight, self.stop.bias)
            logits = torch.cat([moves, stop], -1)
            free = None if self.free is None else stacked_linear(flat, self.free.weight, self.free.bias).view(k, b, d)
        else:
            logits = stacked_linear(z[:, :, 0], self.out.weight, self.out.bias)
            free = None if self.free is None else stacked_linear(z[:, :, 0], self.free.weight, self.free.bias)
        return _join_free(logits, free)


def _join_free(logits: torch.Tensor, free: torch.Tensor | None) -> torch.Tensor:
    """Action logits ``(..., 9)`` and free-space logits ``(..., 8)`` | None → ``(..., 17)``."""
    if free is None:
        return torch.cat([logits, torch.zeros_like(logits[..., :NUM_VIEWS])], -1)
    moves = logits[..., :NUM_VIEWS] + F.logsigmoid(free)
    return torch.cat([moves, logits[..., NUM_VIEWS:], free], -1)


def split_head(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A head's ``(..., 17)`` output → action logits ``(..., 9)`` and free-space logits ``(..., 8)``."""
    return raw[..., :NUM_ACTIONS], raw[..., NUM_ACTIONS:]


class ExpertPolicy(nn.Module):
    """One expert: ``features (B, 8, C, h, w)`` + ``target one-hot (B, T)`` → ``(B, 17)`` (action
    logits + free-space logits, see :class:`PolicyHead`; ``head=True``) or the trunk's embedding
    ``(B, D, H)`` (``head=False``, for feature fusion / concat). A view-shared stem embeds each view,
    then :class:`PolicyTrunk` and :class:`PolicyHead`.
    """

    def __init__(self, cfg: ExpertConfig, num_targets: int, head: bool = True) -> None:
        super().__init__()
        self.stem, size = view_stem(cfg)
        self.trunk = PolicyTrunk(size, cfg.hidden, num_targets, cfg.policy)
        self.head = PolicyHead(cfg.hidden, cfg.policy, cfg.free_space) if head else None

    def forward(self, x: torch.Tensor, target_onehot: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        v = self.stem(x.reshape(b * NUM_VIEWS, *x.shape[2:])).reshape(b, NUM_VIEWS, -1)
        z = self.trunk(v, target_onehot)
        return z if self.head is None else self.head(z)

    @property
    def supports_stacked(self) -> bool:
        """Whether :meth:`forward_stacked` implements this architecture (the linear stem)."""
        return isinstance(self.stem[-1], nn.ReLU) and isinstance(self.stem[1], nn.Linear) and len(self.stem) == 3

    def forward_stacked(self, x: torch.Tensor, target_onehot: torch.Tensor) -> torch.Tensor:
        """K experts at once, as :class:`~navfusion.nn.ExpertBank` runs them in ``"stacked"`` mode
        (every parameter with a leading expert axis K): ``x (B, K, 8, C, h, w)``, target one-hot
        ``(B, T)`` → ``(B, K, 17)`` (``head=True``) or ``(B, K, D, H)``. Every layer is one batched
        matrix product over the experts instead of K small ones; same maths as :meth:`forward`."""
        if not self.supports_stacked:
            raise ValueError("ExpertPolicy.forward_stacked: only the linear stem (expert.stem: linear) is batched")
        b, k = x.shape[:2]
        lin = self.stem[1]
        # the stem gathers expert-major rows from the batch-major features a few experts at a time
        v = gather_stacked_linear(x.reshape(b, k, NUM_VIEWS, -1), lin.weight, lin.bias).relu_()
        z = self.trunk.forward_stacked(v.view(k, b, NUM_VIEWS, -1), target_onehot)
        out = z if self.head is None else self.head.forward_stacked(z)
        return out.transpose(0, 1)


class LoopBank(nn.Module):
    """K experts of one architecture run one after another: ``(B, K, *in), *shared → (B, K, *out)``.

    The reference for :class:`~navfusion.nn.ExpertBank` (same interface, same maths): tests check
    the bank against it.
    """

    def __init__(self, factory: Callable[[], nn.Module], num_experts: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(factory() for _ in range(num_experts))

    @property
    def num_experts(self) -> int:
        return len(self.experts)

    def forward(self, x: torch.Tensor, *shared: torch.Tensor) -> torch.Tensor:
        return torch.stack([e(x[:, k], *shared) for k, e in enumerate(self.experts)], dim=1)


def make_bank(factory: Callable[[], ExpertPolicy], num_experts: int) -> ExpertBank:
    """An :class:`~navfusion.nn.ExpertBank` of ``num_experts`` experts built by ``factory``.

    The bank runs its experts in ``"stacked"`` mode (:meth:`ExpertPolicy.forward_stacked`: one
    batched matmul per layer) when the expert supports it, else one after another (``"loop"``; set
    ``bank.mode = "loop"`` for the reference path). Measured at batch 256, K = 25, one thread, with
    the allocator tuned (``navfusion.train.speed``): see BENCHMARKS.md "Training throughput". (An
    earlier measurement, 0.71 s stacked vs 0.49 s loop, was taken while every large block was
    page-faulted in again each step; ``vmap`` is slower than both.)
    """
    bank = ExpertBank(factory, num_experts, mode="loop")
    if bank.stacked.supports_stacked:
        bank.mode = "stacked"
    return bank


class FeatureAdapter(nn.Module):
    """Brings per-view features ``(B, 8, C_in, h_in, w_in)`` to ``(B, 8, C, h, w)`` by adaptive
    average pooling and a 1×1 projection; trained together with the expert that reads them."""

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> None:
        super().__init__()
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        self.pool = nn.AdaptiveAvgPool2d(tuple(out_shape[1:]))
        self.proj = nn.Conv2d(in_shape[0], out_shape[0], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, v = x.shape[:2]
        y = self.proj(self.pool(x.reshape(b * v, *x.shape[2:]).float()))
        return y.reshape(b, v, *y.shape[1:])


class FeatureFrontend(nn.Module):
    """Turns raw per-encoder features into the experts' stacked input ``(B, K, 8, C, h, w)``,
    applying shape adapters, test-time noise and expert masks.

    Args:
        feature_shapes: ``(C_k, h_k, w_k)`` of each encoder's output.
        canonical: the experts' input shape ``(C, h, w)``.
    """

    def __init__(self, feature_shapes: Sequence[Sequence[int]], canonical: Sequence[int]) -> None:
        super().__init__()
        self.canonical = tuple(int(c) for c in canonical)
        self.feature_shapes = [tuple(int(c) for c in s) for s in feature_shapes]
        self.adapters = nn.ModuleDict({
            str(k): FeatureAdapter(s, self.canonical)
            for k, s in enumerate(self.feature_shapes) if s != self.canonical
        })

    def forward(
        self,
        features: torch.Tensor | list[torch.Tensor],
        mask: torch.Tensor | None = None,
        noise: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``features``: ``(B, K, 8, C, h, w)`` or K tensors ``(B, 8, C_k, h_k, w_k)``; ``mask``: ``(K,)`` or
        ``(B, K)`` bool (True = keep); ``noise``: Gaussian noise std relative to each encoder's
        feature RMS. Returns ``(B, K, 8, C, h, w)`` float; dropped encoders are zeros."""
        if isinstance(features, torch.Tensor) and noise == 0 and not self.adapters:
            if features.shape[1] != len(self.feature_shapes):
                raise ValueError(f"got features of {features.shape[1]} encoders, the agent has "
                                 f"{len(self.feature_shapes)}")
            x = features.float()
            if mask is not None:
                m = expand_mask(mask, x.shape[0], x.shape[1], x.device)
                x = x * m.view(*m.shape, 1, 1, 1, 1).to(x.dtype)
            return x
        per = list(features.unbind(1)) if isinstance(features, torch.Tensor) else list(features)
        if len(per) != len(self.feature_shapes):
            raise ValueError(f"got features of {len(per)} encoders, the agent has {len(self.feature_shapes)}")
        out = []
        for k, f in enumerate(per):
            f = f.float()
            if noise > 0:
                rms = f.detach().pow(2).mean().sqrt().clamp_min(1e-6)
                eps = torch.randn(f.shape, generator=generator, device=f.device, dtype=f.dtype)
                f = f + noise * rms * eps
            if str(k) in self.adapters:
                f = self.adapters[str(k)](f)
            out.append(f)
        x = torch.stack(out, dim=1)
        if mask is not None:
            m = expand_mask(mask, x.shape[0], x.shape[1], x.device)
            x = x * m.view(*m.shape, 1, 1, 1, 1).to(x.dtype)
        return x


def expand_mask(mask: torch.Tensor, batch: int, k: int, device: torch.device) -> torch.Tensor:
    """A ``(K,)`` or ``(B, K)`` keep-mask as ``(B, K)`` bool; at least one expert must stay."""
    m = torch.as_tensor(mask, device=device).bool()
    if m.dim() == 1:
        m = m.unsqueeze(0).expand(batch, k)
    if m.shape != (batch, k):
        raise ValueError(f"expert mask must have shape ({k},) or ({batch}, {k}), got {tuple(m.shape)}")
    if not bool(m.any(-1).all()):
        raise ValueError("expert mask drops every expert for some example; keep at least one")
    return m
