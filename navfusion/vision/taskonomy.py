"""Adapter for the original Taskonomy encoders (Zamir et al. 2018) in the ``visualpriors`` layout.

Architecture: a ResNet-50 trunk (bottleneck blocks 3-4-6-3; layer1 and layer2 end with a stride-2
block whose shortcut is a 1x1 max-pool; layer3 and layer4 keep 16x16), then ``compress1``
(3x3 conv 2048 -> 8), ``compress_bn``, ReLU and a parameter-free GroupNorm(8, 8).
Input ``(N, 3, 256, 256)`` in ``[-1, 1]`` -> output ``(N, 8, 16, 16)``.

State-dict keys follow ``visualpriors``' ``TaskonomyEncoder`` (``conv1.weight``, ``bn1.*``,
``layer1.0.conv1.weight``, ``layer1.0.downsample.0.weight``, ..., ``compress1.weight``,
``compress_bn.*``). Weight files are read from disk only -- nothing is downloaded: a
``.safetensors`` file, or a PyTorch checkpoint (``{"state_dict": ...}`` or a bare state dict) read
with ``torch.load(weights_only=True)``, which never executes code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from navfusion.errors import NavFusionError
from navfusion.vision.encoders import NORMALIZATION
from navfusion.vision.zoo import load_into, load_state


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class TaskonomyEncoder(nn.Module):
    """``(N, 3, 256, 256)`` in ``[-1, 1]`` -> ``(N, 8, 16, 16)`` (``visualpriors`` state-dict layout)."""

    def __init__(self, normalize_outputs: bool = True) -> None:
        super().__init__()
        self.input_size = 256
        self.output_shape = (8, 16, 16)
        self.normalization = NORMALIZATION
        self.normalize_outputs = normalize_outputs
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 0, bias=False)  # padded explicitly in forward
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 0, ceil_mode=True)
        self._cin = 64
        self.layer1 = self._layer(64, 3, stride=2)
        self.layer2 = self._layer(128, 4, stride=2)
        self.layer3 = self._layer(256, 6)
        self.layer4 = self._layer(512, 3)
        self.compress1 = nn.Conv2d(2048, 8, 3, 1, 1, bias=False)
        self.compress_bn = nn.BatchNorm2d(8)
        self.groupnorm = nn.GroupNorm(8, 8, affine=False)

    def _layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        # The original puts the stride in the LAST block, whose shortcut is a strided 1x1 max-pool.
        first_ds = None
        if self._cin != planes * 4:
            first_ds = nn.Sequential(nn.Conv2d(self._cin, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4))
        layers = [_Bottleneck(self._cin, planes, 1, first_ds)]
        self._cin = planes * 4
        layers += [_Bottleneck(self._cin, planes) for _ in range(blocks - 2)]
        last_ds = nn.Sequential(nn.MaxPool2d(1, stride)) if stride != 1 else None
        layers.append(_Bottleneck(self._cin, planes, stride, last_ds))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(F.pad(x, (3, 3, 3, 3)))))
        x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = F.relu(self.compress_bn(self.compress1(x)))
        return self.groupnorm(x) if self.normalize_outputs else x


def read_taskonomy_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a Taskonomy weight file (safetensors or a ``torch.save`` checkpoint, no code run)."""
    path = Path(path)
    if not path.is_file():
        raise NavFusionError(f"Taskonomy weight file not found: {path} (navfusion never downloads weights; "
                             "put the visualpriors *_encoder-*.pth file there)")
    if path.suffix == ".safetensors":
        return load_state(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refused (code in the file) or not a checkpoint at all
        raise NavFusionError(f"Taskonomy weight file {path} could not be read safely: {type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}") from None
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise NavFusionError(f"Taskonomy weight file {path}: expected a state dict of tensors")
    # checkpoints saved from DataParallel prefix every key with "module."
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_taskonomy_encoder(path: str | os.PathLike, normalize_outputs: bool = True) -> TaskonomyEncoder:
    """A frozen :class:`TaskonomyEncoder` with the weights of a local file."""
    enc = TaskonomyEncoder(normalize_outputs=normalize_outputs)
    state = read_taskonomy_state(path)
    own = enc.state_dict()
    # older checkpoints lack BatchNorm's num_batches_tracked counters; they carry no information
    for k in own:
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = own[k]
    load_into(enc, state, where=str(path))
    enc.name = f"taskonomy:{Path(path).name}"
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc
