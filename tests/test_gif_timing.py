"""GIFs play at their stated frame rate (imageio >= 2.28 reads ``duration`` in milliseconds)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from navfusion.viz.animation import write_gif


def test_write_gif_frame_duration_in_milliseconds(tmp_path):
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 120, 240)]
    p = write_gif(frames, tmp_path / "a.gif", fps=4.0)
    with Image.open(p) as im:
        assert im.n_frames == 3
        assert im.info["duration"] == 250
