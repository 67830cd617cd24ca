"""``arena generate --ray``: the models of a run spread over a Ray cluster.

Ray (https://docs.ray.io) schedules the work: each model replica is a Ray actor that holds its
loaded pipeline and the resources its models file declares (``num_gpus``, ``num_cpus``;
``replicas`` actors per model), so a GPU model gets a GPU of its own and several models share a
cluster. This driver streams items to the replicas (a few in flight per replica), claims each
pair in the database before sending it (:mod:`arena.outputs.claims`, so two drivers never run
the same edit), and writes every result through the arena's own store as it comes back: the run
is resumable and idempotent like the local one, and failures are recorded the same way.
Replicas measure on their own device (:mod:`arena.outputs.measure`) and compute the metrics;
model folders must be readable from every node. Ray is optional (requirements-models.txt).
"""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

from arena.context import Arena
from arena.outputs.claims import ClaimKeeper
from arena.outputs.failures import failed_pairs, record_failure
from arena.outputs.generate import (
    Entrant, GenerateError, GenerationSummary, RunOptions, plan_run, store_result, stored,
)
from arena.outputs.metrics import load_item_images
from arena.store.schema import Item

ROOT = str(Path(__file__).resolve().parents[2])


def connect(address: str | None = None, num_cpus: int | None = None):
    """Ray, initialised: the cluster already joined in this process, a new local one for
    ``None`` or ``"local"``, else the cluster at ``address`` (``"auto"``, ``host:6379``,
    ``ray://host:10001``)."""
    try:
        import ray
    except ImportError:
        raise GenerateError("--ray needs Ray: pip install -r requirements-models.txt") from None
    if address not in (None, "local"):
        _reachable(address)
    if ray.is_initialized():
        return ray
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    env = {"env_vars": {"PYTHONPATH": path}}
    if address in (None, "local"):
        ray.init(num_cpus=num_cpus, include_dashboard=False, runtime_env=env, log_to_driver=False)
        return ray
    try:
        ray.init(address=address, runtime_env={"working_dir": ROOT, "excludes": [".venv", "media", "*.db"]})
    except Exception as exc:  # noqa: BLE001 - no cluster there, or one that refuses us
        raise GenerateError(f"--ray: cannot join the Ray cluster at {address!r}: "
                            f"{type(exc).__name__}: {exc}") from None
    return ray


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse a ``HOST:PORT`` (or ``ray://HOST:PORT``) nobody answers on: Ray itself would keep
    retrying for minutes."""
    import socket

    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms are Ray's to resolve
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise GenerateError(f"--ray: no Ray cluster answers at {address!r}: {exc}") from None


class Replica:
    """One model replica (a Ray actor): builds the editor once, then edits items sent to it."""

    def __init__(self, spec: dict[str, Any], warmup: int, repeats: int, track_memory: bool, ocr: bool):
        from models.config import ModelSpec, build_editor

        self.spec = ModelSpec(**spec)
        self.editor = build_editor(self.spec)
        self.warm, self.repeats, self.track_memory, self.ocr = warmup, repeats, track_memory, ocr

    def run(self, item: Item, images: Any, seed: int) -> dict[str, Any]:
        """Edit, measure and score one item: ``{"image", "fields", "metrics"}`` or ``{"error"}``."""
        from arena.outputs.measure import edit_and_measure, edit_request
        from arena.outputs.metrics import item_metrics

        try:
            image, measured = edit_and_measure(
                self.spec, self.editor, edit_request(item, images, seed), warmup=self.warm,
                repeats=self.repeats, track_memory=self.track_memory)
            metrics = item_metrics(item, images, image, ocr=self.ocr)
        except Exception as exc:  # noqa: BLE001 - recorded by the driver as a failed edit
            return {"error": f"{type(exc).__name__}: {exc}"}
        self.warm = 0
        return {"image": image, "fields": measured, "metrics": metrics}


def spec_fields(entrant: Entrant) -> dict[str, Any]:
    """The spec as plain values (a read-only mapping does not pickle)."""
    spec = entrant.spec
    out = {f.name: getattr(spec, f.name) for f in fields(spec)}
    out["settings"] = dict(spec.settings)
    return out


def check_resources(ray: Any, entrants: Sequence[Entrant]) -> None:
    """Refuse a model whose one replica needs more GPUs or CPUs than the whole cluster has."""
    have = ray.cluster_resources()
    for entrant in entrants:
        for key, need in (("GPU", entrant.spec.num_gpus), ("CPU", entrant.spec.num_cpus)):
            if need > have.get(key, 0.0):
                raise GenerateError(f"model {entrant.spec.name!r} needs {need:g} {key} per replica; "
                                    f"the Ray cluster has {have.get(key, 0.0):g}")


@dataclass
class ModelPool:
    """One model's replicas, the items still to send them, and what is in flight."""

    entrant: Entrant
    queue: deque
    actors: list = field(default_factory=list)
    inflight: int = 0

    @property
    def depth(self) -> int:
        """Items in flight per replica: one running and one waiting; a hosted API as many as
        it may call at once, plus one."""
        return int(getattr(self.entrant.editor, "concurrency", 1)) + 1 if self.entrant.spec.hosted else 2


def _start(ray: Any, pool: ModelPool, options: RunOptions) -> None:
    spec = pool.entrant.spec
    extra = {}
    if spec.hosted and spec.api_key_env:  # the key travels to the replica, not in its spec
        extra["runtime_env"] = {"env_vars": {spec.api_key_env: os.environ.get(spec.api_key_env, "")}}
    actor = ray.remote(Replica).options(
        num_cpus=spec.num_cpus, num_gpus=spec.num_gpus, max_restarts=1,
        max_concurrency=spec.concurrency + 1 if spec.hosted else 1, **extra)
    pool.actors = [actor.remote(spec_fields(pool.entrant), options.warmup, options.repeats,
                                options.track_memory, options.ocr) for _ in range(spec.replicas)]


class Driver:
    """Streams items to the replicas and stores what comes back."""

    def __init__(self, ray: Any, arena: Arena, options: RunOptions, keeper: ClaimKeeper,
                 summary: GenerationSummary, failed: set, bar: Any):
        self.ray, self.arena, self.options, self.keeper = ray, arena, options, keeper
        self.summary, self.failed, self.bar = summary, failed, bar
        self.inflight: dict[Any, tuple[ModelPool, Any, Item]] = {}

    def fill(self, pool: ModelPool, actor: Any) -> None:
        """Send ``actor`` items until it has its depth in flight or the pool runs dry."""
        busy = sum(1 for p, a, _ in self.inflight.values() if a is actor)
        while busy < pool.depth and pool.queue:
            item = pool.queue.popleft()
            pair = (item.id, pool.entrant.model.id)
            if stored(self.arena, *pair) or not self.keeper.claim(*pair):
                self._count(pool, "skipped")
                continue
            try:
                images = load_item_images(self.arena.media, item)
            except Exception as exc:  # noqa: BLE001 - an unreadable item fails like an edit
                self._finish(pool, item, {"error": f"{type(exc).__name__}: {exc}"})
                continue
            ref = actor.run.remote(item, images, self.options.seed)
            self.inflight[ref] = (pool, actor, item)
            pool.inflight += 1
            busy += 1

    def loop(self) -> None:
        """Wait for results one at a time, store each, and refill the replica it came from."""
        while self.inflight:
            (ref,), _ = self.ray.wait(list(self.inflight), num_returns=1)
            pool, actor, item = self.inflight.pop(ref)
            pool.inflight -= 1
            try:
                result = self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:  # the replica died or could not start
                result = {"error": f"replica failed: {type(exc).__name__}: {str(exc)[:500]}"}
            self._finish(pool, item, result)
            self.fill(pool, actor)
            self.stop_if_done(pool)

    def stop_if_done(self, pool: ModelPool) -> None:
        """Kill a model's replicas once it has nothing left, freeing their GPUs and CPUs for
        the models waiting."""
        if not pool.queue and not pool.inflight:
            for actor in pool.actors:
                self.ray.kill(actor)
            pool.actors = []

    def _finish(self, pool: ModelPool, item: Item, result: dict[str, Any]) -> None:
        pair = (item.id, pool.entrant.model.id)
        try:
            if "error" in result:
                record_failure(self.arena.engine, *pair, result["error"])
                outcome = "failed"
            else:
                outcome = store_result(self.arena, pool.entrant, item, result["image"],
                                       result["fields"], result["metrics"], self.options.seed,
                                       pair in self.failed)
        finally:
            self.keeper.release(*pair)
        self._count(pool, outcome)

    def _count(self, pool: ModelPool, outcome: str) -> None:
        getattr(self.summary, outcome)[pool.entrant.spec.name] += 1
        self.bar.update()


def run_on_ray(arena: Arena, entrants: Sequence[Entrant], items: Sequence[Item],
               options: RunOptions = RunOptions(), *, address: str | None = None,
               progress: bool = False) -> GenerationSummary:
    """Run every entrant on every pending item of its tasks on a Ray cluster (see the module)."""
    from tqdm import tqdm

    ray = connect(address)
    check_resources(ray, entrants)
    start = time.perf_counter()
    summary = GenerationSummary()
    failed = failed_pairs(arena.engine, [e.model.id for e in entrants])
    pools = [ModelPool(e, deque(p)) for e, p in plan_run(arena, entrants, items, summary) if p]
    with ClaimKeeper(arena.engine, options.lease_s) as keeper, tqdm(
            total=sum(len(p.queue) for p in pools), unit="edit", disable=not progress,
            file=sys.stderr, desc="ray") as bar:
        driver = Driver(ray, arena, options, keeper, summary, failed, bar)
        for pool in pools:
            _start(ray, pool, options)
            for actor in pool.actors:
                driver.fill(pool, actor)
            driver.stop_if_done(pool)
        driver.loop()
    summary.seconds = time.perf_counter() - start
    return summary


def generate_on_ray(arena: Arena, specs: Sequence[Any], *, address: str | None = None,
                    tasks: Sequence[str] | None = None, limit: int | None = None,
                    offset: int = 0, options: RunOptions = RunOptions(),
                    progress: bool = False) -> GenerationSummary:
    """:func:`arena.outputs.generate.generate` on a Ray cluster (same checks and errors)."""
    from arena.outputs.generate import prepare

    entrants, items = prepare(arena, specs, tasks, limit, None, offset)
    summary = run_on_ray(arena, entrants, items, options, address=address, progress=progress)
    arena.sampler.invalidate()
    return summary
