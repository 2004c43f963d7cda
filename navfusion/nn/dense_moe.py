"""Dense Mixture-of-Experts: a softmax gate over all experts, every expert runs on every item."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from navfusion.nn.balancing import cv_squared, importance
from navfusion.nn.expert_bank import ExpertBank
from navfusion.nn.moe_output import MoEOutput
from navfusion.nn.shapes import check_shape


class DenseMoE(nn.Module):
    """``y = Σ_e softmax(x_g W_g)_e · expert_e(x)``.

    Args:
        experts: E modules mapping x (B, \\*in) → (B, \\*out) (any architecture, same output
            shape), or an :class:`ExpertBank` (every expert then gets the same x, batched).
        gate_dim: feature size of the gate input (B, gate_dim) (x itself by default).
        w_importance: weight of the importance loss in ``aux_loss`` (0 disables it).

    ``forward(x, gate_input=None) -> MoEOutput`` (see :class:`MoEOutput`).
    """

    def __init__(self, experts: Sequence[nn.Module] | ExpertBank, gate_dim: int, w_importance: float = 0.0) -> None:
        super().__init__()
        self.experts = experts if isinstance(experts, ExpertBank) else nn.ModuleList(experts)
        self.num_experts = experts.num_experts if isinstance(experts, ExpertBank) else len(self.experts)
        if self.num_experts < 1:
            raise ValueError("DenseMoE: need at least one expert")
        self.gate_dim = gate_dim
        self.gate = nn.Linear(gate_dim, self.num_experts, bias=False)
        self.w_importance = float(w_importance)

    def gate_logits(self, gate_input: torch.Tensor) -> torch.Tensor:
        """(B, gate_dim) → (B, E)."""
        check_shape("gate_input", gate_input, ("B", self.gate_dim), type(self).__name__)
        return self.gate(gate_input)

    def expert_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, \\*in) → (B, E, \\*out), every expert on every item."""
        if isinstance(self.experts, ExpertBank):
            return self.experts(x.unsqueeze(1).expand(-1, self.num_experts, *x.shape[1:]))
        return torch.stack([e(x) for e in self.experts], dim=1)

    def forward(self, x: torch.Tensor, gate_input: torch.Tensor | None = None) -> MoEOutput:
        """x (B, \\*in), gate_input (B, gate_dim) (default x) → MoEOutput with output (B, \\*out)."""
        gates = torch.softmax(self.gate_logits(x if gate_input is None else gate_input), dim=-1)
        ys = self.expert_outputs(x)
        out = torch.einsum("be,be...->b...", gates.to(ys.dtype), ys)
        imp_loss = cv_squared(importance(gates))
        zero = gates.new_zeros(())
        b = x.shape[0]
        counts = torch.full((self.num_experts,), b, dtype=torch.long, device=x.device)
        return MoEOutput(out, gates, self.w_importance * imp_loss, imp_loss, zero, counts,
                         torch.zeros((), dtype=torch.long, device=x.device))
