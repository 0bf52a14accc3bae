"""A seeded generator of Fashion-MNIST-like images (28x28 greyscale, same 10 classes).

Every class is a small scene of convex polygons, ellipses and rings laid out in
a canonical garment frame (x to the right, y downwards; shoes point left, as in
Fashion-MNIST). A batch of images of one class is built at once, with its own
parameters per image (sleeve length, heel height, handle size, ...), then
rasterised by evaluating approximate signed distances on the pixel grid of all
images together (numpy broadcasting). Distances in pixels give anti-aliased
edges without supersampling.

As in the real data set, each object is scaled so that its longest side nearly
fills the frame and is centred, bright on a black background (Fashion-MNIST's
images are negatives of product photos).

The classes that look alike in the real data are built to overlap here too:
T-shirts, shirts, pullovers and coats share one torso model and differ only in
the distributions of sleeve length, body length, collar, opening and buttons;
sandals, sneakers and ankle boots share a shoe profile (sole, toe, heel).

Reproducibility: all randomness comes from numpy's PCG64 streams, labels,
shape parameters and pixel noise from three independent ones, each consumed in
a fixed order. Only IEEE-exact operations touch the pixels (+ - * / sqrt floor
min max; no sin, cos or exp, whose results may differ between CPUs), so the
same arguments give byte-identical arrays on any machine, whatever the chunk
size used internally.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

SIZE = 28
_N_GENERIC = 24          # per-image uniforms for placement, shading and noise
_N_SHAPE = 64            # per-image uniforms for the class's geometry
_BATCH = 512             # images rendered together: large enough to amortise numpy's call overhead, small enough for the cache
_FAR = 1.0e4             # pixels: where disabled primitives are moved

_GRID = np.arange(SIZE, dtype=np.float32) + np.float32(0.5)   # pixel centres
_GX = _GRID[None, None, :]
_GY = _GRID[None, :, None]

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- scene description

class _Uniforms:
    """Hands out the columns of a (B, K) matrix of uniforms one at a time, so every parameter gets its own draw."""

    def __init__(self, u: np.ndarray):
        self.u = u
        self.i = 0

    def __call__(self, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
        col = self.u[:, self.i]
        self.i += 1
        return lo + (hi - lo) * col

    def chance(self, p) -> np.ndarray:
        return self() < p

    @property
    def n(self) -> int:
        return len(self.u)


class _Scene:
    """Primitives of one batch: the body is the union of `body` minus `holes`;
    `marks` darken (strength > 0) or lighten (< 0) the body where they lie."""

    def __init__(self, n: int):
        self.n = n
        self.body: list[tuple] = []
        self.holes: list[tuple] = []
        self.marks: list[tuple[tuple, np.ndarray]] = []

    def poly(self, pts, on=None, dash=None) -> tuple:
        """A convex polygon; pts: (x, y) pairs of scalars or (B,) arrays. dash=(axis, period, duty, phase) cuts it into dashes."""
        v = np.empty((self.n, len(pts), 2))
        for i, (x, y) in enumerate(pts):
            v[:, i, 0] = x
            v[:, i, 1] = y
        return ("poly", v, on, dash)

    def band(self, x0, y0, x1, y1, half_width, on=None, dash=None) -> tuple:
        """A straight strip from (x0, y0) to (x1, y1)."""
        dx, dy = np.asarray(x1 - x0, float), np.asarray(y1 - y0, float)
        ln = np.sqrt(dx * dx + dy * dy) + 1e-9
        ox, oy = -dy / ln * half_width, dx / ln * half_width
        return self.poly([(x0 + ox, y0 + oy), (x1 + ox, y1 + oy), (x1 - ox, y1 - oy), (x0 - ox, y0 - oy)], on, dash)

    def ellipse(self, cx, cy, rx, ry, on=None) -> tuple:
        b = np.broadcast_to
        return ("ell", *(b(np.asarray(a, float), (self.n,)) for a in (cx, cy, rx, ry)), on)

    def ring(self, cx, cy, rx, ry, width, on=None) -> tuple:
        return ("ring", self.ellipse(cx, cy, rx, ry), self.ellipse(cx, cy, rx - width, ry - width), on)

    @staticmethod
    def mirror(item: tuple) -> tuple:
        """The item reflected about x = 0 (garments are symmetric)."""
        if item[0] == "poly":
            v = item[1].copy()
            v[:, :, 0] *= -1
            return ("poly", v, *item[2:])
        if item[0] == "ell":
            return ("ell", -item[1], *item[2:])
        return ("ring", _Scene.mirror(item[1]), _Scene.mirror(item[2]), item[3])

    def bbox(self) -> tuple[np.ndarray, ...]:
        """Per-image extent (xmin, xmax, ymin, ymax) of the enabled body primitives."""
        lo_x = np.full(self.n, np.inf)
        hi_x = np.full(self.n, -np.inf)
        lo_y, hi_y = lo_x.copy(), hi_x.copy()
        for item in self.body:
            if item[0] == "ring":                     # the outer ellipse, switched like the ring
                item = item[1][:-1] + (item[3],)
            if item[0] == "poly":
                v, on = item[1], item[2]
                ext = (v[:, :, 0].min(1), v[:, :, 0].max(1), v[:, :, 1].min(1), v[:, :, 1].max(1))
            else:
                _, cx, cy, rx, ry, on = item
                ext = (cx - rx, cx + rx, cy - ry, cy + ry)
            if on is None:
                on = np.ones(self.n, bool)
            lo_x = np.where(on, np.minimum(lo_x, ext[0]), lo_x)
            hi_x = np.where(on, np.maximum(hi_x, ext[1]), hi_x)
            lo_y = np.where(on, np.minimum(lo_y, ext[2]), lo_y)
            hi_y = np.where(on, np.maximum(hi_y, ext[3]), hi_y)
        return lo_x, hi_x, lo_y, hi_y


# --------------------------------------------------------------------------- rasterisation

def _col(a) -> np.ndarray:
    """(B,) -> (B, 1, 1) float32, for broadcasting against image stacks."""
    return np.asarray(a, dtype=np.float32)[:, None, None]


def _lin(a, b, c) -> np.ndarray:
    """a*x + b*y + c over each image's pixel grid: one full-size add thanks to broadcasting."""
    return _col(a) * _GX + (_col(b) * _GY + _col(c))


class _Canvas:
    """Per-image placement: canonical frame -> pixels (scale, aspect, rotation, shift), and distance evaluation."""

    def __init__(self, bbox, g: _Uniforms):
        xmin, xmax, ymin, ymax = bbox
        n = len(xmin)
        asp = g(0.9, 1.1)
        fill = g(22.0, 28.0)                          # longest side in pixels, like Fashion-MNIST's resize to 28
        s = fill / np.maximum((xmax - xmin) * asp, (ymax - ymin) / asp)
        sx, sy = s * asp, s / asp
        t = g(-0.1, 0.1)                              # tan(angle / 2): up to ~11 degrees, rational form needs no libm
        c, sn = (1 - t * t) / (1 + t * t), 2 * t / (1 + t * t)
        cx, cy = 14.0 + g(-1.3, 1.3), 14.0 + g(-1.3, 1.3)
        self.a = np.empty((n, 2, 2))
        self.a[:, 0, 0], self.a[:, 0, 1] = c * sx, -sn * sy
        self.a[:, 1, 0], self.a[:, 1, 1] = sn * sx, c * sy
        mx, my = (xmin + xmax) / 2, (ymin + ymax) / 2
        self.tx = cx - (self.a[:, 0, 0] * mx + self.a[:, 0, 1] * my)
        self.ty = cy - (self.a[:, 1, 0] * mx + self.a[:, 1, 1] * my)
        self.ai = np.empty((n, 2, 2))                 # inverse: pixels -> canonical
        self.ai[:, 0, 0], self.ai[:, 0, 1] = c / sx, sn / sx
        self.ai[:, 1, 0], self.ai[:, 1, 1] = -sn / sy, c / sy
        self.s = s
        self.centre = (mx, my)
        self.half = (np.maximum(xmax - xmin, 1e-6) / 2, np.maximum(ymax - ymin, 1e-6) / 2)

    def canonical(self, fx, fy, k=0.0):
        """Coefficients (a, b, c) such that a*x + b*y + c = fx*X + fy*Y + k, (X, Y) canonical, (x, y) pixels."""
        ai = self.ai
        a = fx * ai[:, 0, 0] + fy * ai[:, 1, 0]
        b = fx * ai[:, 0, 1] + fy * ai[:, 1, 1]
        return a, b, k - a * self.tx - b * self.ty

    def dist(self, item) -> np.ndarray | None:
        """Signed distance in pixels (negative inside), or None if the item is off in every image."""
        on = item[-1] if item[0] != "poly" else item[2]
        if on is not None and not on.any():
            return None
        if item[0] == "poly":
            return self._poly(*item[1:])
        if item[0] == "ell":
            return self._ellipse(*item[1:])
        outer, inner = self._ellipse(*item[1][1:-1], on), self._ellipse(*item[2][1:-1], on)
        return np.maximum(outer, np.negative(inner, out=inner), out=outer)

    def _poly(self, v, on, dash) -> np.ndarray:
        a = self.a
        px = a[:, None, 0, 0] * v[:, :, 0] + a[:, None, 0, 1] * v[:, :, 1] + self.tx[:, None]
        py = a[:, None, 1, 0] * v[:, :, 0] + a[:, None, 1, 1] * v[:, :, 1] + self.ty[:, None]
        if on is not None:
            px = np.where(on[:, None], px, px + _FAR)
        qx, qy = np.roll(px, -1, axis=1), np.roll(py, -1, axis=1)
        ex, ey = qx - px, qy - py
        sign = np.where((px * qy - qx * py).sum(1) >= 0, 1.0, -1.0)[:, None]
        ln = np.sqrt(ex * ex + ey * ey)
        ok = ln > 1e-9
        ln = np.where(ok, ln, 1.0)
        nx, ny = sign * ey / ln, -sign * ex / ln     # outward unit normals
        c = np.where(ok, -(nx * px + ny * py), -_FAR)  # a degenerate edge never wins the max
        # A convex polygon is the intersection of its edges' half-planes: the max of their
        # distances is the exact distance inside and a slight underestimate outside corners.
        d = _lin(nx[:, 0], ny[:, 0], c[:, 0])
        for k in range(1, v.shape[1]):
            np.maximum(d, _lin(nx[:, k], ny[:, k], c[:, k]), out=d)
        if dash is not None:
            np.maximum(d, self._dashes(*dash), out=d)
        return d

    def _dashes(self, axis, period, duty, phase) -> np.ndarray:
        """Distance to dashes across a canonical axis: stripes of width duty*period, every period."""
        fx, fy = (1.0 / period, 0.0) if axis == "x" else (0.0, 1.0 / period)
        t = _lin(*self.canonical(fx, fy, phase))
        t -= np.floor(t)
        t -= np.float32(0.5)
        np.abs(t, out=t)                              # 0.5 at dash centres, 0 halfway between
        t -= _col(0.5 - duty / 2)
        t *= _col(-period * self.s)                   # periods -> pixels, positive outside
        return t

    def _ellipse(self, cx, cy, rx, ry, on) -> np.ndarray:
        if on is not None:
            cx = np.where(on, cx, cx + _FAR)
        u = _lin(*self.canonical(1 / rx, 0.0, -cx / rx))   # (X - cx) / rx
        v = _lin(*self.canonical(0.0, 1 / ry, -cy / ry))
        # f = u^2 + v^2 - 1 divided by its gradient's norm: first-order distance, exact on the curve.
        gu, gv = u * _col(1 / rx), v * _col(1 / ry)
        u *= u
        v *= v
        u += v
        u -= np.float32(1.0)
        gu *= gu
        gv *= gv
        gu += gv
        np.sqrt(gu, out=gu)
        gu += np.float32(1e-4)
        u /= gu
        u *= _col(self.s / 2)
        return u


def _cover(d: np.ndarray, sharp: np.ndarray) -> np.ndarray:
    """Fraction of each pixel inside the shape, from its signed distance (pixels)."""
    cov = d * _col(-sharp)
    cov += np.float32(0.5)
    np.clip(cov, 0.0, 1.0, out=cov)
    return cov


# --------------------------------------------------------------------------- garments

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
    cfg = {k: v[kind] for k, v in _TOPS.items()}
    sc = _Scene(u.n)
    ys = -1.0                                   # neckline top
    ws = u(*cfg["width"])                       # half width at the shoulders
    sd = u(0.04, 0.14)                          # shoulder drop
    yh = u(*cfg["hem"])
    wh = ws * u(*cfg["flare"])
    nw = u(0.13, 0.23)                          # neck half width
    sc.body.append(sc.poly([(-nw, ys), (nw, ys), (ws, ys + sd), (wh, yh), (-wh, yh), (-ws, ys + sd)]))

    # Sleeves: long ones hang steeply, short ones stick out; the ranges overlap between classes.
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
    hood = u.chance(cfg["p_hood"])
    sc.body.append(sc.ellipse(0.0, ys + 0.05, nw * u(1.2, 1.6), u(0.22, 0.32), on=hood))

    # Neckline: round or V, cut out of the body (hoods cover it).
    vneck = u.chance(cfg["p_vneck"])
    nd = u(0.06, 0.2)
    vd = u(0.15, 0.5)
    sc.holes.append(sc.ellipse(0.0, ys, nw, nd, on=~vneck & ~hood))
    sc.holes.append(sc.poly([(-nw, ys - 0.1), (nw, ys - 0.1), (0.0, ys + vd)], on=vneck & ~hood))
    neck_bottom = np.where(vneck, ys + vd, ys + nd)

    # Details drawn as shading: collar or lapels, opening/placket, buttons, hem band, print, pockets.
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
    return sc


def _tshirt(u):
    return _top(u, 0)


def _shirt(u):
    return _top(u, 1)


def _pullover(u):
    return _top(u, 2)


def _coat(u):
    return _top(u, 3)


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


_SHAPES: tuple[Callable[[_Uniforms], _Scene], ...] = (
    _tshirt, _trouser, _pullover, _dress, _coat, _sandal, _shirt, _sneaker, _bag, _boot,
)

# Per class: probability of stripes, of a second (crossing) set of stripes, and of vertical stripes.
_STRIPES = {
    0: (0.25, 0.05, 0.2), 1: (0.05, 0.0, 0.9), 2: (0.3, 0.05, 0.2), 3: (0.2, 0.1, 0.5), 4: (0.1, 0.1, 0.3),
    5: (0.0, 0.0, 0.5), 6: (0.3, 0.35, 0.4), 7: (0.1, 0.0, 0.5), 8: (0.15, 0.1, 0.5), 9: (0.05, 0.0, 0.5),
}


# --------------------------------------------------------------------------- rendering

def _render(label: int, u: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Images of one class: u are (B, _N_GENERIC + _N_SHAPE) uniforms, noise (B, 28, 28) uniforms."""
    g = _Uniforms(u[:, :_N_GENERIC])
    scene = _SHAPES[label](_Uniforms(u[:, _N_GENERIC:]))
    cv = _Canvas(scene.bbox(), g)

    d = None
    for item in scene.body:
        e = cv.dist(item)
        if e is not None:
            d = e if d is None else np.minimum(d, e, out=d)
    for item in scene.holes:
        e = cv.dist(item)
        if e is not None:
            np.maximum(d, np.negative(e, out=e), out=d)
    sharp = g(0.7, 1.3)                                   # edge softness, like photos of varying focus
    shade = _cover(d, sharp)

    base = g(80.0, 255.0)                                 # garment colour (negated photo)
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
    for item, strength in scene.marks:
        e = cv.dist(item)
        if e is not None:
            cov = _cover(e, sharp)
            cov *= _col(-strength)
            cov += np.float32(1.0)
            tex *= cov
    rim = g(-0.35, 0.35)                                   # darker or brighter outline, as after sharpening
    width = g(1.0, 2.5)
    r = d * _col(1 / width)
    r += np.float32(1.0)
    np.clip(r, 0.0, 1.0, out=r)
    r *= _col(rim)
    r += np.float32(1.0)
    tex *= r
    amount = g(0.0, 0.35)                                  # fabric grain / sensor noise
    noise = noise - np.float32(0.5)
    noise *= _col(amount)
    noise += np.float32(1.0)
    tex *= noise
    shade *= tex
    shade *= _col(base)
    shade += np.float32(0.5)                               # round half up
    np.clip(shade, 0.0, 255.0, out=shade)
    return shade.astype(np.uint8)


def _generate(n: int, seq: np.random.SeedSequence, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    label_seq, param_seq, noise_seq = seq.spawn(3)
    labels = np.random.Generator(np.random.PCG64(label_seq)).permutation(np.arange(n) % len(CLASSES))
    labels = labels.astype(np.uint8)
    params = np.random.Generator(np.random.PCG64(param_seq))
    noises = np.random.Generator(np.random.PCG64(noise_seq))
    images = np.empty((n, SIZE, SIZE), dtype=np.uint8)
    # Render class by class (one scene model per batch); both streams are read in this fixed
    # order, a batch at a time, so the result does not depend on the batch size.
    order = np.argsort(labels, kind="stable")
    for start in range(0, n, _BATCH):
        idx = order[start:start + _BATCH]
        u = params.random((len(idx), _N_GENERIC + _N_SHAPE))
        noise = noises.random((len(idx), SIZE, SIZE), dtype=np.float32)
        lab = labels[idx]
        for c in np.unique(lab):
            sel = lab == c
            images[idx[sel]] = _render(int(c), u[sel], noise[sel])
        if progress is not None:
            progress(min(start + _BATCH, n), n)
    return images, labels


def generate(n: int, seed: int, *, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n images (uint8, shape (n, 28, 28)) and labels (uint8, shape (n,)).

    Balanced: each class gets n // 10 images, the first n % 10 classes one more; the order is
    shuffled. Fully determined by (n, seed). progress(done, total) is called after each batch.
    """
    return _generate(n, np.random.SeedSequence(seed), progress)


def generate_splits(n_train: int, n_test: int, seed: int, *,
                    progress: Progress | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (images, labels), "test": (images, labels)} from two independent streams derived from seed."""
    train_seq, test_seq = np.random.SeedSequence(seed).spawn(2)
    train = _generate(n_train, train_seq, progress)
    test = _generate(n_test, test_seq, progress)
    return {"train": train, "test": test}
