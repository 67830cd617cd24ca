"""Server-issued voter identities: signed cookies, keyed address hashes, and the keys behind them.

A voter is a random id the server makes and signs (``<id>.<mac>`` in a cookie); a client can
keep one but never choose, forge or borrow one. Each new identity records a keyed hash of the
client address it was issued to (HMAC-SHA256, never the address in clear: DESIGN.md §2), which
rate limits and pooled voter checks use.

Every key is derived from the arena's secret for one purpose only (:func:`derive`), so nothing
a client sees (a token, a cookie, an image URL, a hashed address) helps with any other.
"""
from __future__ import annotations

import hmac
import re
import secrets
from datetime import timedelta, timezone
from functools import lru_cache

from sqlalchemy import func, select, text

from arena.collect.mac import hmac_sha256
from arena.store.db import insert_ignore, write_lock, write_transaction
from arena.store.schema import VOTER_KINDS, Voter, utcnow

COOKIE = "pa_voter"
#: How long a browser keeps its identity (the cookie's Max-Age): a year.
COOKIE_MAX_AGE = 365 * 24 * 3600
#: The window of the per-address limit on new identities (:func:`register_within`).
IDENTITY_WINDOW = timedelta(hours=1)
_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_MAC_CHARS = 24


@lru_cache(maxsize=256)
def derive(secret: bytes, purpose: str) -> bytes:
    """The key for one ``purpose`` (HKDF-style expansion of the arena secret with HMAC-SHA256)."""
    return hmac.digest(secret, b"pareto-arena:" + purpose.encode(), "sha256")


def valid_id(voter_id: object) -> bool:
    """Whether ``voter_id`` has the shape of a voter id (8-64 letters, digits, '-' or '_')."""
    return isinstance(voter_id, str) and _ID.fullmatch(voter_id) is not None


def new_id(prefix: str = "v") -> str:
    """A fresh random voter id."""
    return f"{prefix}-{secrets.token_urlsafe(15)}"


def _mac(secret: bytes, voter_id: str, purpose: str) -> str:
    return hmac_sha256(derive(secret, purpose), voter_id.encode()).hex()[:_MAC_CHARS]


def cookie_value(secret: bytes, voter_id: str, purpose: str = "voter-cookie") -> str:
    """The signed cookie value that carries ``voter_id`` (``purpose``: which cookie; a live
    seat's names its session, so it is good for that session only)."""
    return f"{voter_id}.{_mac(secret, voter_id, purpose)}"


def read_cookie(secret: bytes, value: object, purpose: str = "voter-cookie") -> str | None:
    """The voter id a cookie value carries, or ``None`` when it is missing, malformed or forged."""
    if not isinstance(value, str) or value.count(".") != 1:
        return None
    voter_id, mac = value.split(".")
    if not valid_id(voter_id):
        return None
    want = _mac(secret, voter_id, purpose).encode()
    if not hmac.compare_digest(want, mac.encode("utf-8", "surrogatepass")):
        return None
    return voter_id


def address_hash(secret: bytes, address: str | None) -> str | None:
    """A keyed hash of a client address (stable per arena, not reversible without the secret)."""
    if not address:
        return None
    return _address_hash(derive(secret, "address"), address)


@lru_cache(maxsize=65536)
def _address_hash(key: bytes, address: str) -> str:
    return hmac_sha256(key, address.encode("utf-8", "replace")).hex()[:32]


def register(engine, voter_id: str, kind: str = "public", address: str | None = None) -> bool:
    """Store a server-made identity (with its address hash); True if it is new."""
    if kind not in VOTER_KINDS:
        raise ValueError(f"voter kind must be one of {', '.join(VOTER_KINDS)}")
    with write_lock(engine), engine.begin() as conn:
        row = conn.execute(insert_ignore(engine, Voter.__table__, id=voter_id, kind=kind,
                                         address_hash=address)
                           .returning(Voter.__table__.c.id)).first()
    return row is not None


def register_within(engine, voter_id: str, address: str | None, per_window: float,
                    kind: str = "public") -> float:
    """Store a server-made identity unless its address already had ``per_window`` new ones in
    the last :data:`IDENTITY_WINDOW`; 0.0 when stored (or already there), else the seconds
    until the oldest of those leaves the window. No address, or ``per_window`` 0, sets no limit.

    The count and the insert are one transaction that holds SQLite's write lock, or a
    PostgreSQL advisory lock on the address, so the limit holds across every process and
    machine that shares the database, even for requests racing each other; a read first
    refuses a full window without taking the lock (a flood of refusals holds up no writer).
    """
    if not address or per_window <= 0:
        register(engine, voter_id, kind, address)
        return 0.0
    if kind not in VOTER_KINDS:
        raise ValueError(f"voter kind must be one of {', '.join(VOTER_KINDS)}")
    table = Voter.__table__
    known = select(table.c.id).where(table.c.id == voter_id)
    with engine.connect() as conn:          # a full window is refused without the write lock
        if conn.execute(known).first() is not None:
            return 0.0
        wait = _wait(*_recent(conn, address), per_window)
    if wait:
        return wait
    with write_transaction(engine) as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                         {"key": "voter-address:" + address})
        if conn.execute(known).first() is not None:
            return 0.0
        wait = _wait(*_recent(conn, address), per_window)
        if not wait:
            conn.execute(insert_ignore(engine, table, id=voter_id, kind=kind,
                                       address_hash=address, created_at=utcnow()))
    return wait


def _recent(conn, address: str):
    """(identities made from ``address`` within the window, the oldest one's time)."""
    table = Voter.__table__
    return tuple(conn.execute(select(func.count(), func.min(table.c.created_at)).where(
        table.c.address_hash == address, table.c.created_at > utcnow() - IDENTITY_WINDOW)).one())


def _wait(count: int, oldest, per_window: float) -> float:
    """Seconds until the oldest identity of a full window leaves it (0.0 if not full)."""
    if count < per_window or oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=timezone.utc)
    return max(1.0, (oldest + IDENTITY_WINDOW - utcnow()).total_seconds())
