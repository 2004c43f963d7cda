"""Which device a computation runs on, and the generic GPU helpers: bf16 autocast, channels_last,
models whose outputs come back to the host.

Nothing here is used on the default (CPU) path; every helper is the identity there. A base-level
module: vision (feature builds), training and the scale-out package all resolve devices here.

- :func:`resolve_device` turns ``"cpu"`` / ``"cuda"`` / ``"cuda:N"`` / ``"auto"`` into a device.
- :func:`autocast` is bf16 mixed precision on CUDA (weights and optimiser stay float32).
- :func:`prepare_model` moves a model to the device, channels_last on CUDA (convolutions in
  NHWC use the tensor cores without transposes).
- :class:`HostOutputs` runs a device model for code that reads outputs as numpy (batched
  rollouts, validation): inputs go to the device, outputs come back to the host as float32.

Training data served on the device (``on_device``) is :mod:`navfusion.parallel.device_data`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch

from navfusion.config import check
from navfusion.errors import ConfigError, NavFusionError

AMP_MODES = ("off", "bf16")


def resolve_device(device: str | torch.device | None = "cpu", local_rank: int = 0) -> torch.device:
    """``"cpu"``, ``"cuda"`` (this rank's GPU: ``cuda:<local_rank>``), ``"cuda:N"`` or ``"auto"``
    (CUDA when available). Asking for CUDA where there is none is a one-line error."""
    d = "cpu" if device is None else str(device)
    if d == "auto":
        d = "cuda" if torch.cuda.is_available() else "cpu"
    if d.startswith("cuda"):
        if not torch.cuda.is_available():
            raise NavFusionError(f"device {d!r} asked for, but torch {torch.__version__} sees no CUDA GPU "
                                 "(use --device cpu)")
        if d == "cuda":
            d = f"cuda:{local_rank % max(torch.cuda.device_count(), 1)}"
    elif d != "cpu" and d != "mps":
        raise ConfigError(f"device: got {d!r}, expected 'cpu', 'cuda', 'cuda:N' or 'auto'")
    return torch.device(d)


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
