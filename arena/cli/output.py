"""Printing results as JSON, CSV or an aligned text table."""
from __future__ import annotations

import csv
import io
import json
import math
import sys
from typing import Any, Sequence

FORMATS = ("json", "csv", "table")


def add_format_option(parser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="json", help="output format (default json)")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}" if abs(value) < 1e4 else f"{value:.1f}"
    if isinstance(value, (list, tuple)):
        return "; ".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def render_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """Rows as CSV or a text table, in the given column order."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        return buf.getvalue()
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def emit(data: Any, fmt: str, rows: Sequence[dict[str, Any]] = (), columns: Sequence[str] = ()) -> None:
    """Print ``data`` as JSON, or ``rows`` (flattened) as CSV or a table."""
    if fmt == "json":
        json.dump(data, sys.stdout, indent=1, default=_json_default)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_rows(rows, columns, fmt))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
