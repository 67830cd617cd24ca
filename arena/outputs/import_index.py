"""The scratch file of one import: what the checks have seen, and what the write pass staged.

An import must remember, across a manifest of any length, which items and (item, model) pairs
earlier rows used, and then every output it will write. Kept in Python that grows with the rows;
kept here it lives in a temporary SQLite file (the standard library's ``sqlite3``, beside the
media folder), looked up and added to one chunk at a time, so memory stays bounded. The file is
removed when the import ends, whatever the outcome.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

_SCHEMA = """
CREATE TABLE item (key TEXT PRIMARY KEY, line TEXT, description TEXT) WITHOUT ROWID;
CREATE TABLE pair (pair TEXT PRIMARY KEY, line TEXT) WITHOUT ROWID;
CREATE TABLE staged_item (record TEXT);
CREATE TABLE staged_output (record TEXT);
CREATE TABLE file (name TEXT);
"""


def pair_key(item: str, model: str, version: str) -> str:
    """One text key for an (item, model, version) pair."""
    return json.dumps([item, model, version])


class ImportIndex:
    """A temporary SQLite file in ``folder`` (the system's temporary folder by default)."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(tempfile.mkdtemp(prefix=".import-", dir=folder))
        self.db = sqlite3.connect(self.folder / "index.sqlite", isolation_level=None)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                              "PRAGMA cache_size=-8192;" + _SCHEMA)

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "ImportIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _lookup(self, table: str, column: str, keys: Iterable[str], values: str) -> dict[str, Any]:
        keys, found = sorted(set(keys)), {}
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(f"SELECT {column}, {values} FROM {table} "
                                   f"WHERE {column} IN ({marks})", part)
            found.update((row[0], row[1:]) for row in rows)
        return found

    def items(self, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """(first line, description) of the new items with these keys seen so far."""
        return self._lookup("item", "key", keys, "line, description")

    def pairs(self, pairs: Iterable[str]) -> dict[str, str]:
        """The line of each of these pairs (:func:`pair_key`) seen so far."""
        return {k: v[0] for k, v in self._lookup("pair", "pair", pairs, "line").items()}

    def add(self, items: list[tuple[str, str, str]], pairs: list[tuple[str, str]]) -> None:
        """Record new items (key, line, description) and pairs (pair key, line)."""
        with self.db:
            self.db.executemany("INSERT INTO item VALUES (?, ?, ?)", items)
            self.db.executemany("INSERT INTO pair VALUES (?, ?)", pairs)

    def stage(self, items: list[dict], outputs: list[dict], files: list[str]) -> None:
        """Keep a chunk's item and output records and the names of the files it stored."""
        with self.db:
            self.db.executemany("INSERT INTO staged_item VALUES (?)", ((json.dumps(r),) for r in items))
            self.db.executemany("INSERT INTO staged_output VALUES (?)",
                                ((json.dumps(r),) for r in outputs))
            self.db.executemany("INSERT INTO file VALUES (?)", ((n,) for n in files))

    def staged(self, kind: str, size: int) -> Iterator[list[dict]]:
        """Staged ``item`` or ``output`` records in the order staged, ``size`` at a time."""
        table = {"item": "staged_item", "output": "staged_output"}[kind]
        last = 0
        while rows := self.db.execute(f"SELECT rowid, record FROM {table} WHERE rowid > ? "
                                      "ORDER BY rowid LIMIT ?", (last, size)).fetchall():
            last = rows[-1][0]
            yield [json.loads(record) for _, record in rows]

    def files(self) -> Iterator[str]:
        """Names of the media files staged so far."""
        for (name,) in self.db.execute("SELECT name FROM file"):
            yield name
