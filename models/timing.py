"""Latency measurement and benchmark cost projection.

The protocol (DESIGN.md, section 5): warm-up calls first, then repeated timed calls; report the
median and the 90th percentile with the device, the thread count and the batch size. On a GPU the
device is synchronised before each clock reading, so the time covers the queued work.

torch is never imported here: when a caller has already loaded it, it is used for CUDA
synchronisation, peak memory and the thread count. Energy is read around the timed runs
(:mod:`models.energy`).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Callable, TypeVar

import numpy as np

T = TypeVar("T")

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Timing:
    """Latency of one operation.

    Attributes
    ----------
    median_s, p90_s : float
        Median and 90th percentile (linear interpolation) of the timed runs, in seconds.
    runs : tuple of float
        Every timed run, in seconds, in order.
    peak_memory_mb : float or None
        CPU, ``memory="python"``: peak Python and NumPy allocation during one extra untimed run
        (tracemalloc; memory that native libraries allocate on their own is not seen). CPU,
        ``memory="process"`` (torch models): the process's peak resident memory during that
        run, weights included (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``). CUDA:
        peak memory torch allocated on the device during the timed runs, weights included.
        ``None`` when not measured (other devices, or ``track_memory=False``).
    device : str
        Where it ran (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).
    threads : int
        torch's intra-op threads when torch is loaded, else the BLAS thread pool size.
    batch_size : int
        Items processed per call.
    calls : int
        Calls made in all: warm-up, memory run and timed runs.
    energy_wh, energy_source
        Energy per timed call (Wh) and ``"measured"`` or ``"estimated"``
        (:func:`models.energy.per_image`); ``None`` when neither a counter nor a power draw
        is known.
    """

    median_s: float
    p90_s: float
    runs: tuple[float, ...]
    peak_memory_mb: float | None
    device: str
    threads: int
    batch_size: int = 1
    calls: int = 0
    energy_wh: float | None = None
    energy_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the fields."""
        out = asdict(self)
        out["runs"] = list(self.runs)
        return out


def _torch():
    """The torch module if something already imported it, else ``None``."""
    return sys.modules.get("torch")


def _is_cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def _synchronize(device: str) -> None:
    torch = _torch()
    if _is_cuda(device) and torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize(device)


@lru_cache(maxsize=1)
def _blas_pools():
    """threadpoolctl's view of the loaded thread pools (found once: the search is slow)."""
    try:
        from threadpoolctl import ThreadpoolController

        return ThreadpoolController()
    except Exception:  # threadpoolctl cannot inspect some builds
        return None


def thread_count() -> int:
    """Threads the computation can use: torch's when torch is loaded, else the largest BLAS
    thread pool (as threadpoolctl reports it now), else ``os.cpu_count()``."""
    torch = _torch()
    if torch is not None:
        return int(torch.get_num_threads())
    pools = _blas_pools()
    sizes = [p["num_threads"] for p in pools.info() if p.get("user_api") == "blas"] if pools else []
    return int(max(sizes)) if sizes else int(os.cpu_count() or 1)


def _cpu_peak_mb(fn: Callable[[], Any]) -> float:
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(peak - base, 0) / 2**20


def _rss_peak_mb(fn: Callable[[], Any]) -> float | None:
    """Peak resident memory of this process while ``fn()`` runs, in MB (Linux ``VmHWM`` after
    writing 5 to ``/proc/self/clear_refs``, see proc(5)); None where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    fn()
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmHWM"].split()[0]) / 1024.0
    except (OSError, KeyError, ValueError):
        return None


def _memory_run(fn: Callable[[], Any], memory: str) -> float | None:
    return _rss_peak_mb(fn) if memory == "process" else _cpu_peak_mb(fn)


def measure(fn: Callable[[], T], *, warmup: int = 1, repeats: int = 3, device: str = "cpu",
            batch_size: int = 1, track_memory: bool = True, memory: str = "python",
            power_w: float | None = None, energy: bool = True) -> tuple[T, Timing]:
    """Time ``fn()`` following the latency protocol.

    Parameters
    ----------
    fn : callable
        Called with no arguments; one call is one measured operation.
    warmup : int
        Untimed calls first (compilation, caches, lazy loading).
    repeats : int
        Timed calls; at least 1.
    device : str
        Where ``fn`` runs. For ``"cuda..."`` devices the GPU is synchronised before each clock
        reading and the peak allocated memory is read from torch (when torch is loaded).
    batch_size : int
        Items ``fn`` processes per call, recorded with the timing.
    track_memory : bool
        On CPU, spend one extra untimed call to measure peak memory.
    memory : {"python", "process"}
        What that call measures on the CPU: tracemalloc's peak, or the process's peak resident
        memory (for torch, whose allocations tracemalloc does not see).
    power_w : float, optional
        Declared power draw, for an estimated energy when no counter is readable.
    energy : bool
        Read the device's energy counter around the timed runs (:func:`models.energy.meter_for`).

    Returns
    -------
    tuple
        The result of the last timed call and its :class:`Timing`.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for _ in range(warmup):
        fn()
    _synchronize(device)
    torch = _torch()
    cuda = _is_cuda(device) and torch is not None and torch.cuda.is_available()
    peak: float | None = None
    memory_run = track_memory and str(device).startswith("cpu")
    if memory_run:
        peak = _memory_run(fn, memory)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    meter = _meter(device) if energy else None
    before = meter.read() if meter is not None else None
    runs = []
    result: Any = None
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        result = fn()
        _synchronize(device)
        runs.append(time.perf_counter() - start)
    joules = meter.joules_between(before, meter.read()) if meter is not None else None
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    median = float(statistics.median(runs))
    spent = _energy().per_image(joules, repeats, median, power_w)
    timing = Timing(median_s=median, p90_s=float(np.percentile(runs, 90)),
                    runs=tuple(runs), peak_memory_mb=peak, device=str(device),
                    threads=thread_count(), batch_size=int(batch_size),
                    calls=warmup + int(memory_run) + repeats,
                    energy_wh=spent.wh if spent else None,
                    energy_source=spent.source if spent else None)
    return result, timing


def _energy():
    from models import energy

    return energy


@lru_cache(maxsize=16)
def _meter(device: str):
    """The energy counter of a device, looked up once per process."""
    return _energy().meter_for(device)


def projected_benchmark(items: int, median_s: float, price_per_gpu_hour: float | None = None,
                        calls_per_item: float = 1.0, warmup_calls: int = 0) -> dict[str, Any]:
    """Project the time and cost of running a model over a benchmark on one GPU.

    Parameters
    ----------
    items : int
        Images to edit.
    median_s : float
        Median latency per image (from :func:`measure`).
    price_per_gpu_hour : float, optional
        Price of one GPU-hour; without it the cost is ``None``.
    calls_per_item : float
        Edit calls the run makes per image: 1 for a plain benchmark, ``repeats`` (+1 for the
        memory run) for ``arena generate``, whose every call takes the median latency.
    warmup_calls : int
        Untimed calls made once before the first image.

    Returns
    -------
    dict
        ``items``, ``median_s``, ``calls_per_item``, ``warmup_calls``, ``edit_s`` (one call per
        image), ``total_s`` (the run with its repeats and warm-up), ``gpu_hours``, ``gpu_days``
        and ``cost_usd`` (of ``total_s``). For example 26,000 images at 62 s each, one call
        each, take 18.7 GPU-days; ``arena generate --repeats 2`` takes twice that.
    """
    for name, value in (("items", items), ("median_s", median_s),
                        ("calls_per_item", calls_per_item), ("warmup_calls", warmup_calls)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if price_per_gpu_hour is not None and price_per_gpu_hour < 0:
        raise ValueError(f"price_per_gpu_hour must be >= 0, got {price_per_gpu_hour}")
    edit = float(items) * float(median_s)
    total = edit * float(calls_per_item) + (float(warmup_calls) * median_s if items else 0.0)
    hours = total / 3600.0
    cost = None if price_per_gpu_hour is None else hours * float(price_per_gpu_hour)
    return {"items": int(items), "median_s": float(median_s),
            "calls_per_item": float(calls_per_item), "warmup_calls": int(warmup_calls),
            "edit_s": edit, "total_s": total, "gpu_hours": hours,
            "gpu_days": total / SECONDS_PER_DAY, "cost_usd": cost}
