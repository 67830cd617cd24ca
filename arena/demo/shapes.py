"""Shaded objects for the demo scenes: a ball, a gift box, a mug, a car and a balloon.

Each object is drawn as layers (painted part with shading and gloss, uncoloured details, cast
shadow) so a scene can render it in any colour, or leave it out, over the same background.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from models.classical.backgrounds import BACKGROUNDS

_SS = 4  # supersampling factor of the drawn shapes
_LIGHT = np.array([-0.45, -0.6, 0.66]) / np.linalg.norm([-0.45, -0.6, 0.66])


@dataclass
class Layers:
    """A drawn object: painted part (alpha, shading, gloss), uncoloured details, cast shadow."""

    paint: np.ndarray
    shade: np.ndarray
    gloss: np.ndarray
    detail_a: np.ndarray
    detail_rgb: np.ndarray
    shadow: np.ndarray

    def over(self, alpha: np.ndarray, color) -> None:
        """Lay an uncoloured detail (``color`` RGB or image) over the previous ones."""
        new_a = alpha + self.detail_a * (1 - alpha)
        rgb = np.asarray(color, np.float32) * alpha[..., None]
        rgb = rgb + self.detail_rgb * (self.detail_a * (1 - alpha))[..., None]
        self.detail_rgb = rgb / np.maximum(new_a, 1e-6)[..., None]
        self.detail_a = new_a

    @property
    def alpha(self) -> np.ndarray:
        return 1 - (1 - self.paint) * (1 - self.detail_a)


def _layers(n: int) -> Layers:
    z = np.zeros((n, n), np.float32)
    return Layers(paint=z.copy(), shade=np.ones_like(z), gloss=z.copy(), detail_a=z.copy(),
                   detail_rgb=np.zeros((n, n, 3), np.float32), shadow=z.copy())


def coverage(n: int, *ops) -> np.ndarray:
    """Anti-aliased coverage of drawing operations on an ``n`` × ``n`` picture.

    Each op is ``(method, xy)`` or ``(method, xy, options)`` for :class:`PIL.ImageDraw.ImageDraw`
    (``xy`` a flat sequence of pixel coordinates; ``fill`` defaults to 255, use 0 to cut holes).
    """
    im = Image.new("L", (n * _SS, n * _SS), 0)
    draw = ImageDraw.Draw(im)
    for method, xy, *rest in ops:
        opts = {"fill": 255, **(rest[0] if rest else {})}
        for key in ("radius", "width"):
            if key in opts:
                opts[key] = max(1, int(round(opts[key] * _SS)))
        getattr(draw, method)([_SS * float(v) for v in xy], **opts)
    return np.asarray(im.resize((n, n), Image.Resampling.BOX), np.float32) / 255.0


def _at(x: float, y: float, s: float, *pts: float) -> list[float]:
    """Pixel coordinates of points given in object units (``s`` pixels) from (``x``, ``y``)."""
    return [(x if i % 2 == 0 else y) + s * v for i, v in enumerate(pts)]


def pixel_grid(n: int):
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    return xx + 0.5, yy + 0.5


def _sphere(n, cx, cy, rx, ry):
    """Lambert shading and a specular highlight of an ellipsoid lit from the upper left."""
    xx, yy = pixel_grid(n)
    nx, ny = (xx - cx) / rx, (yy - cy) / ry
    nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0.0, 1.0))
    norm = np.sqrt(nx**2 + ny**2 + nz**2) + 1e-6
    lam = np.clip((nx * _LIGHT[0] + ny * _LIGHT[1] + nz * _LIGHT[2]) / norm, 0, 1)
    half = (_LIGHT + [0, 0, 1]) / np.linalg.norm(_LIGHT + [0, 0, 1])
    spec = np.clip((nx * half[0] + ny * half[1] + nz * half[2]) / norm, 0, 1) ** 40
    return 0.3 + 0.85 * lam, 0.7 * spec


def _ground_shadow(n, cx, gy, rx, ry):
    xx, yy = pixel_grid(n)
    d = ((xx - cx) / rx) ** 2 + ((yy - gy) / ry) ** 2
    return cv2.GaussianBlur(np.clip(1.2 - d, 0, 1).astype(np.float32), (0, 0), max(ry / 2, 1))


def _ball(n, cx, gy, s):
    lay = _layers(n)
    lay.paint = coverage(n, ("ellipse", _at(cx, gy, s, -0.5, -1, 0.5, 0)))
    lay.shade, lay.gloss = _sphere(n, cx, gy - s / 2, s / 2, s / 2)
    lay.shadow = _ground_shadow(n, cx + 0.18 * s, gy, 0.55 * s, 0.11 * s)
    return lay


def _balloon(n, cx, cy, s):
    lay = _layers(n)
    lay.paint = coverage(n, ("ellipse", _at(cx, cy, s, -0.42, -0.52, 0.42, 0.52)),
                       ("polygon", _at(cx, cy, s, 0, 0.5, -0.04, 0.56, 0.04, 0.56)))
    lay.shade, lay.gloss = _sphere(n, cx, cy, 0.42 * s, 0.52 * s)
    wave = [v for t in np.linspace(0, 0.9, 40)
            for v in _at(cx, cy, s, 0.03 * np.sin(20 * t), 0.56 + t)]
    lay.over(coverage(n, ("line", wave, {"width": 1})), (80, 80, 80))
    return lay


def _gift_box(n, cx, gy, s):
    faces = ((_at(cx, gy, s, -0.5, -0.75, 0.3, -0.75, 0.3, 0, -0.5, 0), 1.0),
             (_at(cx, gy, s, -0.5, -0.75, 0.3, -0.75, 0.52, -0.97, -0.28, -0.97), 1.22),
             (_at(cx, gy, s, 0.3, -0.75, 0.52, -0.97, 0.52, -0.22, 0.3, 0), 0.7))
    alphas = [(coverage(n, ("polygon", xy)), tone) for xy, tone in faces]
    cover = sum(a for a, _ in alphas)
    lay = _layers(n)
    lay.paint = np.clip(cover, 0, 1)
    shade = sum(a * tone for a, tone in alphas) / np.maximum(cover, 1e-6)
    lay.shade = np.where(cover > 0, shade, 1.0).astype(np.float32)
    ribbon = coverage(n, ("polygon", _at(cx, gy, s, -0.16, 0, -0.16, -0.75, 0.06, -0.97,
                                       0.18, -0.97, -0.04, -0.75, -0.04, 0)))
    lay.over(ribbon * lay.paint, (240, 215, 110))
    lay.shadow = _ground_shadow(n, cx + 0.1 * s, gy - 0.03 * s, 0.62 * s, 0.1 * s)
    return lay


def _mug(n, cx, gy, s):
    x0, x1 = cx - 0.35 * s, cx + 0.25 * s
    handle = coverage(n, ("ellipse", _at(cx, gy, s, 0.17, -0.56, 0.47, -0.14)),
                    ("ellipse", _at(cx, gy, s, 0.23, -0.46, 0.37, -0.24), {"fill": 0}))
    round_corners = {"radius": 0.08 * s}
    body = coverage(n, ("rounded_rectangle", _at(cx, gy, s, -0.35, -0.7, 0.25, 0), round_corners),
                  ("ellipse", _at(cx, gy, s, -0.35, -0.76, 0.25, -0.64)))
    lay = _layers(n)
    lay.paint = np.clip(body + handle * (1 - body), 0, 1)
    xx, _ = pixel_grid(n)
    ang = np.clip((xx - x0) / (x1 - x0), 0, 1) * np.pi - np.pi / 2
    lit = np.clip(np.sin(ang) * _LIGHT[0] + np.cos(ang) * _LIGHT[2], 0, 1)
    lay.shade = np.where(body > 0, 0.35 + 0.85 * lit, 0.65).astype(np.float32)
    streak = np.exp(-((xx - (x0 + 0.17 * s)) / (0.03 * s)) ** 2) * (body > 0.5)
    lay.gloss = (0.4 * streak).astype(np.float32)
    lay.over(coverage(n, ("ellipse", _at(cx, gy, s, -0.31, -0.74, 0.21, -0.66))), (70, 45, 30))
    lay.shadow = _ground_shadow(n, cx + 0.05 * s, gy, 0.5 * s, 0.09 * s)
    return lay


def _car(n, cx, gy, s):
    lay = _layers(n)
    lay.paint = coverage(n, ("rounded_rectangle", _at(cx, gy, s, -0.75, -0.44, 0.75, -0.1),
                           {"radius": 0.08 * s}),
                       ("polygon", _at(cx, gy, s, -0.45, -0.42, -0.25, -0.7, 0.25, -0.7,
                                       0.49, -0.42)))
    _, yy = pixel_grid(n)
    lay.shade = (1.2 - 0.55 * np.clip((yy - (gy - 0.7 * s)) / (0.6 * s), 0, 1)).astype(np.float32)
    lay.gloss = (0.35 * np.exp(-((yy - (gy - 0.38 * s)) / (0.02 * s)) ** 2)).astype(np.float32)
    windows = coverage(n, ("polygon", _at(cx, gy, s, -0.35, -0.44, -0.2, -0.64, -0.01, -0.64,
                                        -0.01, -0.44)),
                     ("polygon", _at(cx, gy, s, 0.05, -0.44, 0.05, -0.64, 0.22, -0.64,
                                     0.4, -0.44)))
    depth = np.clip((yy - (gy - 0.64 * s)) / (0.2 * s), 0, 1)[..., None]
    glass = np.array([165, 195, 215]) - 70 * depth
    lay.over(windows, glass)
    for wx in (-0.42, 0.42):
        tyre = coverage(n, ("ellipse", _at(cx, gy, s, wx - 0.15, -0.3, wx + 0.15, 0)))
        hub = coverage(n, ("ellipse", _at(cx, gy, s, wx - 0.06, -0.21, wx + 0.06, -0.09)))
        lay.over(tyre, (30, 30, 34))
        lay.over(hub, (160, 160, 165))
    lay.over(coverage(n, ("ellipse", _at(cx, gy, s, 0.67, -0.36, 0.75, -0.3))), (250, 240, 190))
    lay.shadow = _ground_shadow(n, cx, gy, 0.85 * s, 0.07 * s)
    return lay


#: name -> (draw function, size range as a fraction of the picture, half width in sizes, floats)
SHAPES = {"ball": (_ball, (0.22, 0.3), 0.5, False),
           "gift box": (_gift_box, (0.26, 0.34), 0.55, False),
           "mug": (_mug, (0.26, 0.33), 0.6, False),
           "car": (_car, (0.3, 0.36), 0.78, False),
           "balloon": (_balloon, (0.26, 0.32), 0.45, True)}


def place_object(rng, n, shape, kind):
    """Draw ``shape`` at a random size and spot that suits the background ``kind``."""
    draw, (lo, hi), half_width, floats = SHAPES[shape]
    s = rng.uniform(lo, hi) * n
    half = half_width * s + 4
    cx = rng.uniform(half, n - half)
    hz = BACKGROUNDS[kind]["horizon"]
    if floats:
        y = rng.uniform(0.08 * n + 0.52 * s, min(hz, 0.9) * n - 0.95 * s)
    else:
        y = rng.uniform(max(hz * n + 0.08 * n, 0.62 * n), 0.93 * n)
    return draw(n, cx, y, s)


def render_object(bg: np.ndarray, lay: Layers, color, shadow: bool = True) -> np.ndarray:
    """Composite the object, painted in ``color``, over the float background ``bg``."""
    img = bg * (1 - 0.45 * lay.shadow[..., None]) if shadow else bg.copy()
    obj = np.asarray(color, np.float32) * lay.shade[..., None] + 255 * lay.gloss[..., None]
    img = img * (1 - lay.paint[..., None]) + np.clip(obj, 0, 255) * lay.paint[..., None]
    return img * (1 - lay.detail_a[..., None]) + lay.detail_rgb * lay.detail_a[..., None]
