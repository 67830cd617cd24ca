"""Models file parsing, editor building, imported outputs, and cheap imports."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.base import Editor, EditError, EditRequest
from models.config import ConfigError, ModelSpec, build_editor, load_models
from models.imported import ImportedEditor, ImportedOutput, read_manifest

needs_diffusers = pytest.mark.skipif(
    importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("torch") is None,
    reason="diffusers and torch are optional (requirements-models.txt)",
)
hub_warning = pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks`:UserWarning")

DEMO = Path(__file__).resolve().parents[1] / "models" / "demo_models.toml"


def write(tmp_path, text, name="models.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_demo_file_declares_every_classical_editor():
    from models.classical import classical_editors

    specs = load_models(DEMO)
    assert {s.name for s in specs} == {e.name for e in classical_editors()}
    for spec in specs:
        editor = build_editor(spec)
        assert isinstance(editor, Editor)
        assert (editor.name, editor.kind, editor.version) == (spec.name, spec.kind, spec.version)
        assert spec.price_per_gpu_hour == 0.10 and spec.hardware == "cpu"
    assert [s.kind for s in specs].count("baseline") == 1


def test_spec_cost():
    assert ModelSpec("a", "api", price_per_image=0.04).cost_usd(12.0) == 0.04
    assert ModelSpec("a", "diffusers", price_per_gpu_hour=3.6).cost_usd(2.0) == pytest.approx(0.002)
    assert ModelSpec("a", "diffusers").cost_usd(2.0) is None


@pytest.mark.parametrize("body, message", [
    ('[[model]]\nname = "x"\nkind = "magic"', r"model 'x': field 'kind' is 'magic'"),
    ('[[model]]\nkind = "classical"', r"model #1: field 'name'"),
    ('[[model]]\nname = "x"\nkind = "classical"\ncolour = 1', r"model 'x': unknown field.*colour"),
    ('[[model]]\nname = "x"\nkind = "diffusers"\npath = "nowhere"', r"model 'x': field 'path'.*does not exist"),
    ('[[model]]\nname = "x"\nkind = "diffusers"', r"model 'x'.*exactly one of 'path' and 'hub_id'"),
    ('[[model]]\nname = "x"\nkind = "imported"', r"model 'x'.*needs 'path'"),
    ('[[model]]\nname = "x"\nkind = "api"\nhub_id = "a/b"\npath = "."', r"model 'x'.*no 'hub_id'"),
    ('[[model]]\nname = "x"\nkind = "classical"\nprice_per_image = -1', r"model 'x': field 'price_per_image'"),
    ('[[model]]\nname = "x"\nkind = "classical"\nprice_per_gpu_hour = "cheap"', r"'price_per_gpu_hour'.*'cheap'"),
    ('[[model]]\nname = "x"\nkind = "classical"\nprice_per_image = 1\nprice_per_gpu_hour = 1', "not both"),
    ('[[model]]\nname = "x"\nkind = "classical"\nsettings = 3', r"model 'x': field 'settings'"),
    ('[[model]]\nname = "x"\nkind = "classical"\ntasks = "recolor"', r"model 'x': field 'tasks'"),
    ('[[model]]\nname = "x"\nkind = "classical"\n[[model]]\nname = "x"\nkind = "classical"', "declared twice"),
    ('name = "x"', "unknown top-level"),
    ('', "no \\[\\[model\\]\\] tables"),
    ('[[model]\nname = ', "not valid TOML"),
])
def test_bad_files_name_the_problem(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError, match=message) as info:
        load_models(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_models(tmp_path / "absent.toml")


@pytest.mark.parametrize("body, message", [
    ('name = "cv2-magic"\nkind = "classical"', "no classical editor of that name"),
    ('name = "cv2-telea"\nkind = "baseline"', "field 'kind'"),
    ('name = "cv2-telea"\nkind = "classical"\nversion = "9"', "field 'version'"),
    ('name = "cv2-telea"\nkind = "classical"\nsettings = { size = 3 }', "field 'settings'"),
    ('name = "cv2-telea"\nkind = "classical"\ntasks = ["recolor"]', "field 'tasks'"),
])
def test_classical_build_errors(tmp_path, body, message):
    (spec,) = load_models(write(tmp_path, "[[model]]\n" + body))
    with pytest.raises(ConfigError, match=f"model '{spec.name}': {message}"):
        build_editor(spec)


def test_classical_settings_and_tasks_apply(tmp_path):
    body = '[[model]]\nname = "cv2-telea"\nkind = "classical"\nsettings = { radius = 9 }\n'
    (spec,) = load_models(write(tmp_path, body))
    assert build_editor(spec).settings["radius"] == 9
    (spec,) = load_models(write(tmp_path, '[[model]]\nname = "no-edit"\nkind = "baseline"\ntasks = ["recolor"]'))
    assert build_editor(spec).tasks == {"recolor"}


@needs_diffusers
def test_diffusers_spec_builds_a_lazy_editor(tmp_path):
    folder = tmp_path / "weights" / "inpaint"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionInpaintPipeline"}))
    body = ('[[model]]\nname = "sd-inpaint"\nkind = "diffusers"\npath = "weights/inpaint"\n'
            'device = "cpu"\nsettings = { steps = 4 }\nprice_per_gpu_hour = 2.0\n')
    (spec,) = load_models(write(tmp_path, body))
    assert spec.path == folder.resolve()
    editor = build_editor(spec)
    assert editor.kind == "diffusers" and not editor.loaded and editor.uses_mask
    assert editor.settings["steps"] == 4 and editor.settings["pipeline"] == "StableDiffusionInpaintPipeline"
    bad = body.replace("steps = 4", "colour = 4")
    with pytest.raises(ConfigError, match="model 'sd-inpaint'.*colour"):
        build_editor(load_models(write(tmp_path, bad))[0])


@needs_diffusers
@hub_warning
def test_hub_model_not_in_cache_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    body = '[[model]]\nname = "ip2p"\nkind = "diffusers"\nhub_id = "nobody-here/no-such-model"\n'
    (spec,) = load_models(write(tmp_path, body))
    with pytest.raises(ConfigError, match="model 'ip2p'.*cache"):
        build_editor(spec)


@pytest.fixture
def outputs(tmp_path):
    for i, color in enumerate([(255, 0, 0), (0, 255, 0)]):
        Image.new("RGB", (32, 24), color).save(tmp_path / f"out{i}.png")
    return tmp_path


def request(item=None, size=(32, 24)):
    params = {} if item is None else {"item": item}
    return EditRequest("recolor", "make it red", Image.new("RGB", size), params=params)


def test_imported_editor_returns_stored_images(outputs):
    editor = ImportedEditor("api-x", {
        "a": {"path": "out0.png", "latency_s": 6.5, "cost_usd": 0.04},
        "b": outputs / "out1.png",
    }, root=outputs)
    assert isinstance(editor, Editor) and editor.kind == "imported"
    image = editor.edit(request("a"))
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 0, 0)
    assert editor.output_for("a") == ImportedOutput(outputs / "out0.png", 6.5, 0.04)
    assert editor.output_for(request("b")).latency_s is None
    assert editor.edit(request("b", size=(64, 48))).size == (64, 48)
    with pytest.raises(EditError, match="no imported output for item 'c'"):
        editor.edit(request("c"))
    with pytest.raises(EditError, match="params"):
        editor.edit(request())


def test_manifests(outputs):
    (outputs / "m.csv").write_text("item,path,latency_s,cost_usd\na,out0.png,6.5,0.04\nb,out1.png,,\n")
    (outputs / "m.json").write_text(json.dumps({"a": {"image": "out0.png", "latency_s": 6.5, "cost_usd": 0.04},
                                                "b": "out1.png"}))
    (outputs / "m.jsonl").write_text('{"item": "a", "path": "out0.png", "latency_s": 6.5, "cost_usd": 0.04}\n'
                                     '{"item": "b", "path": "out1.png"}\n')
    expected = read_manifest(outputs / "m.csv")
    assert expected["a"] == ImportedOutput(outputs / "out0.png", 6.5, 0.04)
    assert read_manifest(outputs / "m.json") == expected == read_manifest(outputs / "m.jsonl")
    (outputs / "bad.csv").write_text("item,path,latency_s\na,out0.png,-3\n")
    with pytest.raises(ValueError, match="item 'a'.*latency_s"):
        read_manifest(outputs / "bad.csv")
    (outputs / "dup.jsonl").write_text('{"item": "a", "path": "x.png"}\n{"item": "a", "path": "y.png"}\n')
    with pytest.raises(ValueError, match="twice"):
        read_manifest(outputs / "dup.jsonl")


def test_api_spec_builds_an_imported_editor(outputs):
    (outputs / "m.json").write_text(json.dumps({"a": "out0.png"}))
    body = '[[model]]\nname = "gpt-image"\nkind = "api"\npath = "m.json"\nprice_per_image = 0.04\n'
    (spec,) = load_models(write(outputs, body))
    editor = build_editor(spec)
    assert editor.kind == "api"
    assert np.asarray(editor.edit(request("a")))[0, 0].tolist() == [255, 0, 0]


def test_importing_models_does_not_import_torch():
    code = ("import sys, models, models.config, models.imported, models.metrics, "
            "models.diffusers_editors, models.devices; "
            "print(sorted(m for m in ('torch', 'diffusers', 'rapidocr', 'skimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
