"""The zoo's encoder family (a small ResNet) and the task decoder heads used to pretrain it.

An encoder maps normalised images ``(N, 3, S, S)`` (values in ``[-1, 1]``, see
:data:`NORMALIZATION`) to features ``(N, C, h, w)``; the last layer is a parameter-free
GroupNorm so every encoder's features have the same scale (as Taskonomy's encoders do).
Default (CPU): ``S = 64``, output ``8 x 8 x 8``; the paper's ``256 -> 8 x 16 x 16`` is
``EncoderArch(input_size=256, out_size=16, width=32, max_width=128, blocks=2)``.

Heads (only used while pretraining; they are not shipped):

* ``DenseHead``: ``(N, C, h, w) -> (N, K, H, W)`` -- conv + bilinear upsampling decoder.
* ``GlobalHead``: ``(N, C, h, w) -> (N, K)`` -- flatten + MLP (keeps where things are, which
  vanishing point / room layout / pose need and global pooling would throw away).
* ``ConvGlobalHead``: ``(N, C, h, w) -> (N, K)`` -- strided convs + small MLP (the relational tasks).
* ``PoolHead``: ``(N, C, h, w) -> (N, K)`` -- convs, then global mean and max pooling + a linear
  layer: "which things are in view", wherever they are (scene classification).
* ``CellPoolHead``: ``(N, C, h, w) -> (N, K)`` -- the same small MLP on every cell of the grid
  (1x1 convs), then a soft maximum over the cells: each cell must say by itself what it shows, so
  an image-level label teaches the encoder *where* things are (multiple-instance learning).
* Pair / triple tasks are siamese: one encoder is applied to every image and the features are
  concatenated along channels before the head (``n_inputs * C`` input channels).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from navfusion.config import check

#: How an encoder expects its input: ``(rgb / 255 - mean) / std`` per channel, i.e. ``[-1, 1]``.
NORMALIZATION: dict[str, list[float]] = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


OUT_NORMS: tuple[str, ...] = ("channel", "layer")


@dataclass(frozen=True)
class EncoderArch:
    """Architecture of one zoo encoder (a small ResNet with GroupNorm).

    Attributes:
        input_size: side S of the square input image (a power-of-two multiple of ``out_size``).
        out_channels: C, channels of the feature map.
        out_size: h = w, side of the feature map; ``input_size / out_size`` stride-2 stages.
        width: channels after the stem; doubled every stage up to ``max_width``.
        max_width: channel cap.
        blocks: residual blocks per stage (>= 1).
        out_norm: normalisation of the output features: ``channel`` (parameter-free GroupNorm with
            one group per channel, as Taskonomy's encoders end: each channel's mean and scale over
            the map are removed, so absolute levels -- how far the wall is -- survive only in
            spatial patterns) or ``layer`` (one group over all channels: only the map's overall
            mean and scale are removed).
    """

    input_size: int = 64
    out_channels: int = 8
    out_size: int = 8
    width: int = 16
    max_width: int = 64
    blocks: int = 1
    out_norm: str = "channel"

    def __post_init__(self) -> None:
        for f in ("input_size", "out_channels", "out_size", "width", "max_width", "blocks"):
            v = getattr(self, f)
            check(isinstance(v, (int, np.integer)) and v >= 1, f"arch.{f}", v, "a positive integer")
        check(self.out_norm in OUT_NORMS, "arch.out_norm", self.out_norm, f"one of {', '.join(OUT_NORMS)}")
        ratio = self.input_size / self.out_size
        check(ratio >= 2 and float(ratio).is_integer() and (int(ratio) & (int(ratio) - 1)) == 0,
              "arch.input_size/out_size", (self.input_size, self.out_size),
              "a power-of-two ratio >= 2 (e.g. 64/8 or 256/16)")

    @property
    def n_down(self) -> int:
        return int(round(math.log2(self.input_size // self.out_size)))

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return (self.out_channels, self.out_size, self.out_size)

    def to_json(self) -> dict:
        d = asdict(self)
        if d["out_norm"] == "channel":  # the original layout: zoos trained before the field existed keep their keys
            d.pop("out_norm")
        return d


def _gn(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, ch), ch)


class BasicBlock(nn.Module):
    """ResNet basic block with GroupNorm; ``stride`` 2 halves the resolution."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = _gn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = _gn(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _gn(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return F.relu(y + (x if self.skip is None else self.skip(x)))


class ZooEncoder(nn.Module):
    """``(N, 3, S, S)`` normalised images -> ``(N, C, h, w)`` features.

    Attributes (the encoder protocol every registered encoder follows):
        input_size: S.
        output_shape: ``(C, h, w)``.
        normalization: ``{"mean": [...], "std": [...]}`` applied to ``rgb / 255``.
    """

    def __init__(self, arch: EncoderArch = EncoderArch()) -> None:
        super().__init__()
        self.arch = arch
        self.input_size = arch.input_size
        self.output_shape = arch.output_shape
        self.normalization = NORMALIZATION
        w = arch.width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1, bias=False), _gn(w), nn.ReLU(inplace=True))
        stages: list[nn.Module] = []
        cin = w
        for i in range(arch.n_down):
            # the stem already downsampled once; later stages start with a stride-2 block
            cout = min(arch.max_width, w * 2 ** i)
            for b in range(arch.blocks):
                stride = 2 if (b == 0 and i > 0) else 1
                stages.append(BasicBlock(cin, cout, stride))
                cin = cout
        self.stages = nn.Sequential(*stages)
        self.compress = nn.Conv2d(cin, arch.out_channels, 3, 1, 1, bias=True)
        groups = arch.out_channels if arch.out_norm == "channel" else 1
        self.out_norm = nn.GroupNorm(groups, arch.out_channels, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_norm(self.compress(self.stages(self.stem(x))))


class DenseHead(nn.Module):
    """``(N, Cin, h, w) -> (N, out_channels, H, W)``: conv blocks with x2 bilinear upsampling."""

    def __init__(self, in_channels: int, in_size: int, out_channels: int, out_size: int, width: int = 32) -> None:
        super().__init__()
        self.out_size = out_size
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1), nn.ReLU(inplace=True)]
        size = in_size
        ch = width
        while size < out_size:
            nxt = max(16, ch // 2)
            layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                       nn.Conv2d(ch, nxt, 3, 1, 1), nn.ReLU(inplace=True)]
            ch, size = nxt, size * 2
        layers.append(nn.Conv2d(ch, out_channels, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.net(z)
        if y.shape[-1] != self.out_size:
            y = F.interpolate(y, size=(self.out_size, self.out_size), mode="bilinear", align_corners=False)
        return y


class GlobalHead(nn.Module):
    """``(N, C, h, w) -> (N, out_dim)``: flatten + 2-layer MLP."""

    def __init__(self, in_features: int, out_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, out_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ConvGlobalHead(nn.Module):
    """``(N, Cin, h, w) -> (N, out_dim)``: strided convs down to 2x2, then a small MLP.

    Far fewer weights than :class:`GlobalHead` and translation-equivariant up to the last layer,
    which keeps the relational (pair/triple) tasks from memorising their few thousand samples.
    """

    def __init__(self, in_channels: int, in_size: int, out_dim: int, width: int = 32, hidden: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1), nn.ReLU(inplace=True)]
        size = in_size
        while size > 2:
            layers += [nn.Conv2d(width, width, 3, 2, 1), nn.ReLU(inplace=True)]
            size = (size + 1) // 2
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * size * size, hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class PoolHead(nn.Module):
    """``(N, Cin, h, w) -> (N, out_dim)``: two 3x3 convs, global mean + max pooling, one linear layer.

    Invariant to where things are in the view and with few weights: for targets that depend on what
    is visible rather than where (room type), it generalises across scenes better than an MLP over
    positions.
    """

    def __init__(self, in_channels: int, out_dim: int, width: int = 32) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(2 * width, out_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.conv(z)
        return self.fc(torch.cat([y.mean((2, 3)), y.amax((2, 3))], 1))


class CellPoolHead(nn.Module):
    """``(N, Cin, h, w) -> (N, out_dim)``: per-cell logits from two 1x1 convs, pooled over the
    ``h * w`` cells by ``logsumexp - log(h * w)`` (between their mean and their maximum).

    No layer mixes cells, so an image-level target ("a chair is in view") can only be met by cells
    whose own features say "chair": the frozen features then carry where each thing is, which a
    policy reads, instead of a summary only this head decodes.
    """

    def __init__(self, in_channels: int, out_dim: int, width: int = 32) -> None:
        super().__init__()
        self.cell = nn.Sequential(nn.Conv2d(in_channels, width, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, out_dim, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.cell(z).flatten(2)
        return torch.logsumexp(y, 2) - math.log(y.shape[2])


class TaskNet(nn.Module):
    """Encoder + head for pretraining one task.

    ``forward(x)`` takes ``(N, n_inputs, 3, S, S)`` (siamese: the encoder sees each image, the head
    sees the channel-concatenated features) and returns ``(N, K, H, W)`` (dense) or ``(N, K)``.
    """

    def __init__(self, encoder: ZooEncoder, head: nn.Module, n_inputs: int = 1, cell_dim: int = 0) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.n_inputs = n_inputs
        # per-cell statistics of the label read linearly from the encoder output (``cell_targets``)
        self.cells = nn.Conv2d(encoder.output_shape[0], cell_dim, 1) if cell_dim else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_cells(x)[0]

    def forward_cells(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(head output, per-cell statistics (N, cell_dim, h, w) or None)`` of ``x`` (N, n_inputs, 3, S, S)."""
        n, m = x.shape[:2]
        z = self.encoder(x.flatten(0, 1))
        cells = self.cells(z) if self.cells is not None and m == 1 else None
        z = z.view(n, m * z.shape[1], *z.shape[2:])
        return self.head(z), cells


HEAD_KINDS: tuple[str, ...] = ("dense", "global", "conv_global", "pool", "cell_pool")


def make_head(arch: EncoderArch, kind: str, out_dim: int, out_size: int = 0, n_inputs: int = 1) -> nn.Module:
    """The decoder head for a task: ``kind`` ``"dense"`` (``out_dim`` channels at ``out_size``),
    ``"global"`` (flatten + MLP, ``out_dim`` outputs), ``"conv_global"`` (strided convs + MLP) or
    ``"pool"`` (convs + global mean/max pooling + linear) or ``"cell_pool"`` (per-cell logits,
    soft maximum over the cells)."""
    c, h, w = arch.output_shape
    if kind == "dense":
        return DenseHead(c * n_inputs, h, out_dim, out_size)
    if kind == "global":
        return GlobalHead(c * h * w * n_inputs, out_dim)
    if kind == "conv_global":
        return ConvGlobalHead(c * n_inputs, h, out_dim)
    if kind == "pool":
        return PoolHead(c * n_inputs, out_dim)
    if kind == "cell_pool":
        return CellPoolHead(c * n_inputs, out_dim)
    raise ValueError(f"head kind {kind!r}: must be one of {HEAD_KINDS}")


def preprocess(rgb: np.ndarray | torch.Tensor, input_size: int,
               normalization: dict[str, list[float]] = NORMALIZATION) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` images -> normalised float32 ``(N, 3, S, S)`` (area/bilinear resize)."""
    if isinstance(rgb, np.ndarray):
        # memory-mapped / read-only caches: torch wants a writable buffer
        t = torch.from_numpy(rgb.copy() if not rgb.flags.writeable else np.ascontiguousarray(rgb))
    else:
        t = rgb
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected uint8 images (N, H, W, 3), got shape {tuple(t.shape)}")
    x = t.permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-1] != input_size or x.shape[-2] != input_size:
        mode = "area" if x.shape[-1] > input_size else "bilinear"
        kw = {} if mode == "area" else {"align_corners": False}
        x = F.interpolate(x, size=(input_size, input_size), mode=mode, **kw)
    mean = torch.tensor(normalization["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(normalization["std"]).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def encode_rgb(encoder: nn.Module, rgb: np.ndarray, batch_size: int = 256,
               device: str | torch.device | None = None) -> np.ndarray:
    """Run a (frozen) encoder on uint8 ``(N, H, W, 3)`` images -> float32 ``(N, C, h, w)`` on the host.

    ``device`` (default: the CPU, in place): run there instead -- the encoder is moved to it and
    stays there; images go over batch by batch. On CUDA, TF32 is switched off for the convolutions
    so the features match the CPU's float32 ones to float rounding.
    """
    norm = getattr(encoder, "normalization", NORMALIZATION)
    dev = torch.device(device) if device is not None else None
    on_gpu = dev is not None and dev.type != "cpu"
    if on_gpu:
        encoder.to(dev)
    flags = torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False) \
        if on_gpu and dev.type == "cuda" else contextlib.nullcontext()
    outs = []
    with flags:
        for i in range(0, len(rgb), batch_size):
            x = preprocess(rgb[i:i + batch_size], int(encoder.input_size), norm)
            if on_gpu:
                x = x.to(dev, non_blocking=False)
            outs.append(encoder(x).float().cpu().numpy())
    if not outs:
        return np.zeros((0, *encoder.output_shape), np.float32)
    return np.concatenate(outs)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
