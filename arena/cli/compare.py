"""``arena compare``: how far leaderboards agree (Kendall tau-b, Spearman, top-k, rank shifts).

Each BOARD is our ``rank`` JSON (``{"leaderboards": [...]}``, pick one with ``--task``; or one
board ``{"rows": [...]}``), or a CSV with a ``model`` column and a ``score`` (higher is better)
or ``rank`` (lower is better) column. Every board after the first is compared with the first.
"""
from __future__ import annotations

import sys

from arena.cli import InputError
from arena.cli.output import add_format_option, emit, render_rows

COLUMNS = ("board", "model", "position_a", "position_b", "shift", "kendall_tau_b", "spearman",
           "top_k_overlap")
SUMMARY = ("board", "models", "kendall_tau_b", "spearman", "k", "top_k_overlap", "only_in_a",
           "only_in_b")


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="agreement between leaderboards (Kendall tau-b, Spearman, top-k)",
                       description="Compare leaderboards with the first one: Kendall tau-b, Spearman, "
                                   "top-k overlap and each model's rank shift. A BOARD is rank JSON "
                                   "or CSV with model,score or model,rank columns.")
    p.add_argument("boards", nargs="+", metavar="BOARD", help="rank JSON or CSV files (two or more)")
    p.add_argument("--task", default=None, help="which board of a multi-task rank JSON (default overall)")
    p.add_argument("--top", "-k", type=int, default=10, dest="k", help="k of the top-k overlap (default 10)")
    add_format_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from arena.files.boards import BoardFileError, read_board
    from scoring.agreement import agreement

    if len(args.boards) < 2:
        raise InputError("compare needs at least two boards")
    if args.k < 1:
        raise InputError("--top must be at least 1")
    try:
        boards = [read_board(p, args.task) for p in args.boards]
    except BoardFileError as exc:
        raise InputError(str(exc)) from None
    reference = args.boards[0]
    results = []
    for path, board in zip(args.boards[1:], boards[1:]):
        results.append({"board": path, **agreement(boards[0], board, k=args.k).to_dict()})
    data = {"reference": reference, "comparisons": results}
    rows = [{"board": r["board"], **s, "kendall_tau_b": r["kendall_tau_b"], "spearman": r["spearman"],
             "top_k_overlap": r["top_k_overlap"]} for r in results for s in r["shifts"]]
    if args.format == "table":
        summary = [{**r, "only_in_a": len(r["only_in_a"]), "only_in_b": len(r["only_in_b"])} for r in results]
        sys.stdout.write(f"reference: {reference}\n" + render_rows(summary, SUMMARY, "table") + "\n"
                         + render_rows(rows, COLUMNS[:5], "table"))
    else:
        emit(data, args.format, rows, COLUMNS)
    return 0
