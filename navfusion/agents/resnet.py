"""A ResNet-18-shaped trunk with torchvision's parameter names, so a local torchvision-format
state dict (e.g. ``resnet18.pth`` copied onto the machine) can initialise it. Nothing is fetched."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from navfusion.errors import NavFusionError


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + idt)


class ResNetTrunk(nn.Module):
    """``(N, 3, H, W)`` → ``(N, 8·width)`` (global average pooled). ``width=64, blocks=[2,2,2,2]`` is
    torchvision's resnet18 without its ``fc``."""

    def __init__(self, width: int = 16, blocks: list[int] | tuple[int, ...] = (1, 1, 1, 1)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = width
        for i, n in enumerate(blocks):
            cout = width * 2**i
            layer = nn.Sequential(*[BasicBlock(cin if j == 0 else cout, cout, (1 if i == 0 else 2) if j == 0 else 1)
                                    for j in range(n)])
            setattr(self, f"layer{i + 1}", layer)
            cin = cout
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean((2, 3))

    def load_torchvision(self, path: str | os.PathLike) -> int:
        """Copy matching tensors from a torchvision-format state dict file; returns how many.

        The ``fc.*`` entries are ignored. A file whose stem does not match (wrong width) raises.
        """
        path = Path(path).expanduser()
        if not path.is_file():
            raise NavFusionError(f"resnet.init: file not found: {path}")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            try:
                sd = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # torch raises many types for a damaged or foreign file
                raise NavFusionError(f"resnet.init: cannot read {path} as a state dict: {e}") from None
        if isinstance(sd, dict) and "state_dict" in sd:
            sd = sd["state_dict"]
        own = self.state_dict()
        matched = {k: v for k, v in sd.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
        if "conv1.weight" not in matched:  # the stem decides: counters/scalars match any width
            raise NavFusionError(
                f"resnet.init: no tensor of {path} matches this trunk (width {self.conv1.out_channels}); "
                "a torchvision resnet18 file needs resnet.width=64 and resnet.blocks=[2, 2, 2, 2]"
            )
        own.update(matched)
        self.load_state_dict(own)
        return len(matched)
