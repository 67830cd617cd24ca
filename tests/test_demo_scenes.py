"""The procedurally rendered demo scenes: counts, determinism, masks and references."""
import json

import numpy as np
import pytest

from arena.demo.scenes import COLORS, DemoScene, generate_scenes
from models.base import DEMO_TASKS, EditRequest


@pytest.fixture(scope="module")
def scenes():
    return generate_scenes(seed=0)


def test_counts_keys_and_task_order(scenes):
    assert len(scenes) == 12 * len(DEMO_TASKS)
    assert [s.task for s in scenes] == [t for t in DEMO_TASKS for _ in range(12)]
    keys = [s.key for s in scenes]
    assert len(set(keys)) == len(keys)
    assert "recolor-003" in keys and "object_removal-000" in keys


def test_images_have_the_right_size_and_mode(scenes):
    for s in scenes:
        assert s.source.mode == "RGB" and s.source.size == (256, 256)
        assert s.reference.mode == "RGB" and s.reference.size == (256, 256)
        assert s.mask.mode == "L" and s.mask.size == (256, 256)


def test_masks_are_binary_and_neither_empty_nor_full(scenes):
    for s in scenes:
        mask = np.asarray(s.mask)
        assert set(np.unique(mask)) <= {0, 255}, s.key
        assert 0.005 < (mask > 0).mean() < 0.995, s.key


def test_reference_differs_inside_the_mask_and_equals_source_outside(scenes):
    for s in scenes:
        src, ref = np.asarray(s.source, np.int16), np.asarray(s.reference, np.int16)
        inside = np.asarray(s.mask) > 0
        diff = np.abs(src - ref).max(axis=2)
        assert (diff[inside] > 20).mean() > 0.05, s.key
        assert not diff[~inside].any(), s.key


def test_same_seed_same_pixels_other_seed_other_pixels():
    a, b = generate_scenes(seed=7, per_task=2), generate_scenes(seed=7, per_task=2)
    c = generate_scenes(seed=8, per_task=2)
    for x, y, z in zip(a, b, c):
        assert x.instruction == y.instruction and x.params == y.params
        assert x.source.tobytes() == y.source.tobytes()
        assert x.mask.tobytes() == y.mask.tobytes()
        assert x.reference.tobytes() == y.reference.tobytes()
        assert x.source.tobytes() != z.source.tobytes()


def test_params_are_json_and_carry_what_editors_need(scenes):
    for s in scenes:
        assert json.loads(json.dumps(s.params)) == s.params
        assert s.instruction and s.instruction[0].isupper()
        if s.task == "recolor":
            assert s.params["color"] == list(COLORS[s.params["color_name"]])
            assert s.params["color_name"] in s.instruction
        elif s.task == "background_change":
            assert s.params["background"]["kind"]
        elif s.task == "text_edit":
            assert s.target_text and s.target_text != s.params["old_text"]
            assert s.target_text in s.instruction and s.params["font_size"] > 6
        else:
            assert s.target_text is None


def test_scenes_vary(scenes):
    for task in DEMO_TASKS:
        group = [s for s in scenes if s.task == task]
        assert len({s.instruction for s in group}) >= 8, task
        centres = {tuple(np.argwhere(np.asarray(s.mask) > 0).mean(axis=0).round()) for s in group}
        assert len(centres) == len(group), task


def test_request_carries_the_scene():
    s = generate_scenes(per_task=1)[2]
    req = s.request(seed=3)
    assert isinstance(req, EditRequest) and isinstance(s, DemoScene)
    assert (req.task, req.source, req.mask, req.seed) == (s.task, s.source, s.mask, 3)


def test_other_sizes_and_bad_arguments():
    small = generate_scenes(per_task=1, size=96)
    assert len(small) == 4 and all(s.source.size == (96, 96) for s in small)
    assert generate_scenes(per_task=0) == []
    for kwargs in ({"size": 32}, {"per_task": -1}, {"seed": -1}):
        with pytest.raises(ValueError):
            generate_scenes(**kwargs)
