"""Work claimed in the database, so two generation drivers never run the same edit.

A driver claims an (item, model) pair before editing it: ``INSERT ... ON CONFLICT DO NOTHING``
on :class:`arena.store.schema.GenerationClaim` (unique per pair), after removing a claim whose
lease has run out. A :class:`ClaimKeeper` renews its driver's claims in the background while it
runs, so the claims of a driver that crashed lapse after one lease and another run takes the
work over. A claim is released once its output or failure is stored.
"""
from __future__ import annotations

import secrets
import threading
from datetime import timedelta
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine

from arena.store.db import insert_ignore, write_lock
from arena.store.schema import GenerationClaim, utcnow

#: Seconds a claim lasts without renewal.
DEFAULT_LEASE_S = 120.0

_C = GenerationClaim.__table__.c


def new_owner() -> str:
    """A name for one driver's claims."""
    return f"driver-{secrets.token_hex(8)}"


def claim(engine: Engine, item_id: int, model_id: int, owner: str,
          lease_s: float = DEFAULT_LEASE_S) -> bool:
    """Claim one pair for ``owner``: True when it is now ``owner``'s (newly, or already)."""
    now = utcnow()
    pair = (_C.item_id == item_id) & (_C.model_id == model_id)
    with write_lock(engine), engine.begin() as conn:
        conn.execute(delete(GenerationClaim).where(pair, _C.expires_at < now))
        conn.execute(insert_ignore(engine, GenerationClaim.__table__, item_id=item_id,
                                   model_id=model_id, owner=owner,
                                   expires_at=now + timedelta(seconds=lease_s)))
        holder = conn.execute(select(_C.owner).where(pair)).scalar_one_or_none()
    return holder == owner


def release(engine: Engine, item_id: int, model_id: int, owner: str) -> None:
    """Give up ``owner``'s claim of one pair (done, failed, or not started)."""
    with write_lock(engine), engine.begin() as conn:
        conn.execute(delete(GenerationClaim).where(
            _C.item_id == item_id, _C.model_id == model_id, _C.owner == owner))


def renew(engine: Engine, owner: str, lease_s: float = DEFAULT_LEASE_S) -> int:
    """Extend every claim of ``owner`` by a lease from now; how many were renewed."""
    with write_lock(engine), engine.begin() as conn:
        result = conn.execute(update(GenerationClaim).where(_C.owner == owner)
                              .values(expires_at=utcnow() + timedelta(seconds=lease_s)))
        return result.rowcount


def release_all(engine: Engine, owner: str) -> None:
    """Drop every claim of ``owner`` (its run is over)."""
    with write_lock(engine), engine.begin() as conn:
        conn.execute(delete(GenerationClaim).where(_C.owner == owner))


def claimed_by_others(engine: Engine, model_ids: list[int], owner: str) -> set[tuple[int, int]]:
    """(item id, model id) claimed, unexpired, by other drivers."""
    query = select(_C.item_id, _C.model_id).where(
        _C.model_id.in_(model_ids), _C.owner != owner, _C.expires_at >= utcnow())
    with engine.connect() as conn:
        return {(i, m) for i, m in conn.execute(query)}


class ClaimKeeper:
    """One driver's claims: an owner name, and a thread renewing them every third of a lease.

    Use as a context manager; on exit the renewals stop and the driver's claims are dropped.
    """

    def __init__(self, engine: Engine, lease_s: float = DEFAULT_LEASE_S, owner: str | None = None):
        self.engine = engine
        self.lease_s = float(lease_s)
        self.owner = owner or new_owner()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="claim-keeper", daemon=True)

    def claim(self, item_id: int, model_id: int) -> bool:
        return claim(self.engine, item_id, model_id, self.owner, self.lease_s)

    def release(self, item_id: int, model_id: int) -> None:
        release(self.engine, item_id, model_id, self.owner)

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 3.0):
            try:
                renew(self.engine, self.owner, self.lease_s)
            except Exception:  # noqa: BLE001 - a missed renewal is retried at the next tick
                continue

    def __enter__(self) -> "ClaimKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        release_all(self.engine, self.owner)

