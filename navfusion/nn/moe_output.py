"""The result of a Mixture-of-Experts layer: output plus the auxiliary values it computed."""

from __future__ import annotations

from typing import NamedTuple

import torch


class MoEOutput(NamedTuple):
    """What :class:`DenseMoE` / :class:`NoisyTopKMoE` return (never stored on the module).

    Attributes:
        output: (B, \\*out) the gate-weighted combination of expert outputs.
        gates: (B, E) combine weights (rows sum to 1 over the selected experts; zeros elsewhere).
        aux_loss: scalar, ``w_importance · importance_loss + w_load · load_loss`` (add it to the task loss).
        importance_loss: scalar, CV² of the per-expert importance ``Σ_batch gates`` (Shazeer et al. 2017).
        load_loss: scalar, CV² of the per-expert (smooth, noise-based) load estimate; 0 for the dense MoE.
        expert_counts: (E,) int64, items each expert actually processed (after capacity limits).
        dropped: scalar int64, (item, expert) assignments dropped because an expert was over capacity.
    """

    output: torch.Tensor
    gates: torch.Tensor
    aux_loss: torch.Tensor
    importance_loss: torch.Tensor
    load_loss: torch.Tensor
    expert_counts: torch.Tensor
    dropped: torch.Tensor
