"""Checking an import manifest against its files and the database, chunk by chunk.

Rows stream in from :func:`arena.files.manifest.iter_manifest`; each chunk of :data:`CHUNK` rows
is checked on its own (columns, images readable, not oversized and of their source's size, tasks
known, items and pairs consistent), with one database query per chunk for its items and one for
their outputs. What later rows are checked against (the new items and the pairs seen) goes to the
import's :class:`~arena.outputs.import_index.ImportIndex`, not to Python objects, and images are
checked from their headers without decoding their pixels, so memory stays bounded however many
rows the manifest has. Checking stops at the first :data:`STOP_AFTER` bad rows, so a manifest
whose every row is wrong is refused after a few rows, not after reading all of them.
"""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

from PIL import Image
from sqlmodel import select

from arena.context import Arena
from arena.files.manifest import ManifestError, ManifestRow, iter_manifest
from arena.outputs.import_index import ImportIndex, pair_key
from arena.store.catalog import items_by_key, task_names
from arena.store.db import session
from arena.store.media import ImageInputError, user_image_size
from arena.store.schema import Item, Model, Output

#: Rows checked together (one database query each for their items and stored outputs).
CHUNK = 1000
#: Bad rows after which checking stops.
STOP_AFTER = 20
#: Image files whose size (or error) is remembered, and file digests kept, at most.
CACHED = 4096

Problem = tuple[str, str]
_DESCRIPTION = ("task", "source", "instruction", "mask", "reference", "target_text", "old_text")


@dataclass
class Plan:
    """What the checks found an import will write: counts and the index they filled.

    ``stamp`` is the manifest's size and modification time when checking began; the write pass
    refuses a manifest that changed since.
    """

    manifest: Path
    index: ImportIndex
    skip_existing: bool = False
    stamp: tuple[int, int] = (0, 0)
    rows: int = 0
    new_items: int = 0
    new_tasks: set[str] = field(default_factory=set)
    skipped: int = 0


def manifest_stamp(path: Path) -> tuple[int, int]:
    """Size and modification time of a file (0, 0 if it is gone)."""
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=CACHED)
def _file_digest(path: Path, stamp: tuple[int, int]) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digest(path: Path | None) -> str:
    return "" if path is None else _file_digest(path, manifest_stamp(path))


def derived_key(row: ManifestRow) -> str:
    """Key of the item a row describes by content: task, words and the images' bytes."""
    parts = [row.task, row.instruction, row.target_text, row.old_text,
             _digest(row.source), _digest(row.mask), _digest(row.reference)]
    return "import/" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


def item_description(row: ManifestRow) -> str:
    """What rows creating the same item must agree on, as one text."""
    return json.dumps([str(v) if isinstance(v, Path) else v for v in
                       (getattr(row, f) for f in _DESCRIPTION)])


def image_size(path: Path) -> tuple[int, int]:
    """An image file's size from its header (see :func:`arena.store.media.user_image_size`)."""
    return user_image_size(path)


class _Images:
    """Checks image files; remembers the size or error of the last :data:`CACHED` shared ones
    (sources, masks, references), not of outputs, so memory does not grow with the rows."""

    def __init__(self, root: Path):
        self.root, self.seen = root, OrderedDict()

    def check(self, path: Path, column: str) -> tuple[int, int]:
        """The image's size; raises ImageInputError naming the column and the file."""
        result = self.seen.get(path) or self._open(path)
        if column != "output":
            self.seen[path] = result
            self.seen.move_to_end(path)
            if len(self.seen) > CACHED:
                self.seen.popitem(last=False)
        if isinstance(result, str):
            raise ImageInputError(f"{column}: {result}")
        return result

    def _open(self, path: Path) -> tuple[int, int] | str:
        try:
            return image_size(path)
        except ImageInputError as exc:
            return str(exc).replace(str(path), self._name(path))

    def _name(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


class _Seen:
    """A chunk's view of the index: what earlier chunks recorded, plus this chunk's additions."""

    def __init__(self, index: ImportIndex, keys: set[str], pairs: set[str]):
        self.index, self.items, self.pairs = index, index.items(keys), index.pairs(pairs)
        self.new_items: list[tuple[str, str, str]] = []
        self.new_pairs: list[tuple[str, str]] = []

    def item(self, key: str, row: ManifestRow) -> str:
        """The line that first described the item (recording this row's if it is the first)."""
        if key not in self.items:
            self.items[key] = (row.where, item_description(row))
            self.new_items.append((key, row.where, self.items[key][1]))
        line, description = self.items[key]
        if description != item_description(row):
            raise ValueError(f"item {key!r} is described differently on {line}")
        return line

    def pair(self, pair: str, where: str) -> str | None:
        """The line that used the pair before, or None (and the pair is recorded)."""
        if pair in self.pairs:
            return self.pairs[pair]
        self.pairs[pair] = where
        self.new_pairs.append((pair, where))
        return None

    def save(self) -> None:
        self.index.add(self.new_items, self.new_pairs)


class _Checker:
    """The state kept across chunks: known tasks, the index of items and pairs, the plan."""

    def __init__(self, arena: Arena, plan: Plan, create_tasks: bool):
        self.arena, self.plan, self.create_tasks = arena, plan, create_tasks
        self.images = _Images(plan.manifest.resolve().parent)
        self.known_tasks = set(task_names(arena.engine))
        self.sources: OrderedDict[str, tuple[int, int]] = OrderedDict()

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
        if row.mask is not None and (mask := self.images.check(row.mask, "mask")) != size:
            raise ValueError(f"mask is {mask}, source is {size}")
        return size

    def resolve(self, row: ManifestRow, key: str, size: tuple[int, int],
                stored: dict[str, Item], seen: _Seen) -> ManifestRow:
        """Sort the row's item into stored or new; check its output's size and its pair."""
        source = self._resolve_item(row, key, stored, seen)
        if size != source:
            raise ValueError(f"output is {_size(size)}, its source {_size(source)}: give outputs "
                             "their source's size (another size makes the model recognisable)")
        before = seen.pair(pair_key(key, row.model, row.version), row.where)
        if before is not None:
            raise ValueError(f"model {row.model!r} has an output for item {key!r} on {before} already")
        return replace(row, item=key)

    def _resolve_item(self, row: ManifestRow, key: str, stored: dict[str, Item],
                      seen: _Seen) -> tuple[int, int]:
        """The size of the item's source, after checking that rows agree on the item."""
        if key in stored:
            if stored[key].task != row.task:
                raise ValueError(f"item {key!r} belongs to task {stored[key].task!r}, not {row.task!r}")
            return self._stored_source(stored[key])
        if row.source is None:
            raise ValueError(f"item {key!r} is not in the database; give its 'source' and "
                             "'instruction' to create it")
        size = self._check_new_item(row)
        seen.item(key, row)
        return size

    def _stored_source(self, item: Item) -> tuple[int, int]:
        if item.key not in self.sources:
            with Image.open(self.arena.media.path(item.source_path)) as img:
                self.sources[item.key] = img.size
            if len(self.sources) > CACHED:
                self.sources.popitem(last=False)
        return self.sources[item.key]

    def keep(self, rows: list[ManifestRow], stored: dict[str, Item], problems: list[Problem]) -> None:
        """Count the chunk's checked rows, minus pairs the database already holds."""
        done = stored_pairs(self.arena.engine, sorted({r.item for r in rows} & set(stored)))
        for row in rows:
            if (row.item, row.model, row.version) not in done:
                self.plan.rows += 1
            elif self.plan.skip_existing:
                self.plan.skipped += 1
            else:
                problems.append((row.where, f"model {row.model!r} already has an output for item "
                                            f"{row.item!r} in the database (--skip-existing skips it)"))


def stored_pairs(engine, keys: list[str]) -> set[tuple[str, str, str]]:
    """(item key, model, version) of the outputs stored for these items."""
    if not keys:
        return set()
    with session(engine) as s:
        rows = s.exec(select(Item.key, Model.name, Model.version)
                      .join(Output, Output.item_id == Item.id).join(Model, Model.id == Output.model_id)
                      .where(Item.key.in_(keys))).all()
    return set(rows)


def chunks(entries: Iterable, size: int = CHUNK) -> Iterator[list]:
    """Lists of ``size`` entries (the last one shorter)."""
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
    keys = {key for _, key, _ in keyed}
    stored = items_by_key(checker.arena.engine, keys)
    seen = _Seen(checker.plan.index, keys - set(stored),
                 {pair_key(key, row.model, row.version) for row, key, _ in keyed})
    good = []
    for row, key, size in keyed:
        try:
            good.append(checker.resolve(row, key, size, stored, seen))
        except (ValueError, OSError) as exc:
            problems.append((row.where, str(exc)))
    seen.save()
    checker.plan.new_items += len(seen.new_items)
    checker.keep(good, stored, problems)
    return stopped


def plan_import(arena: Arena, manifest: Path, index: ImportIndex, *, create_tasks: bool = False,
                skip_existing: bool = False, stop_after: int = STOP_AFTER) -> Plan:
    """First pass: check every row of the manifest against its files and the database,
    filling ``index`` with the new items and pairs; nothing is written to the database.

    Raises
    ------
    ManifestError
        Listing the bad rows with their labels: all of them, or the first ``stop_after``.
    """
    manifest = Path(manifest)
    plan = Plan(manifest, index, skip_existing, manifest_stamp(manifest))
    checker, problems, stopped = _Checker(arena, plan, create_tasks), [], None
    for chunk in chunks(iter_manifest(manifest)):
        stopped = _check_chunk(checker, chunk, problems, stop_after)
        if stopped:
            break
    if problems:
        raise ManifestError(manifest, sorted(problems, key=lambda p: _order(p[0])), stopped)
    return plan


def _order(where: str) -> tuple[int, str]:
    number = where.rsplit(" ", 1)[-1]
    return (int(number), where) if number.isdigit() else (0, where)
