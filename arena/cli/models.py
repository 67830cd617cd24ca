"""``arena models``: each model with its kind, outputs and measured latency, cost and energy per
task, what the latency was measured with, and the projected run over every item."""
from __future__ import annotations

from arena.cli.output import add_format_option, emit

COLUMNS = ("model", "kind", "outputs", "votes", "latency_s", "latency_p90_s", "cost_usd",
           "energy_wh", "energy_source", "device", "dtype", "steps", "resolution", "threads",
           "peak_memory_mb", "run_time", "run_cost_usd", "run_energy")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "models", help="list models with measured latency, cost and energy per task",
        description="Each model with its outputs and votes; per task the median and p90 "
                    "latency, cost and energy per image (Wh, measured or estimated) and peak "
                    "memory; the device, dtype, steps and resolution behind the latencies; and "
                    "the projected time, cost and energy (kWh, with an everyday comparison) of "
                    "running it over every item as `arena generate` does, repeats and warm-up "
                    "included.")
    add_format_option(p)
    p.set_defaults(run=run)


def _flat(model: dict) -> dict:
    """A table row: the projection as a duration, dollars and kWh with its comparison."""
    from models.timing import SECONDS_PER_DAY

    projected = model["projected"]
    seconds = projected["total_s"]
    run_time = (f"{seconds / SECONDS_PER_DAY:.1f} days" if seconds >= 2 * SECONDS_PER_DAY
                else f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.1f} s")
    energy = projected.get("energy")
    kwh = projected.get("energy_kwh")
    return {**model, "run_time": run_time if projected["items"] else None,
            "run_cost_usd": projected["cost_usd"],
            "run_energy": None if kwh is None else f"{kwh:.3g} kWh ({energy['text']})"}


def run(args) -> int:
    from arena.store.catalog import model_stats
    from arena.store.db import get_engine

    models = model_stats(get_engine())
    emit({"models": models}, args.format, [_flat(m) for m in models], COLUMNS)
    return 0
