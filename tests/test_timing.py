"""Latency measurement on real (sleeping and allocating) functions, and cost projection."""
import time

import numpy as np
import pytest

from models.timing import Timing, measure, projected_benchmark


def test_sleep_gives_sane_median_and_p90():
    calls = []

    def work():
        calls.append(1)
        time.sleep(0.02)
        return len(calls)

    result, timing = measure(work, warmup=2, repeats=5)
    assert isinstance(timing, Timing)
    assert len(calls) == 2 + 1 + 5  # warm-up, one memory run, timed runs
    assert result == len(calls)  # the result of the last call
    assert len(timing.runs) == 5 and all(r >= 0.019 for r in timing.runs)
    assert 0.019 <= timing.median_s < 0.2
    assert min(timing.runs) <= timing.median_s <= timing.p90_s <= max(timing.runs)
    assert timing.device == "cpu" and timing.batch_size == 1 and timing.threads >= 1


def test_p90_picks_up_a_slow_run():
    delays = iter([0.0, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.08])
    _, timing = measure(lambda: time.sleep(next(delays)), warmup=1, repeats=10,
                        track_memory=False)
    assert timing.median_s < 0.05 and timing.p90_s > timing.median_s


def test_cpu_peak_memory_sees_an_allocation():
    _, timing = measure(lambda: np.ones(4 * 2**20 // 8).sum(), warmup=0, repeats=1)
    assert 3.5 < timing.peak_memory_mb < 40
    _, untracked = measure(lambda: 1, track_memory=False)
    assert untracked.peak_memory_mb is None


def test_to_dict_is_plain():
    _, timing = measure(lambda: None, repeats=2)
    d = timing.to_dict()
    assert d["runs"] == list(timing.runs) and d["device"] == "cpu"


def test_bad_arguments():
    with pytest.raises(ValueError):
        measure(lambda: None, repeats=0)
    with pytest.raises(ValueError):
        measure(lambda: None, warmup=-1)
    with pytest.raises(ValueError):
        projected_benchmark(-1, 1.0, None)


def test_projection_of_26000_items_at_62_s():
    p = projected_benchmark(26_000, 62.0, None)
    assert round(p["gpu_days"], 1) == 18.7
    assert p["total_s"] == 1_612_000 and p["cost_usd"] is None
    priced = projected_benchmark(26_000, 62.0, 2.0)
    assert priced["cost_usd"] == pytest.approx(1_612_000 / 3600 * 2.0)
    assert priced["gpu_hours"] == pytest.approx(447.78, abs=0.01)
