"""A user-defined encoder that plugs into navfusion as one more expert.

Run it (it renders the tiny suite's first training scene once, then caches everything):

    python examples/my_encoder.py

What it shows:
1. An encoder is any ``torch.nn.Module`` mapping normalised images (N, 3, S, S) in [-1, 1] to
   features (N, C, h, w), with the attributes ``input_size`` and ``output_shape``.
2. ``register_encoder`` makes it creatable by name next to the zoo's 25 encoders.
3. The FeatureStore builds and caches its features for every node x view of a scene, exactly as
   for the zoo encoders, and the environment's feature mode serves them:
   ``gym.make(ID, obs_mode="features", zoo="nf5", encoders=["normal", "color_grid"])``.
4. To use it in another process (``navfusion features build``, ``navfusion train``), publish it
   through the entry-point group ``navfusion.encoders`` of your package::

       # pyproject.toml of your package
       [project.entry-points."navfusion.encoders"]
       color_grid = "my_package.encoders:ColorGrid"

   and name it in an agent recipe like any zoo task: ``encoders: [normal, depth_zbuffer, color_grid]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class ColorGrid(torch.nn.Module):
    """Hand-made features: per cell of an 8x8 grid, mean RGB, RGB spread and gradient energy.

    (N, 3, 64, 64) in [-1, 1] -> (N, 8, 8, 8). No weights to train.
    """

    input_size = 64
    output_shape = (8, 8, 8)

    def __init__(self, grid: int = 8) -> None:
        super().__init__()
        self.grid = grid
        self.output_shape = (8, grid, grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = F.adaptive_avg_pool2d(x, self.grid)  # 3 channels
        spread = F.adaptive_avg_pool2d(x.pow(2), self.grid).sub(mean.pow(2)).clamp_min(0).sqrt()  # 3
        gray = x.mean(1, keepdim=True)
        gx = (gray[..., :, 1:] - gray[..., :, :-1]).abs()
        gy = (gray[..., 1:, :] - gray[..., :-1, :]).abs()
        energy = torch.cat([F.adaptive_avg_pool2d(gx, self.grid), F.adaptive_avg_pool2d(gy, self.grid)], 1)  # 2
        return torch.cat([mean, spread, energy], 1)


def main() -> None:
    from navfusion.nav import load_world
    from navfusion.vision.features import FeatureStore
    from navfusion.vision.registry import create_encoder, list_encoders, register_encoder

    register_encoder("color_grid", ColorGrid)
    print("registered:", list_encoders("color*"))
    enc = create_encoder("color_grid")
    print("output shape:", enc.output_shape)

    world = load_world("tiny/train/0", resolution=enc.input_size)
    store = FeatureStore("nf5")
    stats = store.build_scene("tiny__train__0", world.views.rgb, ["color_grid"])
    feats = store.load("tiny__train__0", ["color_grid"])
    print(f"features {feats.shape} {feats.dtype} in {store.scene_dir('tiny__train__0')} "
          f"(computed: {stats.computed}, reused: {stats.reused})")


if __name__ == "__main__":
    main()
