"""Rendering: images of one class from their uniforms. The class's recipe lays out a scene, which is rasterised,
shaded (gradient, stripes, marks, rim), grained with pixel noise and rounded to uint8."""

from __future__ import annotations

from typing import Callable

import numpy as np

from fmnist.data.synthetic.footwear import _boot, _sandal, _sneaker
from fmnist.data.synthetic.garments import _bag, _dress, _trouser
from fmnist.data.synthetic.raster import _Canvas, _col, _cover, _lin
from fmnist.data.synthetic.scene import _Scene, _Uniforms
from fmnist.data.synthetic.tops import _coat, _pullover, _shirt, _tshirt

_N_GENERIC = 24          # per-image uniforms for placement, shading and noise
_N_SHAPE = 64            # per-image uniforms for the class's geometry

_SHAPES: tuple[Callable[[_Uniforms], _Scene], ...] = (
    _tshirt, _trouser, _pullover, _dress, _coat, _sandal, _shirt, _sneaker, _bag, _boot,
)

# Per class: probability of stripes, of a second (crossing) set of stripes, and of vertical stripes.
_STRIPES = {
    0: (0.25, 0.05, 0.2), 1: (0.05, 0.0, 0.9), 2: (0.3, 0.05, 0.2), 3: (0.2, 0.1, 0.5), 4: (0.1, 0.1, 0.3),
    5: (0.0, 0.0, 0.5), 6: (0.3, 0.35, 0.4), 7: (0.1, 0.0, 0.5), 8: (0.15, 0.1, 0.5), 9: (0.05, 0.0, 0.5),
}


def _render(label: int, u: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Images of one class: u are (B, _N_GENERIC + _N_SHAPE) uniforms, noise (B, 28, 28) uniforms."""
    g = _Uniforms(u[:, :_N_GENERIC])
    scene = _SHAPES[label](_Uniforms(u[:, _N_GENERIC:]))
    cv = _Canvas(scene.bbox(), g)
    d = _silhouette(scene, cv)
    sharp = g(0.7, 1.3)                                   # edge softness, like photos of varying focus
    shade = _cover(d, sharp)

    base = g(80.0, 255.0)                                 # garment colour (negated photo)
    tex = _fabric(label, cv, g)
    _apply_marks(tex, scene, cv, sharp)
    _apply_rim(tex, d, g)
    _apply_grain(tex, noise, g)
    shade *= tex
    shade *= _col(base)
    shade += np.float32(0.5)                               # round half up
    np.clip(shade, 0.0, 255.0, out=shade)
    return shade.astype(np.uint8)


def _silhouette(scene: _Scene, cv: _Canvas) -> np.ndarray:
    """Signed distance (pixels) to the union of the body primitives minus the holes."""
    d = None
    for item in scene.body:
        e = cv.dist(item)
        if e is not None:
            d = e if d is None else np.minimum(d, e, out=d)
    for item in scene.holes:
        e = cv.dist(item)
        if e is not None:
            np.maximum(d, np.negative(e, out=e), out=d)
    return d


def _fabric(label: int, cv: _Canvas, g: _Uniforms) -> np.ndarray:
    """The texture multiplier: a linear gradient plus, with the class's odds, stripes and crossing stripes."""
    mx, my = cv.centre
    hx, hy = cv.half
    gx, gy = g(-0.3, 0.3), g(-0.3, 0.3)
    tex = _lin(*cv.canonical(gx / hx, gy / hy, 1.0 - gx * mx / hx - gy * my / hy))   # linear gradient
    p_stripe, p_cross, p_vertical = _STRIPES[label]
    vertical = g.chance(p_vertical)
    period = g(0.16, 0.5) * np.maximum(hx, hy)              # canonical units: about 2-6 pixels
    amp = np.where(g.chance(p_stripe), g(0.15, 0.45), 0.0)
    cross = np.where(g.chance(p_cross), amp, 0.0)
    phase = g()
    for direction, a in ((vertical, amp), (~vertical, cross)):
        if not a.any():
            continue
        fx, fy = np.where(direction, 1 / period, 0.0), np.where(direction, 0.0, 1 / period)
        t = _lin(*cv.canonical(fx, fy, phase))
        t -= np.floor(t)
        t -= np.float32(0.5)
        np.abs(t, out=t)
        t -= np.float32(0.25)                             # triangle wave in [-0.25, 0.25]
        t *= _col(-4 * a)
        tex += t
    return tex


def _apply_marks(tex: np.ndarray, scene: _Scene, cv: _Canvas, sharp: np.ndarray) -> None:
    """Darkens (strength > 0) or lightens (< 0) tex, in place, where the scene's marks lie."""
    for item, strength in scene.marks:
        e = cv.dist(item)
        if e is not None:
            cov = _cover(e, sharp)
            cov *= _col(-strength)
            cov += np.float32(1.0)
            tex *= cov


def _apply_rim(tex: np.ndarray, d: np.ndarray, g: _Uniforms) -> None:
    """A darker or brighter outline along the edge, as after sharpening (in place)."""
    rim = g(-0.35, 0.35)
    width = g(1.0, 2.5)
    r = d * _col(1 / width)
    r += np.float32(1.0)
    np.clip(r, 0.0, 1.0, out=r)
    r *= _col(rim)
    r += np.float32(1.0)
    tex *= r


def _apply_grain(tex: np.ndarray, noise: np.ndarray, g: _Uniforms) -> None:
    """Fabric grain / sensor noise: tex times 1 + amount * (noise - 0.5), in place."""
    amount = g(0.0, 0.35)
    noise = noise - np.float32(0.5)
    noise *= _col(amount)
    noise += np.float32(1.0)
    tex *= noise
