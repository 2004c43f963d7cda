"""Procedural material palettes.

Palettes are shared between categories on purpose (chairs, tables, doors and cabinets all draw from
the same woods and paints; chairs, sofas and beds from the same fabrics) so colour alone does not
give an object's category away.
"""

from __future__ import annotations

import numpy as np

from navfusion.scenes.scene import Material

RGB = tuple[float, float, float]

PALETTES: dict[str, list[RGB]] = {
    "wood": [(0.72, 0.55, 0.36), (0.40, 0.26, 0.15), (0.55, 0.28, 0.18), (0.80, 0.66, 0.45),
             (0.78, 0.72, 0.62), (0.27, 0.18, 0.12), (0.62, 0.45, 0.30)],
    "paint": [(0.92, 0.92, 0.90), (0.60, 0.60, 0.60), (0.14, 0.14, 0.15), (0.60, 0.68, 0.55),
              (0.20, 0.26, 0.42), (0.72, 0.40, 0.30), (0.80, 0.62, 0.25), (0.55, 0.70, 0.82),
              (0.85, 0.80, 0.70)],
    "fabric": [(0.55, 0.55, 0.57), (0.78, 0.70, 0.58), (0.20, 0.26, 0.42), (0.30, 0.45, 0.30),
               (0.60, 0.18, 0.18), (0.80, 0.62, 0.25), (0.20, 0.50, 0.50), (0.25, 0.25, 0.27),
               (0.90, 0.86, 0.78), (0.72, 0.40, 0.30)],
    "metal": [(0.70, 0.72, 0.75), (0.14, 0.14, 0.15), (0.75, 0.60, 0.30), (0.92, 0.92, 0.90)],
    "stone": [(0.92, 0.91, 0.88), (0.22, 0.22, 0.24), (0.80, 0.74, 0.64), (0.60, 0.60, 0.60)],
    "wallpaint": [(0.93, 0.92, 0.88), (0.88, 0.86, 0.80), (0.80, 0.84, 0.86), (0.86, 0.80, 0.72),
                  (0.74, 0.80, 0.70), (0.90, 0.78, 0.70), (0.70, 0.72, 0.78), (0.60, 0.68, 0.55)],
    "plantgreen": [(0.22, 0.45, 0.20), (0.30, 0.55, 0.25), (0.16, 0.35, 0.18), (0.40, 0.55, 0.30)],
}

# texture kind -> (palette, pattern scale range in metres, factor giving color2 from color)
_TEXTURES: dict[str, tuple[str, tuple[float, float], float]] = {
    "wood": ("wood", (0.25, 0.6), 0.72),
    "tiles": ("stone", (0.2, 0.6), 0.8),
    "fabric": ("fabric", (0.02, 0.06), 0.8),
    "wall": ("wallpaint", (0.4, 1.2), 0.92),
    "marble": ("stone", (0.3, 0.9), 0.7),
    "metal": ("metal", (0.05, 0.2), 0.85),
    "carpet": ("fabric", (0.03, 0.08), 0.75),
    "plain": ("paint", (0.25, 0.25), 0.9),
}

#: Which textures each kind of surface may get (first entries are not more likely).
SURFACE_TEXTURES: dict[str, tuple[str, ...]] = {
    "chair": ("wood", "fabric", "metal", "plain"),
    "table": ("wood", "marble", "plain", "metal", "wood"),
    "bed": ("wood", "plain", "fabric"),
    "bedding": ("fabric", "plain", "fabric"),
    "door": ("wood", "plain", "wood"),
    "sofa": ("fabric", "plain", "fabric"),
    "cabinet": ("wood", "plain", "metal", "wood"),
    "shelf": ("wood", "plain", "metal"),
    "pot": ("plain", "marble", "tiles"),
    "foliage": ("foliage",),
    "tv": ("screen",),
    "ceramic": ("ceramic",),
    "lamp": ("metal", "plain", "fabric"),
    "counter": ("marble", "wood", "tiles", "plain"),
    "desk": ("wood", "plain", "metal"),
    "rug": ("carpet", "fabric"),
    "misc": ("plain", "fabric", "metal", "wood"),
    "wall": ("wall", "wall", "plain"),
    "wet_wall": ("tiles", "wall"),
    "floor": ("wood", "tiles", "carpet", "marble", "wood"),
    "wet_floor": ("tiles", "marble"),
    "ceiling": ("ceiling",),
    "trim": ("plain", "wood"),
    "glass": ("glass",),
    "radiator": ("plain", "metal"),
    "curtain": ("fabric", "fabric", "plain"),
}


def _jitter(rng: np.random.Generator, c: RGB, amount: float = 0.08) -> RGB:
    return tuple(float(np.clip(v * rng.uniform(1 - amount, 1 + amount), 0.0, 1.0)) for v in c)


def make_material(rng: np.random.Generator, name: str, surface: str) -> Material:
    """A random material for ``surface`` (a key of ``SURFACE_TEXTURES``)."""
    kind = SURFACE_TEXTURES[surface][int(rng.integers(len(SURFACE_TEXTURES[surface])))]
    if kind == "foliage":
        c = _jitter(rng, PALETTES["plantgreen"][int(rng.integers(4))])
        return Material(name, "fabric", c, _jitter(rng, tuple(v * 0.7 for v in c)), float(rng.uniform(0.03, 0.08)))
    if kind == "screen":
        g = float(rng.uniform(0.03, 0.1))
        return Material(name, "plain", (g, g, g + 0.02), (g, g, g), 0.25)
    if kind == "ceramic":
        w = float(rng.uniform(0.85, 0.97))
        return Material(name, "plain", (w, w, w), (w * 0.9,) * 3, 0.25)
    if kind == "ceiling":
        w = float(rng.uniform(0.88, 0.97))
        return Material(name, "wall", (w, w, w * 0.98), (w * 0.95,) * 3, float(rng.uniform(0.6, 1.2)))
    if kind == "glass":
        return Material(name, "plain", (0.70, 0.82, 0.92), (0.6, 0.72, 0.85), 0.25)
    palette, (s0, s1), k2 = _TEXTURES[kind]
    pal = PALETTES[palette]
    c = _jitter(rng, pal[int(rng.integers(len(pal)))])
    if kind == "tiles" and rng.random() < 0.5:
        c2 = _jitter(rng, (0.85, 0.85, 0.82))  # light grout
    else:
        c2 = tuple(float(v * k2) for v in c)
    return Material(name, kind, c, c2, float(rng.uniform(s0, s1)))
