"""Scene description: the per-image parameter draws and the primitives (polygons, ellipses, rings) a recipe lays out."""

from __future__ import annotations

import numpy as np


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
