"""``arena models``: each model with its kind, outputs and measured latency and cost per task."""
from __future__ import annotations

from arena.cli.output import add_format_option, emit

COLUMNS = ("model", "kind", "outputs", "votes", "latency_s", "latency_p90_s", "cost_usd", "device", "threads")


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list models with measured latency and cost per task")
    add_format_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from arena.store.catalog import model_stats
    from arena.store.db import get_engine

    models = model_stats(get_engine())
    emit({"models": models}, args.format, models, COLUMNS)
    return 0
