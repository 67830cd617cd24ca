"""``arena generate``: classical editors and a tiny diffusers pipeline declared in a models file,
run over stored items; resumed runs, recorded failures, metrics and measurements in the database."""
import importlib.util
import json
import os

import pytest
from PIL import Image
from sqlalchemy import func, select

from arena.demo.scenes import generate_scenes
from arena.outputs.failures import list_failures
from arena.outputs.generate import GenerateError, RunOptions, generate
from arena.store.catalog import add_item, ensure_task, model_stats
from arena.store.schema import GenerationFailure, Item, Model, Output
from models.config import load_models

FAST = RunOptions(repeats=1, ocr=False)

CLASSICAL = """
[[model]]
name = "cv2-telea"
kind = "classical"
version = "1.0"
provider = "OpenCV"
tasks = ["object_removal"]
price_per_gpu_hour = 0.36

[[model]]
name = "recolor-hsv"
kind = "classical"
price_per_image = 0.002

[[model]]
name = "no-edit"
kind = "baseline"
"""


def store_scenes(arena, per_task=2, size=96):
    """The demo's rendered scenes as items (per_task of each of the four tasks)."""
    items = []
    for scene in generate_scenes(seed=1, per_task=per_task, size=size):
        ensure_task(arena.engine, scene.task)
        items.append(add_item(arena.engine, arena.media, key=scene.key, task=scene.task,
                              instruction=scene.instruction, source=scene.source, mask=scene.mask,
                              reference=scene.reference, target_text=scene.target_text,
                              params=dict(scene.params)))
    return items


def write(tmp_path, text, name="models.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def rows(arena, table):
    with arena.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def outputs(arena):
    with arena.engine.connect() as conn:
        return conn.execute(select(Item.key, Model.name, Output.__table__)
                            .join(Item, Item.id == Output.item_id)
                            .join(Model, Model.id == Output.model_id)).mappings().all()


def media_files(arena):
    return len(os.listdir(arena.media.root))


def test_classical_models_store_outputs_measurements_and_metrics(arena, tmp_path):
    store_scenes(arena)
    specs = load_models(write(tmp_path, CLASSICAL))
    summary = generate(arena, specs, options=FAST)
    # telea: 2 removals; hsv: 2 recolors (its own tasks); no-edit: all 8 items
    assert dict(summary.made) == {"cv2-telea": 2, "recolor-hsv": 2, "no-edit": 8}
    assert not summary.failed and sum(summary.skipped.values()) == 0
    got = outputs(arena)
    assert len(got) == 12
    for row in got:
        assert row["latency_s"] > 0 and row["latency_p90_s"] >= row["latency_s"]
        assert row["device"] == "cpu" and row["threads"] >= 1 and row["peak_memory_mb"] >= 0
        assert len(row["content_hash"]) == 64 and row["seed"] == 0
        assert {"psnr_outside", "ssim_outside", "ref_psnr", "ref_ssim"} <= set(row["metrics"])
        assert not {"ocr_cer", "old_text_gone"} & set(row["metrics"])  # OCR off
        if row["name"] == "cv2-telea":
            assert row["cost_usd"] == pytest.approx(row["latency_s"] / 3600 * 0.36)
        elif row["name"] == "recolor-hsv":
            assert row["cost_usd"] == 0.002
        else:
            assert row["cost_usd"] is None  # no price declared
            assert row["metrics"]["psnr_outside"] == 100.0  # the source unchanged
    with arena.engine.connect() as conn:
        telea = conn.execute(select(Model.__table__).where(Model.name == "cv2-telea")).mappings().one()
    assert (telea["provider"], telea["version"], telea["price_per_gpu_hour"]) == ("OpenCV", "1.0", 0.36)
    stats = {m["model"]: m for m in model_stats(arena.engine)}
    assert stats["cv2-telea"]["latency_p90_s"]["object_removal"] >= stats["cv2-telea"]["latency_s"]["object_removal"]
    assert stats["cv2-telea"]["device"] == "cpu" and stats["cv2-telea"]["threads"] >= 1
    projected = stats["no-edit"]["projected"]
    assert projected["items"] == 8 and projected["total_s"] > 0 and projected["cost_usd"] is None
    assert stats["recolor-hsv"]["projected"]["cost_usd"] == pytest.approx(2 * 0.002)


def test_ocr_metrics_only_for_text_edits(arena, tmp_path):
    store_scenes(arena, per_task=1)
    specs = load_models(write(tmp_path, '[[model]]\nname = "no-edit"\nkind = "baseline"\n'))
    generate(arena, specs, options=RunOptions(repeats=1), tasks=["text_edit", "recolor"])
    metrics = {row["key"]: row["metrics"] for row in outputs(arena)}
    assert set(metrics) == {"text_edit-000", "recolor-000"}
    assert metrics["text_edit-000"]["old_text_gone"] == 0.0  # the old words are still there
    assert "ocr_cer" in metrics["text_edit-000"] and "ocr_cer" not in metrics["recolor-000"]


def test_limit_then_full_run_makes_each_output_once(arena, tmp_path):
    store_scenes(arena)
    specs = load_models(write(tmp_path, CLASSICAL))
    first = generate(arena, specs, options=FAST, limit=1)
    assert dict(first.made) == {"cv2-telea": 1, "recolor-hsv": 1, "no-edit": 4}
    second = generate(arena, specs, options=FAST)
    assert dict(second.made) == {"cv2-telea": 1, "recolor-hsv": 1, "no-edit": 4}
    assert dict(second.skipped) == {"cv2-telea": 1, "recolor-hsv": 1, "no-edit": 4}
    files = media_files(arena)
    third = generate(arena, specs, options=FAST)
    assert sum(third.made.values()) == 0 and sum(third.skipped.values()) == 12
    pairs = [(r["key"], r["name"]) for r in outputs(arena)]
    assert len(pairs) == len(set(pairs)) == 12
    assert media_files(arena) == files  # nothing written for pairs already done


def test_offset_and_limit_take_slices_of_each_task(arena, tmp_path):
    items = store_scenes(arena, per_task=3)
    specs = load_models(write(tmp_path, '[[model]]\nname = "no-edit"\nkind = "baseline"\n'))
    second = generate(arena, specs, options=FAST, offset=1, limit=1)
    assert dict(second.made) == {"no-edit": 4}
    keys = {r["key"] for r in outputs(arena)}
    assert keys == {i.key for i in items if i.key.endswith("-001")}
    rest = generate(arena, specs, options=FAST, offset=2)
    assert dict(rest.made) == {"no-edit": 4} and len(outputs(arena)) == 8


def test_task_selection_and_errors(arena, tmp_path):
    store_scenes(arena)
    specs = load_models(write(tmp_path, CLASSICAL))
    summary = generate(arena, specs, options=FAST, tasks=["recolor"])
    assert dict(summary.made) == {"recolor-hsv": 2, "no-edit": 2}
    with pytest.raises(GenerateError, match="unknown task"):
        generate(arena, specs, options=FAST, tasks=["style"])
    changed = load_models(write(tmp_path, '[[model]]\nname = "cv2-telea"\nkind = "classical"\n'
                                          'settings = { radius = 9 }\n', "changed.toml"))
    with pytest.raises(GenerateError, match="new version"):
        generate(arena, changed, options=FAST)


# -- a tiny diffusers pipeline, and a model that fails on some items -----------------------------

needs_diffusers = pytest.mark.skipif(
    importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("torch") is None,
    reason="diffusers and torch are optional (requirements-models.txt)")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """torch on one thread (set before any pipeline is built), as every test here records."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    import tiny_pipelines

    root = tmp_path_factory.mktemp("pipelines")
    tiny_pipelines.tiny_instruct_pix2pix().save_pretrained(root / "pix2pix")
    tiny_pipelines.tiny_inpaint().save_pretrained(root / "inpaint")
    return root


def tiny_models(folders, imported_manifest):
    return f"""
[[model]]
name = "tiny-pix2pix"
kind = "diffusers"
path = "{folders / 'pix2pix'}"
device = "cpu"
settings = {{ steps = 2, size = 64 }}
tasks = ["recolor"]
price_per_gpu_hour = 3.6

[[model]]
name = "tiny-inpaint"
kind = "diffusers"
path = "{folders / 'inpaint'}"
device = "cpu"
settings = {{ steps = 2, size = 64 }}
tasks = ["recolor", "style"]

[[model]]
name = "api-editor"
kind = "api"
path = "{imported_manifest}"
tasks = ["recolor"]
price_per_image = 0.04
"""


@needs_diffusers
def test_tiny_pipeline_and_failures_resumed(arena, tmp_path, tiny_folders):
    scenes = [s for s in store_scenes(arena) if s.task == "recolor"]
    ensure_task(arena.engine, "style")
    unmasked = add_item(arena.engine, arena.media, key="style-000", task="style",
                        instruction="make it a watercolour", source=Image.new("RGB", (80, 72), "teal"))
    # the API model's outputs cover one recolor item only: the other fails until it is added
    Image.new("RGB", (96, 96), "red").save(tmp_path / "api-0.png")
    manifest = tmp_path / "api.jsonl"
    manifest.write_text(json.dumps({"item": scenes[0].key, "path": "api-0.png", "latency_s": 7.5}) + "\n")
    specs = load_models(write(tmp_path, tiny_models(tiny_folders, manifest)))

    first = generate(arena, specs, options=FAST)
    # the inpainting model needs a mask: the style item (no mask) fails; the run goes on
    assert dict(first.made) == {"tiny-pix2pix": 2, "tiny-inpaint": 2, "api-editor": 1}
    assert dict(first.failed) == {"tiny-inpaint": 1, "api-editor": 1}
    failures = {(f["model"], f["item"]): f for f in list_failures(arena.engine)}
    assert set(failures) == {("tiny-inpaint", "style-000"), ("api-editor", scenes[1].key)}
    assert "needs a mask" in failures[("tiny-inpaint", "style-000")]["error"]
    assert "no imported output" in failures[("api-editor", scenes[1].key)]["error"]

    got = {(r["key"], r["name"]): r for r in outputs(arena)}
    pix = got[(scenes[0].key, "tiny-pix2pix")]
    assert pix["device"] == "cpu" and pix["threads"] == 1
    assert pix["peak_memory_mb"] > 50  # the process's peak resident memory, weights included
    assert (pix["dtype"], pix["steps"], pix["resolution"]) == ("float32", 2, "64x64")
    assert pix["calls"] in (2, 3) and pix["warmup_calls"] in (0, 1)  # memory run + 1 repeat
    assert pix["cost_usd"] == pytest.approx(pix["latency_s"] / 3600 * 3.6)
    assert pix["settings"]["steps"] == 2 and pix["settings"]["pipeline"].endswith("Pix2PixPipeline")
    api = got[(scenes[0].key, "api-editor")]
    assert (api["latency_s"], api["cost_usd"], api["latency_p90_s"]) == (7.5, 0.04, None)
    assert {"psnr_outside", "ref_psnr"} <= set(api["metrics"])

    # resumed with the missing output added: only the failed pairs run again
    Image.new("RGB", (96, 96), "blue").save(tmp_path / "api-1.png")
    with manifest.open("a") as f:
        f.write(json.dumps({"item": scenes[1].key, "path": "api-1.png", "cost_usd": 0.05}) + "\n")
    specs = load_models(write(tmp_path, tiny_models(tiny_folders, manifest)))
    second = generate(arena, specs, options=FAST)
    assert dict(second.made) == {"api-editor": 1} and dict(second.failed) == {"tiny-inpaint": 1}
    assert [(f["model"], f["item"], f["attempts"]) for f in list_failures(arena.engine)] == [
        ("tiny-inpaint", unmasked.key, 2)]
    assert rows(arena, GenerationFailure) == 1  # the API model's failure was cleared
    pairs = [(r["key"], r["name"]) for r in outputs(arena)]
    assert len(pairs) == len(set(pairs)) == 6


# -- the command line -------------------------------------------------------------------------

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def cli(monkeypatch, db_url, arena, *argv):
    """``arena ARGV`` in this process, on the test's database and media folder; the exit code."""
    from arena.cli import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ARENA_MEDIA", str(arena.media.root))
    return main(list(argv))


def test_cli_generate_resumes_and_reports(db_url, arena, tmp_path, monkeypatch, capsys):
    store_scenes(arena, per_task=1)
    models = write(tmp_path, CLASSICAL)
    assert cli(monkeypatch, db_url, arena, "generate", "--models", str(models), "--repeats", "1",
               "--no-ocr", "--quiet", "--tasks", "recolor", "object_removal") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["generated"]["made"] == 4 and out["generated"]["failed"] == 0
    assert cli(monkeypatch, db_url, arena, "generate", "--models", str(models), "--repeats", "1",
               "--no-ocr", "--quiet", "--limit", "1", "--format", "csv") == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "model,made,skipped,failed"
    assert "no-edit,2,2,0" in text  # background_change and text_edit made; the rest were there
    assert cli(monkeypatch, db_url, arena, "generate", "--failures") == 0
    assert json.loads(capsys.readouterr().out) == {"failures": []}


@pytest.mark.parametrize("argv, message", [
    (["--models", "missing.toml"], "cannot read"),
    (["--models", "{models}", "--tasks", "nope"], "unknown task"),
    (["--models", "{models}", "--limit", "0"], "--limit must be at least 1"),
    (["--models", "{models}", "--offset", "-1"], "--offset must be at least 0"),
    (["--models", "{models}", "--lease", "0"], "--lease must be above 0"),
    (["--models", "{models}", "--only", "ghost"], "ghost"),
    ([], "--models FILE is required"),
])
@SQLITE_ONLY
def test_cli_generate_bad_input_exits_2(db_url, arena, tmp_path, monkeypatch, capsys, argv, message):
    models = write(tmp_path, CLASSICAL)
    argv = [a.replace("{models}", str(models)) for a in argv]
    assert cli(monkeypatch, db_url, arena, "generate", "--quiet", *argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
