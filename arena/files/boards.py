"""Leaderboards from elsewhere: our ``rank`` JSON, or a CSV copied from a public board.

A board is read as ``{model: score}`` (higher is better); a CSV with a ``rank`` column (lower
is better) becomes negated ranks, so agreement statistics treat both alike.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path


class BoardFileError(ValueError):
    """A board file that is missing, unreadable or has no model and score or rank columns."""


def read_board(path: str, task: str | None = None) -> dict[str, float]:
    """``{model: score}`` from a rank JSON or a model,score / model,rank CSV (rank 1 = best)."""
    file = Path(path)
    if not file.is_file():
        raise BoardFileError(f"{path}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardFileError(f"{path}: cannot read ({exc})") from None
    if file.suffix.lower() == ".json" or text.lstrip()[:1] in ("{", "["):
        return _json_board(path, text, task)
    return _csv_board(path, text)


def _json_board(path: str, text: str, task: str | None) -> dict[str, float]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoardFileError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict) and "leaderboards" in data:
        boards = {b.get("task", "overall"): b for b in data["leaderboards"]}
        name = task or ("overall" if "overall" in boards or len(boards) != 1 else next(iter(boards)))
        if name not in boards:
            raise BoardFileError(f"{path}: no board for task {name!r} (has {', '.join(boards) or 'none'})")
        data = boards[name]
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BoardFileError(f"{path}: expected rank JSON with rows of model and score")
    return _scores(path, rows)


def _csv_board(path: str, text: str) -> dict[str, float]:
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if "model" not in fields or not ({"score", "rank"} & set(fields)):
        raise BoardFileError(f"{path}: CSV needs a model column and a score or rank column")
    rows = [{k.strip().lower(): v for k, v in row.items() if k is not None} for row in reader]
    return _scores(path, rows)


def _scores(path: str, rows: list[dict]) -> dict[str, float]:
    key = "score" if rows and all(r.get("score") not in (None, "") for r in rows) else "rank"
    scores: dict[str, float] = {}
    for n, row in enumerate(rows, start=1):
        model, value = row.get("model"), row.get(key)
        if model in (None, "") or value in (None, ""):
            raise BoardFileError(f"{path}: row {n} lacks a model or a {key}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BoardFileError(f"{path}: row {n}: {key} {value!r} is not a number") from None
        if str(model) in scores:
            raise BoardFileError(f"{path}: model {model!r} appears twice")
        scores[str(model)] = number if key == "score" else -number
    return scores
