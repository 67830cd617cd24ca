"""Diffusers adapters on tiny random-weight pipelines: 64 px, 2 steps, one thread, offline."""
import json

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines  # noqa: E402

from models.base import Editor, EditError, EditRequest  # noqa: E402
from models.devices import resolve_device, resolve_dtype  # noqa: E402
from models.diffusers_editors import DiffusersEditor, ModelLoadError  # noqa: E402
from models.diffusers_pipelines import working_size  # noqa: E402

FAST = {"steps": 2, "size": 64}
KONTEXT = {**FAST, "max_sequence_length": 16}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def source():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (60, 70, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def mask():
    m = Image.new("L", (70, 60), 0)
    m.paste(255, (20, 15, 45, 40))
    return m


@pytest.fixture(scope="module")
def pix2pix_pipe():
    return tiny_pipelines.tiny_instruct_pix2pix()


@pytest.fixture(scope="module")
def inpaint_pipe():
    return tiny_pipelines.tiny_inpaint()


@pytest.fixture(scope="module")
def pix2pix(pix2pix_pipe):
    return DiffusersEditor.from_pipeline(pix2pix_pipe, "pix2pix", settings=FAST, device="cpu")


@pytest.fixture(scope="module")
def inpaint(inpaint_pipe):
    return DiffusersEditor.from_pipeline(inpaint_pipe, "inpaint", settings=FAST, device="cpu")


@pytest.fixture(scope="module")
def kontext():
    pipe = tiny_pipelines.tiny_flux_kontext()
    return DiffusersEditor.from_pipeline(pipe, "kontext", settings=KONTEXT, device="cpu")


def make_request(source, mask=None, seed=0, instruction="remove the cat"):
    return EditRequest("object_removal", instruction, source, mask=mask, seed=seed)


@pytest.mark.parametrize("name", ["pix2pix", "inpaint", "kontext"])
def test_edit_is_rgb_source_sized_and_seeded(name, source, mask, request):
    editor = request.getfixturevalue(name)
    assert isinstance(editor, Editor)
    assert editor.kind == "diffusers"
    first = editor.edit(make_request(source, mask, seed=3))
    again = editor.edit(make_request(source, mask, seed=3))
    other = editor.edit(make_request(source, mask, seed=4))
    assert first.mode == "RGB" and first.size == source.size
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))


def test_inpaint_keeps_pixels_outside_mask(inpaint, source, mask):
    out = np.asarray(inpaint.edit(make_request(source, mask)))
    outside = np.asarray(mask) == 0
    assert np.array_equal(out[outside], np.asarray(source)[outside])
    assert not np.array_equal(out[~outside], np.asarray(source)[~outside])


def test_inpaint_needs_a_mask(inpaint, source):
    with pytest.raises(EditError, match="mask"):
        inpaint.edit(make_request(source))


def test_mask_of_wrong_size_is_refused(pix2pix, source):
    with pytest.raises(EditError, match="size"):
        pix2pix.edit(make_request(source, Image.new("L", (10, 10), 255)))


def test_instruction_model_ignores_mask_unless_composite(pix2pix_pipe, source, mask):
    outside = np.asarray(mask) == 0
    plain = DiffusersEditor.from_pipeline(pix2pix_pipe, "p", settings=FAST)
    pasted = DiffusersEditor.from_pipeline(pix2pix_pipe, "p", settings={**FAST, "composite": True})
    assert not plain.uses_mask and plain.settings["composite"] is False
    a = np.asarray(plain.edit(make_request(source, mask)))
    b = np.asarray(pasted.edit(make_request(source, mask)))
    assert not np.array_equal(a[outside], np.asarray(source)[outside])
    assert np.array_equal(b[outside], np.asarray(source)[outside])
    assert np.array_equal(a[~outside], b[~outside])


def test_settings_are_recorded(pix2pix, inpaint, kontext):
    assert pix2pix.settings == {
        "pipeline": "StableDiffusionInstructPix2PixPipeline", "steps": 2, "guidance_scale": 7.5,
        "image_guidance_scale": 1.5, "size": 64, "composite": False, "dtype": "float32",
    }
    assert inpaint.settings["strength"] == 1.0 and inpaint.settings["composite"] is True
    assert inpaint.uses_mask
    assert kontext.settings["pipeline"] == "FluxKontextPipeline"
    assert kontext.settings["guidance_scale"] == 2.5
    assert kontext.settings["max_sequence_length"] == 16
    json.dumps(kontext.settings)


def test_unknown_setting_is_refused(pix2pix_pipe):
    with pytest.raises(ValueError, match="strength"):
        DiffusersEditor.from_pipeline(pix2pix_pipe, "p", settings={"strength": 0.5})
    with pytest.raises(ValueError, match="prompt"):
        DiffusersEditor.from_pipeline(pix2pix_pipe, "p", settings={"prompt": "x"})
    with pytest.raises(ValueError, match="size"):
        DiffusersEditor.from_pipeline(pix2pix_pipe, "p", settings={"size": -1})


def test_working_size_keeps_aspect_and_multiple():
    assert working_size((70, 60), 64, 8) == (64, 48)
    assert working_size((1024, 768), 512, 8) == (512, 384)
    assert working_size((70, 60), None, 16) == (64, 48)
    assert working_size((3, 3), None, 8) == (8, 8)


def test_saved_folder_loads_through_the_folder_loader(inpaint_pipe, inpaint, source, mask, tmp_path):
    inpaint_pipe.save_pretrained(tmp_path / "tiny-inpaint")
    editor = DiffusersEditor.from_pretrained(
        tmp_path / "tiny-inpaint", settings=FAST, device="cpu", version="t1"
    )
    assert editor.name == "tiny-inpaint" and editor.version == "t1"
    assert not editor.loaded and editor.settings["pipeline"] == "StableDiffusionInpaintPipeline"
    out = editor.edit(make_request(source, mask))
    assert editor.loaded
    assert np.array_equal(np.asarray(out), np.asarray(inpaint.edit(make_request(source, mask))))


def test_generic_path_dispatches_on_mask_image(pix2pix_pipe, inpaint_pipe, source, mask, tmp_path):
    pix2pix_pipe.save_pretrained(tmp_path / "p")
    inpaint_pipe.save_pretrained(tmp_path / "i")
    plain = DiffusersEditor.from_pretrained(tmp_path / "p", "p", pipeline="generic", device="cpu",
                                            settings={"steps": 2})
    masked = DiffusersEditor.from_pretrained(tmp_path / "i", "i", pipeline="generic",
                                             device="cpu", settings={"steps": 2})
    assert not plain.uses_mask and masked.uses_mask
    assert plain.settings["size"] is None and "image_guidance_scale" not in plain.settings
    out = masked.edit(make_request(source, mask))
    outside = np.asarray(mask) == 0
    assert np.array_equal(np.asarray(out)[outside], np.asarray(source)[outside])
    assert plain.edit(make_request(source)).size == source.size


def test_qwen_edit_is_declared_without_loading(tmp_path):
    (tmp_path / "model_index.json").write_text("{}")
    editor = DiffusersEditor.from_pretrained(tmp_path, "qwen", pipeline="qwen_image_edit",
                                             device="cpu")
    assert not editor.loaded
    assert editor.settings["pipeline"] == "QwenImageEditPipeline"
    assert editor.settings["true_cfg_scale"] == 4.0 and editor.settings["size"] == 1024


@pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks`:UserWarning")
def test_missing_sources_fail_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="does not exist"):
        DiffusersEditor.from_pretrained(tmp_path / "nothing")
    with pytest.raises(ModelLoadError, match="model_index.json"):
        DiffusersEditor.from_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="cache"):
        DiffusersEditor.from_pretrained("nobody-here/no-such-model", device="cpu")
    with pytest.raises(ModelLoadError, match="no pipeline class"):
        (tmp_path / "model_index.json").write_text("{}")
        DiffusersEditor.from_pretrained(tmp_path, pipeline="NoSuchPipeline", device="cpu")


def test_device_and_dtype_selection(monkeypatch):
    assert resolve_dtype("auto", "cpu", "bfloat16") == torch.float32
    assert resolve_dtype("float16", "cpu") == torch.float16
    assert resolve_dtype(torch.bfloat16, "cpu") == torch.bfloat16
    with pytest.raises(ValueError):
        resolve_dtype("float8", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="CUDA"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype("auto", "cuda", "bfloat16") == torch.bfloat16
    assert resolve_dtype("auto", "cuda", "float16") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype("auto", "cuda", "bfloat16") == torch.float16
