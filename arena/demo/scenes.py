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
from PIL import Image

from arena.demo.shapes import coverage, pixel_grid, place_object, render_object
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

_GROUNDS = ("room", "meadow", "beach", "snow", "studio", "forest")
_SKIES = ("sky", "sunset")


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
    lay = place_object(rng, n, shape, kind)
    covered = ((lay.alpha > 0.004) | (lay.shadow > 0.02)).astype(np.uint8)
    mask = cv2.dilate(covered, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))) > 0
    where = "sky" if shape == "balloon" else BACKGROUNDS[kind]["surface"]
    instruction = _pick(rng, [f"Remove the {color} {shape} from the {where}",
                              f"Erase the {color} {shape}",
                              f"Take the {color} {shape} out of the picture"])
    return _finish(rng, key, "object_removal", instruction, render_object(bg, lay, COLORS[color]), bg,
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
    lay = place_object(rng, n, shape, kind if BACKGROUNDS[kind]["surface"] else "studio")
    desc = BACKGROUNDS[new_kind]["description"]
    instruction = _pick(rng, [f"Replace the background with {desc}",
                              f"Change the background to {desc}",
                              f"Put the {color} {shape} in front of {desc}"])
    source = render_object(bg, lay, COLORS[color], shadow=False)
    reference = render_object(new_bg, lay, COLORS[color], shadow=False)
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
    xx, yy = pixel_grid(n)
    if on_post:
        px, pw = (x0 + x1) / 2, 0.025 * n
        post = coverage(n, ("rectangle", (px - pw, y1 - 2, px + pw, n)))[..., None]
        metal = (120 + 70 * np.cos(np.clip((xx - px) / pw, -1, 1) * 1.4))[..., None]
        img = bg * (1 - post) + metal * post
    else:
        drop = coverage(n, ("rectangle", (x0 + 5, y0 + 6, x1 + 5, y1 + 6)))
        drop = cv2.GaussianBlur(drop, (0, 0), 4)
        img = bg * (1 - 0.4 * drop[..., None])
    outer = coverage(n, ("rounded_rectangle", (x0, y0, x1, y1), {"radius": t}))[..., None]
    inner = coverage(n, ("rectangle", (x0 + t, y0 + t, x1 - t, y1 - t)))[..., None]
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
    lay = place_object(rng, n, shape, kind)
    mask = lay.paint * (1 - lay.detail_a) >= 0.5
    instruction = _pick(rng, [f"Make the {shape} {new}",
                              f"Change the color of the {shape} to {new}",
                              f"Paint the {old} {shape} {new}", f"Turn the {shape} {new}"])
    params = {"color": list(COLORS[new]), "color_name": new, "old_color_name": old, "object": shape}
    return _finish(rng, key, "recolor", instruction, render_object(bg, lay, COLORS[old]),
                   render_object(bg, lay, COLORS[new]), mask, params)


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
