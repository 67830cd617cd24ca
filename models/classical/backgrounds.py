"""Procedural backgrounds, rendered from a small JSON spec.

A spec is ``{"kind": KIND, "seed": INT}`` with an optional ``"horizon"`` (fraction of the height
where sky meets ground). The same spec always renders the same picture, so a background-change
item can name its new background in its parameters and editors can render it at any size.
"""
from __future__ import annotations

from typing import Any, Mapping

import cv2
import numpy as np
from PIL import Image

#: Kinds of background: a phrase for instructions, the default horizon, and the surface objects
#: stand on (``None`` where nothing stands).
BACKGROUNDS: dict[str, dict[str, Any]] = {
    "sky": {"description": "a blue sky with clouds", "horizon": 1.0, "surface": None},
    "sunset": {"description": "a sunset sky", "horizon": 0.65, "surface": None},
    "night": {"description": "a starry night sky", "horizon": 0.8, "surface": None},
    "beach": {"description": "a sunny beach", "horizon": 0.42, "surface": "sand"},
    "meadow": {"description": "a green meadow", "horizon": 0.5, "surface": "grass"},
    "room": {"description": "a room with a wooden table", "horizon": 0.55, "surface": "table"},
    "brick": {"description": "a red brick wall", "horizon": 1.0, "surface": None},
    "forest": {"description": "a forest", "horizon": 0.72, "surface": "forest floor"},
    "snow": {"description": "a snowy landscape", "horizon": 0.5, "surface": "snow"},
    "studio": {"description": "a plain grey studio backdrop", "horizon": 0.6, "surface": "floor"},
}


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int,
                 octaves: int = 3) -> np.ndarray:
    """Fractal value noise in [0, 1], ``(h, w)`` float32, with ``cells`` blobs across the width."""
    total = np.zeros((h, w), np.float32)
    amp, norm = 1.0, 0.0
    for octave in range(octaves):
        n = cells * 2**octave
        grid = rng.random((max(2, n * h // max(w, 1) + 2), n + 2)).astype(np.float32)
        total += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        norm += amp
        amp *= 0.5
    total /= norm
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


def vertical_gradient(h: int, w: int,
                      stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """An ``(h, w, 3)`` float image whose colour follows ``stops`` (position 0-1, RGB) downwards."""
    y = np.linspace(0.0, 1.0, h)
    pos = [p for p, _ in stops]
    cols = np.stack([np.interp(y, pos, [c[k] for _, c in stops]) for k in range(3)], axis=-1)
    return np.repeat(cols[:, None, :].astype(np.float32), w, axis=1)


def _blend(img: np.ndarray, color, alpha: np.ndarray) -> np.ndarray:
    a = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)[..., None]
    return img + (np.asarray(color, np.float32) - img) * a


def _disk(h: int, w: int, cx: float, cy: float, r: float, soft: float = 1.0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.hypot(xx - cx, yy - cy)
    return np.clip((r - d) / soft + 0.5, 0, 1)


def _below(h: int, w: int, row: float, soft: float = 1.0) -> np.ndarray:
    y = np.arange(h, dtype=np.float32)[:, None]
    return np.repeat(np.clip((y - row) / soft + 0.5, 0, 1), w, axis=1)


def _clouds(img, rng, h, w, bottom):
    n = smooth_noise(rng, h, w, 3, octaves=4)
    fade = np.clip(1.2 - np.linspace(0, 1.2, h) / max(bottom, 1e-3), 0, 1)[:, None]
    return _blend(img, (250, 250, 252), np.clip((n - 0.55) * 3.5, 0, 0.95) * fade)


def _sky(rng, h, w, hz):
    img = vertical_gradient(h, w, [(0, (45, 105, 195)), (1, (165, 205, 240))])
    return _clouds(img, rng, h, w, 1.0)


def _sunset(rng, h, w, hz):
    img = vertical_gradient(h, w, [(0, (55, 40, 110)), (hz * 0.55, (190, 80, 100)),
                                   (hz, (250, 175, 85)), (1, (250, 175, 85))])
    cx = w * rng.uniform(0.25, 0.75)
    glow = _disk(h, w, cx, hz * h, 0.09 * w) + 0.35 * _disk(h, w, cx, hz * h, 0.2 * w, soft=0.2 * w)
    img = _blend(img, (255, 235, 170), glow)
    sea = vertical_gradient(h, w, [(0, (90, 50, 80)), (1, (25, 20, 45))])
    column = np.exp(-((np.arange(w) - cx) / (0.07 * w)) ** 2)[None, :]
    streaks = (rng.random(h) > 0.45)[:, None] * column
    sea = _blend(sea, (250, 190, 120), 0.6 * streaks)
    below = _below(h, w, hz * h)[..., None]
    return img * (1 - below) + sea * below


def _night(rng, h, w, hz):
    img = vertical_gradient(h, w, [(0, (5, 10, 30)), (hz, (25, 40, 80)), (1, (25, 40, 80))])
    stars = np.zeros((h, w), np.float32)
    ys, xs = rng.integers(0, h, 90), rng.integers(0, w, 90)
    stars[ys, xs] = rng.uniform(0.4, 1.0, 90)
    img = _blend(img, (255, 255, 235), stars)
    moon_x, moon_y = w * rng.uniform(0.15, 0.85), h * rng.uniform(0.1, 0.3)
    img = _blend(img, (240, 240, 215), _disk(h, w, moon_x, moon_y, 0.06 * w))
    ridge = hz * h - 0.08 * h * smooth_noise(rng, 1, w, 3)[0]
    ground = np.clip(np.arange(h)[:, None] - ridge[None, :] + 0.5, 0, 1)
    return _blend(img, (12, 16, 22), ground)


def _beach(rng, h, w, hz):
    sky = vertical_gradient(h, w, [(0, (60, 130, 215)),
                                   (hz, (175, 215, 245)), (1, (175, 215, 245))])
    img = _clouds(sky, rng, h, w, hz)
    shore = hz + 0.14
    sea = vertical_gradient(h, w, [(0, (30, 90, 150)), (hz, (30, 90, 150)),
                                   (shore, (60, 150, 175)), (1, (60, 150, 175))])
    waves = np.sin(np.arange(h)[:, None] * 1.3 + 6 * smooth_noise(rng, h, w, 6)) > 0.85
    sea = _blend(sea, (220, 240, 245), 0.35 * waves)
    sand = vertical_gradient(h, w, [(0, (225, 200, 150)), (1, (240, 215, 165))])
    sand = sand * (0.92 + 0.12 * smooth_noise(rng, h, w, 20, octaves=2))[..., None]
    below = _below(h, w, hz * h)[..., None]
    img = img * (1 - below) + sea * below
    edge = shore * h + 3 * np.sin(np.arange(w) / 9.0)[None, :]
    on_sand = np.clip(np.arange(h)[:, None] - edge + 0.5, 0, 1)[..., None]
    return img * (1 - on_sand) + sand * on_sand


def _meadow(rng, h, w, hz):
    sky = vertical_gradient(h, w, [(0, (70, 140, 220)),
                                   (hz, (185, 220, 240)), (1, (185, 220, 240))])
    img = _clouds(sky, rng, h, w, hz)
    hills = hz * h - 0.07 * h * smooth_noise(rng, 1, w, 2)[0]
    img = _blend(img, (95, 135, 85), np.clip(np.arange(h)[:, None] - hills[None, :] + 0.5, 0, 1))
    grass = vertical_gradient(h, w, [(0, (95, 160, 60)), (1, (45, 110, 35))])
    blades = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (1, 7), 0)
    grass = grass * (0.8 + 0.35 * blades + 0.1 * smooth_noise(rng, h, w, 5))[..., None]
    below = _below(h, w, hz * h + 0.03 * h)[..., None]
    return img * (1 - below) + grass * below


def _room(rng, h, w, hz):
    wall = vertical_gradient(h, w, [(0, (228, 218, 198)), (1, (198, 184, 162))])
    wall = wall * (0.96 + 0.05 * smooth_noise(rng, h, w, 6))[..., None]
    y = np.arange(h, dtype=np.float32)[:, None]
    grain = np.sin(y * 0.9 + 8 * smooth_noise(rng, h, w, 4)) * 0.5 + 0.5
    wood = vertical_gradient(h, w, [(0, (165, 112, 68)), (1, (120, 78, 45))])
    wood = wood * (0.88 + 0.16 * grain)[..., None]
    below = _below(h, w, hz * h)[..., None]
    img = wall * (1 - below) + wood * below
    edge = np.clip(1.5 - np.abs(y - hz * h - 1.5), 0, 1) * np.ones((1, w))
    return _blend(img, (190, 140, 95), edge)


def _brick(rng, h, w, hz):
    rows = max(6, h // 22)
    bh = h / rows
    img = np.empty((h, w, 3), np.float32)
    img[:] = (185, 180, 170)
    for r in range(rows + 1):
        bw, off = 2.1 * bh, (r % 2) * 1.05 * bh
        for c in range(-1, int(w / bw) + 2):
            x0, y0 = int(c * bw + off) + 2, int(r * bh) + 2
            x1, y1 = int((c + 1) * bw + off) - 1, int((r + 1) * bh) - 1
            tone = np.array((160, 70, 50)) * rng.uniform(0.8, 1.15) + rng.normal(0, 6, 3)
            img[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = tone
    return img * (0.9 + 0.15 * smooth_noise(rng, h, w, 24, octaves=2))[..., None]


def _forest(rng, h, w, hz):
    img = vertical_gradient(h, w, [(0, (200, 220, 205)), (1, (120, 150, 120))])
    for depth, tone in ((0, (70, 95, 70)), (1, (40, 65, 40))):
        for _ in range(7 + 3 * depth):
            x, tw = rng.uniform(0, w), w * rng.uniform(0.02, 0.05) * (1 + depth)
            trunk = np.zeros((h, w), np.float32)
            trunk[:, max(int(x - tw / 2), 0):int(x + tw / 2)] = 1
            img = _blend(img, np.array((90, 70, 50)) * (0.6 + 0.4 * (1 - depth)), trunk)
        leaves = smooth_noise(rng, h, w, 5, octaves=4)
        fade = np.clip(1.1 - np.linspace(0, 1, h) / 0.6, 0, 1)[:, None]
        img = _blend(img, tone, np.clip((leaves - 0.45) * 4, 0, 1) * fade)
    floor = vertical_gradient(h, w, [(0, (85, 95, 55)), (1, (70, 60, 40))])
    floor = floor * (0.85 + 0.25 * smooth_noise(rng, h, w, 16))[..., None]
    below = _below(h, w, hz * h)[..., None]
    return img * (1 - below) + floor * below


def _snow(rng, h, w, hz):
    img = vertical_gradient(h, w, [(0, (170, 195, 225)), (1, (235, 240, 248))])
    freq, phase = rng.uniform(1.5, 3), rng.uniform(0, 3)
    peaks = hz * h - 0.25 * h * np.abs(np.sin(np.arange(w) / w * np.pi * freq + phase))
    img = _blend(img, (140, 155, 185), np.clip(np.arange(h)[:, None] - peaks[None, :] + 0.5, 0, 1))
    ground = np.empty((h, w, 3), np.float32)
    ground[:] = (246, 248, 252)
    ground = _blend(ground, (195, 208, 232), 0.8 * smooth_noise(rng, h, w, 4) ** 2)
    below = _below(h, w, hz * h)[..., None]
    img = img * (1 - below) + ground * below
    flakes = np.zeros((h, w), np.float32)
    n = (h * w) // 600
    flakes[rng.integers(0, h, n), rng.integers(0, w, n)] = 1
    return _blend(img, (255, 255, 255), cv2.GaussianBlur(flakes, (3, 3), 0) * 2.5)


def _studio(rng, h, w, hz):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx - w / 2) / w, (yy - h * 0.4) / h)
    img = np.repeat((215 - 110 * r)[..., None], 3, axis=2) + np.array((0, 1, 6), np.float32)
    floor = _below(h, w, hz * h, soft=0.15 * h)[..., None]
    return img * (1 - 0.12 * floor) + 2 * smooth_noise(rng, h, w, 10)[..., None]


_RENDERERS = {"sky": _sky, "sunset": _sunset, "night": _night, "beach": _beach, "meadow": _meadow,
              "room": _room, "brick": _brick, "forest": _forest, "snow": _snow, "studio": _studio}


def render_background(spec: Mapping[str, Any], size: tuple[int, int]) -> Image.Image:
    """Render the background described by ``spec`` at ``size`` (width, height).

    Parameters
    ----------
    spec : mapping
        ``{"kind": one of BACKGROUNDS, "seed": int, "horizon": float (optional)}``.
    size : tuple of int
        Width and height in pixels.

    Returns
    -------
    PIL.Image.Image
        An RGB image; the same spec and size always give the same pixels.

    Raises
    ------
    ValueError
        If the kind is unknown or the horizon is outside [0, 1].
    """
    kind = spec.get("kind")
    if kind not in _RENDERERS:
        raise ValueError(f"unknown background kind {kind!r}; known: {sorted(_RENDERERS)}")
    horizon = float(spec.get("horizon", BACKGROUNDS[kind]["horizon"]))
    if not 0.0 <= horizon <= 1.0:
        raise ValueError(f"background horizon must lie in [0, 1], got {horizon}")
    w, h = int(size[0]), int(size[1])
    rng = np.random.default_rng(int(spec.get("seed", 0)))
    img = np.asarray(_RENDERERS[kind](rng, h, w, horizon), np.float32)
    img = img + 1.5 * rng.standard_normal(img.shape, dtype=np.float32)
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")
