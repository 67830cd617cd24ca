"""Each phone's impression of a live round, issued with one commit for all who open it together.

When a round starts, a hall of phones opens it within a second or so; one transaction per phone
would queue a thousand commits behind one writer. :class:`SeatIssuer` is a group commit: a
request that finds no write under way writes every request waiting so far in one transaction
(voters, impressions and seats, each a multi-row insert) and answers each of them once that
transaction has committed; requests arriving meanwhile wait for the next one. Nobody is
answered before their own impression is stored.

A seat that another process stored between the check and the insert (the same phone opening
the round in two processes at once, on PostgreSQL) fails the batch's insert; the batch is then
written again one request at a time, keeping the seat stored first.
"""
from __future__ import annotations

import threading
from typing import Any, NamedTuple

from sqlalchemy import insert, select, tuple_
from sqlalchemy.exc import IntegrityError

from arena.collect import tokens
from arena.store.db import insert_ignore, write_transaction
from arena.store.schema import Impression, LiveSeat, Voter

_IMP, _SEAT, _VOTER = Impression.__table__, LiveSeat.__table__, Voter.__table__


class RoundPair(NamedTuple):
    """What a round's impressions copy from its :class:`~arena.store.schema.LiveRound` row."""

    id: int
    session_id: int
    number: int
    task: str
    item_id: int
    left_output_id: int
    right_output_id: int
    left_model_id: int
    right_model_id: int
    sampler: str
    propensity: float


class Issued(NamedTuple):
    impression_id: int
    nonce: str


class _Request:
    __slots__ = ("rnd", "voter_id", "result", "error", "done")

    def __init__(self, rnd: RoundPair, voter_id: str):
        self.rnd, self.voter_id = rnd, voter_id
        self.result: Issued | None = None
        self.error: BaseException | None = None
        self.done = False


class SeatIssuer:
    """Group commit of seats for one engine (one per process and database)."""

    def __init__(self, engine: Any):
        self.engine = engine
        self._cv = threading.Condition()
        self._pending: list[_Request] = []
        self._writing = False
        self.batches = 0       # transactions written, for tests and benchmarks

    def issue(self, rnd: RoundPair, voter_id: str) -> Issued:
        """This voter's impression of ``rnd``: stored now (with others waiting), or the one
        stored before."""
        req = _Request(rnd, voter_id)
        with self._cv:
            self._pending.append(req)
            while not req.done:
                if self._writing:
                    self._cv.wait()
                    continue
                batch, self._pending, self._writing = self._pending, [], True
                self._cv.release()
                try:
                    self._write(batch)
                except BaseException as exc:  # noqa: BLE001 - each waiter gets the error
                    for r in batch:
                        r.error = r.error or exc
                finally:
                    self._cv.acquire()
                    self._writing = False
                    for r in batch:
                        r.done = True
                    self._cv.notify_all()
        if req.error is not None:
            raise req.error
        return req.result

    def _write(self, batch: list[_Request]) -> None:
        try:
            self._store(batch)
        except IntegrityError:
            if len(batch) == 1:
                self._store(batch)      # the other process's seat is there now: read it back
                return
            for r in batch:             # a seat stored elsewhere meanwhile: one at a time
                self._store([r])

    def _store(self, batch: list[_Request]) -> None:
        wanted: dict[tuple[int, str], list[_Request]] = {}
        for r in batch:
            wanted.setdefault((r.rnd.id, r.voter_id), []).append(r)
        with write_transaction(self.engine) as conn:
            stored = {(rid, vid): Issued(iid, nonce) for rid, vid, iid, nonce in conn.execute(
                select(_SEAT.c.round_id, _SEAT.c.voter_id, _IMP.c.id, _IMP.c.nonce)
                .join(_IMP, _IMP.c.id == _SEAT.c.impression_id)
                .where(tuple_(_SEAT.c.round_id, _SEAT.c.voter_id).in_(list(wanted))))}
            new = [key for key in wanted if key not in stored]
            if new:
                conn.execute(insert_ignore(self.engine, _VOTER),
                             [{"id": vid, "kind": "audience", "address_hash": None} for _, vid in new])
                rows = [_impression(wanted[key][0].rnd, key[1]) for key in new]
                ids = conn.execute(insert(_IMP).returning(_IMP.c.id, sort_by_parameter_order=True),
                                   rows).scalars().all()
                conn.execute(insert(_SEAT), [{"round_id": rid, "voter_id": vid, "impression_id": iid}
                                             for (rid, vid), iid in zip(new, ids)])
                for key, iid, row in zip(new, ids, rows):
                    stored[key] = Issued(iid, row["nonce"])
        for key, requests in wanted.items():
            for r in requests:
                r.result = stored[key]
        self.batches += 1


def _impression(rnd: RoundPair, voter_id: str) -> dict[str, Any]:
    return dict(nonce=tokens.new_nonce(), task=rnd.task, item_id=rnd.item_id,
                left_output_id=rnd.left_output_id, right_output_id=rnd.right_output_id,
                left_model_id=rnd.left_model_id, right_model_id=rnd.right_model_id,
                voter_id=voter_id, session_id=rnd.session_id, sampler=rnd.sampler,
                propensity=rnd.propensity, check_kind="none")
