"""The bundled demo set: procedurally rendered pictures for the four demo tasks.

Nothing is downloaded. Each scene is drawn from a seed (backgrounds from
:mod:`models.classical.backgrounds`, shaded objects and signs here), together with the mask of
the region to edit and a reference: the same scene rendered with the edit done.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from models.base import DEMO_TASKS, EditRequest
from models.classical.backgrounds import BACKGROUNDS, render_background, smooth_noise
from models.classical.text import draw_text_in_box

#: Colour names used in instructions, with the RGB they are drawn in.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (200, 40, 40), "orange": (235, 130, 30), "yellow": (235, 200, 40),
    "green": (50, 160, 70), "teal": (30, 150, 150), "blue": (40, 90, 200),
    "purple": (130, 60, 170), "pink": (230, 110, 160),
}

#: Words painted on signs.
WORDS = ("OPEN", "CLOSED", "SALE", "EXIT", "STOP", "CAFE", "HOTEL", "BAKERY", "PIZZA", "BOOKS",
         "PARK", "SHOP", "FRESH", "MARKET", "GARAGE", "TAXI", "MUSEUM", "DINER", "FLOWERS", "BAR")

_SS = 4  # supersampling factor of the drawn shapes
_GROUNDS = ("room", "meadow", "beach", "snow", "studio", "forest")
_SKIES = ("sky", "sunset")
_LIGHT = np.array([-0.45, -0.6, 0.66]) / np.linalg.norm([-0.45, -0.6, 0.66])


@dataclass(frozen=True)
class DemoScene:
    """One demo item: a source picture, what to do to it, and the expected result.

    Attributes
    ----------
    key : str
        Stable identifier, for example ``"recolor-003"``.
    task, instruction : str
        The task name and a sentence saying what to do.
    source, reference : PIL.Image.Image
        RGB picture before and after the ideal edit (same size; equal outside the mask).
    mask : PIL.Image.Image
        Mode "L", 255 where the edit belongs (the object to remove, the background to replace,
        the text box, the region to recolour).
    target_text : str or None
        The new words, for text edits.
    params : dict
        JSON-serialisable parameters for the editors (colour, background spec, old text, ...).
    """

    key: str
    task: str
    instruction: str
    source: Image.Image
    mask: Image.Image
    target_text: str | None
    params: dict[str, Any]
    reference: Image.Image

    def request(self, seed: int = 0) -> EditRequest:
        """The :class:`~models.base.EditRequest` an editor receives for this scene."""
        return EditRequest(task=self.task, instruction=self.instruction, source=self.source,
                           mask=self.mask, target_text=self.target_text, params=self.params,
                           seed=seed)


@dataclass
class _Layers:
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


def _layers(n: int) -> _Layers:
    z = np.zeros((n, n), np.float32)
    return _Layers(paint=z.copy(), shade=np.ones_like(z), gloss=z.copy(), detail_a=z.copy(),
                   detail_rgb=np.zeros((n, n, 3), np.float32), shadow=z.copy())


def _alpha(n: int, *ops) -> np.ndarray:
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


def _grid(n: int):
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    return xx + 0.5, yy + 0.5


def _sphere(n, cx, cy, rx, ry):
    """Lambert shading and a specular highlight of an ellipsoid lit from the upper left."""
    xx, yy = _grid(n)
    nx, ny = (xx - cx) / rx, (yy - cy) / ry
    nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0.0, 1.0))
    norm = np.sqrt(nx**2 + ny**2 + nz**2) + 1e-6
    lam = np.clip((nx * _LIGHT[0] + ny * _LIGHT[1] + nz * _LIGHT[2]) / norm, 0, 1)
    half = (_LIGHT + [0, 0, 1]) / np.linalg.norm(_LIGHT + [0, 0, 1])
    spec = np.clip((nx * half[0] + ny * half[1] + nz * half[2]) / norm, 0, 1) ** 40
    return 0.3 + 0.85 * lam, 0.7 * spec


def _ground_shadow(n, cx, gy, rx, ry):
    xx, yy = _grid(n)
    d = ((xx - cx) / rx) ** 2 + ((yy - gy) / ry) ** 2
    return cv2.GaussianBlur(np.clip(1.2 - d, 0, 1).astype(np.float32), (0, 0), max(ry / 2, 1))


def _ball(n, cx, gy, s):
    lay = _layers(n)
    lay.paint = _alpha(n, ("ellipse", _at(cx, gy, s, -0.5, -1, 0.5, 0)))
    lay.shade, lay.gloss = _sphere(n, cx, gy - s / 2, s / 2, s / 2)
    lay.shadow = _ground_shadow(n, cx + 0.18 * s, gy, 0.55 * s, 0.11 * s)
    return lay


def _balloon(n, cx, cy, s):
    lay = _layers(n)
    lay.paint = _alpha(n, ("ellipse", _at(cx, cy, s, -0.42, -0.52, 0.42, 0.52)),
                       ("polygon", _at(cx, cy, s, 0, 0.5, -0.04, 0.56, 0.04, 0.56)))
    lay.shade, lay.gloss = _sphere(n, cx, cy, 0.42 * s, 0.52 * s)
    wave = [v for t in np.linspace(0, 0.9, 40)
            for v in _at(cx, cy, s, 0.03 * np.sin(20 * t), 0.56 + t)]
    lay.over(_alpha(n, ("line", wave, {"width": 1})), (80, 80, 80))
    return lay


def _gift_box(n, cx, gy, s):
    faces = ((_at(cx, gy, s, -0.5, -0.75, 0.3, -0.75, 0.3, 0, -0.5, 0), 1.0),
             (_at(cx, gy, s, -0.5, -0.75, 0.3, -0.75, 0.52, -0.97, -0.28, -0.97), 1.22),
             (_at(cx, gy, s, 0.3, -0.75, 0.52, -0.97, 0.52, -0.22, 0.3, 0), 0.7))
    alphas = [(_alpha(n, ("polygon", xy)), tone) for xy, tone in faces]
    cover = sum(a for a, _ in alphas)
    lay = _layers(n)
    lay.paint = np.clip(cover, 0, 1)
    shade = sum(a * tone for a, tone in alphas) / np.maximum(cover, 1e-6)
    lay.shade = np.where(cover > 0, shade, 1.0).astype(np.float32)
    ribbon = _alpha(n, ("polygon", _at(cx, gy, s, -0.16, 0, -0.16, -0.75, 0.06, -0.97,
                                       0.18, -0.97, -0.04, -0.75, -0.04, 0)))
    lay.over(ribbon * lay.paint, (240, 215, 110))
    lay.shadow = _ground_shadow(n, cx + 0.1 * s, gy - 0.03 * s, 0.62 * s, 0.1 * s)
    return lay


def _mug(n, cx, gy, s):
    x0, x1 = cx - 0.35 * s, cx + 0.25 * s
    handle = _alpha(n, ("ellipse", _at(cx, gy, s, 0.17, -0.56, 0.47, -0.14)),
                    ("ellipse", _at(cx, gy, s, 0.23, -0.46, 0.37, -0.24), {"fill": 0}))
    round_corners = {"radius": 0.08 * s}
    body = _alpha(n, ("rounded_rectangle", _at(cx, gy, s, -0.35, -0.7, 0.25, 0), round_corners),
                  ("ellipse", _at(cx, gy, s, -0.35, -0.76, 0.25, -0.64)))
    lay = _layers(n)
    lay.paint = np.clip(body + handle * (1 - body), 0, 1)
    xx, _ = _grid(n)
    ang = np.clip((xx - x0) / (x1 - x0), 0, 1) * np.pi - np.pi / 2
    lit = np.clip(np.sin(ang) * _LIGHT[0] + np.cos(ang) * _LIGHT[2], 0, 1)
    lay.shade = np.where(body > 0, 0.35 + 0.85 * lit, 0.65).astype(np.float32)
    streak = np.exp(-((xx - (x0 + 0.17 * s)) / (0.03 * s)) ** 2) * (body > 0.5)
    lay.gloss = (0.4 * streak).astype(np.float32)
    lay.over(_alpha(n, ("ellipse", _at(cx, gy, s, -0.31, -0.74, 0.21, -0.66))), (70, 45, 30))
    lay.shadow = _ground_shadow(n, cx + 0.05 * s, gy, 0.5 * s, 0.09 * s)
    return lay


def _car(n, cx, gy, s):
    lay = _layers(n)
    lay.paint = _alpha(n, ("rounded_rectangle", _at(cx, gy, s, -0.75, -0.44, 0.75, -0.1),
                           {"radius": 0.08 * s}),
                       ("polygon", _at(cx, gy, s, -0.45, -0.42, -0.25, -0.7, 0.25, -0.7,
                                       0.49, -0.42)))
    _, yy = _grid(n)
    lay.shade = (1.2 - 0.55 * np.clip((yy - (gy - 0.7 * s)) / (0.6 * s), 0, 1)).astype(np.float32)
    lay.gloss = (0.35 * np.exp(-((yy - (gy - 0.38 * s)) / (0.02 * s)) ** 2)).astype(np.float32)
    windows = _alpha(n, ("polygon", _at(cx, gy, s, -0.35, -0.44, -0.2, -0.64, -0.01, -0.64,
                                        -0.01, -0.44)),
                     ("polygon", _at(cx, gy, s, 0.05, -0.44, 0.05, -0.64, 0.22, -0.64,
                                     0.4, -0.44)))
    depth = np.clip((yy - (gy - 0.64 * s)) / (0.2 * s), 0, 1)[..., None]
    glass = np.array([165, 195, 215]) - 70 * depth
    lay.over(windows, glass)
    for wx in (-0.42, 0.42):
        tyre = _alpha(n, ("ellipse", _at(cx, gy, s, wx - 0.15, -0.3, wx + 0.15, 0)))
        hub = _alpha(n, ("ellipse", _at(cx, gy, s, wx - 0.06, -0.21, wx + 0.06, -0.09)))
        lay.over(tyre, (30, 30, 34))
        lay.over(hub, (160, 160, 165))
    lay.over(_alpha(n, ("ellipse", _at(cx, gy, s, 0.67, -0.36, 0.75, -0.3))), (250, 240, 190))
    lay.shadow = _ground_shadow(n, cx, gy, 0.85 * s, 0.07 * s)
    return lay


#: name -> (draw function, size range as a fraction of the picture, half width in sizes, floats)
_SHAPES = {"ball": (_ball, (0.22, 0.3), 0.5, False),
           "gift box": (_gift_box, (0.26, 0.34), 0.55, False),
           "mug": (_mug, (0.26, 0.33), 0.6, False),
           "car": (_car, (0.3, 0.36), 0.78, False),
           "balloon": (_balloon, (0.26, 0.32), 0.45, True)}


def _place(rng, n, shape, kind):
    """Draw ``shape`` at a random size and spot that suits the background ``kind``."""
    draw, (lo, hi), half_width, floats = _SHAPES[shape]
    s = rng.uniform(lo, hi) * n
    half = half_width * s + 4
    cx = rng.uniform(half, n - half)
    hz = BACKGROUNDS[kind]["horizon"]
    if floats:
        y = rng.uniform(0.08 * n + 0.52 * s, min(hz, 0.9) * n - 0.95 * s)
    else:
        y = rng.uniform(max(hz * n + 0.08 * n, 0.62 * n), 0.93 * n)
    return draw(n, cx, y, s)


def _render(bg: np.ndarray, lay: _Layers, color, shadow: bool = True) -> np.ndarray:
    """Composite the object, painted in ``color``, over the float background ``bg``."""
    img = bg * (1 - 0.45 * lay.shadow[..., None]) if shadow else bg.copy()
    obj = np.asarray(color, np.float32) * lay.shade[..., None] + 255 * lay.gloss[..., None]
    img = img * (1 - lay.paint[..., None]) + np.clip(obj, 0, 255) * lay.paint[..., None]
    return img * (1 - lay.detail_a[..., None]) + lay.detail_rgb * lay.detail_a[..., None]


def _background(rng, kind, n):
    spec = {"kind": kind, "seed": int(rng.integers(2**31))}
    return spec, np.asarray(render_background(spec, (n, n)), np.float32)


def _finish(rng, key, task, instruction, source, reference, mask, params, target_text=None):
    """Add the same sensor noise to both pictures and package the scene; the reference equals
    the source outside the mask."""
    noise = 1.6 * rng.standard_normal(source.shape, dtype=np.float32)
    src = np.clip(np.rint(source + noise), 0, 255).astype(np.uint8)
    ref = np.clip(np.rint(reference + noise), 0, 255).astype(np.uint8)
    ref = np.where(mask[..., None], ref, src)
    return DemoScene(key=key, task=task, instruction=instruction,
                     source=Image.fromarray(src, "RGB"),
                     mask=Image.fromarray(mask.astype(np.uint8) * 255, "L"),
                     target_text=target_text, params=params,
                     reference=Image.fromarray(ref, "RGB"))


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _object_removal(rng, i, n, key):
    shape = ("ball", "gift box", "mug", "car", "balloon")[i % 5]
    kind = _SKIES[i % 2] if shape == "balloon" else _GROUNDS[(i // 5 + i) % len(_GROUNDS)]
    color = _pick(rng, list(COLORS))
    _, bg = _background(rng, kind, n)
    lay = _place(rng, n, shape, kind)
    covered = ((lay.alpha > 0.004) | (lay.shadow > 0.02)).astype(np.uint8)
    mask = cv2.dilate(covered, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))) > 0
    where = "sky" if shape == "balloon" else BACKGROUNDS[kind]["surface"]
    instruction = _pick(rng, [f"Remove the {color} {shape} from the {where}",
                              f"Erase the {color} {shape}",
                              f"Take the {color} {shape} out of the picture"])
    return _finish(rng, key, "object_removal", instruction, _render(bg, lay, COLORS[color]), bg,
                   mask, {"object": shape, "color_name": color})


def _background_change(rng, i, n, key):
    shape = ("ball", "gift box", "mug", "car")[i % 4]
    kind = ("studio", "room", "brick", "meadow", "beach", "snow")[i % 6]
    choices = [k for k in ("sunset", "beach", "night", "forest", "sky", "snow", "brick", "meadow",
                           "room") if k != kind]
    new_kind = choices[(i * 5 + 1) % len(choices)]
    color = _pick(rng, list(COLORS))
    _, bg = _background(rng, kind, n)
    new_spec, new_bg = _background(rng, new_kind, n)
    lay = _place(rng, n, shape, kind if BACKGROUNDS[kind]["surface"] else "studio")
    desc = BACKGROUNDS[new_kind]["description"]
    instruction = _pick(rng, [f"Replace the background with {desc}",
                              f"Change the background to {desc}",
                              f"Put the {color} {shape} in front of {desc}"])
    source = _render(bg, lay, COLORS[color], shadow=False)
    reference = _render(new_bg, lay, COLORS[color], shadow=False)
    return _finish(rng, key, "background_change", instruction, source, reference,
                   lay.alpha < 0.98, {"background": new_spec, "object": shape})


#: (board colour, ink colour) of the signs.
_SIGN_STYLES = (((245, 238, 220), (30, 30, 35)), ((30, 95, 55), (245, 245, 235)),
                ((25, 50, 115), (250, 250, 250)), ((180, 30, 35), (255, 245, 230)),
                ((250, 205, 50), (30, 30, 30)), ((238, 238, 238), (200, 30, 30)))


def _sign(rng, bg, n, on_post, board, frame):
    """Paint a blank sign (on a post, or on the wall with a drop shadow) over ``bg``.

    Returns the float picture and the text box (x0, y0, x1, y1) inside the frame.
    """
    bw, bh = rng.uniform(0.58, 0.82) * n, rng.uniform(0.22, 0.3) * n
    x0 = rng.uniform(0.04 * n, n - bw - 0.04 * n)
    y0 = rng.uniform(0.1 * n, 0.3 * n) if on_post else rng.uniform(0.15 * n, n - bh - 0.15 * n)
    x1, y1, t = x0 + bw, y0 + bh, max(3.0, 0.025 * n)
    xx, yy = _grid(n)
    if on_post:
        px, pw = (x0 + x1) / 2, 0.025 * n
        post = _alpha(n, ("rectangle", (px - pw, y1 - 2, px + pw, n)))[..., None]
        metal = (120 + 70 * np.cos(np.clip((xx - px) / pw, -1, 1) * 1.4))[..., None]
        img = bg * (1 - post) + metal * post
    else:
        drop = _alpha(n, ("rectangle", (x0 + 5, y0 + 6, x1 + 5, y1 + 6)))
        drop = cv2.GaussianBlur(drop, (0, 0), 4)
        img = bg * (1 - 0.4 * drop[..., None])
    outer = _alpha(n, ("rounded_rectangle", (x0, y0, x1, y1), {"radius": t}))[..., None]
    inner = _alpha(n, ("rectangle", (x0 + t, y0 + t, x1 - t, y1 - t)))[..., None]
    img = img * (1 - outer) + np.asarray(frame, np.float32) * outer
    texture = 0.95 + 0.07 * smooth_noise(rng, n, n, 8) + 0.04 * (1 - (yy - y0) / bh)
    panel = np.asarray(board, np.float32) * np.clip(texture, 0.85, 1.06)[..., None]
    img = img * (1 - inner) + panel * inner
    pad = int(np.ceil(t)) + 3
    return img, (int(x0) + pad, int(y0) + pad, int(x1) - pad + 1, int(y1) - pad + 1)


def _text_edit(rng, i, n, key):
    on_post = i % 2 == 1
    kinds = ("sky", "meadow", "snow", "beach") if on_post else ("brick", "room", "studio")
    kind = kinds[i // 2 % len(kinds)]
    board, ink = _SIGN_STYLES[i % len(_SIGN_STYLES)]
    frame = np.asarray(board) * 0.55 if i % 3 else (90, 90, 95)
    old, new = (str(w) for w in rng.choice(WORDS, size=2, replace=False))
    _, bg = _background(rng, kind, n)
    plain, box = _sign(rng, bg, n, on_post, board, frame)
    base = Image.fromarray(np.clip(np.rint(plain), 0, 255).astype(np.uint8), "RGB")
    size = int(0.62 * (box[3] - box[1]))
    source = np.asarray(draw_text_in_box(base, old, box, ink, size), np.float32)
    reference = np.asarray(draw_text_in_box(base, new, box, ink, size), np.float32)
    mask = np.zeros((n, n), bool)
    mask[box[1]:box[3], box[0]:box[2]] = True
    instruction = _pick(rng, [f"Change the sign's text to {new}", f"Make the sign say {new}",
                              f"Replace '{old}' with '{new}' on the sign",
                              f"Edit the sign so it reads {new}"])
    params = {"old_text": old, "font_size": size, "text_color": list(ink), "box": list(box)}
    return _finish(rng, key, "text_edit", instruction, source, reference, mask, params,
                   target_text=new)


def _recolor(rng, i, n, key):
    shape = ("car", "ball", "mug", "gift box", "balloon")[i % 5]
    kind = _SKIES[i % 2] if shape == "balloon" else _GROUNDS[(i + 2 * (i // 5)) % len(_GROUNDS)]
    old, new = (str(c) for c in rng.choice(list(COLORS), size=2, replace=False))
    _, bg = _background(rng, kind, n)
    lay = _place(rng, n, shape, kind)
    mask = lay.paint * (1 - lay.detail_a) >= 0.5
    instruction = _pick(rng, [f"Make the {shape} {new}",
                              f"Change the color of the {shape} to {new}",
                              f"Paint the {old} {shape} {new}", f"Turn the {shape} {new}"])
    params = {"color": list(COLORS[new]), "color_name": new, "old_color_name": old, "object": shape}
    return _finish(rng, key, "recolor", instruction, _render(bg, lay, COLORS[old]),
                   _render(bg, lay, COLORS[new]), mask, params)


_MAKERS = {"object_removal": _object_removal, "background_change": _background_change,
           "text_edit": _text_edit, "recolor": _recolor}


def generate_scenes(seed: int = 0, per_task: int = 12, size: int = 256) -> list[DemoScene]:
    """Render the demo set: ``per_task`` scenes for each task of :data:`models.base.DEMO_TASKS`.

    Parameters
    ----------
    seed : int
        Non-negative; the same seed always gives the same scenes, pixel for pixel.
    per_task : int
        Scenes per task.
    size : int
        Width and height of every picture, in pixels (at least 64).

    Returns
    -------
    list of DemoScene
        Grouped by task, in the order of ``DEMO_TASKS``.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if per_task < 0:
        raise ValueError(f"per_task must be >= 0, got {per_task}")
    if size < 64:
        raise ValueError(f"size must be at least 64 pixels, got {size}")
    scenes = []
    for t, task in enumerate(DEMO_TASKS):
        for i in range(per_task):
            rng = np.random.default_rng([seed, t, i])
            scenes.append(_MAKERS[task](rng, i, size, f"{task}-{i:03d}"))
    return scenes
