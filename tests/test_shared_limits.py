"""Per-address limits that hold across processes: request buckets shared through a mapped file
by every process of one arena, and new identities counted in the database (SQLite and
PostgreSQL) inside the insert's transaction."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from arena.collect.identity import register_within
from arena.store.schema import Voter
from arena.web.rate_buckets import Buckets, SharedBuckets, buckets_file, shared_buckets

ROOT = Path(__file__).resolve().parents[1]

SPEND = """
import sys
from arena.web.rate_buckets import SharedBuckets
buckets = SharedBuckets(sys.argv[1], rate=1e-6, burst=float(sys.argv[2]))
sys.stdout.write(str(sum(buckets.take("203.0.113.7") == 0.0 for _ in range(int(sys.argv[3])))))
"""


def _processes(code: str, *argv: str, n: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(n)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out)
    return outs


def test_processes_share_one_bucket_per_address(tmp_path):
    path = str(tmp_path / "buckets")
    granted = _processes(SPEND, path, "3000", "1500", n=4)      # 6000 asked for at once, 3000 banked
    assert sum(map(int, granted)) == 3000
    here = SharedBuckets(path, rate=1e-6, burst=3000)
    assert here.take("203.0.113.7") > 0                         # spent by the other processes
    assert here.take("198.51.100.2") == 0.0                     # another address is untouched


def test_a_bucket_refills_at_its_rate(tmp_path):
    import time

    buckets = SharedBuckets(str(tmp_path / "b"), rate=50.0, burst=2)
    assert [buckets.take("a") for _ in range(2)] == [0.0, 0.0]
    wait = buckets.take("a")
    assert 0 < wait <= 1 / 50 + 1e-9
    time.sleep(wait + 0.01)
    assert buckets.take("a") == 0.0


def test_many_addresses_keep_their_own_buckets(tmp_path):
    buckets = SharedBuckets(str(tmp_path / "b"), rate=1e-6, burst=3)
    keys = [f"address-{k}" for k in range(2000)]
    for _ in range(3):
        assert all(buckets.take(k) == 0.0 for k in keys)
    refused = sum(buckets.take(k) > 0 for k in keys)
    assert refused >= 1990          # a handful may have lost their slot to a full set


def test_a_file_that_is_not_private_is_not_used(tmp_path):
    shared = tmp_path / "open"
    shared.write_bytes(b"")
    shared.chmod(0o644)
    with pytest.raises(PermissionError):
        SharedBuckets(str(shared), 1.0, 10.0)
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        SharedBuckets(str(tmp_path / "link"), 1.0, 10.0)


def test_each_arena_has_its_own_table():
    assert buckets_file(b"a" * 32, "requests") != buckets_file(b"b" * 32, "requests")
    assert buckets_file(b"a" * 32, "requests") == buckets_file(b"a" * 32, "requests")
    made = shared_buckets(os.urandom(32), "requests", 5.0, 50.0)
    try:
        assert isinstance(made, SharedBuckets) and made.take("x") == 0.0
    finally:
        if isinstance(made, SharedBuckets):
            os.unlink(made.path)
    assert isinstance(Buckets(1.0, 1.0).take("x"), float)


REGISTER = """
import sys, time
from sqlalchemy import create_engine
from arena.collect.identity import new_id, register_within
engine = create_engine(sys.argv[1])
engine.connect().close()
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))      # all processes start together
waits = [register_within(engine, new_id(), "addr-1", 50) for _ in range(40)]
sys.stdout.write(" ".join(map(str, waits)))
"""


def test_new_identities_are_limited_across_processes(arena, db_url):
    """Four processes race to make 160 identities from one address: exactly the limit (50) are
    stored, and every refusal says how long to wait."""
    import time

    outs = _processes(REGISTER, db_url, str(time.time() + 4), n=4)
    waits = [float(w) for out in outs for w in out.split()]
    assert sum(w == 0.0 for w in waits) == 50
    assert all(3500 < w <= 3600 for w in waits if w)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Voter.__table__)
                              .where(Voter.__table__.c.address_hash == "addr-1")).scalar_one()
    assert stored == 50
    assert register_within(arena.engine, "v-other-address", "addr-2", 50) == 0.0
    assert register_within(arena.engine, "v-no-address", None, 50) == 0.0
    engine.dispose()


def test_an_identity_already_stored_spends_nothing(arena):
    assert register_within(arena.engine, "v-known-1234", "addr-3", 1) == 0.0
    assert register_within(arena.engine, "v-known-1234", "addr-3", 1) == 0.0     # the same one
    assert register_within(arena.engine, "v-new-12345", "addr-3", 1) > 0
