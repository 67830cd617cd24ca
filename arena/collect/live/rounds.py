"""A live round as phones see it: the pair, each person's seat and vote, the tally, the reveal.

Each audience member who opens a round gets an impression of their own (with ``session_id``),
recorded in :class:`~arena.store.schema.LiveSeat`; opening the round again returns that same
impression, and the unique constraint on ``Vote.impression_id`` keeps it to one vote per person
per round.
"""
from __future__ import annotations

import time
import weakref
from typing import Any

from sqlalchemy import and_, bindparam, func
from sqlmodel import select

from arena.collect import tokens
from arena.collect.image_links import PREFIX, image_url
from arena.collect.identity import valid_id
from arena.collect.live.seats import RoundPair, SeatIssuer
from arena.collect.live.sessions import (RoundNotOpen, UnknownSession, load_with_round,
                                         normalize_code, seat_counts, session_id)
from arena.collect.voting import InvalidVote, record_vote
from arena.context import Arena
from arena.store.db import session
from arena.store.schema import (CHOICES, Impression, Item, LiveRound, LiveSeat, LiveSession, Model,
                                Output, Vote)

VOTE_ANSWER = ("vote_id", "impression_id", "task", "choice")  # no model names before the reveal
_ROUND_CACHE: Any = weakref.WeakKeyDictionary()  # engine -> {round id: (row, pair, reveal)}
_ROUND_CACHE_SIZE = 512
#: Where a round's images are served (:mod:`arena.web.live_routes`), the same for the room.
LIVE_MEDIA = "/live-media/"


def _round_parts(arena: Arena, s: Any, rnd: LiveRound) -> tuple[dict[str, Any], dict[str, Any]]:
    """The round's public pair and its reveal (models, latencies, costs)."""
    item = s.get(Item, rnd.item_id)
    rows = {o.id: (o, m) for o, m in s.exec(
        select(Output, Model).join(Model, Model.id == Output.model_id)
        .where(Output.id.in_([rnd.left_output_id, rnd.right_output_id]))).all()}
    (lo, lm), (ro, rm) = rows[rnd.left_output_id], rows[rnd.right_output_id]
    def link(slot: str, name: str) -> str:    # one link per round, served from memory
        return LIVE_MEDIA + image_url(arena.secret, "r", rnd.id, slot, name)[len(PREFIX):]

    pair = {"task": rnd.task, "instruction": item.instruction,
            "source_url": link("source", item.source_path), "left_url": link("left", lo.image_path),
            "right_url": link("right", ro.image_path)}
    names = {"left_model": lm.name, "right_model": rm.name, "left_latency_s": lo.latency_s,
             "right_latency_s": ro.latency_s, "left_cost_usd": lo.cost_usd,
             "right_cost_usd": ro.cost_usd}
    return pair, names


def _tally(s: Any, rnd: LiveRound | None) -> dict[str, Any]:
    """Votes per choice on one round, and how many audience members opened it (one query)."""
    counts = dict.fromkeys(CHOICES, 0)
    viewers = 0
    if rnd is not None:
        for choice, n in s.exec(select(Vote.choice, func.count()).select_from(LiveSeat)
                                .outerjoin(Vote, Vote.impression_id == LiveSeat.impression_id)
                                .where(LiveSeat.round_id == rnd.id).group_by(Vote.choice)).all():
            viewers += n
            if choice is not None:
                counts[choice] = n
    return {"counts": counts, "votes": sum(counts.values()), "viewers": viewers}


def tally(arena: Arena, code: Any) -> dict[str, Any]:
    """The current round's tally (no model names): ``{"code", "round", "state", "counts", ...}``."""
    with session(arena.engine) as s:
        live, rnd = load_with_round(s, code)
        return {"code": live.code, "round": live.current_round, "state": live.state,
                **_tally(s, rnd)}


_S, _R, _T, _I, _V = (LiveSession.__table__, LiveRound.__table__, LiveSeat.__table__,
                      Impression.__table__, Vote.__table__)
#: A session, its current round and one voter's seat in it, with that seat's vote: one query.
_ROOM = (select(_S.c.id, _S.c.code, _S.c.task, _S.c.state, _S.c.current_round, _S.c.joining_closed,
                _R.c.id.label("round_id"), _T.c.impression_id, _I.c.nonce, _V.c.choice)
         .select_from(_S.outerjoin(_R, and_(_R.c.session_id == _S.c.id,
                                            _R.c.number == _S.c.current_round))
                      .outerjoin(_T, and_(_T.c.round_id == _R.c.id,
                                          _T.c.voter_id == bindparam("voter")))
                      .outerjoin(_I, _I.c.id == _T.c.impression_id)
                      .outerjoin(_V, _V.c.impression_id == _T.c.impression_id))
         .where(_S.c.code == bindparam("code")))
_ISSUERS: Any = weakref.WeakKeyDictionary()  # engine -> SeatIssuer
_REVEALED: Any = weakref.WeakKeyDictionary()  # engine -> {round id: (read at, tally)}
REVEALED_TALLY_S = 1.0  # a revealed round's tally, as phones see it, is read at most this often


def _room(arena: Arena, code: Any, voter_id: str | None) -> Any:
    with arena.engine.connect() as conn:
        row = conn.execute(_ROOM, {"code": normalize_code(code), "voter": voter_id}).first()
    if row is None:
        raise UnknownSession(f"no live session {normalize_code(code)}")
    return row


def _round(arena: Arena, round_id: int) -> tuple[RoundPair, dict[str, Any], dict[str, Any]]:
    """A round's row, public pair and reveal, read once per process (rounds never change)."""
    cache = _ROUND_CACHE.setdefault(arena.engine, {})
    if round_id not in cache:
        with session(arena.engine) as s:
            rnd = s.get(LiveRound, round_id)
            pair, names = _round_parts(arena, s, rnd)
        if len(cache) >= _ROUND_CACHE_SIZE:
            cache.clear()
        cache[round_id] = (RoundPair(*(getattr(rnd, f) for f in RoundPair._fields)), pair, names)
    return cache[round_id]


def _phone_tally(arena: Arena, round_id: int) -> dict[str, Any]:
    """A revealed round's tally for the phones: the hall reloads it at once, so it is read once
    a second at most (a vote sent just before the reveal may show a moment late)."""
    cache = _REVEALED.setdefault(arena.engine, {})
    now = time.monotonic()
    kept = cache.get(round_id)
    if kept is None or now - kept[0] > REVEALED_TALLY_S:
        with session(arena.engine) as s:
            kept = cache[round_id] = (now, _tally(s, s.get(LiveRound, round_id)))
        if len(cache) > _ROUND_CACHE_SIZE:
            cache.clear()
    return kept[1]


def issuer(arena: Arena) -> SeatIssuer:
    """This process's group commit of new seats on the arena's database."""
    found = _ISSUERS.get(arena.engine)
    if found is None:
        found = _ISSUERS.setdefault(arena.engine, SeatIssuer(arena.engine))
    return found


def state(arena: Arena, code: Any, voter_id: str | None = None, *,
          with_tally: bool = False) -> dict[str, Any]:
    """What a page shows: state, round number, the pair (no names before the reveal).

    With ``voter_id``, the pair carries that person's own ``impression_id`` and ``token``
    (issued on first opening an open round, :class:`SeatIssuer`; the same one afterwards) and
    ``your_vote``. ``reveal`` (models, latencies, tally) is set once the round is revealed or
    the session closed. ``with_tally`` adds the live ``tally`` (no names), as the presenter
    sees it. One query, and the round's pair from memory; the first opening adds the write.
    """
    if voter_id is not None and not valid_id(voter_id):
        raise InvalidVote("voter id must be 8-64 letters, digits, '-' or '_'")
    row = _room(arena, code, voter_id)
    answer: dict[str, Any] = {"code": row.code, "task": row.task or "any", "state": row.state,
                              "round": row.current_round, "pair": None, "your_vote": None,
                              "reveal": None}
    if row.round_id is not None:
        rnd, pair, names = _round(arena, row.round_id)
        answer["pair"] = dict(pair)
        if with_tally:
            with session(arena.engine) as s:
                answer["tally"] = _tally(s, s.get(LiveRound, rnd.id))
        if row.state != "open":
            answer["reveal"] = {**names, "tally": answer["tally"] if with_tally
                                else _phone_tally(arena, rnd.id)}
        seat = None if row.impression_id is None else (row.impression_id, row.nonce)
        if voter_id is not None and seat is None and row.state == "open":
            seat = issuer(arena).issue(rnd, voter_id)
        if seat is not None:
            answer["your_vote"] = row.choice
            answer["pair"].update(impression_id=seat[0],
                                  token=tokens.sign(arena.secret, seat[0], seat[1]))
    elif with_tally:
        answer["tally"] = _tally(None, None)
    if with_tally:
        with session(arena.engine) as s:
            answer.update(seat_counts(s, row.id), joining=not row.joining_closed)
    return answer


def presenter_state(arena: Arena, code: Any) -> dict[str, Any]:
    """The state as the presenter sees it: the pair, and the live tally (names after reveal)."""
    return state(arena, code, with_tally=True)


def check_vote_open(arena: Arena, imp: Impression) -> None:
    """Refuse (409) a first vote on a live impression whose round is no longer open.

    Impressions outside live sessions, and impressions that already have their vote (a retry
    gets the stored receipt), pass.
    """
    if imp.session_id is None:
        return
    with session(arena.engine) as s:
        row = s.exec(select(LiveSession.code, LiveSession.state, LiveSession.current_round,
                            LiveRound.number, Vote.id)
                     .select_from(LiveSeat).join(LiveRound, LiveRound.id == LiveSeat.round_id)
                     .join(LiveSession, LiveSession.id == LiveRound.session_id)
                     .outerjoin(Vote, Vote.impression_id == LiveSeat.impression_id)
                     .where(LiveSeat.impression_id == imp.id)).first()
    if row is None:  # pragma: no cover - every live impression is issued with its seat
        raise RoundNotOpen("this impression is not part of a live round")
    code, state_, current, number, vote_id = row
    if vote_id is not None or (state_ == "open" and current == number):
        return
    raise RoundNotOpen(f"voting on this round of live session {code} has ended")


#: What a live vote checks before it is stored: the impression's session and round, and any vote.
_CHECK = (select(_I.c.session_id, _I.c.nonce, _S.c.state, _S.c.current_round, _R.c.number, _V.c.id)
          .select_from(_I.outerjoin(_T, _T.c.impression_id == _I.c.id)
                       .outerjoin(_R, _R.c.id == _T.c.round_id)
                       .outerjoin(_S, _S.c.id == _R.c.session_id)
                       .outerjoin(_V, _V.c.impression_id == _I.c.id))
          .where(_I.c.id == bindparam("impression")))


def vote(arena: Arena, code: Any, impression_id: Any, token: Any, choice: Any,
         duration_ms: Any = None) -> tuple[dict[str, Any], bool]:
    """Record an audience vote through :func:`arena.collect.voting.record_vote`, if its round is open.

    Returns (answer, created) like ``record_vote``, but the answer leaves out the models: in a
    live session they are shown to everyone at the reveal. The impression must belong to the
    session ``code`` (else 404); bad tokens and bodies get the answers of ``POST /api/votes``
    (403, 404, 422). The checks are one query, from the database (never a process's memory,
    so a reveal in another process counts at once).
    """
    live_id = session_id(arena, code)
    if isinstance(impression_id, int) and not isinstance(impression_id, bool) and 0 < impression_id <= 2**31 - 1:
        with arena.engine.connect() as conn:
            row = conn.execute(_CHECK, {"impression": impression_id}).first()
        if row is not None and row.session_id != live_id:
            raise UnknownSession(f"impression {impression_id} is not part of live session "
                                 f"{normalize_code(code)}")
        if row is not None and isinstance(token, str) and tokens.verify(
                arena.secret, impression_id, row.nonce, token) and row.id is None \
                and not (row.state == "open" and row.current_round == row.number):
            raise RoundNotOpen(f"voting on this round of live session {normalize_code(code)} has ended")
    answer, created = record_vote(arena, impression_id, token, choice, duration_ms, live=True)
    return {key: answer[key] for key in VOTE_ANSWER}, created
