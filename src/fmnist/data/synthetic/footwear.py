"""Recipes of the footwear classes: sandal, sneaker and ankle boot, on one shoe profile (sole, toe, heel)."""

from __future__ import annotations

import numpy as np

from fmnist.data.synthetic.scene import _Scene, _Uniforms


def _shoe_base(sc: _Scene, st, hh):
    """Sole from the toe (x=-1, on the ground y=0) to the heel (x=1), raised by hh at the heel."""
    def lift(x):
        """Height of the sole's underside above the ground at x: it rises from the ball to the heel."""
        return np.clip((x + 0.25) / 1.23, 0.0, 1.0) * hh

    front = sc.poly([(-1.0, -st), (-0.25, -st), (-0.25, 0.0), (-0.93, 0.0)])
    back = sc.poly([(-0.27, -st), (1.0, -hh - st), (1.0, -hh), (-0.27, 0.0)])
    return front, back, lift


def _sneaker(u: _Uniforms) -> _Scene:
    sc = _Scene(u.n)
    st = u(0.08, 0.17)                          # sole thickness
    ts = u(0.0, 0.07)                           # toe spring
    high = u.chance(0.1)
    h = np.where(high, u(0.9, 1.15), u(0.6, 0.85))    # collar height above the ground
    toe_h = u(0.24, 0.36)
    vh = np.minimum(u(0.36, 0.55), h - 0.05)
    vt = np.where(high, h * 0.95, np.minimum(u(0.5, 0.8), h + 0.05))
    sole = sc.poly([(-0.98, -ts - st), (1.0, -st), (1.0, -0.02), (0.95, 0.0), (-0.55, 0.0), (-0.95, -ts)])
    sc.body.append(sole)
    sc.body.append(sc.poly([(-1.0, -st - ts), (-0.96, -st - np.maximum(ts, 0.55 * toe_h)), (-0.78, -st - toe_h),
                            (-0.25, -st - vh), (-0.25, -st + 0.02), (-0.98, -st + 0.02)]))
    sc.body.append(sc.poly([(-0.25, -st - vh), (0.25, -vt), (0.25, -st + 0.02), (-0.25, -st + 0.02)]))
    sc.body.append(sc.poly([(0.25, -vt), (0.85, -h), (1.0, -0.8 * h), (1.02, -st + 0.02), (0.25, -st + 0.02)]))
    sc.holes.append(sc.ellipse(u(0.45, 0.6), -h - 0.02, u(0.18, 0.33), u(0.05, 0.14), on=~high | u.chance(0.5)))
    sc.marks.append((sole, u(-0.6, 0.5)))
    sc.marks.append((sc.band(-1.2, -st, 1.2, -st, u(0.012, 0.03), on=u.chance(0.6)), u(0.3, 0.7)))
    laces = sc.band(-0.55, -st - vh * 0.85, 0.2, -vt * 0.92, u(0.04, 0.07), on=u.chance(0.6),
                    dash=("x", u(0.1, 0.17), u(0.3, 0.5), u()))
    sc.marks.append((laces, u(0.3, 0.7)))
    sc.marks.append((sc.band(u(-0.35, -0.1), -st - 0.03, u(0.3, 0.6), -st - vh * u(0.6, 0.95), u(0.03, 0.07),
                             on=u.chance(0.5)), u(-0.5, 0.5)))   # side stripe
    return sc


def _boot(u: _Uniforms) -> _Scene:
    sc = _Scene(u.n)
    st = u(0.06, 0.14)
    heel = u.chance(0.6)
    hh = np.where(heel, u(0.08, 0.3), 0.0)
    big = u(1.0, 1.4)                           # shaft top height
    sf = u(-0.15, 0.25)                         # shaft front
    sb = u(0.9, 1.02)
    toe_h = u(0.22, 0.34)
    vh = u(0.36, 0.52)
    front, back, lift = _shoe_base(sc, st, hh)
    sc.body += [front, back]
    sc.body.append(sc.poly([(0.62, -hh), (1.0, -hh), (0.98, 0.0), (0.66, 0.0)], on=heel))
    sc.body.append(sc.poly([(-1.0, -st), (-0.96, -st - 0.55 * toe_h), (-0.8, -st - toe_h), (-0.3, -st - vh),
                            (-0.3, -st + 0.02), (-1.0, -st + 0.02)]))
    vh2 = np.maximum(big * u(0.55, 0.85), vh + 0.05)
    sc.body.append(sc.poly([(-0.3, -st - vh), (sf, -st - vh2), (sf, -st - lift(sf) + 0.02), (-0.3, -st + 0.02)]))
    sc.body.append(sc.poly([(sf, -big), (sb, -big), (1.0, -hh - st + 0.02), (sf, -st - lift(sf) + 0.02)]))
    sc.marks.append((front, u(-0.6, 0.5)))
    sc.marks.append((back, u(-0.6, 0.5)))
    sc.marks.append((sc.poly([(-2, -big - 1), (2, -big - 1), (2, -big + u(0.06, 0.14)), (-2, -big + 0.1)],
                             on=u.chance(0.4)), u(-0.5, 0.5)))          # cuff
    sc.marks.append((sc.band(sf + 0.08, -big, sf + 0.02, -st - vh, u(0.015, 0.04), on=u.chance(0.5),
                             dash=("y", u(0.1, 0.2), u(0.3, 1.0), u())), u(0.3, 0.7)))   # laces or zip
    sc.marks.append((sc.ellipse((sf + sb) / 2, -big, (sb - sf) * u(0.2, 0.35), big * u(0.3, 0.5),
                                on=u.chance(0.25)), u(0.2, 0.5)))     # elastic side panel
    return sc


def _sandal(u: _Uniforms) -> _Scene:
    sc = _Scene(u.n)
    flat = u.chance(0.4)
    hh = np.where(flat, u(0.0, 0.06), u(0.3, 0.85))
    st = u(0.06, 0.13)
    wedge = ~flat & u.chance(0.25)
    front, back, lift = _shoe_base(sc, st, hh)
    sc.body += [front, back]
    hw = u(0.05, 0.18)
    sc.body.append(sc.poly([(0.78, -hh), (1.0, -hh), (0.92, 0.0), (0.92 - hw, 0.0)], on=~flat & ~wedge))
    sc.body.append(sc.poly([(-0.27, 0.0), (1.0, -hh), (1.0, 0.0)], on=wedge))

    def top(x):
        return -st - lift(x)                    # upper face of the sole at x

    # Straps: a toe band (thin strap to wide mule vamp), diagonal straps, an ankle strap and a heel strap.
    x0 = u(-0.9, -0.62)
    bw = np.where(u.chance(0.25), u(0.35, 0.6), u(0.08, 0.2))
    fh = u(0.17, 0.3)
    sc.body.append(sc.poly([(x0, top(x0)), (x0 + 0.06, top(x0) - fh), (x0 + bw - 0.03, top(x0 + bw) - fh * 1.15),
                            (x0 + bw, top(x0 + bw))]))
    sw = u(0.035, 0.08)
    ankle = u.chance(0.75)
    ya = -hh - st - u(0.45, 0.7)                # ankle strap: from the heel, slanting down to the front
    xa, yf = u(0.3, 0.65), ya + u(0.0, 0.2)
    sc.body.append(sc.band(xa, yf, 1.0, ya, sw, on=ankle))
    sc.body.append(sc.band(u(0.88, 0.95), -hh - st, 0.95, ya, sw * u(1.5, 3.0), on=ankle))   # heel counter
    # Straps over the foot: up to the ankle strap if there is one, else ending over the instep.
    x1 = u(-0.45, -0.05)
    tx1 = np.where(ankle, xa, x1 + u(0.05, 0.3))
    ty1 = np.where(ankle, yf, top(x1) - u(0.3, 0.5))
    sc.body.append(sc.band(x1, top(x1), tx1, ty1, sw, on=u.chance(0.7)))
    x2 = u(0.05, 0.4)
    sc.body.append(sc.band(x2, top(x2), x2 - u(0.1, 0.4), top(x2) - u(0.3, 0.5), sw, on=u.chance(0.45)))
    sc.marks.append((front, u(-0.5, 0.4)))
    sc.marks.append((back, u(-0.5, 0.4)))
    return sc
