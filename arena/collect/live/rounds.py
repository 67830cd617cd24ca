"""A live round as phones see it: the pair, each person's seat and vote, the tally, the reveal.

Each audience member who opens a round gets an impression of their own (with ``session_id``),
recorded in :class:`~arena.store.schema.LiveSeat`; opening the round again returns that same
impression, and the unique constraint on ``Vote.impression_id`` keeps it to one vote per person
per round.
"""
from __future__ import annotations

import weakref
from functools import partial
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from arena.collect import tokens
from arena.collect.image_links import image_url
from arena.collect.live.sessions import (RoundNotOpen, UnknownSession, get_session, load_with_round,
                                         seat_counts)
from arena.collect.voting import ensure_voter, record_vote
from arena.context import Arena
from arena.store.db import insert_ignore, session, write_lock
from arena.store.schema import (CHOICES, Impression, Item, LiveRound, LiveSeat, LiveSession, Model,
                                Output, Vote)

VOTE_ANSWER = ("vote_id", "impression_id", "task", "choice")  # no model names before the reveal
_ROUND_CACHE: Any = weakref.WeakKeyDictionary()  # engine -> {round id: (pair, reveal)}
_ROUND_CACHE_SIZE = 512


def _round_parts(arena: Arena, s: Any, rnd: LiveRound) -> tuple[dict[str, Any], dict[str, Any]]:
    """The round's public pair and its reveal (models, latencies, costs).

    Both are fixed once the round exists, so they are kept per engine for the next poll.
    """
    cache = _ROUND_CACHE.setdefault(arena.engine, {})
    if rnd.id in cache:
        return cache[rnd.id]
    item = s.get(Item, rnd.item_id)
    rows = {o.id: (o, m) for o, m in s.exec(
        select(Output, Model).join(Model, Model.id == Output.model_id)
        .where(Output.id.in_([rnd.left_output_id, rnd.right_output_id]))).all()}
    (lo, lm), (ro, rm) = rows[rnd.left_output_id], rows[rnd.right_output_id]
    link = partial(image_url, arena.secret, "r", rnd.id)
    pair = {"task": rnd.task, "instruction": item.instruction,
            "source_url": link("source", item.source_path), "left_url": link("left", lo.image_path),
            "right_url": link("right", ro.image_path)}
    names = {"left_model": lm.name, "right_model": rm.name, "left_latency_s": lo.latency_s,
             "right_latency_s": ro.latency_s, "left_cost_usd": lo.cost_usd,
             "right_cost_usd": ro.cost_usd}
    if len(cache) >= _ROUND_CACHE_SIZE:
        cache.clear()
    cache[rnd.id] = (pair, names)
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


def _stored_seat(s: Any, rnd: LiveRound, voter_id: str) -> tuple[Impression, str | None] | None:
    """This voter's impression of the round and its vote's choice, if they opened it."""
    row = s.exec(select(Impression, Vote.choice)
                 .join(LiveSeat, LiveSeat.impression_id == Impression.id)
                 .outerjoin(Vote, Vote.impression_id == Impression.id)
                 .where(LiveSeat.round_id == rnd.id, LiveSeat.voter_id == voter_id)).first()
    return None if row is None else (row[0], row[1])


def _new_seat(arena: Arena, live: LiveSession, rnd: LiveRound, voter_id: str) -> Impression | None:
    """Issue this voter's impression of the round; ``None`` if a concurrent request won."""
    ensure_voter(arena, voter_id, kind="audience")      # a seat's row is there already
    imp = Impression(
        nonce=tokens.new_nonce(), task=rnd.task, item_id=rnd.item_id,
        left_output_id=rnd.left_output_id, right_output_id=rnd.right_output_id,
        left_model_id=rnd.left_model_id, right_model_id=rnd.right_model_id, voter_id=voter_id,
        session_id=live.id, sampler=rnd.sampler, propensity=rnd.propensity)
    with write_lock(arena.engine), session(arena.engine) as s:
        s.add(imp)
        s.flush()
        values = dict(round_id=rnd.id, voter_id=voter_id, impression_id=imp.id)
        won = s.execute(insert_ignore(arena.engine, LiveSeat.__table__, **values)
                        .returning(LiveSeat.__table__.c.id)).first() is not None
        if not won:
            s.rollback()  # the same person opened the round twice at once: keep the first
            return None
        s.commit()
        return imp


def state(arena: Arena, code: Any, voter_id: str | None = None, *,
          with_tally: bool = False) -> dict[str, Any]:
    """What a page shows: state, round number, the pair (no names before the reveal).

    With ``voter_id``, the pair carries that person's own ``impression_id`` and ``token``
    (issued on first opening an open round, the same one afterwards) and ``your_vote``.
    ``reveal`` (models, latencies, tally) is set once the round is revealed or the session
    closed. ``with_tally`` adds the live ``tally`` (no names), as the presenter sees it.
    """
    seat = None
    with session(arena.engine) as s:
        live, rnd = load_with_round(s, code)
        answer: dict[str, Any] = {"code": live.code, "task": live.task or "any",
                                  "state": live.state, "round": live.current_round, "pair": None,
                                  "your_vote": None, "reveal": None}
        if rnd is not None:
            pair, names = _round_parts(arena, s, rnd)
            answer["pair"] = dict(pair)
            if voter_id is not None:
                seat = _stored_seat(s, rnd, voter_id)
            counts = _tally(s, rnd) if with_tally or live.state != "open" else None
            if live.state != "open":
                answer["reveal"] = {**names, "tally": counts}
            if with_tally:
                answer["tally"] = counts
        elif with_tally:
            answer["tally"] = _tally(s, None)
        if with_tally:
            answer.update(seat_counts(s, live.id), joining=not live.joining_closed)
    if rnd is not None and voter_id is not None:
        if seat is None and live.state == "open":
            imp = _new_seat(arena, live, rnd, voter_id)
            with session(arena.engine) as s:
                seat = (imp, None) if imp is not None else _stored_seat(s, rnd, voter_id)
        if seat is not None:
            imp, answer["your_vote"] = seat
            answer["pair"].update(impression_id=imp.id,
                                  token=tokens.sign(arena.secret, imp.id, imp.nonce))
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


def vote(arena: Arena, code: Any, impression_id: Any, token: Any, choice: Any,
         duration_ms: Any = None) -> tuple[dict[str, Any], bool]:
    """Record an audience vote through :func:`arena.collect.voting.record_vote`, if its round is open.

    Returns (answer, created) like ``record_vote``, but the answer leaves out the models: in a
    live session they are shown to everyone at the reveal. The impression must belong to the
    session ``code`` (else 404); bad tokens and bodies get the answers of ``POST /api/votes``
    (403, 404, 422).
    """
    live = get_session(arena, code)
    if isinstance(impression_id, int) and not isinstance(impression_id, bool) and impression_id > 0:
        with session(arena.engine) as s:
            imp = s.get(Impression, impression_id)
        if imp is not None and imp.session_id != live.id:
            raise UnknownSession(f"impression {impression_id} is not part of live session {live.code}")
        if imp is not None and isinstance(token, str) and tokens.verify(
                arena.secret, imp.id, imp.nonce, token):
            check_vote_open(arena, imp)
    answer, created = record_vote(arena, impression_id, token, choice, duration_ms, live=True)
    return {key: answer[key] for key in VOTE_ANSWER}, created

