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


def read_board(path: str, task: str | None = None) -> dict[str, float]:
    """``{model: score}`` from a rank JSON or a model,score / model,rank CSV."""
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if file.suffix.lower() == ".json" or text.lstrip()[:1] in ("{", "["):
        return _json_board(path, text, task)
    return _csv_board(path, text)


def _json_board(path: str, text: str, task: str | None) -> dict[str, float]:
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict) and "leaderboards" in data:
        boards = {b.get("task", "overall"): b for b in data["leaderboards"]}
        name = task or ("overall" if "overall" in boards or len(boards) != 1 else next(iter(boards)))
        if name not in boards:
            raise InputError(f"{path}: no board for task {name!r} (has {', '.join(boards) or 'none'})")
        data = boards[name]
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{path}: expected rank JSON with rows of model and score")
    return _scores(path, rows)


def _csv_board(path: str, text: str) -> dict[str, float]:
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if "model" not in fields or not ({"score", "rank"} & set(fields)):
        raise InputError(f"{path}: CSV needs a model column and a score or rank column")
    rows = [{k.strip().lower(): v for k, v in row.items() if k is not None} for row in reader]
    return _scores(path, rows)


def _scores(path: str, rows: list[dict]) -> dict[str, float]:
    key = "score" if rows and all(r.get("score") not in (None, "") for r in rows) else "rank"
    scores: dict[str, float] = {}
    for n, row in enumerate(rows, start=1):
        model, value = row.get("model"), row.get(key)
        if model in (None, "") or value in (None, ""):
            raise InputError(f"{path}: row {n} lacks a model or a {key}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{path}: row {n}: {key} {value!r} is not a number") from None
        if str(model) in scores:
            raise InputError(f"{path}: model {model!r} appears twice")
        scores[str(model)] = number if key == "score" else -number
    return scores


def run(args) -> int:
    from scoring.agreement import agreement

    if len(args.boards) < 2:
        raise InputError("compare needs at least two boards")
    if args.k < 1:
        raise InputError("--top must be at least 1")
    boards = [read_board(p, args.task) for p in args.boards]
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
