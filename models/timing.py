"""Latency measurement and benchmark cost projection.

The protocol (DESIGN.md, section 5): warm-up calls first, then repeated timed calls; report the
median and the 90th percentile with the device, the thread count and the batch size. On a GPU the
device is synchronised before each clock reading, so the time covers the queued work.

torch is never imported here: when a caller has already loaded it, it is used for CUDA
synchronisation, peak memory and the thread count.
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
        CPU: peak Python and NumPy allocation during one extra untimed run (tracemalloc; memory
        that native libraries allocate on their own is not seen). CUDA: peak memory torch
        allocated on the device during the timed runs. ``None`` when not measured (other
        devices, or ``track_memory=False``).
    device : str
        Where it ran (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).
    threads : int
        torch's intra-op threads when torch is loaded, else the BLAS thread pool size.
    batch_size : int
        Items processed per call.
    """

    median_s: float
    p90_s: float
    runs: tuple[float, ...]
    peak_memory_mb: float | None
    device: str
    threads: int
    batch_size: int = 1

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


def measure(fn: Callable[[], T], *, warmup: int = 1, repeats: int = 3, device: str = "cpu",
            batch_size: int = 1, track_memory: bool = True) -> tuple[T, Timing]:
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
        On CPU, spend one extra untimed call under tracemalloc to measure peak memory.

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
    if track_memory and str(device).startswith("cpu"):
        peak = _cpu_peak_mb(fn)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    runs = []
    result: Any = None
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        result = fn()
        _synchronize(device)
        runs.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    timing = Timing(median_s=float(statistics.median(runs)), p90_s=float(np.percentile(runs, 90)),
                    runs=tuple(runs), peak_memory_mb=peak, device=str(device),
                    threads=thread_count(), batch_size=int(batch_size))
    return result, timing


def projected_benchmark(items: int, median_s: float,
                        price_per_gpu_hour: float | None = None) -> dict[str, Any]:
    """Project the time and cost of running a model over a benchmark on one GPU.

    Parameters
    ----------
    items : int
        Images to edit.
    median_s : float
        Median latency per image (from :func:`measure`).
    price_per_gpu_hour : float, optional
        Price of one GPU-hour; without it the cost is ``None``.

    Returns
    -------
    dict
        ``items``, ``median_s``, ``total_s``, ``gpu_hours``, ``gpu_days`` and ``cost_usd``.
        For example 26,000 images at 62 s each take 18.7 GPU-days.
    """
    if items < 0:
        raise ValueError(f"items must be >= 0, got {items}")
    if median_s < 0:
        raise ValueError(f"median_s must be >= 0, got {median_s}")
    if price_per_gpu_hour is not None and price_per_gpu_hour < 0:
        raise ValueError(f"price_per_gpu_hour must be >= 0, got {price_per_gpu_hour}")
    total = float(items) * float(median_s)
    hours = total / 3600.0
    cost = None if price_per_gpu_hour is None else hours * float(price_per_gpu_hour)
    return {"items": int(items), "median_s": float(median_s), "total_s": total,
            "gpu_hours": hours, "gpu_days": total / SECONDS_PER_DAY, "cost_usd": cost}
