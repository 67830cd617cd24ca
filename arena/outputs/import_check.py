"""Checking an import manifest against its files and the database, chunk by chunk.

Rows stream in from :func:`arena.files.manifest.iter_manifest`; each chunk of :data:`CHUNK` rows
is checked on its own (columns, images readable, not oversized and of their source's size, tasks
known, items and pairs consistent), with one database query per chunk for its items and their
outputs. Checking stops at the first :data:`STOP_AFTER` bad rows, so a manifest whose every row
is wrong is refused after a few rows, not after reading all of them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

from PIL import Image
from sqlmodel import select

from arena.context import Arena
from arena.files.manifest import ManifestError, ManifestRow
from arena.store.catalog import items_by_key, task_names
from arena.store.db import session
from arena.store.media import ImageInputError, load_user_image
from arena.store.schema import Item, Model, Output

#: Rows checked together (one database query each for their items and stored outputs).
CHUNK = 1000
#: Bad rows after which checking stops.
STOP_AFTER = 20

Problem = tuple[str, str]


@dataclass
class Plan:
    """What an import will write: rows (item key resolved), new items and tasks."""

    rows: list[ManifestRow] = field(default_factory=list)
    new_items: dict[str, ManifestRow] = field(default_factory=dict)
    existing: dict[str, Item] = field(default_factory=dict)
    new_tasks: set[str] = field(default_factory=set)
    skipped: int = 0


def _digest(path: Path | None) -> str:
    return "" if path is None else hashlib.sha256(path.read_bytes()).hexdigest()


def derived_key(row: ManifestRow) -> str:
    """Key of the item a row describes by content: task, words and the images' bytes."""
    parts = [row.task, row.instruction, row.target_text, row.old_text,
             _digest(row.source), _digest(row.mask), _digest(row.reference)]
    return "import/" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


class _Images:
    """Opens image files to check them; remembers the size or error of shared ones (sources,
    masks, references), not of outputs, so memory does not grow with the rows."""

    def __init__(self, root: Path):
        self.root, self.seen = root, {}

    def check(self, path: Path, column: str, mode: str = "RGB") -> tuple[int, int]:
        """The image's size; raises ImageInputError naming the column and the file."""
        result = self.seen.get(path) or self._open(path, mode)
        if column != "output":
            self.seen[path] = result
        if isinstance(result, str):
            raise ImageInputError(f"{column}: {result}")
        return result

    def _open(self, path: Path, mode: str) -> tuple[int, int] | str:
        try:
            return load_user_image(path, mode=mode).size
        except ImageInputError as exc:
            return str(exc).replace(str(path), self._name(path))

    def _name(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


class _Checker:
    """The state kept across chunks: known tasks, items seen, pairs seen, the plan."""

    def __init__(self, arena: Arena, manifest: Path, create_tasks: bool, skip_existing: bool):
        self.arena, self.images = arena, _Images(manifest.resolve().parent)
        self.create_tasks, self.skip_existing = create_tasks, skip_existing
        self.known_tasks = set(task_names(arena.engine))
        self.plan, self.pairs, self.sources = Plan(), {}, {}

    def local(self, row: ManifestRow) -> tuple[ManifestRow, str, tuple[int, int]]:
        """Checks that need no database: task, output image, new item images; the item key."""
        if row.task not in self.known_tasks:
            if not self.create_tasks:
                raise ValueError(f"task {row.task!r} is not in the database "
                                 "(--create-tasks creates it)")
            self.plan.new_tasks.add(row.task)
        size = self.images.check(row.output, "output")
        if row.item is not None:
            return row, row.item, size
        self._check_new_item(row)
        return row, derived_key(row), size

    def _check_new_item(self, row: ManifestRow) -> tuple[int, int]:
        size = self.images.check(row.source, "source")
        if row.reference is not None:
            self.images.check(row.reference, "reference")
        if row.mask is not None and self.images.check(row.mask, "mask", "L") != size:
            raise ValueError(f"mask is {self.images.check(row.mask, 'mask', 'L')}, source is {size}")
        return size

    def resolve(self, row: ManifestRow, key: str, size: tuple[int, int],
                stored: dict[str, Item]) -> ManifestRow:
        """Sort the row's item into stored or new; check its output's size and its pair."""
        source = self._resolve_item(row, key, stored)
        if size != source:
            raise ValueError(f"output is {_size(size)}, its source {_size(source)}: give outputs "
                             "their source's size (another size makes the model recognisable)")
        pair = (key, row.model, row.version)
        if pair in self.pairs:
            raise ValueError(f"model {row.model!r} has an output for item {key!r} "
                             f"on {self.pairs[pair]} already")
        self.pairs[pair] = row.where
        return replace(row, item=key)

    def _resolve_item(self, row: ManifestRow, key: str, stored: dict[str, Item]) -> tuple[int, int]:
        """The size of the item's source, after checking that rows agree on the item."""
        if key in stored:
            if stored[key].task != row.task:
                raise ValueError(f"item {key!r} belongs to task {stored[key].task!r}, not {row.task!r}")
            self.plan.existing[key] = stored[key]
            return self._stored_source(stored[key])
        if row.source is None:
            raise ValueError(f"item {key!r} is not in the database; give its 'source' and "
                             "'instruction' to create it")
        size = self._check_new_item(row)
        first = self.plan.new_items.setdefault(key, row)
        same = ("task", "source", "instruction", "mask", "reference", "target_text", "old_text")
        if any(getattr(first, f) != getattr(row, f) for f in same):
            raise ValueError(f"item {key!r} is described differently on {first.where}")
        return size

    def _stored_source(self, item: Item) -> tuple[int, int]:
        if item.key not in self.sources:
            with Image.open(self.arena.media.path(item.source_path)) as img:
                self.sources[item.key] = img.size
        return self.sources[item.key]

    def keep(self, rows: list[ManifestRow], problems: list[Problem]) -> None:
        """Add the chunk's checked rows to the plan, minus pairs the database already holds."""
        done = _stored_pairs(self.arena.engine, sorted({r.item for r in rows} & set(self.plan.existing)))
        for row in rows:
            if (row.item, row.model, row.version) not in done:
                self.plan.rows.append(row)
            elif self.skip_existing:
                self.plan.skipped += 1
            else:
                problems.append((row.where, f"model {row.model!r} already has an output for item "
                                            f"{row.item!r} in the database (--skip-existing skips it)"))


def _stored_pairs(engine, keys: list[str]) -> set[tuple[str, str, str]]:
    if not keys:
        return set()
    with session(engine) as s:
        rows = s.exec(select(Item.key, Model.name, Model.version)
                      .join(Output, Output.item_id == Item.id).join(Model, Model.id == Output.model_id)
                      .where(Item.key.in_(keys))).all()
    return set(rows)


def _chunks(entries: Iterable, size: int) -> Iterator[list]:
    it = iter(entries)
    while chunk := list(islice(it, size)):
        yield chunk


def _bad_rows(problems: list[Problem]) -> int:
    return len({where for where, _ in problems})


def _check_chunk(checker: _Checker, chunk: list, problems: list[Problem],
                 stop_after: int) -> str | None:
    """Check one chunk; returns the row where checking stopped, if too many rows were bad."""
    keyed, stopped = [], None
    for entry in chunk:
        if not isinstance(entry, ManifestRow):
            problems.append(entry)
        else:
            try:
                keyed.append(checker.local(entry))
            except (ValueError, OSError) as exc:
                problems.append((entry.where, str(exc)))
        if _bad_rows(problems) >= stop_after:
            stopped = entry.where if isinstance(entry, ManifestRow) else entry[0]
            break
    stored = items_by_key(checker.arena.engine, {key for _, key, _ in keyed})
    good = []
    for row, key, size in keyed:
        try:
            good.append(checker.resolve(row, key, size, stored))
        except (ValueError, OSError) as exc:
            problems.append((row.where, str(exc)))
    checker.keep(good, problems)
    return stopped


def plan_import(arena: Arena, rows: Iterable[ManifestRow | Problem], manifest: Path, *,
                create_tasks: bool = False, skip_existing: bool = False,
                problems: list[Problem] | None = None, stop_after: int = STOP_AFTER) -> Plan:
    """Check rows (and the problems of malformed ones, as :func:`iter_manifest` yields them)
    against the files and the database.

    Raises
    ------
    ManifestError
        Listing the bad rows with their labels: all of them, or the first ``stop_after``.
    """
    checker, problems = _Checker(arena, Path(manifest), create_tasks, skip_existing), list(problems or [])
    stopped = None
    for chunk in _chunks(rows, CHUNK):
        stopped = _check_chunk(checker, chunk, problems, stop_after)
        if stopped:
            break
    if problems:
        raise ManifestError(manifest, sorted(problems, key=lambda p: _order(p[0])), stopped)
    return checker.plan


def _order(where: str) -> tuple[int, str]:
    number = where.rsplit(" ", 1)[-1]
    return (int(number), where) if number.isdigit() else (0, where)
