"""``arena metrics``: how each automatic metric separates models and agrees with the votes.

Also serves ``arena rank --metric NAME`` (:func:`run_rank_by_metric`).
"""
from __future__ import annotations

from arena.cli.output import add_format_option, emit

COLUMNS = ("task", "metric", "scope", "models", "ranked_by_votes", "kendall_tau", "p_value",
           "eta_squared", "anova_p")
RANK_COLUMNS = ("task", "metric", "rank", "model", "score", "outputs")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "metrics", help="metrics beside the human ranking: separation and Kendall tau per task",
        description="For each task and stored metric: how well the metric separates the models "
                    "(eta squared, ANOVA p-value) and how well its ranking agrees with the "
                    "Bradley-Terry ranking from the votes (Kendall tau-b), with a summary per "
                    "task of task-specific against generic metrics.")
    p.add_argument("--task", action="append", metavar="TASK", help="only this task (repeatable)")
    p.add_argument("--compute", action="store_true",
                   help="first compute the metrics of outputs that lack them (OCR of text edits too)")
    p.add_argument("--recompute", action="store_true", help="first recompute every output's metrics")
    p.add_argument("--no-ocr", action="store_true", help="with --compute: skip OCR")
    add_format_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    import sys

    from arena.context import Arena
    from arena.views.metrics import metric_agreement

    arena = Arena.open()
    if args.compute or args.recompute:
        from tqdm import tqdm

        from arena.outputs.metrics import refresh_metrics

        n = refresh_metrics(arena.engine, arena.media, tasks=args.task, ocr=not args.no_ocr,
                            everything=args.recompute,
                            progress=lambda rows: tqdm(rows, unit="output", file=sys.stderr))
        print(f"computed the metrics of {n} outputs", file=sys.stderr)
    result = metric_agreement(arena.engine, args.task)
    emit(result, args.format, result["agreement"], COLUMNS)
    return 0


def run_rank_by_metric(args) -> int:
    """``arena rank --metric NAME``: models per task by the mean of a stored metric."""
    from arena.cli import InputError
    from arena.store.db import get_engine
    from arena.views.metrics import UnknownMetricError, metric_leaderboards

    if getattr(args, "votes", None):
        raise InputError("--metric ranks by the metrics stored in the database; drop --votes")
    try:
        result = metric_leaderboards(get_engine(), args.metric, args.task)
    except UnknownMetricError as exc:
        raise InputError(str(exc)) from None
    rows = [{"task": b["task"], "metric": b["metric"], **r} for b in result["leaderboards"] for r in b["rows"]]
    emit(result, args.format, rows, RANK_COLUMNS)
    return 0
