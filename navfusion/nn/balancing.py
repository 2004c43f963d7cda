"""Load-balancing quantities of sparsely gated MoE layers (Shazeer et al., ICLR 2017, appendix A)."""

from __future__ import annotations

import torch


def cv_squared(v: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Squared coefficient of variation ``Var(v) / (mean(v)² + eps)`` of a 1-D tensor (population variance).

    Returns 0 for fewer than two entries.
    """
    if v.numel() < 2:
        return v.new_zeros(())
    v = v.float() if not v.is_floating_point() else v
    mean = v.mean()
    return ((v - mean) ** 2).mean() / (mean**2 + eps)


def importance(gates: torch.Tensor) -> torch.Tensor:
    """(B, E) gate values → (E,) importance ``Σ_b gates[b, e]``."""
    return gates.sum(0)


def smooth_load(clean: torch.Tensor, noisy: torch.Tensor, noise_std: torch.Tensor, k: int) -> torch.Tensor:
    """Differentiable expected number of items per expert under the gating noise.

    ``P(b, e) = Φ((clean[b, e] − threshold[b, e]) / noise_std[b, e])`` where the threshold is the
    k-th largest noisy logit of row b with expert e left out: the (k+1)-th largest if e is in the
    top k, else the k-th largest. ``load[e] = Σ_b P(b, e)``.

    clean, noisy, noise_std: (B, E); k < E. Returns (E,).
    """
    top = noisy.topk(k + 1, dim=-1).values  # (B, k+1)
    kth, kth_plus_1 = top[:, k - 1 : k], top[:, k : k + 1]
    in_top = noisy >= kth  # the top-k members (ties count as in)
    threshold = torch.where(in_top, kth_plus_1, kth)
    normal = torch.distributions.Normal(clean.new_zeros(()), clean.new_ones(()))
    return normal.cdf((clean - threshold) / noise_std).sum(0)
