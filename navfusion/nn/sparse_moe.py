"""Sparsely gated Mixture-of-Experts with noisy top-k gating (Shazeer et al., ICLR 2017)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from navfusion.nn.balancing import cv_squared, importance, smooth_load
from navfusion.nn.moe_output import MoEOutput
from navfusion.nn.shapes import check_shape


class NoisyTopKMoE(nn.Module):
    """Noisy top-k gating, balancing losses and a Switch-style expert capacity.

    Gating: ``H = x_g W_g + ε · softplus(x_g W_noise)``, ε ~ N(0, 1) (training and ``noisy`` only);
    ``gates = softmax(top-k(H))`` scattered into (B, E) with zeros elsewhere; ``W_g`` and
    ``W_noise`` start at zero, as in the paper. Balancing (returned, not stored):
    ``importance_loss = CV²(Σ_b gates)``, ``load_loss = CV²(load)`` with the smooth load estimator
    of the paper's appendix A (with noise), or the hard item counts without noise (not
    differentiable). ``aux_loss = w_importance · importance_loss + w_load · load_loss``.

    Capacity (Switch Transformer): each expert takes at most
    ``ceil(capacity_factor · k · B / E)`` items per call, in batch order; the assignments beyond
    that are dropped (their expert contributes nothing for that item, the remaining gates are not
    renormalised) and counted in ``MoEOutput.dropped``. ``capacity_factor=None``: unlimited.

    Args:
        experts: E modules mapping (N, \\*in) → (N, \\*out) (any architecture).
        gate_dim: feature size of the gate input (B, gate_dim) (x itself by default).
        k: experts per item (1 ≤ k ≤ E).
        noisy: add the tunable gating noise during training.
        capacity_factor: see above.
        w_importance, w_load: loss weights (paper: 0.1 each).

    ``forward(x, gate_input=None, generator=None) -> MoEOutput``; ``generator`` draws the noise.
    """

    def __init__(self, experts: Sequence[nn.Module], gate_dim: int, k: int = 2, noisy: bool = True,
                 capacity_factor: float | None = None, w_importance: float = 0.1, w_load: float = 0.1) -> None:
        super().__init__()
        self.experts = nn.ModuleList(experts)
        e = len(self.experts)
        if not 1 <= k <= e:
            raise ValueError(f"NoisyTopKMoE: k must be in 1..{e} (number of experts), got {k}")
        if capacity_factor is not None and not capacity_factor > 0:
            raise ValueError(f"NoisyTopKMoE: capacity_factor must be > 0 or None, got {capacity_factor}")
        self.num_experts, self.k, self.noisy, self.gate_dim = e, k, noisy, gate_dim
        self.capacity_factor = capacity_factor
        self.w_importance, self.w_load = float(w_importance), float(w_load)
        self.w_gate = nn.Parameter(torch.zeros(gate_dim, e))
        self.w_noise = nn.Parameter(torch.zeros(gate_dim, e))

    def capacity(self, batch: int) -> int | None:
        """Items one expert may take for a batch of ``batch`` items (None: unlimited)."""
        if self.capacity_factor is None:
            return None
        return math.ceil(self.capacity_factor * self.k * batch / self.num_experts)

    def gating(self, gate_input: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, gate_dim) → gates (B, E), importance_loss, load_loss."""
        check_shape("gate_input", gate_input, ("B", self.gate_dim), type(self).__name__)
        clean = gate_input @ self.w_gate
        use_noise = self.noisy and self.training
        if use_noise:
            std = F.softplus(gate_input @ self.w_noise) + 1e-2 / self.num_experts
            eps = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
            logits = clean + eps * std
        else:
            logits = clean
        top_v, top_i = logits.topk(self.k, dim=-1)
        gates = torch.zeros_like(logits).scatter(-1, top_i, torch.softmax(top_v, dim=-1))
        imp_loss = cv_squared(importance(gates))
        if use_noise and self.k < self.num_experts:
            load = smooth_load(clean, logits, std, self.k)
        else:
            load = (gates > 0).sum(0).to(gates.dtype)
        return gates, imp_loss, cv_squared(load)

    def forward(self, x: torch.Tensor, gate_input: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> MoEOutput:
        """x (B, \\*in), gate_input (B, gate_dim) (default x) → MoEOutput with output (B, \\*out)."""
        gates, imp_loss, load_loss = self.gating(x if gate_input is None else gate_input, generator)
        b = x.shape[0]
        if b == 0:
            raise ValueError("NoisyTopKMoE: empty batch")
        cap = self.capacity(b)
        assigned = gates > 0  # (B, E)
        out: torch.Tensor | None = None
        counts = torch.zeros(self.num_experts, dtype=torch.long, device=x.device)
        dropped = torch.zeros((), dtype=torch.long, device=x.device)
        for e, expert in enumerate(self.experts):
            idx = assigned[:, e].nonzero().squeeze(1)
            if cap is not None and idx.numel() > cap:
                dropped = dropped + (idx.numel() - cap)
                idx = idx[:cap]
            if idx.numel() == 0:
                continue
            counts[e] = idx.numel()
            y = expert(x[idx])
            g = gates[idx, e].to(y.dtype).reshape(-1, *([1] * (y.dim() - 1)))
            if out is None:
                out = y.new_zeros((b, *y.shape[1:]))
            out = out.index_add(0, idx, g * y)
        assert out is not None  # k ≥ 1 and capacity ≥ 1 give every batch at least one assignment
        return MoEOutput(out, gates, self.w_importance * imp_loss + self.w_load * load_loss, imp_loss, load_loss,
                         counts, dropped)
