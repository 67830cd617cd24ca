"""Classical editors on the real demo scenes: they edit inside the mask and nowhere else."""
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageFilter

from arena.demo.scenes import generate_scenes
from models.base import DEMO_TASKS, KINDS, EditError, Editor, supports
from models.classical import (FeatherComposite, HueShiftRecolor, TeleaInpaint, TeleaText,
                              classical_editors, render_background)

EDITORS = classical_editors()
BY_NAME = {e.name: e for e in EDITORS}


@pytest.fixture(scope="module")
def scenes():
    return generate_scenes(seed=0)


@pytest.fixture(scope="module")
def outputs(scenes):
    return {(s.key, e.name): e.edit(s.request()) for s in scenes for e in EDITORS
            if supports(e, s.task)}


def _scene(scenes, task, index=0):
    return [s for s in scenes if s.task == task][index]


def test_catalogue():
    assert len(BY_NAME) == len(EDITORS)
    for e in EDITORS:
        assert isinstance(e, Editor) and e.kind in KINDS and e.version
        assert e.name == e.name.lower() and " " not in e.name
        assert e.tasks is None or e.tasks <= set(DEMO_TASKS)
    for task in DEMO_TASKS:
        assert sum(e.kind == "classical" and supports(e, task) for e in EDITORS) >= 3, task
    baselines = [e for e in EDITORS if e.kind == "baseline"]
    assert [b.name for b in baselines] == ["no-edit"] and baselines[0].tasks is None


@pytest.mark.parametrize("name", [e.name for e in EDITORS if e.kind != "baseline"])
def test_edits_inside_the_mask_and_nowhere_else(name, scenes, outputs):
    editor = BY_NAME[name]
    done = 0
    for s in scenes:
        if not supports(editor, s.task):
            continue
        out = outputs[(s.key, name)]
        assert out.mode == "RGB" and out.size == s.source.size
        src, res = np.asarray(s.source), np.asarray(out)
        inside = np.asarray(s.mask) > 0
        changed = (src != res).any(axis=2)
        assert changed[inside].mean() > 0.02, s.key
        assert not changed[~inside].any(), s.key
        done += 1
    assert done == 12


def test_no_edit_returns_the_source(scenes, outputs):
    for s in scenes:
        out = outputs[(s.key, "no-edit")]
        assert out.mode == "RGB" and out.tobytes() == s.source.tobytes()
        assert out is not s.source


def test_editors_are_deterministic(scenes, outputs):
    for e in EDITORS:
        s = next(s for s in scenes if supports(e, s.task))
        assert e.edit(s.request()).tobytes() == outputs[(s.key, e.name)].tobytes(), e.name


def _mean_error(a, b, mask):
    inside = np.asarray(mask) > 0
    return np.abs(np.asarray(a, float) - np.asarray(b, float))[inside].mean()


@pytest.mark.parametrize("task", DEMO_TASKS)
def test_every_editor_comes_closer_to_the_reference_than_no_edit(task, scenes, outputs):
    group = [s for s in scenes if s.task == task]
    base = np.mean([_mean_error(s.source, s.reference, s.mask) for s in group])
    for e in EDITORS:
        if e.kind == "baseline" or not supports(e, task) or e.name == "text-overdraw":
            continue
        err = np.mean([_mean_error(outputs[(s.key, e.name)], s.reference, s.mask) for s in group])
        assert err < 0.7 * base, (e.name, err, base)


def test_text_editors_that_erase_beat_the_one_that_does_not(scenes, outputs):
    group = [s for s in scenes if s.task == "text_edit"]
    err = {n: np.mean([_mean_error(outputs[(s.key, n)], s.reference, s.mask) for s in group])
           for n in ("text-fill-median", "text-telea", "text-overdraw")}
    assert max(err["text-fill-median"], err["text-telea"]) < err["text-overdraw"]


@pytest.mark.parametrize("name", [e.name for e in EDITORS if e.kind != "baseline"])
def test_missing_mask_raises(name, scenes):
    editor = BY_NAME[name]
    s = next(s for s in scenes if supports(editor, s.task))
    with pytest.raises(EditError, match="mask"):
        editor.edit(replace(s.request(), mask=None))
    with pytest.raises(EditError, match="empty"):
        editor.edit(replace(s.request(), mask=Image.new("L", s.source.size, 0)))
    with pytest.raises(EditError, match="size"):
        editor.edit(replace(s.request(), mask=s.mask.resize((64, 64))))


def test_missing_or_bad_params_raise(scenes):
    recolor, bg, text = (_scene(scenes, t) for t in ("recolor", "background_change", "text_edit"))
    for e in EDITORS:
        if supports(e, "recolor") and e.tasks is not None:
            with pytest.raises(EditError, match="color"):
                e.edit(replace(recolor.request(), params={}))
            with pytest.raises(EditError, match="color"):
                e.edit(replace(recolor.request(), params={"color": "blue"}))
        if supports(e, "background_change") and e.tasks is not None:
            with pytest.raises(EditError, match="background"):
                e.edit(replace(bg.request(), params={}))
            with pytest.raises(EditError, match="background"):
                e.edit(replace(bg.request(), params={"background": {"kind": "mars"}}))
        if supports(e, "text_edit") and e.tasks is not None:
            for missing in (None, "", "  "):
                with pytest.raises(EditError, match="target_text"):
                    e.edit(replace(text.request(), target_text=missing))


def test_unsupported_task_raises(scenes):
    with pytest.raises(EditError, match="does not do"):
        TeleaInpaint().edit(_scene(scenes, "recolor").request())


def test_text_editors_work_without_optional_params(scenes):
    s = _scene(scenes, "text_edit", 1)
    out = TeleaText().edit(replace(s.request(), params={}))
    changed = (np.asarray(out) != np.asarray(s.source)).any(axis=2)
    inside = np.asarray(s.mask) > 0
    assert changed[inside].any() and not changed[~inside].any()


def test_soft_masks_keep_zero_pixels(scenes):
    s = _scene(scenes, "recolor", 1)
    soft = s.mask.filter(ImageFilter.GaussianBlur(3))
    out = np.asarray(HueShiftRecolor().edit(replace(s.request(), mask=soft)))
    zero = np.asarray(soft) == 0
    assert (out[zero] == np.asarray(s.source)[zero]).all()


def test_settings_and_render_background():
    assert dict(TeleaInpaint(radius=3).settings) == {"radius": 3}
    assert FeatherComposite().settings["sigma_px"] > 0
    with pytest.raises(TypeError):
        TeleaInpaint(strength=2)
    a = render_background({"kind": "sunset", "seed": 4}, (80, 60))
    assert a.size == (80, 60) and a.mode == "RGB"
    assert a.tobytes() == render_background({"kind": "sunset", "seed": 4}, (80, 60)).tobytes()
    with pytest.raises(ValueError):
        render_background({"kind": "sunset", "horizon": 2}, (80, 60))
