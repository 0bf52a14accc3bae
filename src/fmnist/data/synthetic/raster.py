"""Rasterisation: places a scene on each image's 28x28 grid and turns primitives into signed distances and coverage."""

from __future__ import annotations

import numpy as np

from fmnist.data.synthetic.scene import _Uniforms

SIZE = 28                # image side in pixels
_FAR = 1.0e4             # pixels: where disabled primitives are moved

_GRID = np.arange(SIZE, dtype=np.float32) + np.float32(0.5)   # pixel centres
_GX = _GRID[None, None, :]
_GY = _GRID[None, :, None]


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
