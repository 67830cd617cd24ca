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

Paths are relative to the manifest's folder and may not leave it. Text values may not hold NUL
characters, and ``task``, ``model``, ``version`` and ``item`` are held to the database's lengths
(:data:`LIMITS`), so a manifest is refused the same way on SQLite and PostgreSQL before either
sees it. Rows are numbered by their line in the file (a CSV's header is line 1); records of a
JSON list by position. Every format is read as it streams by (a JSON list element by element,
:mod:`arena.files.jsonlist`), so memory does not grow with the file.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from arena.files.jsonlist import iter_json_list
from arena.store.schema import Item, Model, Task

COLUMNS = ("task", "model", "version", "kind", "provider", "output", "item", "source",
           "instruction", "mask", "reference", "target_text", "old_text", "latency_s", "cost_usd")
ALIASES = {"output_path": "output", "image": "output", "item_id": "item", "source_path": "source",
           "mask_path": "mask", "reference_path": "reference", "category": "task"}
KINDS = ("imported", "api")
IMAGE_COLUMNS = ("output", "source", "mask", "reference")
NUMBER_COLUMNS = ("latency_s", "cost_usd")
#: Longest value of each column the database keeps in a sized field (the same on every backend).
LIMITS = {"task": Task.__table__.c.name.type.length, "model": Model.__table__.c.name.type.length,
          "version": Model.__table__.c.version.type.length, "item": Item.__table__.c.key.type.length}

#: Problems listed in an error message; the rest are counted.
MAX_LISTED = 20


class ManifestError(ValueError):
    """A manifest cannot be imported; ``problems`` holds (row label, message) pairs.

    ``stopped`` names the row where checking stopped early (too many bad rows), if it did.
    """

    def __init__(self, manifest: str | Path, problems: list[tuple[str, str]],
                 stopped: str | None = None):
        self.problems, self.stopped = problems, stopped
        listed = "; ".join(f"{where}: {what}" for where, what in problems[:MAX_LISTED])
        more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        rows = len({where for where, _ in problems})
        first = f"the first {rows}" if stopped else f"{rows}"
        tail = f" (checking stopped at {stopped})" if stopped else ""
        super().__init__(f"{manifest}: nothing imported, {first} bad row(s){tail}: {listed}{more}")


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


def _lines(fh) -> Iterator[str]:
    """Lines of a binary file decoded one by one, so a bad byte is reported with its line."""
    for n, raw in enumerate(fh, start=1):
        try:
            yield raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"line {n} is not UTF-8 text (save the manifest as UTF-8)") from None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """(row label, record) pairs, read as the file streams by; raises ValueError for a file
    that cannot be parsed (a JSON list that breaks after some records, too)."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv"):
        raise ValueError("use a .jsonl, .json or .csv manifest")
    with path.open("rb") as fh:
        if suffix == ".jsonl":
            for n, line in enumerate(_lines(fh), start=1):
                if line.strip():
                    try:
                        yield f"line {n}", _json(line)
                    except json.JSONDecodeError as exc:
                        yield f"line {n}", ValueError(f"not valid JSON ({exc.msg})")
                    except ValueError as exc:
                        yield f"line {n}", exc
        elif suffix == ".json":
            for n, record in enumerate(iter_json_list(fh), start=1):
                yield f"record {n}", record
        else:
            reader = csv.DictReader(_lines(fh))
            for record in reader:
                yield f"line {reader.line_num}", record


def _shown(value: Any, most: int = 40) -> str:
    """``repr(value)``, cut to ``most`` characters."""
    text = repr(value)
    return text if len(text) <= most else text[:most - 3] + "..."


def _kind_of(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)


def _text(value: Any, name: str) -> str:
    """A text field, checked as every database will store it: no NUL, valid Unicode, in length."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{name} must be text, not {_kind_of(value)}")
    text = str(value).strip()
    if "\x00" in text:
        raise ValueError(f"{name} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid Unicode text") from None
    limit = LIMITS.get(name)
    if limit is not None and len(text) > limit:
        raise ValueError(f"{name} is {len(text)} characters long; the most is {limit}")
    return text


def _number(value: Any, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{name} must be a number, not {_kind_of(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, not {_shown(value)}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a non-negative number, not {_shown(value)}")
    return number


def _inside(root: Path, value: str, name: str) -> Path:
    path = (root / Path(value).expanduser()).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"{name} {_shown(value, 80)} leaves the manifest's folder")
    return path


def _fields(record: dict) -> dict[str, Any]:
    """Known columns by their canonical names, text checked, empty values left out."""
    fields: dict[str, Any] = {}
    for key, value in record.items():
        if key is None:
            raise ValueError("more values than the header has columns")
        name = ALIASES.get(str(key).strip(), str(key).strip())
        if name not in COLUMNS:
            raise ValueError(f"unknown column {_shown(key)}; known: {', '.join(COLUMNS)}")
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        fields[name] = value if name in NUMBER_COLUMNS else _text(value, name)
    return fields


def parse_row(record: Any, root: Path, where: str) -> ManifestRow:
    """Check one record's fields; raises ValueError naming the first problem."""
    if isinstance(record, Exception):
        raise record
    if not isinstance(record, dict):
        raise ValueError(f"expected an object, not {type(record).__name__}")
    fields = _fields(record)
    for name in ("task", "model", "output"):
        if name not in fields:
            raise ValueError(f"no {name!r}")
    if "item" not in fields and "source" not in fields:
        raise ValueError("give 'item' (a stored item) or 'source' (a new item's image)")
    if "source" in fields and "instruction" not in fields:
        raise ValueError("a new item ('source') needs an 'instruction'")
    kind = fields.get("kind", "imported")
    if kind not in KINDS:
        raise ValueError(f"kind {_shown(kind)}; use {' or '.join(KINDS)}")
    paths = {k: _inside(root, fields[k], k) for k in IMAGE_COLUMNS if k in fields}
    return ManifestRow(
        where=where, task=fields["task"], model=fields["model"],
        version=fields.get("version", "1"), kind=kind, provider=fields.get("provider", ""),
        item=fields.get("item"), instruction=fields.get("instruction"),
        target_text=fields.get("target_text"), old_text=fields.get("old_text"),
        latency_s=_number(fields.get("latency_s"), "latency_s"),
        cost_usd=_number(fields.get("cost_usd"), "cost_usd"), **paths)


def iter_manifest(path: str | Path) -> Iterator[ManifestRow | tuple[str, str]]:
    """Each row of a manifest as it is read: a :class:`ManifestRow`, or (row label, message)
    for a malformed one. Memory stays bounded however long the file.

    Raises
    ------
    ManifestError
        If the file cannot be read or parsed at all, or holds no rows.
    """
    path = Path(path)
    root = path.resolve().parent
    seen = 0
    try:
        for where, record in _records(path):
            seen += 1
            try:
                yield parse_row(record, root, where)
            except ValueError as exc:
                yield where, str(exc)
    except (OSError, ValueError, csv.Error) as exc:
        raise ManifestError(path, [("file", f"cannot read: {exc}")]) from None
    if not seen:
        raise ManifestError(path, [("file", "no rows")])


def split_rows(entries: Iterable[ManifestRow | tuple[str, str]]
               ) -> tuple[list[ManifestRow], list[tuple[str, str]]]:
    """Rows and problems of :func:`iter_manifest`, apart."""
    rows: list[ManifestRow] = []
    problems: list[tuple[str, str]] = []
    for entry in entries:
        (rows if isinstance(entry, ManifestRow) else problems).append(entry)
    return rows, problems


def parse_manifest(path: str | Path) -> tuple[list[ManifestRow], list[tuple[str, str]]]:
    """The well-formed rows of a manifest, and (row label, message) for each malformed one.

    Raises
    ------
    ManifestError
        If the file cannot be read or parsed at all, or holds no rows.
    """
    return split_rows(iter_manifest(path))


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
