"""Vote files in the arena battle format (DESIGN.md §3): JSON, JSONL, CSV and Parquet.

Columns: ``model_a`` (shown left), ``model_b`` (shown right), ``winner`` in
{``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``}, and optional ``judge``, ``task`` (alias
``category``), ``tstamp``, ``item``, ``duration_ms``. Files are read column-wise with pyarrow, so
millions of rows load without building a Python object per vote.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow as pa

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
#: Stored vote choice → battle-format winner.
CHOICE_TO_WINNER = {"left": "model_a", "right": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
REQUIRED = ("model_a", "model_b", "winner")
OPTIONAL = ("judge", "task", "tstamp", "item", "duration_ms", "check")
#: Columns read as dictionary-encoded strings from Parquet.
STRING_COLUMNS = ("model_a", "model_b", "winner", "judge", "task", "category", "check")
FORMATS = ("json", "jsonl", "csv", "parquet")


class BattleFileError(ValueError):
    """A vote file that is missing, of an unknown format, or with bad columns or values."""


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """The file format from ``fmt`` or the file's extension."""
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    fmt = {"ndjson": "jsonl", "pq": "parquet"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise BattleFileError(f"{path}: unknown vote file format {fmt!r} (use {', '.join(FORMATS)})")
    return fmt


def _read_table(path: Path, fmt: str) -> pa.Table:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        wanted = [c for c in (*REQUIRED, *OPTIONAL, "category") if c in names]
        return pq.read_table(path, columns=wanted)
    if fmt == "csv":
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(strings_can_be_null=False))
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        rows = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(rows, dict):  # {"battles": [...]} or column-oriented
            rows = rows.get("battles", rows)
    if isinstance(rows, dict):
        return pa.table(rows)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BattleFileError(f"{path}: expected a list of vote objects")
    return pa.Table.from_pylist(rows)


def read_battles(path: str | Path, fmt: str | None = None) -> dict[str, np.ndarray]:
    """Read a vote file into numpy columns; validates names and winner labels."""
    path = Path(path)
    fmt = detect_format(path, fmt)
    if not path.is_file():
        raise BattleFileError(f"{path}: no such file")
    try:
        table = _read_table(path, fmt)
    except BattleFileError:
        raise
    except RecursionError:
        raise BattleFileError(f"{path}: not a readable {fmt} vote file (nested too deeply)") from None
    except (pa.ArrowException, ValueError, TypeError, OverflowError, KeyError, OSError) as exc:
        raise BattleFileError(f"{path}: not a readable {fmt} vote file ({_first_line(exc)})") from None
    return battle_columns(table, source=str(path))


def _first_line(exc: BaseException, most: int = 200) -> str:
    """The first line of an error's message (cut to ``most`` characters), or its type."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= most else line[:most - 3] + "..."


def _is_text(kind: pa.DataType) -> bool:
    """Whether a column of this Arrow type reads as names: text, numbers, or nothing."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)
            or pa.types.is_integer(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind))


def _is_number(kind: pa.DataType) -> bool:
    return (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)
            or pa.types.is_boolean(kind) or pa.types.is_decimal(kind))


def check_types(schema: pa.Schema, source: str) -> None:
    """Refuse battle columns of a type they cannot hold (lists, structs, ...) or names that are
    not UTF-8."""
    try:
        names = schema.names
    except UnicodeDecodeError:
        raise BattleFileError(f"{source}: column names are not UTF-8 text") from None
    for name in names:
        kind = schema.field(name).type
        if name in STRING_COLUMNS and not _is_text(kind):
            raise BattleFileError(f"{source}: column {name} holds {kind} values, not text")
        if name in ("tstamp", "duration_ms") and not (_is_number(kind) or _is_text(kind)):
            raise BattleFileError(f"{source}: column {name} holds {kind} values, not numbers")


def _strings(col: pa.ChunkedArray, name: str, source: str) -> pa.ChunkedArray:
    try:
        return col.cast(pa.string())
    except pa.ArrowException:
        raise BattleFileError(f"{source}: column {name} is not UTF-8 text "
                              "(save the file as UTF-8)") from None


def _numbers(col: pa.ChunkedArray, name: str, source: str) -> np.ndarray:
    try:
        if not _is_number(col.type):
            col = _strings(col, name, source)
        return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    except pa.ArrowException as exc:
        raise BattleFileError(f"{source}: column {name} must hold numbers "
                              f"({_first_line(exc, 80)})") from None


def read_battle_table(path: str | Path, *, ordered: bool = False) -> pa.Table:
    """A vote file as an Arrow table, for ranking: the battle columns plus ``check``.

    Parquet is read with its string columns dictionary-encoded (no Python object per vote),
    columns decoded in parallel; other formats go through :func:`read_battles`. ``category`` is renamed ``task``;
    with ``ordered`` the rows are sorted by ``tstamp`` when the file has it (vote order, for Elo).
    """
    path = Path(path)
    if detect_format(path) == "parquet" and path.is_file():
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(path)
            check_types(schema, str(path))
            names = schema.names
            wanted = [c for c in (*STRING_COLUMNS, *(("tstamp",) if ordered else ())) if c in names]
            reader = pq.ParquetFile(path, memory_map=True,
                                    read_dictionary=[c for c in wanted if c in STRING_COLUMNS])
            table = reader.read(columns=wanted, use_threads=True)
        except BattleFileError:
            raise
        except (pa.ArrowException, OSError, KeyError, ValueError) as exc:
            raise BattleFileError(f"{path}: not a readable parquet vote file ({_first_line(exc)})") from None
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise BattleFileError(f"{path}: missing column(s) {', '.join(missing)}")
    else:
        table = pa.table(read_battles(path))
    if "task" not in table.column_names and "category" in table.column_names:
        table = table.rename_columns(["task" if c == "category" else c for c in table.column_names])
    if ordered and "tstamp" in table.column_names:
        table = table.sort_by("tstamp")
    return table


def battle_columns(table: pa.Table | Mapping[str, Any], source: str = "votes") -> dict[str, np.ndarray]:
    """Validate battle columns (a pyarrow table or a mapping of sequences) into numpy arrays."""
    if not isinstance(table, pa.Table):
        try:
            table = pa.table({k: list(v) for k, v in table.items()})
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            raise BattleFileError(f"{source}: not vote columns ({_first_line(exc)})") from None
    check_types(table.schema, source)
    names = set(table.column_names)
    if "task" not in names and "category" in names:
        table = table.rename_columns(["task" if c == "category" else c for c in table.column_names])
        names = set(table.column_names)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise BattleFileError(f"{source}: missing column(s) {', '.join(missing)}")
    cols: dict[str, np.ndarray] = {}
    for name in (*REQUIRED, *OPTIONAL):
        if name not in names:
            continue
        col = table.column(name)
        if name in ("tstamp", "duration_ms"):
            cols[name] = _numbers(col, name, source)
            continue
        if col.null_count and name in REQUIRED:
            raise BattleFileError(f"{source}: column {name} has {col.null_count} empty value(s)")
        cols[name] = np.asarray(_strings(col, name, source).fill_null("").to_numpy(zero_copy_only=False),
                                dtype=object)
    if len(cols["winner"]):
        labels, first = np.unique(cols["winner"].astype(str), return_index=True)
        bad = [str(x) for x in labels if x not in WINNERS]
        if bad:
            row = int(first[list(labels).index(bad[0])]) + 1
            raise BattleFileError(f"{source}: unknown winner label(s) {', '.join(map(repr, bad[:5]))} "
                                  f"(first at row {row}); expected one of {', '.join(WINNERS)}")
    return cols


def split_by_task(cols: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Per-task column sets (tasks sorted); votes without a task are only in the overall board."""
    if "task" not in cols:
        return {}
    task = cols["task"].astype(str)
    out = {}
    for name in sorted(set(task) - {""}):
        keep = task == name
        out[name] = {k: v[keep] for k, v in cols.items()}
    return out


def write_battles(rows: Iterable[Mapping[str, Any]] | pa.Table, path: str | Path, fmt: str | None = None) -> int:
    """Write votes in the battle format; returns the number of rows written."""
    path = Path(path)
    fmt = detect_format(path, fmt)
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)
    else:
        records = table.to_pylist()
        with path.open("w", encoding="utf-8") as fh:
            if fmt == "jsonl":
                for r in records:
                    fh.write(json.dumps(r) + "\n")
            else:
                json.dump(records, fh, indent=1)
    return table.num_rows
