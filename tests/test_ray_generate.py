"""``arena generate --ray`` on a local Ray cluster of 2 CPUs: classical editors with two
replicas, a tiny random-weight diffusers pipeline, and a hosted API against a local server;
results in the arena's store, resumed runs, claims, failures, and the command line."""
import importlib.util
import json

import pytest
from PIL import Image
from sqlalchemy import select

from arena.outputs.claims import claim, release
from arena.outputs.failures import list_failures
from arena.outputs.generate import GenerateError, RunOptions
from arena.store.catalog import add_item, model_stats
from arena.store.schema import Item, Model, Output
from models.config import load_models
from test_generate import cli, media_files, store_scenes, write

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="Ray is optional (requirements-models.txt)")
FAST = RunOptions(repeats=1, ocr=False)

MODELS = """
[[model]]
name = "cv2-telea"
kind = "classical"
replicas = 2
price_per_gpu_hour = 0.36
power_w = 30

[[model]]
name = "recolor-hsv"
kind = "classical"
num_cpus = 2
"""


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    from arena.outputs.ray_run import connect

    if ray.is_initialized():
        ray.shutdown()
    yield connect("local", num_cpus=2)
    ray.shutdown()


def outputs(arena):
    with arena.engine.connect() as conn:
        return conn.execute(select(Item.key, Model.name, Output.__table__)
                            .join(Item, Item.id == Output.item_id)
                            .join(Model, Model.id == Output.model_id)).mappings().all()


def test_replicas_store_results_resume_and_respect_claims(ray_cluster, arena, tmp_path):
    from arena.outputs.ray_run import generate_on_ray

    items = store_scenes(arena, per_task=3)
    broken = add_item(arena.engine, arena.media, key="object_removal-nomask", task="object_removal",
                      instruction="remove it", source=Image.new("RGB", (96, 96), "white"))
    specs = load_models(write(tmp_path, MODELS))
    # another driver holds one recolor pair: this run must leave it alone
    first = generate_on_ray(arena, specs[1:], options=FAST, limit=1)
    hsv = next(r for r in outputs(arena))["model_id"]
    held = [i for i in items if i.task == "recolor"][2]
    assert claim(arena.engine, held.id, hsv, "other-driver", lease_s=300)
    summary = generate_on_ray(arena, specs, options=FAST, progress=True)
    assert dict(first.made) == {"recolor-hsv": 1}
    assert dict(summary.made) == {"cv2-telea": 3, "recolor-hsv": 1}
    assert dict(summary.skipped) == {"recolor-hsv": 2} and dict(summary.failed) == {"cv2-telea": 1}
    (failure,) = list_failures(arena.engine)
    assert failure["item"] == broken.key and failure["model"] == "cv2-telea"
    rows = [r for r in outputs(arena) if r["name"] == "cv2-telea"]
    for row in rows:
        assert row["device"] == "cpu" and row["threads"] >= 1 and row["latency_s"] > 0
        assert row["energy_source"] in ("measured", "estimated") and row["energy_wh"] > 0
        assert row["cost_usd"] == pytest.approx(row["latency_s"] / 3600 * 0.36)
        assert {"psnr_outside", "ref_psnr"} <= set(row["metrics"])  # metrics made on the replica
    files = media_files(arena)
    again = generate_on_ray(arena, specs, options=FAST)
    assert sum(again.made.values()) == 0 and dict(again.failed) == {"cv2-telea": 1}
    assert media_files(arena) == files
    release(arena.engine, held.id, hsv, "other-driver")
    assert dict(generate_on_ray(arena, specs[1:], options=FAST).made) == {"recolor-hsv": 1}
    stats = {m["model"]: m for m in model_stats(arena.engine)}
    assert stats["cv2-telea"]["energy_wh"]["object_removal"] > 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_model_the_cluster_cannot_hold_is_refused(ray_cluster, arena, tmp_path):
    from arena.outputs.ray_run import generate_on_ray

    store_scenes(arena, per_task=1)
    specs = load_models(write(tmp_path, '[[model]]\nname = "no-edit"\nkind = "baseline"\nnum_gpus = 1\n'))
    with pytest.raises(GenerateError, match="needs 1 GPU per replica; the Ray cluster has 0"):
        generate_on_ray(arena, specs, options=FAST)


needs_diffusers = pytest.mark.skipif(
    importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("torch") is None,
    reason="diffusers and torch are optional (requirements-models.txt)")


@needs_diffusers
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_runs_a_tiny_pipeline_on_ray(ray_cluster, db_url, arena, tmp_path, monkeypatch, capsys):
    import tiny_pipelines

    store_scenes(arena, per_task=2)
    tiny_pipelines.tiny_instruct_pix2pix().save_pretrained(tmp_path / "pix2pix")
    models = write(tmp_path, f"""
[[model]]
name = "tiny-pix2pix"
kind = "diffusers"
path = "{tmp_path / 'pix2pix'}"
device = "cpu"
settings = {{ steps = 2, size = 64 }}
tasks = ["recolor"]
num_cpus = 1
""")
    assert cli(monkeypatch, db_url, arena, "generate", "--models", str(models), "--ray", "local",
               "--repeats", "1", "--no-ocr", "--quiet") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["generated"]["made"] == 2 and out["generated"]["failed"] == 0
    for row in outputs(arena):
        assert (row["dtype"], row["steps"], row["resolution"]) == ("float32", 2, "64x64")
        assert row["peak_memory_mb"] > 50 and row["threads"] == 1
    assert cli(monkeypatch, db_url, arena, "models", "--format", "json") == 0
    (model,) = json.loads(capsys.readouterr().out)["models"]
    assert model["resolution"] == "64x64" and model["steps"] == 2 and model["dtype"] == "float32"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_hosted_api_on_ray_gets_its_key_and_concurrency(ray_cluster, arena, tmp_path, monkeypatch):
    from api_server import ApiServer

    from arena.outputs.ray_run import generate_on_ray

    monkeypatch.setenv("RAY_TEST_KEY", "sk-ray")
    store_scenes(arena, per_task=2)
    server = ApiServer()
    server.delay_s = 0.2
    try:
        specs = load_models(write(tmp_path, f"""
[[model]]
name = "api-on-ray"
kind = "api"
protocol = "openai"
base_url = "{server.url}/v1"
model = "gpt-image-1"
api_key_env = "RAY_TEST_KEY"
price_per_image = 0.02
concurrency = 3
num_cpus = 0.5
"""))
        summary = generate_on_ray(arena, specs, options=FAST)
    finally:
        server.close()
    assert dict(summary.made) == {"api-on-ray": 8} and not summary.failed
    assert {r["auth"] for r in server.requests} == {"Bearer sk-ray"}
    assert 1 < server.max_active <= 3
    assert all(r["cost_usd"] == 0.02 and r["device"] == "api" for r in outputs(arena))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_refuses_a_cluster_nobody_answers_on(db_url, arena, tmp_path, monkeypatch, capsys):
    models = write(tmp_path, '[[model]]\nname = "no-edit"\nkind = "baseline"\n')
    assert cli(monkeypatch, db_url, arena, "generate", "--models", str(models), "--quiet",
               "--ray", "127.0.0.1:1") == 2
    err = capsys.readouterr().err
    assert "no Ray cluster answers at '127.0.0.1:1'" in err and len(err.strip().splitlines()) == 1
