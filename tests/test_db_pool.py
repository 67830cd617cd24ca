"""Database connection pools: LIFO, so sequential work stays on one connection; PostgreSQL connections pinged only after an idle spell, replaced when the server dropped them, and a 503 (never a 500) for a request caught on one."""
from sqlalchemy import create_engine, text

from arena.store.db import ping_when_idle


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(admin_url: str, pid: int) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    admin.dispose()


def _pings(monkeypatch) -> list[str]:
    """The statements the driver's cursors run that are pings."""
    import psycopg

    seen: list[str] = []
    execute = psycopg.Cursor.execute

    def record(self, query, *args, **kwargs):
        if str(query).strip() == "SELECT 1":
            seen.append(str(query))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", record)
    return seen


def test_a_connection_dropped_while_idle_is_replaced_on_checkout(postgres_url):
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_s=0.0)
    first = _backend_pid(engine)
    _terminate(postgres_url, first)          # the server restarts, or an idle timeout fires
    second = _backend_pid(engine)            # the ping fails, the pool reconnects: no error
    assert second != first
    engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(postgres_url, monkeypatch):
    pings = _pings(monkeypatch)
    for idle_s, expected in ((3600.0, 0), (0.0, 5)):
        engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
        ping_when_idle(engine, idle_s=idle_s)
        pid = _backend_pid(engine)
        pings.clear()
        for _ in range(5):
            assert _backend_pid(engine) == pid       # the same connection, reused
        assert len(pings) == expected
        engine.dispose()


def test_a_connection_the_driver_knows_is_closed_is_replaced(postgres_url):
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_s=3600.0)
    first = _backend_pid(engine)
    record = engine.pool._pool.queue[0]                 # the pooled connection, checked in
    record.driver_connection.close()                    # closed under the pool's feet
    assert _backend_pid(engine) != first
    engine.dispose()


def test_a_request_on_a_connection_the_server_dropped_gets_503_and_the_next_one_works(
        postgres_url, tmp_path, monkeypatch):
    from starlette.testclient import TestClient
    from toy_catalog import make_toy_catalog

    from arena.context import Arena
    from arena.store.db import get_engine
    from arena.store.media import MediaStore
    from arena.web.server import build_app

    get_engine.cache_clear()
    arena = Arena(engine=get_engine(postgres_url), media=MediaStore(tmp_path / "media"))
    make_toy_catalog(arena)
    with TestClient(build_app(arena)) as client:
        first = client.get("/api/pair")
        assert first.status_code == 200
        admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:            # the server drops every other connection
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        admin.dispose()
        answers = [client.get("/api/pair") for _ in range(12)]
        codes = {a.status_code for a in answers}
        assert codes <= {200, 503}, codes
        for answer in answers:
            if answer.status_code == 503:
                assert answer.headers["retry-after"] == "1" and "try again" in answer.json()["detail"]
        assert answers[-1].status_code == 200
        assert answers[-1].json()["impression_id"] == first.json()["impression_id"]   # still open
    arena.engine.dispose()
    get_engine.cache_clear()


def test_sequential_requests_keep_using_the_connection_returned_last(db_url):
    """The pool is LIFO: after a burst opened several connections, one-at-a-time work keeps
    taking the same one (round-robin made every SQLite request start on a connection whose
    page cache another connection's write had just invalidated)."""
    from arena.store.db import make_engine

    engine = make_engine(db_url)
    held = [engine.connect() for _ in range(3)]             # a burst: three connections
    for conn in held:
        conn.execute(text("SELECT 1"))
    for conn in held:
        conn.close()
    seen = set()
    for k in range(6):                                      # then requests one at a time
        with engine.begin() as conn:
            seen.add(id(conn.connection.dbapi_connection))
            if k % 2:
                conn.execute(text("CREATE TABLE IF NOT EXISTS pool_probe (x INTEGER)"))
                conn.execute(text("INSERT INTO pool_probe VALUES (:x)"), {"x": k})
    assert len(seen) == 1
    engine.dispose()


def test_pairs_and_votes_on_connections_pinged_after_an_idle_spell(postgres_url, tmp_path):
    """The vote path's autocommit statements on a connection the idle ping has just checked
    (the ping's transaction is closed again): a pair, a vote and the next pair, no error."""
    from datetime import timedelta

    from sqlalchemy import event
    from sqlmodel import SQLModel
    from toy_catalog import make_toy_catalog

    from arena.collect.identity import register
    from arena.collect.voting import issue_pair, record_vote
    from arena.context import Arena
    from arena.store.db import get_engine
    from arena.store.schema import Impression, utcnow

    reset = create_engine(postgres_url)
    SQLModel.metadata.drop_all(reset)
    reset.dispose()
    get_engine.cache_clear()
    arena = Arena.open(postgres_url, media=str(tmp_path / "media"))
    make_toy_catalog(arena)
    register(arena.engine, "voter-idle-0001")

    @event.listens_for(arena.engine, "checkin")       # after the ping's own listener: every
    def _long_idle(dbapi_connection, record):         # connection looks idle for an hour
        record.info["idle_since"] = record.info.get("idle_since", 0.0) - 3600

    try:
        pair = issue_pair(arena, None, "voter-idle-0001", registered=True)
        with arena.engine.begin() as conn:
            conn.execute(Impression.__table__.update().values(issued_at=utcnow() - timedelta(seconds=5)))
        arena.hot.forget_issued(pair["impression_id"])
        _, created = record_vote(arena, pair["impression_id"], pair["token"], "left")
        assert created
        again = issue_pair(arena, None, "voter-idle-0001", registered=True)
        assert again["impression_id"] != pair["impression_id"]
    finally:
        arena.engine.dispose()
        get_engine.cache_clear()
