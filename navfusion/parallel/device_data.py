"""Training data served on the GPU: a split's lookup tables resident on the device, or pinned.

:func:`on_device` makes a split's lookup tables serve batches on the GPU: when the features and
views fit in a share of the free device memory they are copied there once and every batch is one
on-device gather; otherwise they stay in pinned host memory, each batch is gathered into a pinned
staging buffer and copied asynchronously (``non_blocking``). The identity on the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _tensors_bytes(*ts: Any) -> int:
    n = 0
    for t in ts:
        if isinstance(t, (list, tuple)):
            n += _tensors_bytes(*t)
        elif isinstance(t, torch.Tensor):
            n += t.numel() * t.element_size()
    return n


def fits_on_device(nbytes: int, device: torch.device, share: float = 0.5) -> bool:
    """Whether ``nbytes`` fit in ``share`` of the device's free memory (CUDA only)."""
    if device.type != "cuda":
        return False
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes <= share * free


def _map(x: Any, fn) -> Any:
    if isinstance(x, list):
        return [fn(t) for t in x]
    return None if x is None else fn(x)


class DeviceData:
    """A :class:`navfusion.train.data.NavData` whose ``inputs`` come out on ``device``.

    Everything but ``inputs`` (tables, oracle, episodes) is the wrapped data's. Create with
    :func:`on_device`.

    Attributes:
        resident: ``True`` when the features/views live in device memory.
    """

    def __init__(self, data: Any, device: torch.device, resident: bool) -> None:
        self.base = data
        self.device = device
        self.resident = resident
        if resident:
            self._features = _map(data.features, lambda t: t.to(device))
            self._rgb = _map(data.rgb, lambda t: t.to(device))
        else:
            pin = device.type == "cuda"
            self._features = _map(data.features, lambda t: t.pin_memory() if pin else t)
            self._rgb = _map(data.rgb, lambda t: t.pin_memory() if pin else t)
        self._offsets = torch.as_tensor(np.asarray(data.offsets), dtype=torch.long,
                                        device=device if resident else "cpu")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def _gather(self, t: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if self.resident:
            return t.index_select(0, g)
        out = torch.empty((len(g), *t.shape[1:]), dtype=t.dtype, pin_memory=self.device.type == "cuda")
        torch.index_select(t, 0, g, out=out)
        return out.to(self.device, non_blocking=True)

    def inputs(self, scene: np.ndarray, node: np.ndarray, target: np.ndarray):
        """Like ``NavData.inputs``; tensors on ``self.device``."""
        from navfusion.agents.types import AgentInput

        s = torch.as_tensor(np.asarray(scene), dtype=torch.long)
        n = torch.as_tensor(np.asarray(node), dtype=torch.long)
        where = self._offsets.device
        g = self._offsets[s.to(where)] + n.to(where)
        f = _map(self._features, lambda t: self._gather(t, g))
        rgb = _map(self._rgb, lambda t: self._gather(t, g))
        tg = torch.as_tensor(np.asarray(target), dtype=torch.long).to(self.device, non_blocking=True)
        return AgentInput(target=tg, features=f, rgb=rgb)


def on_device(data: Any, device: torch.device, resident: str | bool = "auto", share: float = 0.5) -> Any:
    """``data`` serving batches on ``device`` (``data`` itself on CPU).

    Args:
        resident: ``"auto"`` (on the device when it fits in ``share`` of the free memory), ``True``
            or ``False``.
    """
    if device.type == "cpu":
        return data
    if resident == "auto":
        resident = fits_on_device(_tensors_bytes(data.features, data.rgb), device, share)
    return DeviceData(data, device, bool(resident))
