"""Training-time data augmentation that keeps a state's meaning: rotating the world.

Views are world-aligned (view k looks along move k), so turning the world by ``r`` × 45° is a
relabelling: new view j is old view ``(j + r) mod 8`` and the oracle's move k becomes move
``(k - r) mod 8`` (stop stays stop). With even ``r`` (multiples of 90°) the octagonal grid maps onto
itself exactly (axis moves stay axis moves, diagonals stay diagonals); odd ``r`` swaps the two kinds,
which differ in length. The experts are already equivariant to these turns; the gate, which reads
the views in world order, is not, and with a few training scenes it can learn their orientation.
"""

from __future__ import annotations

import numpy as np
import torch

from navfusion.agents.types import AgentInput
from navfusion.common import NUM_VIEWS, STOP_ACTION


def rotation_steps(rng: np.random.Generator, batch: int, step: int) -> np.ndarray:
    """``(B,)`` rotations in units of 45°: multiples of ``step`` (2: quarter turns, 1: any 45°)."""
    return rng.integers(NUM_VIEWS // step, size=batch) * step


def rotate_views(inp: AgentInput, actions: torch.Tensor, free: torch.Tensor | None, r: np.ndarray
                 ) -> tuple[AgentInput, torch.Tensor, torch.Tensor | None]:
    """Turn every state b of a batch by ``r[b]`` × 45°.

    Args:
        inp: features ``(B, K, 8, ...)`` or K tensors ``(B, 8, ...)``, rgb ``(B, 8, H, W, 3)``.
        actions: ``(B,)`` oracle actions (0..7 moves, 8 stop).
        free: ``(B, 8)`` bool, move k not blocked, or None.
        r: ``(B,)`` int rotations.

    Returns the rotated input, actions and free-move mask (new view j = old view ``(j + r) mod 8``).
    """
    dev = actions.device
    rt = torch.as_tensor(np.asarray(r), dtype=torch.long, device=dev)
    idx = (torch.arange(NUM_VIEWS, device=dev).unsqueeze(0) + rt.unsqueeze(1)) % NUM_VIEWS  # (B, 8)
    b = torch.arange(len(rt), device=dev).unsqueeze(1)

    def roll(x: torch.Tensor | None, axis: int) -> torch.Tensor | None:
        if x is None:
            return None
        return x[b, :, idx].permute(0, 2, 1, *range(3, x.dim())) if axis == 2 else x[b, idx]

    f = inp.features
    if isinstance(f, list):
        f = [roll(x, 1) for x in f]
    elif f is not None:
        f = roll(f, 2)
    rotated = AgentInput(inp.target, f, roll(inp.rgb, 1))
    moves = actions < STOP_ACTION
    new_actions = torch.where(moves, (actions - rt) % NUM_VIEWS, actions)
    return rotated, new_actions, roll(free, 1)
