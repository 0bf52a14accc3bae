"""Recipes of the four confusable upper-body classes (T-shirt/top, shirt, pullover, coat): one torso model whose
parameter distributions differ per class."""

from __future__ import annotations

import numpy as np

from fmnist.data.synthetic.scene import _Scene, _Uniforms

# One torso model for the four confusable upper-body classes; only the parameter distributions differ.
_TOPS = {
    #             T-shirt/top   Shirt         Pullover      Coat
    "width":     ((0.42, 0.58), (0.42, 0.56), (0.44, 0.58), (0.46, 0.62)),
    "hem":       ((0.05, 0.5), (0.2, 0.62), (0.05, 0.5), (0.35, 1.0)),
    "flare":     ((0.92, 1.1), (0.94, 1.08), (0.86, 1.02), (0.96, 1.2)),
    "p_long":    (0.06, 0.72, 0.96, 0.97),
    "short_len": ((0.16, 0.5), (0.26, 0.6), (0.3, 0.6), (0.3, 0.6)),
    "long_len":  ((0.8, 1.2), (0.85, 1.35), (0.95, 1.4), (1.0, 1.5)),
    "p_sleeveless": (0.14, 0.0, 0.0, 0.0),
    "p_vneck":   (0.25, 0.85, 0.25, 0.75),
    "p_collar":  (0.04, 0.8, 0.08, 0.6),
    "p_open":    (0.03, 0.8, 0.12, 0.85),
    "p_buttons": (0.02, 0.7, 0.04, 0.5),
    "p_band":    (0.1, 0.05, 0.6, 0.15),
    "p_print":   (0.45, 0.05, 0.18, 0.03),
    "p_pocket":  (0.04, 0.35, 0.05, 0.45),
    "p_hood":    (0.0, 0.0, 0.12, 0.15),
}


def _top(u: _Uniforms, kind: int) -> _Scene:
    """A scene of the torso model with the distributions of column kind of _TOPS."""
    cfg = {k: v[kind] for k, v in _TOPS.items()}
    sc = _Scene(u.n)
    ys = -1.0                                   # neckline top
    ws, sd, yh, nw = _torso(sc, u, cfg, ys)
    _sleeves(sc, u, cfg, ys, ws, sd)
    neck_bottom = _hood_and_neckline(sc, u, cfg, ys, nw)
    _collar_and_opening(sc, u, cfg, ys, nw, yh, neck_bottom)
    _hem_print_and_pockets(sc, u, cfg, ys, yh)
    return sc


def _torso(sc: _Scene, u: _Uniforms, cfg: dict, ys: float):
    """The body: shoulders, flare and hem; returns (shoulder half width, shoulder drop, hem, neck half width)."""
    ws = u(*cfg["width"])                       # half width at the shoulders
    sd = u(0.04, 0.14)                          # shoulder drop
    yh = u(*cfg["hem"])
    wh = ws * u(*cfg["flare"])
    nw = u(0.13, 0.23)                          # neck half width
    sc.body.append(sc.poly([(-nw, ys), (nw, ys), (ws, ys + sd), (wh, yh), (-wh, yh), (-ws, ys + sd)]))
    return ws, sd, yh, nw


def _sleeves(sc: _Scene, u: _Uniforms, cfg: dict, ys: float, ws, sd) -> None:
    """Sleeves: long ones hang steeply, short ones stick out; the ranges overlap between classes."""
    long_ = u.chance(cfg["p_long"])
    a, b = u(), u()
    (l0, l1), (s0, s1) = cfg["long_len"], cfg["short_len"]
    length = np.where(long_, l0 + (l1 - l0) * a, s0 + (s1 - s0) * a)
    t = np.where(long_, 0.45 + 0.39 * b, 0.2 + 0.32 * b)       # tan(angle/2): 50-80 deg vs 23-55 deg below horizontal
    cos, sin = (1 - t * t) / (1 + t * t), 2 * t / (1 + t * t)
    hw = np.where(long_, u(0.085, 0.14), u(0.12, 0.2))
    cuff = hw * u(0.75, 1.0)
    sleeves = ~u.chance(cfg["p_sleeveless"])
    sx, sy = ws + 0.02 * cos, ys + sd - 0.02 * sin             # shoulder, nudged back along the sleeve
    mx, my = sin, -cos                                          # unit normal pointing up/out of the sleeve
    ex, ey = sx + length * cos, sy + length * sin
    sleeve = sc.poly([(sx, sy), (ex, ey), (ex - 2 * cuff * mx, ey - 2 * cuff * my),
                      (sx - 2 * hw * mx, sy - 2 * hw * my)], on=sleeves)
    sc.body += [sleeve, sc.mirror(sleeve)]


def _hood_and_neckline(sc: _Scene, u: _Uniforms, cfg: dict, ys: float, nw) -> np.ndarray:
    """An optional hood, and the neckline: round or V, cut out of the body (hoods cover it); returns its bottom."""
    hood = u.chance(cfg["p_hood"])
    sc.body.append(sc.ellipse(0.0, ys + 0.05, nw * u(1.2, 1.6), u(0.22, 0.32), on=hood))
    vneck = u.chance(cfg["p_vneck"])
    nd = u(0.06, 0.2)
    vd = u(0.15, 0.5)
    sc.holes.append(sc.ellipse(0.0, ys, nw, nd, on=~vneck & ~hood))
    sc.holes.append(sc.poly([(-nw, ys - 0.1), (nw, ys - 0.1), (0.0, ys + vd)], on=vneck & ~hood))
    return np.where(vneck, ys + vd, ys + nd)


def _collar_and_opening(sc: _Scene, u: _Uniforms, cfg: dict, ys: float, nw, yh, neck_bottom) -> None:
    """Details drawn as shading: collar or lapels, the opening (placket) and its buttons."""
    collar = u.chance(cfg["p_collar"])
    cl = u(0.12, 0.3)
    flap = sc.poly([(-nw - 0.03, ys - 0.02), (-nw - u(0.02, 0.1), ys + cl), (-0.02, neck_bottom + 0.02)], on=collar)
    cs = u(-0.5, 0.6)
    sc.marks += [(flap, cs), (sc.mirror(flap), cs)]
    opening = u.chance(cfg["p_open"])
    sc.marks.append((sc.band(0.0, neck_bottom, 0.0, yh + 0.1, u(0.012, 0.035), on=opening), u(0.35, 0.85)))
    buttons = u.chance(cfg["p_buttons"])
    bx, br = u(0.03, 0.07), u(0.025, 0.045)
    dash = ("y", u(0.16, 0.32), u(0.2, 0.45), u())
    sc.marks.append((sc.band(bx, neck_bottom + 0.05, bx, yh - 0.05, br, on=buttons & opening, dash=dash),
                     u(-0.7, 0.7)))


def _hem_print_and_pockets(sc: _Scene, u: _Uniforms, cfg: dict, ys: float, yh) -> None:
    """Details drawn as shading: hem band, a round or square print, pockets."""
    hem_band = u.chance(cfg["p_band"])
    bh = u(0.06, 0.16)
    sc.marks.append((sc.poly([(-2, yh - bh), (2, yh - bh), (2, yh + 1), (-2, yh + 1)], on=hem_band), u(0.15, 0.4)))
    printed = u.chance(cfg["p_print"])
    py = ys + u(0.35, 0.7)
    pr = u(0.1, 0.3)
    round_print = u.chance(0.5)
    strength = u(-0.6, 0.7)
    sc.marks.append((sc.ellipse(u(-0.05, 0.05), py, pr, pr * u(0.6, 1.2), on=printed & round_print), strength))
    sc.marks.append((sc.poly([(-pr, py - pr * 0.6), (pr, py - pr * 0.6), (pr, py + pr * 0.6), (-pr, py + pr * 0.6)],
                             on=printed & ~round_print), strength))
    pocket = u.chance(cfg["p_pocket"])
    pkx, pky, pkw = u(0.15, 0.3), np.where(yh > 0.35, yh - u(0.25, 0.5), ys + u(0.4, 0.55)), u(0.08, 0.16)
    pk = sc.band(pkx - pkw, pky, pkx + pkw, pky + u(-0.04, 0.04), u(0.015, 0.035), on=pocket)
    sc.marks += [(pk, u(0.3, 0.7)), (sc.mirror(pk), u(0.3, 0.7))]


def _tshirt(u):
    return _top(u, 0)


def _shirt(u):
    return _top(u, 1)


def _pullover(u):
    return _top(u, 2)


def _coat(u):
    return _top(u, 3)
