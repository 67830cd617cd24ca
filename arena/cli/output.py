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
        sys.stdout.write(dumps_indented(data))
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_rows(rows, columns, fmt))


def dumps_indented(data: Any) -> str:
    """``json.dumps(data, indent=1, default=...)``, the same text, several times faster on
    large leaderboards (the standard library indents in pure Python, value by value)."""
    out: list[str] = []
    try:
        _encode(data, out, "\n")
    except _Unusual:
        return json.dumps(data, indent=1, default=_json_default)
    return "".join(out)


class _Unusual(Exception):
    """A value the fast encoder leaves to :mod:`json` (odd keys, a cycle, ...)."""


_ESCAPE = json.encoder.encode_basestring_ascii
_FLOAT = float.__repr__


def _encode(obj: Any, out: list, newline: str, depth: int = 0) -> None:
    if depth > 200:
        raise _Unusual
    if isinstance(obj, str):
        out.append(_ESCAPE(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(_FLOAT(obj) if math.isfinite(obj) else
                   "NaN" if obj != obj else "Infinity" if obj > 0 else "-Infinity")
    elif isinstance(obj, (list, tuple)):
        if not obj:
            out.append("[]")
            return
        inner = newline + " "
        out.append("[")
        for k, item in enumerate(obj):
            out.append(inner if not k else "," + inner)
            _encode(item, out, inner, depth + 1)
        out.append(newline + "]")
    elif isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        inner = newline + " "
        out.append("{")
        for k, (key, value) in enumerate(obj.items()):
            if not isinstance(key, str):
                raise _Unusual
            out.append((inner if not k else "," + inner) + _ESCAPE(key) + ": ")
            _encode(value, out, inner, depth + 1)
        out.append(newline + "}")
    else:
        _encode(_json_default(obj), out, newline, depth + 1)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
