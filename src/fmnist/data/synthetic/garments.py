"""Recipes of the classes without a shared model: trouser, dress and bag."""

from __future__ import annotations

import numpy as np

from fmnist.data.synthetic.scene import _Scene, _Uniforms


def _trouser(u: _Uniforms) -> _Scene:
    sc = _Scene(u.n)
    wt = u(0.28, 0.42)                          # half width at the waist
    yc = u(-0.5, -0.2)                          # crotch
    gi = u(0.035, 0.15)                         # half gap between the feet
    lw = u(0.13, 0.3) * np.where(u.chance(0.2), 1.5, 1.0)   # leg width at the hem; some wide legs
    wc = wt * u(1.0, 1.08)
    sc.body.append(sc.poly([(-wt, -1.0), (wt, -1.0), (wc, yc + 0.02), (-wc, yc + 0.02)]))
    leg = sc.poly([(-wc, yc - 0.02), (0.0, yc - 0.02), (-gi, 1.0), (-(gi + lw), 1.0)])
    sc.body += [leg, sc.mirror(leg)]
    sc.marks.append((sc.poly([(-2, -2), (2, -2), (2, -1 + u(0.05, 0.12)), (-2, -1 + 0.08)], on=u.chance(0.55)),
                     u(-0.3, 0.5)))                           # waistband
    sc.marks.append((sc.band(0.03, -0.95, 0.03, yc - u(0.0, 0.1), u(0.01, 0.025), on=u.chance(0.5)), u(0.3, 0.7)))
    pocket = sc.band(-wt + 0.02, -0.9, -wt + u(0.1, 0.2), yc + u(0.05, 0.2), u(0.012, 0.03), on=u.chance(0.35))
    k = u(0.3, 0.6)
    sc.marks += [(pocket, k), (sc.mirror(pocket), k)]
    crease = sc.band(-wc / 2, yc, -(gi + lw / 2), 1.0, u(0.01, 0.025), on=u.chance(0.3))
    k = u(0.2, 0.5)
    sc.marks += [(crease, k), (sc.mirror(crease), k)]
    return sc


def _dress(u: _Uniforms) -> _Scene:
    sc = _Scene(u.n)
    wt = u(0.18, 0.34)                          # shoulders
    yw = u(-0.45, -0.1)                         # waist
    ww = u(0.15, 0.27)
    wb = np.maximum(wt, ww) * u(1.0, 1.15)      # bust
    hem = u(0.55, 1.0)
    wh = u(0.3, 0.85)
    sc.body.append(sc.poly([(-wt, -1.0), (wt, -1.0), (wb, -0.72), (ww, yw), (-ww, yw), (-wb, -0.72)]))
    sc.body.append(sc.poly([(-ww, yw - 0.02), (ww, yw - 0.02), (wh, hem), (-wh, hem)]))
    kind = u()
    short_s, long_s = kind < 0.3, (kind >= 0.3) & (kind < 0.4)
    t = np.where(long_s, u(0.7, 0.84), u(0.35, 0.7))
    cos, sin = (1 - t * t) / (1 + t * t), 2 * t / (1 + t * t)
    length = np.where(long_s, u(0.7, 1.1), u(0.12, 0.35))
    hw = u(0.07, 0.12)
    sx, sy = wt, -1.0 + 0.03
    ex, ey = sx + length * cos, sy + length * sin
    sleeve = sc.poly([(sx, sy), (ex, ey), (ex - 2 * hw * sin, ey + 2 * hw * cos), (sx - 2 * hw * sin, sy + 2 * hw * cos)],
                     on=short_s | long_s)
    sc.body += [sleeve, sc.mirror(sleeve)]
    sc.holes.append(sc.ellipse(0.0, -1.0, wt * u(0.3, 0.85), u(0.05, 0.3)))
    sc.marks.append((sc.poly([(-2, yw - u(0.03, 0.08)), (2, yw - 0.05), (2, yw + u(0.03, 0.08)), (-2, yw + 0.05)],
                             on=u.chance(0.3)), u(-0.5, 0.5)))   # belt
    sc.marks.append((sc.poly([(-2, hem - u(0.05, 0.15)), (2, hem - 0.1), (2, 2), (-2, 2)], on=u.chance(0.15)),
                     u(-0.4, 0.4)))                             # hem band
    sc.marks.append((sc.ellipse(0.0, u(-0.8, -0.3), u(0.08, 0.16), u(0.08, 0.16), on=u.chance(0.12)), u(-0.5, 0.6)))
    return sc


def _bag(u: _Uniforms) -> _Scene:
    sc = _Scene(u.n)
    wt = u(0.55, 1.0)
    wb = wt * u(0.85, 1.2)
    bh = u(0.7, 1.4)
    ch = u(0.02, 0.15)                          # rounded-ish corners
    sc.body.append(sc.poly([(-wt + ch, 0.0), (wt - ch, 0.0), (wt, ch), (wb, bh - ch), (wb - ch, bh),
                            (-wb + ch, bh), (-wb, bh - ch), (-wt, ch)]))
    kind = u()
    top, strap = kind < 0.55, (kind >= 0.55) & (kind < 0.8)
    rx = wt * np.where(top, u(0.3, 0.7), u(0.75, 0.95))
    ry = np.where(top, u(0.3, 0.7), u(0.7, 1.3))
    th = np.where(top, u(0.06, 0.14), u(0.05, 0.09))
    sc.body.append(sc.ring(0.0, u(0.0, 0.1), rx, ry, th, on=top | strap))
    flap = u.chance(0.5)
    fy, fv = bh * u(0.25, 0.6), u(0.0, 0.2)
    sc.marks.append((sc.poly([(-2, -1), (2, -1), (wt, fy), (0.0, fy + fv), (-wt, fy)], on=flap), u(-0.45, 0.45)))
    cw = u(0.05, 0.12)
    sc.marks.append((sc.poly([(-cw, fy + fv - cw), (cw, fy + fv - cw), (cw, fy + fv + cw), (-cw, fy + fv + cw)],
                             on=flap & u.chance(0.6)), u(-0.7, 0.7)))  # clasp
    sy = u(0.07, 0.18)
    sc.marks.append((sc.band(-2, sy, 2, sy, u(0.012, 0.03), on=u.chance(0.4)), u(0.3, 0.6)))  # seam
    return sc
