"""Automatic metrics: known answers on synthetic images."""
import importlib.util
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from models.metrics import (
    METRIC_DIRECTION,
    PSNR_MAX,
    higher_is_better,
    levenshtein,
    normalized_edit_distance,
    psnr,
    read_text,
    ssim,
    task_metrics,
    text_metrics,
)


needs_ocr = pytest.mark.skipif(
    importlib.util.find_spec("rapidocr") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="rapidocr and onnxruntime are optional (requirements-models.txt)",
)


@pytest.fixture(scope="module")
def source():
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def mask():
    m = Image.new("L", (80, 64), 0)
    m.paste(255, (20, 20, 50, 40))
    return m


def word(text, size=(320, 128)):
    """``text`` in a large clear font, black on white."""
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((20, 30), text, fill="black", font=ImageFont.load_default(size=48))
    return image


@pytest.fixture(scope="module")
def text_mask():
    m = Image.new("L", (320, 128), 0)
    m.paste(255, (20, 30, 220, 90))
    return m


def test_identical_images_are_perfect(source, mask):
    values = task_metrics("object_removal", source, source, mask, reference=source)
    assert values == {"psnr_outside": PSNR_MAX, "ssim_outside": 1.0, "ref_psnr": PSNR_MAX,
                      "ref_ssim": 1.0}


def test_change_inside_mask_leaves_outside_perfect(source, mask):
    out = source.copy()
    out.paste((255, 0, 0), (20, 20, 50, 40))
    values = task_metrics("recolor", source, out, mask, reference=source)
    assert values["psnr_outside"] == PSNR_MAX
    assert values["ssim_outside"] == pytest.approx(1.0)
    assert values["ref_psnr"] < 20 and values["ref_ssim"] < 0.5


def test_change_outside_mask_is_seen(source, mask):
    out = source.copy()
    out.paste((0, 0, 0), (0, 0, 10, 10))
    values = task_metrics("object_removal", source, out, mask)
    assert 5 < values["psnr_outside"] < 40
    assert values["ssim_outside"] < 0.99


def test_psnr_and_ssim_known_values():
    a = np.full((16, 16, 3), 100.0)
    b = a + 10.0
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(a, a) == PSNR_MAX
    assert ssim(a, a) == pytest.approx(1.0)
    empty = np.zeros((16, 16), bool)
    assert math.isnan(psnr(a, b, empty)) and math.isnan(ssim(a, b, empty))


def test_output_of_another_size_is_resized(source, mask):
    values = task_metrics("object_removal", source, source.resize((160, 128)), mask)
    assert values["psnr_outside"] > 15


def test_full_mask_has_no_outside(source):
    assert task_metrics("background_change", source, source, Image.new("L", source.size, 255)) == {}


def test_every_metric_has_a_direction(source, mask):
    assert set(task_metrics("recolor", source, source, mask, reference=source)) <= set(METRIC_DIRECTION)
    assert higher_is_better("psnr_outside") and not higher_is_better("ocr_cer")


def test_edit_distance():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert normalized_edit_distance("", "") == 0.0
    assert normalized_edit_distance("abcd", "wxyz") == 1.0


def test_text_metrics_without_ocr():
    assert text_metrics("Grand  open", "GRANDOPEN") == {"ocr_cer": 0.0, "ocr_exact": 1.0}
    assert text_metrics("REOPEN", "REOPEN", old_text="OPEN")["old_text_gone"] == 1.0
    assert text_metrics("OPEN NOW", "NOW", old_text="OPEN")["old_text_gone"] == 0.0


@needs_ocr
def test_ocr_reads_a_rendered_word():
    reading = read_text(word("OPEN"))
    assert reading.text == "OPEN"
    assert text_metrics(reading, "OPEN") == {"ocr_cer": 0.0, "ocr_exact": 1.0}
    assert text_metrics(reading, "zebra")["ocr_cer"] == pytest.approx(1.0)


@needs_ocr
def test_old_text_gone(text_mask):
    before = word("OPEN")
    done = task_metrics("text_edit", before, word("SHUT"), text_mask, target_text="SHUT",
                        old_text="OPEN")
    assert done["ocr_cer"] == 0.0 and done["old_text_gone"] == 1.0
    undone = task_metrics("text_edit", before, before, text_mask, target_text="SHUT",
                          old_text="OPEN")
    assert undone["ocr_cer"] > 0.5 and undone["old_text_gone"] == 0.0
    assert "ocr_cer" not in task_metrics("text_edit", before, before, text_mask,
                                         target_text="SHUT", ocr=False)
