"""Shape checks whose errors state the expected and the received shape."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class ShapeError(ValueError):
    """A tensor has the wrong shape; the message names the expected and the received shape."""


def fmt_shape(shape: Sequence[int | str | None]) -> str:
    """``(B, 25, 8)``-style text; ``None`` entries print as ``*`` (any size)."""
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


def check_shape(name: str, t: torch.Tensor, expected: Sequence[int | str | None], where: str = "") -> None:
    """Raise :class:`ShapeError` unless ``t.shape`` matches ``expected``.

    ``expected`` entries: an int (exact size), a str (a named free size such as ``"B"``) or
    ``None`` (any size). The number of dimensions must match.
    """
    shape = tuple(t.shape)
    ok = len(shape) == len(expected) and all(
        not isinstance(e, int) or s == e for s, e in zip(shape, expected)
    )
    if not ok:
        prefix = f"{where}: " if where else ""
        raise ShapeError(f"{prefix}{name} must have shape {fmt_shape(expected)}, got {fmt_shape(shape)}")
