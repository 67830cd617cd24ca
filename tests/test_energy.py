"""Energy per image: RAPL and NVML counters (read through stand-ins of the kernel files and of
the NVML library), estimates from a declared power draw, the projection of a benchmark run with
an everyday comparison, and ``arena models`` showing it all."""
import json
from types import SimpleNamespace

import pytest

from models.energy import (
    Energy, everyday, meter_for, nvml_meter, per_image, projected_energy, rapl_meter,
)
from models.timing import measure, projected_benchmark


def powercap(tmp_path, zones):
    for name, (energy, wrap) in zones.items():
        zone = tmp_path / name
        zone.mkdir()
        (zone / "energy_uj").write_text(f"{energy}\n")
        (zone / "max_energy_range_uj").write_text(f"{wrap}\n")
    return tmp_path


def test_rapl_sums_packages_across_a_wrap(tmp_path):
    root = powercap(tmp_path, {"intel-rapl:0": (999_000_000, 1_000_000_000),
                               "intel-rapl:1": (5_000_000, 1_000_000_000),
                               "intel-rapl:0:0": (1, 10)})  # a subzone: counted in its package
    meter = rapl_meter(root)
    before = meter.read()
    (root / "intel-rapl:0" / "energy_uj").write_text("1000000\n")  # wrapped: +2 J
    (root / "intel-rapl:1" / "energy_uj").write_text("8000000\n")  # +3 J
    assert meter.joules_between(before, meter.read()) == pytest.approx(5.0)
    assert rapl_meter(tmp_path / "none") is None


def test_nvml_counter_in_millijoules():
    counter = {"mJ": 1_000_000}
    fake = SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda i: ("gpu", i),
        nvmlDeviceGetTotalEnergyConsumption=lambda handle: counter["mJ"])
    meter = nvml_meter("cuda:0", nvml=fake)
    before = meter.read()
    counter["mJ"] += 7_200_000  # 7,200 J = 2 Wh
    assert meter.joules_between(before, meter.read()) / 3600 == pytest.approx(2.0)
    broken = SimpleNamespace(nvmlInit=lambda: (_ for _ in ()).throw(RuntimeError("no driver")))
    assert nvml_meter("cuda:0", nvml=broken) is None
    assert meter_for("mps") is None


def test_measured_else_estimated_else_unknown():
    assert per_image(7200.0, 2, 1.0, 50.0) == Energy(1.0, "measured")
    assert per_image(0.0, 2, 36.0, 100.0) == Energy(1.0, "estimated")  # the counter did not move
    assert per_image(None, 2, 36.0, None) is None


def test_measure_estimates_energy_and_counts_calls():
    _, timing = measure(lambda: sum(range(1000)), warmup=2, repeats=3, power_w=360.0, energy=False)
    assert timing.calls == 6 and timing.energy_source == "estimated"
    assert timing.energy_wh == pytest.approx(360.0 * timing.median_s / 3600)
    _, plain = measure(lambda: None, warmup=0, repeats=1, track_memory=False, energy=False)
    assert (plain.calls, plain.energy_wh, plain.energy_source) == (1, None, None)


def test_process_peak_memory_sees_native_allocations():
    import numpy as np

    _, timing = measure(lambda: np.ones(40_000_000, dtype=np.uint8).sum(), warmup=0, repeats=1,
                        memory="process", energy=False)
    assert timing.peak_memory_mb > 30  # the process's peak, the 40 MB array included


def test_projections_use_the_runs_calls_and_name_an_everyday_amount():
    run = projected_benchmark(26_000, 62.0, 2.0, calls_per_item=3, warmup_calls=1)
    assert run["edit_s"] / 86_400 == pytest.approx(18.66, abs=0.01)
    assert run["total_s"] == pytest.approx(26_000 * 62 * 3 + 62)
    assert run["cost_usd"] == pytest.approx(run["total_s"] / 3600 * 2.0)
    talk = projected_energy(26_000, 46.0)
    assert talk["kwh"] == pytest.approx(1196.0)
    assert talk["comparison"]["text"] == "about 399 marathons run"
    assert everyday(0.05)["unit"] == "phone charges" and everyday(0.05)["text"] == "about 3.3 phone charges"
    assert everyday(0.00003)["text"] == "0.2% of one phone charge" and everyday(0.5)["unit"] == "kettles of water boiled"
    assert everyday(50_000)["unit"].startswith("days of an average US home")
    assert projected_energy(10, None) is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_arena_models_shows_energy_and_what_the_latency_was_measured_with(db_url, arena, tmp_path,
                                                                          monkeypatch, capsys):
    from test_generate import cli, store_scenes, write

    store_scenes(arena, per_task=2)
    models = write(tmp_path, '[[model]]\nname = "recolor-hsv"\nkind = "classical"\n'
                             'power_w = 65\nprice_per_gpu_hour = 0.36\n')
    assert cli(monkeypatch, db_url, arena, "generate", "--models", str(models), "--repeats", "2",
               "--no-ocr", "--quiet") == 0
    capsys.readouterr()
    assert cli(monkeypatch, db_url, arena, "models", "--format", "json") == 0
    (model,) = json.loads(capsys.readouterr().out)["models"]
    assert model["energy_source"] == "estimated"
    assert model["energy_wh"]["recolor"] == pytest.approx(65 * model["latency_s"]["recolor"] / 3600)
    assert model["resolution"] == "96x96" and model["device"] == "cpu"
    projected = model["projected"]
    # two timed runs and the memory run per item, and one warm-up: three times one edit each
    assert projected["total_s"] == pytest.approx(projected["edit_s"] * 3 + model["latency_s"]["recolor"])
    assert projected["energy_kwh"] == pytest.approx(2 * 3 * model["energy_wh"]["recolor"] / 1000)
    assert projected["energy"]["unit"] == "phone charges"
    assert cli(monkeypatch, db_url, arena, "models", "--format", "table") == 0
    table = capsys.readouterr().out
    assert "energy_wh" in table.splitlines()[0] and "of one phone charge" in table


def test_energy_is_a_third_pareto_axis(tmp_path, monkeypatch, capsys):
    from arena.cli import main
    from arena.files.battles import write_battles
    from test_cli import BATTLES

    votes, costs = tmp_path / "votes.csv", tmp_path / "costs.csv"
    write_battles(BATTLES, votes)
    costs.write_text("model,latency_s,energy_wh\nalpha,9.0,40\nbeta,1.0,0.5\ngamma,0.5,0.1\n")
    assert main(["pareto", "--votes", str(votes), "--costs", str(costs), "--task", "recolor",
                 "--rounds", "20"]) == 0
    fronts = {f["axis"]: f for f in json.loads(capsys.readouterr().out)["fronts"]}
    assert set(fronts) == {"latency_s", "energy_wh"}  # no cost column: no cost front
    energy = fronts["energy_wh"]
    assert energy["front"] == ["gamma", "beta", "alpha"]  # better score, more energy
    assert {p["model"]: p["energy_wh"] for p in energy["points"]} == {"alpha": 40.0, "beta": 0.5, "gamma": 0.1}
