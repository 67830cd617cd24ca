"""Hosted editing APIs (OpenAI Images edits, Replicate predictions) against a local server that
speaks the same protocol: outputs, latency, cost, queue and run time, retries with backoff on
429 and 5xx, timeouts, the concurrency limit, failures recorded; never the internet."""
import importlib.util
import random
import time

import pytest
from sqlalchemy import select

from api_server import ApiServer
from arena.outputs.failures import list_failures
from arena.outputs.generate import RunOptions, generate
from arena.store.schema import Item, Model, Output
from models.api.client import MAX_BACKOFF_S, backoff_s, retry_after
from models.config import ConfigError, build_editor, load_models
from test_generate import store_scenes, write

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openai") is None,
                                reason="openai is optional (requirements-models.txt)")
FAST = RunOptions(repeats=1, ocr=False)


@pytest.fixture
def server():
    api = ApiServer()
    yield api
    api.close()


def model_file(tmp_path, server, protocol="openai", **extra):
    fields = {"name": f"{protocol}-editor", "kind": "api", "protocol": protocol,
              "base_url": f"{server.url}/v1", "model": "gpt-image-1" if protocol == "openai"
              else "black-forest-labs/flux-kontext-pro", "api_key_env": "TEST_API_KEY",
              "price_per_image": 0.04, "concurrency": 2, "timeout_s": 5, "retries": 2,
              "tasks": ["recolor", "object_removal"], **extra}
    body = "[[model]]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in fields.items())
    return load_models(write(tmp_path, body))


def _toml(value):
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def stored(arena):
    with arena.engine.connect() as conn:
        return conn.execute(select(Item.key, Item.instruction, Output.__table__)
                            .join(Item, Item.id == Output.item_id)).mappings().all()


def test_openai_edits_are_stored_with_latency_cost_and_retries_after_429(arena, tmp_path, server, monkeypatch):
    monkeypatch.setenv("TEST_API_KEY", "sk-test")
    store_scenes(arena)  # 2 recolor and 2 object removal items (96 px, with masks)
    server.script = [(429, {"Retry-After": "0"}, {"error": {"message": "slow down"}})]
    summary = generate(arena, model_file(tmp_path, server), options=FAST)
    assert dict(summary.made) == {"openai-editor": 4} and not summary.failed
    assert len(server.paths) == 5  # one 429, retried, then four edits
    rows = stored(arena)
    for row in rows:
        assert row["latency_s"] > 0 and row["cost_usd"] == 0.04 and row["device"] == "api"
        assert (row["calls"], row["warmup_calls"], row["queue_s"], row["run_s"]) == (1, 0, None, None)
        assert row["resolution"] == "96x96" and row["latency_p90_s"] is None
    sent = server.requests
    assert {r["prompt"] for r in sent} == {r["instruction"] for r in rows}
    assert all(r["auth"] == "Bearer sk-test" and r["model"] == "gpt-image-1" for r in sent)
    assert all(r["image"].startswith(b"\x89PNG") and r["mask"].startswith(b"\x89PNG") for r in sent)
    # the 64 px answer is resized to the source's 96 px before it is stored
    assert {(m["model"], m["kind"]) for m in _models(arena)} == {("openai-editor", "api")}
    again = generate(arena, model_file(tmp_path, server), options=FAST)
    assert sum(again.made.values()) == 0 and sum(again.skipped.values()) == 4
    assert len(server.paths) == 5  # nothing called twice


def _models(arena):
    with arena.engine.connect() as conn:
        return [{"model": n, "kind": k} for n, k in conn.execute(select(Model.name, Model.kind))]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_5xx_is_retried_then_recorded_and_4xx_fails_at_once(arena, tmp_path, server, monkeypatch):
    monkeypatch.setenv("TEST_API_KEY", "sk-test")
    store_scenes(arena, per_task=1)
    specs = model_file(tmp_path, server, tasks=["recolor"])
    server.script = [(503, {"Retry-After": "0"}, {"error": {"message": "overloaded"}})] * 3
    first = generate(arena, specs, options=FAST)
    assert dict(first.failed) == {"openai-editor": 1} and len(server.paths) == 3  # retries = 2
    (failure,) = list_failures(arena.engine)
    assert "HTTP 503" in failure["error"] and "gave up after 3 attempts" in failure["error"]
    server.script = [(400, {}, {"error": {"message": "prompt refused"}})]
    second = generate(arena, specs, options=FAST)
    assert dict(second.failed) == {"openai-editor": 1} and len(server.paths) == 4  # no retry
    (failure,) = list_failures(arena.engine)
    assert "HTTP 400" in failure["error"] and "prompt refused" in failure["error"]
    assert failure["attempts"] == 2
    third = generate(arena, specs, options=FAST)  # the API answers again: the failure clears
    assert dict(third.made) == {"openai-editor": 1} and list_failures(arena.engine) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_timeouts_and_the_concurrency_limit(arena, tmp_path, server, monkeypatch):
    monkeypatch.setenv("TEST_API_KEY", "sk-test")
    store_scenes(arena, per_task=3)
    server.delay_s = 0.6
    slow = model_file(tmp_path, server, timeout_s=0.2, retries=0, tasks=["text_edit"])
    summary = generate(arena, slow, options=FAST)
    assert dict(summary.failed) == {"openai-editor": 3}
    assert all("Timeout" in f["error"] for f in list_failures(arena.engine))
    while server.active:  # the timed-out calls' answers are still being written
        time.sleep(0.05)
    server.delay_s, server.max_active = 0.3, 0
    limited = model_file(tmp_path, server, concurrency=2, name="limited", tasks=["recolor", "object_removal"])
    summary = generate(arena, limited, options=FAST)
    assert dict(summary.made) == {"limited": 6} and server.max_active == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_replicate_predictions_report_queue_and_run_time(arena, tmp_path, server, monkeypatch):
    monkeypatch.setenv("TEST_API_KEY", "r8-test")
    store_scenes(arena, per_task=1)
    specs = model_file(tmp_path, server, "replicate", tasks=["recolor"],
                       settings={"image_input": "input_image", "output_format": "png"})
    server.script = [(502, {"Retry-After": "0"}, "bad gateway".encode())]
    summary = generate(arena, specs, options=FAST)
    assert dict(summary.made) == {"replicate-editor": 1}
    (row,) = stored(arena)
    assert (row["queue_s"], row["run_s"], row["cost_usd"]) == (1.5, 0.25, 0.04)
    post = next(r for r in server.requests if r["method"] == "POST")
    assert post["path"] == "/v1/models/black-forest-labs/flux-kontext-pro/predictions"
    assert post["auth"] == "Bearer r8-test" and post["json"]["input"]["output_format"] == "png"
    assert post["json"]["input"]["input_image"].startswith("data:image/png;base64,")
    assert post["json"]["input"]["prompt"] == row["instruction"]


def test_models_file_checks_for_apis(tmp_path, monkeypatch):
    base = '[[model]]\nname = "x"\nkind = "api"\n'
    for body, message in [
        ('protocol = "grpc"\nmodel = "m"', "field 'protocol' is 'grpc'"),
        ('protocol = "openai"', "field 'model'"),
        ('protocol = "openai"\nmodel = "m"\nconcurrency = 0', "field 'concurrency'"),
        ('protocol = "openai"\nmodel = "m"\ntimeout_s = 0', "field 'timeout_s'"),
        ('protocol = "openai"\nmodel = "m"\nbase_url = "ftp://x"', "field 'base_url'"),
        ('protocol = "openai"\nmodel = "m"\npath = "."', "takes no 'path'"),
        ('model = "m"', "need protocol"),
        ('path = "."\nreplicas = 0', "field 'replicas'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_models(write(tmp_path, base + body))
    (spec,) = load_models(write(tmp_path, base + 'protocol = "openai"\nmodel = "m"\napi_key_env = "NO_SUCH_KEY_HERE"'))
    monkeypatch.delenv("NO_SUCH_KEY_HERE", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_KEY_HERE.*not set"):
        build_editor(spec)
    assert spec.base_url == "https://api.openai.com/v1" and spec.concurrency == 4


def test_backoff_grows_is_capped_and_follows_retry_after():
    rng = random.Random(0)
    waits = [max(backoff_s(n, 0.5, rng=rng) for _ in range(200)) for n in range(8)]
    assert waits[0] <= 0.5 and 1.0 < waits[2] <= 2.0 and waits[-1] <= MAX_BACKOFF_S
    assert backoff_s(3, hint=2.0) == 2.0 and backoff_s(0, hint=600) == MAX_BACKOFF_S
    assert retry_after({"retry-after": "3"}) == 3.0 and retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
