"""Reading an import manifest: one row per output made elsewhere (JSONL, JSON list or CSV).

Columns (``*`` required):

========================  ====================================================================
``task`` *                task name
``model`` *               model name; ``version`` (default ``"1"``), ``kind`` (``imported`` or
                          ``api``, default ``imported``) and ``provider`` optional
``output`` *              the output image (alias ``output_path``, ``image``)
``item``                  key of a stored item (alias ``item_id``); or the key of a new item
``source``                source image of a new item (alias ``source_path``)
``instruction``           instruction of a new item (required with ``source``)
``mask``, ``reference``   optional images of a new item (aliases ``mask_path``, ``reference_path``)
``target_text``           words a text edit should write; ``old_text`` the words it replaces
``latency_s``, ``cost_usd``  what the maker measured (non-negative numbers, may be empty)
========================  ====================================================================

Paths are relative to the manifest's folder and may not leave it. Rows are numbered by their
line in the file (a CSV's header is line 1); records of a JSON list by position.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

COLUMNS = ("task", "model", "version", "kind", "provider", "output", "item", "source",
           "instruction", "mask", "reference", "target_text", "old_text", "latency_s", "cost_usd")
ALIASES = {"output_path": "output", "image": "output", "item_id": "item", "source_path": "source",
           "mask_path": "mask", "reference_path": "reference", "category": "task"}
KINDS = ("imported", "api")
IMAGE_COLUMNS = ("output", "source", "mask", "reference")

#: Problems listed in an error message; the rest are counted.
MAX_LISTED = 20


class ManifestError(ValueError):
    """A manifest cannot be imported; ``problems`` holds (row label, message) pairs."""

    def __init__(self, manifest: str | Path, problems: list[tuple[str, str]]):
        self.problems = problems
        listed = "; ".join(f"{where}: {what}" for where, what in problems[:MAX_LISTED])
        more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        rows = len({where for where, _ in problems})
        super().__init__(f"{manifest}: nothing imported, {rows} bad row(s): {listed}{more}")


@dataclass(frozen=True)
class ManifestRow:
    """One checked row: text fields, numbers, and image paths made absolute (not yet opened)."""

    where: str
    task: str
    model: str
    version: str
    kind: str
    provider: str
    output: Path
    item: str | None = None
    source: Path | None = None
    instruction: str | None = None
    mask: Path | None = None
    reference: Path | None = None
    target_text: str | None = None
    old_text: str | None = None
    latency_s: float | None = None
    cost_usd: float | None = None


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """(row label, record) pairs; raises ValueError for a file that cannot be parsed at all."""
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    if suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield f"line {n}", json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"line {n}", ValueError(f"not valid JSON ({exc.msg})")
    elif suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError("a .json manifest is a list of records")
        for n, record in enumerate(data, start=1):
            yield f"record {n}", record
    elif suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        for record in reader:
            yield f"line {reader.line_num}", record
    else:
        raise ValueError("use a .jsonl, .json or .csv manifest")


def _number(value: Any, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a non-negative number, not {value!r}")
    return number


def _inside(root: Path, value: str, name: str) -> Path:
    path = (root / Path(value).expanduser()).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"{name} {value!r} leaves the manifest's folder")
    return path


def parse_row(record: Any, root: Path, where: str) -> ManifestRow:
    """Check one record's fields; raises ValueError naming the first problem."""
    if isinstance(record, Exception):
        raise record
    if not isinstance(record, dict):
        raise ValueError(f"expected an object, not {type(record).__name__}")
    fields: dict[str, Any] = {}
    for key, value in record.items():
        if key is None:
            raise ValueError("more values than the header has columns")
        name = ALIASES.get(str(key).strip(), str(key).strip())
        if name not in COLUMNS:
            raise ValueError(f"unknown column {key!r}; known: {', '.join(COLUMNS)}")
        if value is not None and not (isinstance(value, str) and not value.strip()):
            fields[name] = value if name in ("latency_s", "cost_usd") else str(value).strip()
    for name in ("task", "model", "output"):
        if name not in fields:
            raise ValueError(f"no {name!r}")
    if "item" not in fields and "source" not in fields:
        raise ValueError("give 'item' (a stored item) or 'source' (a new item's image)")
    if "source" in fields and "instruction" not in fields:
        raise ValueError("a new item ('source') needs an 'instruction'")
    kind = fields.get("kind", "imported")
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}; use {' or '.join(KINDS)}")
    paths = {k: _inside(root, fields[k], k) for k in IMAGE_COLUMNS if k in fields}
    return ManifestRow(
        where=where, task=fields["task"], model=fields["model"],
        version=fields.get("version", "1"), kind=kind, provider=fields.get("provider", ""),
        item=fields.get("item"), instruction=fields.get("instruction"),
        target_text=fields.get("target_text"), old_text=fields.get("old_text"),
        latency_s=_number(fields.get("latency_s"), "latency_s"),
        cost_usd=_number(fields.get("cost_usd"), "cost_usd"), **paths)


def parse_manifest(path: str | Path) -> tuple[list[ManifestRow], list[tuple[str, str]]]:
    """The well-formed rows of a manifest, and (row label, message) for each malformed one.

    Raises
    ------
    ManifestError
        If the file cannot be read or parsed at all, or holds no rows.
    """
    path = Path(path)
    root = path.resolve().parent
    problems: list[tuple[str, str]] = []
    rows: list[ManifestRow] = []
    try:
        for where, record in _records(path):
            try:
                rows.append(parse_row(record, root, where))
            except ValueError as exc:
                problems.append((where, str(exc)))
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise ManifestError(path, [("file", f"cannot read: {exc}")]) from None
    if not rows and not problems:
        raise ManifestError(path, [("file", "no rows")])
    return rows, problems


def read_manifest_rows(path: str | Path) -> list[ManifestRow]:
    """Read and check every row of a manifest.

    Raises
    ------
    ManifestError
        Naming every malformed row (or the file, if it cannot be read or parsed).
    """
    rows, problems = parse_manifest(path)
    if problems:
        raise ManifestError(path, problems)
    return rows
