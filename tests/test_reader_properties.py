"""Property tests of the file readers: any bytes or records in, either a clean result or the
reader's own named error (BattleFileError, ManifestError), never another exception."""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from arena.files.battles import BattleFileError, read_battle_table, read_battles
from arena.files.manifest import COLUMNS, ManifestError, ManifestRow, iter_manifest

#: Examples per property (``ARENA_FUZZ_EXAMPLES`` runs more, e.g. 5000 before a release).
SETTINGS = settings(max_examples=int(os.environ.get("ARENA_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("\0\ud800é,\"\n"), max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | TEXT
           | st.sampled_from(["model_a", "model_b", "tie", "tie (bothbad)", "1.5", "-3", "x.png"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6)

BATTLE_KEYS = st.sampled_from(["model_a", "model_b", "winner", "judge", "task", "category",
                               "tstamp", "item", "duration_ms", "check", "other"])
MANIFEST_KEYS = st.sampled_from([*COLUMNS, "output_path", "source_path", "category", "other"])


def records(keys):
    return st.lists(st.dictionaries(keys, VALUES, max_size=8), max_size=6)


def _encode(rows, fmt: str) -> bytes:
    """Records as the bytes of a file of format ``fmt`` (values of CSV cells as text)."""
    if fmt == "json":
        return json.dumps(rows).encode()
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    out = io.StringIO()
    writer = csv.DictWriter(out, sorted({k for r in rows for k in r}))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


_FOLDER = tempfile.TemporaryDirectory(prefix="reader-props-")  # removed at exit


def _file(data: bytes, suffix: str) -> Path:
    path = Path(_FOLDER.name) / f"file{suffix}"
    path.write_bytes(data)
    return path


def _read_votes(path: Path) -> None:
    for read in (read_battles, read_battle_table):
        try:
            result = read(path)
        except BattleFileError:
            continue
        if isinstance(result, dict):
            assert set(result) >= {"model_a", "model_b", "winner"}
            assert all(isinstance(v, np.ndarray) for v in result.values())
        else:
            assert isinstance(result, pa.Table)


def _read_manifest(path: Path) -> None:
    try:
        entries = list(iter_manifest(path))
    except ManifestError as exc:
        assert exc.problems and str(exc)
        return
    for entry in entries:
        if isinstance(entry, ManifestRow):
            assert entry.task and entry.model and "\0" not in entry.model + entry.task
        else:
            where, message = entry
            assert isinstance(where, str) and isinstance(message, str) and message


@SETTINGS
@given(data=st.binary(max_size=600), fmt=st.sampled_from(["json", "jsonl", "csv", "parquet"]))
def test_any_bytes_as_a_vote_file(data, fmt):
    _read_votes(_file(data, f".{fmt}"))


@SETTINGS
@given(rows=records(BATTLE_KEYS), fmt=st.sampled_from(["json", "jsonl", "csv"]))
def test_any_records_as_a_vote_file(rows, fmt):
    _read_votes(_file(_encode(rows, fmt), f".{fmt}"))


@SETTINGS
@given(rows=records(BATTLE_KEYS).filter(bool))
def test_any_records_as_a_parquet_vote_file(rows):
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        assume(False)
    buffer = io.BytesIO()
    try:
        pq.write_table(table, buffer)
    except pa.ArrowException:
        assume(False)
    _read_votes(_file(buffer.getvalue(), ".parquet"))


@SETTINGS
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".json", ".jsonl", ".csv"]))
def test_any_bytes_as_a_manifest(data, suffix):
    _read_manifest(_file(data, suffix))


@SETTINGS
@given(rows=records(MANIFEST_KEYS), suffix=st.sampled_from([".json", ".jsonl", ".csv"]))
def test_any_records_as_a_manifest(rows, suffix):
    _read_manifest(_file(_encode(rows, suffix[1:]), suffix))


def test_nested_too_deeply():
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    for suffix in (".json", ".jsonl"):
        _read_votes(_file(deep, suffix))
        _read_manifest(_file(deep, suffix))
