"""The GPU path of training: lookup tables resident on the device, bf16 autocast, channels_last.

Nothing here is used on the default (CPU) path; every helper is the identity there.

- :func:`on_device` makes a split's lookup tables serve batches on the GPU: when the features and
  views fit in a share of the free device memory they are copied there once and every batch is
  one on-device gather; otherwise they stay in pinned host memory, each batch is gathered into a
  pinned staging buffer and copied asynchronously (``non_blocking``).
- :func:`autocast` is bf16 mixed precision on CUDA (weights and optimiser stay float32).
- :func:`prepare_model` moves a model to the device, channels_last on CUDA (convolutions in
  NHWC use the tensor cores without transposes).
- :class:`HostOutputs` runs a device model for code that reads outputs as numpy (batched
  rollouts, validation): inputs go to the device, outputs come back to the host as float32.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from navfusion.config import check

AMP_MODES = ("off", "bf16")


def check_amp(amp: str) -> None:
    check(amp in AMP_MODES, "amp", amp, f"one of {AMP_MODES}")


@contextlib.contextmanager
def autocast(device: torch.device, amp: str = "off") -> Iterator[None]:
    """bf16 autocast on ``device`` when ``amp == "bf16"``; a no-op otherwise."""
    check_amp(amp)
    if amp == "off":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        yield


def prepare_model(model: torch.nn.Module, device: torch.device, channels_last: bool | None = None) -> torch.nn.Module:
    """``model`` on ``device``; 4-D conv weights in channels_last on CUDA (``channels_last=None``)."""
    model.to(device)
    if channels_last is None:
        channels_last = device.type == "cuda"
    if channels_last:
        # only 4-D tensors (conv weights); ``Module.to(memory_format=...)`` would reject the 5-D
        # stacked conv weights of an ExpertBank
        with torch.no_grad():
            for t in [*model.parameters(), *model.buffers()]:
                if t.dim() == 4:
                    t.data = t.data.contiguous(memory_format=torch.channels_last)
    return model


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


class HostOutputs(torch.nn.Module):
    """Wraps a model on ``device``: inputs moved there, tensor outputs returned on the host (float32).

    For code written against CPU models that reads outputs with ``.numpy()`` (batched rollouts,
    validation). ``.train()``/``.eval()`` reach the wrapped model.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device, amp: str = "off") -> None:
        super().__init__()
        self.model = model
        self.device = device
        self.amp = amp

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["model"], name)

    def forward(self, inp: Any, *args: Any, **kwargs: Any) -> Any:
        with autocast(self.device, self.amp):
            out = self.model(inp.to(self.device), *args, **kwargs)
        fields = {}
        for f in dataclasses.fields(out):
            v = getattr(out, f.name)
            if isinstance(v, torch.Tensor):
                v = v.detach().float().cpu()
            elif isinstance(v, dict):
                v = {k: (t.detach().float().cpu() if isinstance(t, torch.Tensor) else t) for k, t in v.items()}
            fields[f.name] = v
        return type(out)(**fields)


def host_model(model: torch.nn.Module, device: torch.device, amp: str = "off") -> torch.nn.Module:
    """``model`` itself on CPU, else a :class:`HostOutputs` wrapper."""
    return model if device.type == "cpu" else HostOutputs(model, device, amp)
