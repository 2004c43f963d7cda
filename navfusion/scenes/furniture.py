"""Furniture assembled from low-poly parts, with size and shape variety.

Each builder takes a ``numpy.random.Generator`` and returns a :class:`Furniture` in its local frame:
footprint centred on the origin, ``x`` in ``[-w/2, w/2]``, ``y`` in ``[-d/2, d/2]``, standing on
``z = 0``; the *back* faces ``+y`` (placed against a wall) and the front faces ``-y``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from navfusion.scenes.meshes import Mesh, cbox, cylinder, merge, transform


@dataclass
class Part:
    """A piece of a furniture item that becomes one scene instance.

    ``suffix`` is appended to the item's name (empty for the main part); ``surface`` selects the
    material palette (``navfusion.scenes.materials.SURFACE_TEXTURES``).
    """

    suffix: str
    category: str
    surface: str
    mesh: Mesh


@dataclass
class Furniture:
    """An item in its local frame: footprint ``w`` x ``d``, height ``h``; ``top`` is the height of a
    surface small things can stand on (None if there is none)."""

    kind: str
    category: str
    w: float
    d: float
    h: float
    parts: list[Part] = field(default_factory=list)
    top: float | None = None


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _legs(w: float, d: float, h: float, t: float, inset: float = 0.0, z0: float = 0.0) -> list[Mesh]:
    xs = (-w / 2 + inset + t / 2, w / 2 - inset - t / 2)
    ys = (-d / 2 + inset + t / 2, d / 2 - inset - t / 2)
    return [cbox(x, y, z0, t, t, h) for x in xs for y in ys]


# ----------------------------------------------------------------------------- targets

def chair(rng: np.random.Generator, style: str | None = None) -> Furniture:
    """Wooden four-legged chair, office swivel chair or upholstered armchair."""
    style = style or ("wood", "wood", "office", "armchair")[int(rng.integers(4))]
    if style == "office":
        w, d, sh = _u(rng, 0.48, 0.58), _u(rng, 0.48, 0.56), _u(rng, 0.44, 0.5)
        parts = [transform(cbox(0.14, 0, 0.03, 0.28, 0.05, 0.04), yaw=2 * math.pi * k / 5) for k in range(5)]
        parts += [cylinder(0, 0, 0.05, 0.03, sh - 0.12, 6), cbox(0, 0, sh - 0.08, w - 0.04, d - 0.06, 0.08),
                  cbox(0, d / 2 - 0.05, sh + 0.05, w - 0.08, 0.06, _u(rng, 0.4, 0.55)),
                  cbox(0, d / 2 - 0.08, sh - 0.05, 0.05, 0.04, 0.12)]
        if rng.random() < 0.5:
            parts += [cbox(s * (w / 2 - 0.03), 0, sh + 0.15, 0.05, d * 0.6, 0.04) for s in (-1, 1)]
            parts += [cbox(s * (w / 2 - 0.03), 0, sh, 0.03, 0.04, 0.15) for s in (-1, 1)]
        h = sh + 0.55
    elif style == "armchair":
        w, d, sh = _u(rng, 0.7, 0.9), _u(rng, 0.7, 0.85), _u(rng, 0.38, 0.45)
        arm_h, back_h, arm_w = _u(rng, 0.55, 0.68), _u(rng, 0.75, 0.95), _u(rng, 0.1, 0.18)
        parts = _legs(w, d, 0.1, 0.05, 0.04)
        parts += [cbox(0, 0, 0.1, w, d, sh - 0.1 - 0.1), cbox(0, -0.02, sh - 0.1, w - 2 * arm_w, d - 0.18, 0.12),
                  cbox(0, d / 2 - 0.09, 0.1, w, 0.18, back_h - 0.1)]
        parts += [cbox(s * (w / 2 - arm_w / 2), -0.05, 0.1, arm_w, d - 0.1, arm_h - 0.1) for s in (-1, 1)]
        h = back_h
    else:
        w, d, sh = _u(rng, 0.4, 0.5), _u(rng, 0.4, 0.5), _u(rng, 0.42, 0.48)
        t = _u(rng, 0.03, 0.045)
        bh = _u(rng, 0.35, 0.5)
        parts = _legs(w, d, sh - 0.04, t)
        parts.append(cbox(0, 0, sh - 0.04, w, d, 0.04))
        parts += [cbox(s * (w / 2 - t / 2), d / 2 - t / 2, sh, t, t, bh) for s in (-1, 1)]
        n_slats = int(rng.integers(1, 4))
        for k in range(n_slats):
            z = sh + bh - 0.06 - k * (bh - 0.1) / max(n_slats, 1)
            parts.append(cbox(0, d / 2 - t / 2, z, w - 2 * t, 0.02, 0.06 if n_slats > 1 else bh * 0.5))
        if rng.random() < 0.5:  # stretchers
            parts += [cbox(s * (w / 2 - t / 2), 0, 0.12, t * 0.7, d - 2 * t, 0.03) for s in (-1, 1)]
        h = sh + bh
    return Furniture("chair", "chair", w, d, h, [Part("", "chair", "chair", merge(parts))])


def table(rng: np.random.Generator, style: str | None = None) -> Furniture:
    """Dining table (rectangular or round) or low coffee table."""
    style = style or ("dining", "dining", "round", "coffee")[int(rng.integers(4))]
    t = _u(rng, 0.03, 0.05)
    if style == "round":
        r = _u(rng, 0.45, 0.65)
        h = _u(rng, 0.72, 0.77)
        parts = [cylinder(0, 0, h - t, r, t, 12), cylinder(0, 0, 0.04, 0.05, h - t - 0.04, 6),
                 cylinder(0, 0, 0, r * 0.5, 0.04, 8)]
        w = d = 2 * r
    else:
        if style == "coffee":
            w, d, h = _u(rng, 0.8, 1.3), _u(rng, 0.5, 0.75), _u(rng, 0.38, 0.48)
        else:
            w, d, h = _u(rng, 1.0, 1.8), _u(rng, 0.75, 1.0), _u(rng, 0.72, 0.78)
        leg = _u(rng, 0.04, 0.08)
        parts = [cbox(0, 0, h - t, w, d, t)] + _legs(w, d, h - t, leg, _u(rng, 0.0, 0.06))
        if rng.random() < 0.6:  # apron
            parts += [cbox(0, s * (d / 2 - 0.08), h - t - 0.08, w - 0.2, 0.02, 0.08) for s in (-1, 1)]
            parts += [cbox(s * (w / 2 - 0.08), 0, h - t - 0.08, 0.02, d - 0.2, 0.08) for s in (-1, 1)]
        if style == "coffee" and rng.random() < 0.5:  # lower shelf
            parts.append(cbox(0, 0, 0.1, w - 0.1, d - 0.1, 0.02))
    return Furniture("table_" + style, "table", w, d, h, [Part("", "table", "table", merge(parts))], top=h)


def bed(rng: np.random.Generator) -> Furniture:
    """Single or double bed: a frame with headboard (wood/paint) and bedding (fabric) as a second part."""
    w = _u(rng, 0.9, 1.0) if rng.random() < 0.35 else _u(rng, 1.4, 1.8)
    d = _u(rng, 2.0, 2.15)
    base_h = _u(rng, 0.2, 0.35)
    head_h = _u(rng, 0.8, 1.2)
    frame = [cbox(0, 0, 0.08, w, d, base_h - 0.08), cbox(0, d / 2 - 0.04, 0, w + 0.04, 0.08, head_h)]
    frame += _legs(w, d - 0.1, 0.08, 0.06)
    if rng.random() < 0.4:
        frame.append(cbox(0, -d / 2 + 0.03, 0, w + 0.04, 0.06, base_h + 0.25))
    mh = _u(rng, 0.16, 0.25)
    top = base_h + mh
    bedding = [cbox(0, 0.0, base_h, w - 0.04, d - 0.12, mh),
               cbox(0, -0.2, top, w + 0.02, d * 0.62, 0.05)]
    n_p = 1 if w < 1.2 else 2
    pw = (w - 0.2) / n_p
    bedding += [cbox(-w / 2 + 0.1 + pw * (k + 0.5), d / 2 - 0.3, top, pw - 0.06, 0.35, 0.12) for k in range(n_p)]
    return Furniture("bed", "bed", w + 0.04, d, head_h,
                     [Part("", "bed", "bed", merge(frame)), Part("bedding", "bed", "bedding", merge(bedding))])


def door_leaf_and_frame(rng: np.random.Generator, opening: float, wall_t: float, height: float,
                        leaf: bool) -> Mesh:
    """A door frame around an opening of clear width ``opening`` in a wall of thickness ``wall_t``
    (local frame: opening centred at the origin along ``x``, wall along ``x``), plus an optional
    leaf opened 90 degrees into ``-y``."""
    jt, depth = 0.05, wall_t + 0.04
    parts = [cbox(s * (opening / 2 + jt / 2), 0, 0, jt, depth, height + jt) for s in (-1, 1)]
    parts.append(cbox(0, 0, height, opening + 2 * jt, depth, jt))
    if leaf:
        lt = 0.04
        hinge = -1 if rng.random() < 0.5 else 1
        x = hinge * (opening / 2 - lt / 2)
        y = -(wall_t / 2 + (opening - 0.05) / 2)
        parts.append(cbox(x, y, 0.01, lt, opening - 0.05, height - 0.02))
        parts.append(cbox(x - hinge * 0.035, y - (opening - 0.05) / 2 + 0.08, 0.95, 0.03, 0.1, 0.03))
    return merge(parts)


# ----------------------------------------------------------------------------- distractors

def sofa(rng: np.random.Generator) -> Furniture:
    w, d = _u(rng, 1.5, 2.3), _u(rng, 0.8, 0.95)
    sh, bh, arm_w, arm_h = _u(rng, 0.4, 0.46), _u(rng, 0.75, 0.9), _u(rng, 0.12, 0.22), _u(rng, 0.55, 0.65)
    parts = _legs(w, d, 0.08, 0.05, 0.05)
    parts += [cbox(0, 0, 0.08, w, d, sh - 0.08 - 0.12), cbox(0, d / 2 - 0.1, 0.08, w, 0.2, bh - 0.08)]
    parts += [cbox(s * (w / 2 - arm_w / 2), -0.02, 0.08, arm_w, d - 0.04, arm_h - 0.08) for s in (-1, 1)]
    n = int(rng.integers(2, 4))
    cw = (w - 2 * arm_w) / n
    parts += [cbox(-w / 2 + arm_w + cw * (k + 0.5), -0.08, sh - 0.12, cw - 0.02, d - 0.3, 0.12) for k in range(n)]
    parts += [cbox(-w / 2 + arm_w + cw * (k + 0.5), d / 2 - 0.26, sh, cw - 0.06, 0.14, 0.32) for k in range(n)]
    return Furniture("sofa", "sofa", w, d, bh, [Part("", "sofa", "sofa", merge(parts))])


def cabinet(rng: np.random.Generator, style: str | None = None) -> Furniture:
    """Wardrobe, nightstand or sideboard (doors/drawers with handles)."""
    style = style or ("wardrobe", "nightstand", "sideboard")[int(rng.integers(3))]
    if style == "wardrobe":
        w, d, h = _u(rng, 0.8, 1.5), _u(rng, 0.55, 0.62), _u(rng, 1.8, 2.1)
        n = 2 if w < 1.1 else 3
    elif style == "nightstand":
        w, d, h = _u(rng, 0.4, 0.55), _u(rng, 0.35, 0.45), _u(rng, 0.5, 0.62)
        n = 1
    else:
        w, d, h = _u(rng, 1.0, 1.8), _u(rng, 0.4, 0.5), _u(rng, 0.5, 0.8)
        n = int(round(w / 0.5))
    plinth = 0.08
    parts = [cbox(0, 0, 0, w - 0.04, d - 0.04, plinth), cbox(0, 0.01, plinth, w, d - 0.02, h - plinth)]
    fw = w / n
    if style == "nightstand":
        rows = int(rng.integers(2, 4))
        fh = (h - plinth) / rows
        for r in range(rows):
            z = plinth + r * fh
            parts += [cbox(0, -d / 2 + 0.005, z + 0.01, w - 0.03, 0.02, fh - 0.02),
                      cbox(0, -d / 2 - 0.015, z + fh / 2, 0.1, 0.02, 0.02)]
    else:
        for k in range(n):
            x = -w / 2 + fw * (k + 0.5)
            parts += [cbox(x, -d / 2 + 0.005, plinth + 0.01, fw - 0.02, 0.02, h - plinth - 0.02),
                      cbox(x + (0.3 if k % 2 == 0 else -0.3) * fw, -d / 2 - 0.015, plinth + (h - plinth) * 0.55,
                           0.02, 0.02, 0.14)]
    return Furniture("cabinet_" + style, "cabinet", w, d, h, [Part("", "cabinet", "cabinet", merge(parts))], top=h)


def shelf(rng: np.random.Generator) -> Furniture:
    """Bookshelf with boards and books (the books are a separate ``misc`` instance)."""
    w, d, h = _u(rng, 0.7, 1.2), _u(rng, 0.28, 0.38), _u(rng, 1.2, 2.0)
    t = 0.025
    n_boards = int(rng.integers(3, 6))
    parts = [cbox(s * (w / 2 - t / 2), 0, 0, t, d, h) for s in (-1, 1)]
    parts.append(cbox(0, d / 2 - 0.01, 0, w, 0.02, h))
    zs = np.linspace(0.05, h - t, n_boards + 1)
    parts += [cbox(0, 0, float(z), w - 2 * t, d, t) for z in zs]
    books = []
    gap = float(zs[1] - zs[0]) - t
    for z in zs[:-1]:
        x = -w / 2 + t + _u(rng, 0.0, 0.2)
        while x < w / 2 - t - 0.05 and rng.random() > 0.08:
            bw = _u(rng, 0.025, 0.06)
            bh = min(gap - 0.03, _u(rng, 0.16, 0.3))
            if bh > 0.05:
                books.append(cbox(x + bw / 2, 0, float(z) + t, bw, d * _u(rng, 0.6, 0.85), bh))
            x += bw + (0.0 if rng.random() < 0.8 else _u(rng, 0.05, 0.2))
    out = [Part("", "shelf", "shelf", merge(parts))]
    if books:
        out.append(Part("books", "misc", "misc", merge(books)))
    return Furniture("shelf", "shelf", w, d, h, out)


def plant(rng: np.random.Generator) -> Furniture:
    """Potted plant: pot (separate part) and a few cone-shaped leaf clusters."""
    r = _u(rng, 0.12, 0.25)
    ph = _u(rng, 0.25, 0.45)
    pot = cylinder(0, 0, 0, r * 0.75, ph, 8, radius_top=r)
    h = _u(rng, 0.6, 1.6)
    leaves = []
    for _ in range(int(rng.integers(2, 4))):
        lr = r * _u(rng, 1.0, 1.7)
        dx, dy = rng.uniform(-r * 0.3, r * 0.3, 2)
        z0 = ph + _u(rng, 0.0, (h - ph) * 0.3)
        leaves.append(cylinder(float(dx), float(dy), z0, lr, h - z0, 7, radius_top=lr * _u(rng, 0.05, 0.4)))
    size = 4 * r  # leaf clusters reach 1.7 r + 0.3 r from the centre
    return Furniture("plant", "plant", size, size, h,
                     [Part("", "plant", "foliage", merge(leaves)), Part("pot", "plant", "pot", pot)])


def tv(rng: np.random.Generator, on_stand: bool = True) -> Furniture:
    """Flat screen with a foot (standing on furniture) or a thin wall-mounted panel."""
    w = _u(rng, 0.8, 1.4)
    sh = w * 0.58
    if on_stand:
        parts = [cbox(0, 0, 0, w * 0.35, 0.2, 0.02), cbox(0, 0.02, 0.02, 0.06, 0.04, 0.08),
                 cbox(0, 0.02, 0.08, w, 0.05, sh)]
        return Furniture("tv", "tv", w, 0.22, sh + 0.08, [Part("", "tv", "tv", merge(parts))])
    return Furniture("tv_wall", "tv", w, 0.06, sh, [Part("", "tv", "tv", cbox(0, 0, 0, w, 0.05, sh))])


def toilet(rng: np.random.Generator) -> Furniture:
    w, d = _u(rng, 0.42, 0.46), _u(rng, 0.62, 0.72)
    parts = [cylinder(0, -0.08, 0, 0.14, 0.3, 8, radius_top=0.19),
             cylinder(0, -0.08, 0.3, 0.2, 0.1, 8),
             cbox(0, -0.08, 0.4, 0.38, 0.42, 0.02),
             cbox(0, d / 2 - 0.1, 0.4, w, 0.2, _u(rng, 0.35, 0.45)),
             cbox(0, d / 2 - 0.12, 0.3, 0.2, 0.16, 0.1)]
    return Furniture("toilet", "toilet", w, d, 0.85, [Part("", "toilet", "ceramic", merge(parts))])


def sink(rng: np.random.Generator, style: str | None = None) -> Furniture:
    """Bathroom pedestal/vanity sink, or a kitchen basin that sits on a counter top."""
    style = style or ("pedestal", "vanity")[int(rng.integers(2))]
    if style == "counter":
        w, d = _u(rng, 0.5, 0.8), 0.45
        parts = [cbox(0, 0, 0, w, d, 0.02), cbox(-w / 2 + 0.04, 0, 0.02, 0.02, d - 0.04, 0.02),
                 cbox(w / 2 - 0.04, 0, 0.02, 0.02, d - 0.04, 0.02),
                 cylinder(0, d / 2 - 0.06, 0.02, 0.02, 0.3, 6), cbox(0, d / 2 - 0.14, 0.28, 0.03, 0.18, 0.03)]
        return Furniture("sink_counter", "sink", w, d, 0.32, [Part("", "sink", "ceramic", merge(parts))])
    w, d = _u(rng, 0.5, 0.7), _u(rng, 0.42, 0.5)
    if style == "vanity":
        base = [cbox(0, 0, 0, w, d, 0.78), cbox(0, -d / 2 - 0.01, 0.1, w - 0.04, 0.02, 0.6)]
    else:
        base = [cylinder(0, 0.05, 0, 0.09, 0.7, 8, radius_top=0.07)]
    parts = base + [cbox(0, 0, 0.78, w, d, 0.08), cbox(0, -0.02, 0.86, w - 0.12, d - 0.14, 0.02),
                    cylinder(0, d / 2 - 0.05, 0.86, 0.02, 0.2, 6), cbox(0, d / 2 - 0.12, 1.02, 0.03, 0.14, 0.03)]
    return Furniture("sink_" + style, "sink", w, d, 1.06, [Part("", "sink", "ceramic", merge(parts))])


def lamp(rng: np.random.Generator, floor: bool = True) -> Furniture:
    """Floor lamp (base, pole, shade) or a small table lamp."""
    k = 1.0 if floor else _u(rng, 0.25, 0.35)
    pole = _u(rng, 1.3, 1.7) * k
    sr = _u(rng, 0.15, 0.25) * (1.0 if floor else 0.7)
    parts = [cylinder(0, 0, 0, 0.13 * (1 if floor else 0.7), 0.03, 8), cylinder(0, 0, 0.03, 0.015, pole, 6),
             cylinder(0, 0, 0.03 + pole - 0.1, sr, _u(rng, 0.2, 0.32) * (1 if floor else 0.7), 8,
                      radius_top=sr * 0.65)]
    size = 2 * sr
    return Furniture("lamp", "lamp", size, size, pole + 0.25, [Part("", "lamp", "lamp", merge(parts))])


def counter(rng: np.random.Generator, length: float) -> Furniture:
    """Kitchen counter of a given length: base units with door fronts and handles, a top, wall units."""
    w, d, h = length, _u(rng, 0.58, 0.65), _u(rng, 0.88, 0.93)
    n = max(1, int(round(w / 0.6)))
    fw = w / n
    parts = [cbox(0, 0.03, 0, w - 0.06, d - 0.08, 0.1), cbox(0, 0.02, 0.1, w, d - 0.04, h - 0.14),
             cbox(0, -0.01, h - 0.04, w + 0.02, d + 0.02, 0.04)]
    for k in range(n):
        x = -w / 2 + fw * (k + 0.5)
        parts += [cbox(x, -d / 2 + 0.02, 0.12, fw - 0.02, 0.02, h - 0.2),
                  cbox(x, -d / 2 - 0.0, h - 0.16, fw * 0.4, 0.02, 0.02)]
    if rng.random() < 0.7:  # wall units
        parts.append(cbox(0, d / 2 - 0.18, h + 0.55, w, 0.35, _u(rng, 0.55, 0.75)))
        parts += [cbox(-w / 2 + fw * (k + 0.5), d / 2 - 0.36, h + 0.58, fw - 0.02, 0.02, 0.5) for k in range(n)]
    return Furniture("counter", "counter", w, d, h, [Part("", "counter", "counter", merge(parts))], top=h)


def desk(rng: np.random.Generator) -> Furniture:
    """Writing desk (legs or side panels, optional drawer unit) with a monitor or books (misc)."""
    w, d, h = _u(rng, 1.0, 1.6), _u(rng, 0.55, 0.75), _u(rng, 0.72, 0.76)
    parts = [cbox(0, 0, h - 0.03, w, d, 0.03)]
    if rng.random() < 0.5:
        parts += [cbox(s * (w / 2 - 0.02), 0, 0, 0.04, d - 0.02, h - 0.03) for s in (-1, 1)]
        parts.append(cbox(0, d / 2 - 0.05, 0.3, w - 0.08, 0.02, h - 0.35))
    else:
        parts += _legs(w, d, h - 0.03, 0.04)
    if rng.random() < 0.6:
        dw = 0.4
        x = w / 2 - dw / 2 - 0.05
        parts.append(cbox(x, 0, 0.05, dw, d - 0.08, h - 0.1))
        parts += [cbox(x, -d / 2 + 0.035, 0.08 + k * 0.2, dw - 0.04, 0.02, 0.17) for k in range(3)]
    out = [Part("", "desk", "desk", merge(parts))]
    if rng.random() < 0.7:
        mw = _u(rng, 0.45, 0.65)
        mon = [cbox(0, 0.1, h, 0.22, 0.16, 0.02), cbox(0, 0.12, h + 0.02, 0.04, 0.03, 0.12),
               cbox(0, 0.1, h + 0.12, mw, 0.03, mw * 0.58), cbox(0, -0.12, h, 0.42, 0.14, 0.02)]
        out.append(Part("monitor", "misc", "misc", merge(mon)))
    return Furniture("desk", "desk", w, d, h, out, top=h)


def rug(rng: np.random.Generator, room_w: float, room_d: float) -> Furniture:
    w = min(_u(rng, 1.2, 2.6), room_w * 0.7)
    d = min(_u(rng, 0.8, 1.9), room_d * 0.7)
    return Furniture("rug", "rug", w, d, 0.012, [Part("", "rug", "rug", cbox(0, 0, 0, w, d, 0.012))])


def tabletop_items(rng: np.random.Generator, w: float, d: float, z: float, n: int) -> Mesh | None:
    """A few small things (cups, bowls, boxes, vases) on a surface ``w`` x ``d`` at height ``z``."""
    items = []
    for _ in range(n):
        x, y = _u(rng, -w / 2 + 0.1, w / 2 - 0.1), _u(rng, -d / 2 + 0.1, d / 2 - 0.1)
        kind = int(rng.integers(3))
        if kind == 0:
            items.append(cylinder(x, y, z, _u(rng, 0.03, 0.06), _u(rng, 0.06, 0.12), 6))
        elif kind == 1:
            items.append(cylinder(x, y, z, _u(rng, 0.05, 0.08), _u(rng, 0.15, 0.3), 6, radius_top=_u(rng, 0.02, 0.05)))
        else:
            items.append(cbox(x, y, z, _u(rng, 0.1, 0.25), _u(rng, 0.08, 0.2), _u(rng, 0.03, 0.08)))
    return merge(items) if items else None


BUILDERS: dict[str, Callable[..., Furniture]] = {
    "chair": chair, "table": table, "bed": bed, "sofa": sofa, "cabinet": cabinet, "shelf": shelf,
    "plant": plant, "tv": tv, "toilet": toilet, "sink": sink, "lamp": lamp, "desk": desk,
}
