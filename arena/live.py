"""Live sessions: a presenter shows one pair per round, an audience votes on it from phones.

A session is joined with a short code; the presenter holds a random token of which only the
SHA-256 hash is stored. Each round is one pair (one item, two outputs, sides fixed), kept in
:class:`~arena.schema.LiveRound` so every audience member sees the same thing. Each audience
member who opens a round gets an impression of their own (with ``session_id``), recorded in
:class:`~arena.schema.LiveSeat`; opening the round again returns that same impression, and the
unique constraint on ``Vote.impression_id`` keeps it to one vote per person per round.

Votes are stored by :func:`arena.voting.record_vote`, like every other vote. :func:`vote` (the
audience page's route) takes a vote only while its round is open: once the presenter reveals
the models (or closes the session, or starts the next round) a new vote on that round is
refused with 409, because the names are on screen by then; a retry of a vote stored in time
still gets its answer back. :func:`check_vote_open` is that check, for any path that takes votes.

States of a session (those of its current round): ``open`` (taking votes; also before the
first round, when there is nothing to vote on), ``revealed`` (models, latencies and the tally
shown), ``closed`` (over: the last round is revealed and nothing more can be done).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from arena import tokens
from arena.context import Arena
from arena.db import insert_ignore, session, write_lock
from arena.sampling import NoPairError, PairChoice
from arena.schema import (CHOICES, Impression, Item, LiveRound, LiveSeat, LiveSession, Model,
                          Output, Vote)
from arena.voting import VoteError, ensure_voter, media_url, record_vote

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
CODE_LENGTH = 6
_CODE = re.compile(r"^[A-Z0-9]{4,16}$")
STATES = ("open", "revealed", "closed")
REDRAWS = 10  # tries at a pair not yet shown in the session
VOTE_ANSWER = ("vote_id", "impression_id", "task", "choice")  # no model names before the reveal


class LiveError(VoteError):
    """A live-session request that cannot be served; ``status`` is the HTTP status to answer."""


class UnknownSession(LiveError):
    status = 404


class NoPairs(LiveError):
    status = 404


class NotPresenter(LiveError):
    status = 403


class RoundNotOpen(LiveError):
    """The action or vote needs an open round (or a session that is not closed)."""

    status = 409


@dataclass(frozen=True)
class NewSession:
    """What :func:`create_session` hands the presenter (the token is never stored in clear)."""

    code: str
    presenter_token: str
    task: str | None


def public_base(request_base: str) -> str:
    """The address phones should use: ``$ARENA_PUBLIC_URL`` if set, else the request's own."""
    return (os.environ.get("ARENA_PUBLIC_URL") or request_base).rstrip("/")


def join_path(code: str) -> str:
    return f"/live/{code}"


def present_path(code: str, presenter_token: str) -> str:
    return f"/live/{code}/present?token={presenter_token}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(code: Any) -> str:
    """Upper-case a join code; anything that cannot be one is an unknown session."""
    code = str(code or "").strip().upper()
    if not _CODE.match(code):
        raise UnknownSession("no live session with this code")
    return code


def create_session(arena: Arena, task: str | None = None) -> NewSession:
    """Start a session for ``task`` (``None``/``"any"``: each round draws a task)."""
    task = None if task in (None, "", "any") else task
    if task is not None and task not in arena.sampler.tasks():
        raise NoPairs(f"task {task!r} has no item with outputs from two models")
    if task is None and not arena.sampler.tasks():
        raise NoPairs("no task has outputs from two models yet")
    token = secrets.token_urlsafe(24)
    for _ in range(8):
        row = LiveSession(code=_new_code(), presenter_token_hash=_hash(token), task=task)
        try:
            with write_lock(arena.engine), session(arena.engine) as s:
                s.add(row)
                s.commit()
        except IntegrityError:  # the code is taken: draw another
            continue
        return NewSession(row.code, token, task)
    raise LiveError("could not find a free join code")  # pragma: no cover - 31**6 codes


def get_session(arena: Arena, code: Any) -> LiveSession:
    """The session for a join code (case-insensitive), else :class:`UnknownSession`."""
    code = normalize_code(code)
    with session(arena.engine) as s:
        row = s.exec(select(LiveSession).where(LiveSession.code == code)).first()
    if row is None:
        raise UnknownSession(f"no live session {code}")
    return row


def check_presenter(arena: Arena, code: Any, presenter_token: Any) -> LiveSession:
    """The session if ``presenter_token`` is its presenter's, else :class:`NotPresenter` (403)."""
    row = get_session(arena, code)
    if not isinstance(presenter_token, str) or not hmac.compare_digest(
            _hash(presenter_token), row.presenter_token_hash):
        raise NotPresenter("this action needs the presenter token of the session")
    return row


def _load(s: Any, code: Any) -> tuple[LiveSession, LiveRound | None]:
    """The session for ``code`` and its current round (``None`` before the first), in one query."""
    code = normalize_code(code)
    row = s.exec(select(LiveSession, LiveRound).outerjoin(LiveRound, and_(
        LiveRound.session_id == LiveSession.id, LiveRound.number == LiveSession.current_round))
        .where(LiveSession.code == code)).first()
    if row is None:
        raise UnknownSession(f"no live session {code}")
    return row[0], row[1]


def _draw(arena: Arena, live: LiveSession) -> PairChoice:
    """A pair from the arena's sampler, redrawn (up to ``REDRAWS`` times) if already shown.

    The stored propensity is the sampler's for the kept draw, so it ignores the redraws.
    """
    with session(arena.engine) as s:
        shown = {(item, frozenset(pair)) for item, *pair in s.exec(
            select(LiveRound.item_id, LiveRound.left_model_id, LiveRound.right_model_id)
            .where(LiveRound.session_id == live.id)).all()}
    try:
        for _ in range(REDRAWS):
            choice = arena.sampler.choose(live.task)
            if (choice.item_id, frozenset((choice.left_model_id, choice.right_model_id))) not in shown:
                break
    except NoPairError as exc:
        raise NoPairs(str(exc)) from None
    return choice


def next_round(arena: Arena, code: Any, presenter_token: Any) -> dict[str, Any]:
    """Start the next round (a new pair, open for votes); refused (409) once closed."""
    live = check_presenter(arena, code, presenter_token)
    if live.state == "closed":
        raise RoundNotOpen(f"live session {live.code} is closed")
    choice = _draw(arena, live)
    number = live.current_round + 1
    with write_lock(arena.engine), arena.engine.begin() as conn:
        moved = conn.execute(
            update(LiveSession.__table__)
            .where(LiveSession.id == live.id, LiveSession.current_round == live.current_round,
                   LiveSession.state != "closed")
            .values(current_round=number, state="open")).rowcount
        if moved:
            conn.execute(insert(LiveRound.__table__).values(
                session_id=live.id, number=number, task=choice.task, item_id=choice.item_id,
                left_output_id=choice.left_output_id, right_output_id=choice.right_output_id,
                left_model_id=choice.left_model_id, right_model_id=choice.right_model_id,
                sampler=choice.sampler, propensity=choice.propensity))
    if not moved:
        raise RoundNotOpen("the session changed meanwhile (closed, or another round started)")
    return presenter_state(arena, live.code)


def reveal(arena: Arena, code: Any, presenter_token: Any) -> dict[str, Any]:
    """Show the current round's models, latencies and tally; votes on it are refused from now.

    Revealing again is harmless; before the first round, or once closed, it is refused (409).
    """
    live = check_presenter(arena, code, presenter_token)
    with write_lock(arena.engine), arena.engine.begin() as conn:
        conn.execute(update(LiveSession.__table__)
                     .where(LiveSession.id == live.id, LiveSession.state == "open",
                            LiveSession.current_round >= 1)
                     .values(state="revealed"))
    live = get_session(arena, live.code)
    if live.state == "open":
        raise RoundNotOpen("no round started yet: nothing to reveal")
    if live.state == "closed":
        raise RoundNotOpen(f"live session {live.code} is closed (its last round is revealed)")
    return presenter_state(arena, live.code)  # revealed now, or already


def close(arena: Arena, code: Any, presenter_token: Any) -> dict[str, Any]:
    """End the session: no more rounds or votes; the last round is revealed."""
    live = check_presenter(arena, code, presenter_token)
    with write_lock(arena.engine), arena.engine.begin() as conn:
        conn.execute(update(LiveSession.__table__).where(LiveSession.id == live.id)
                     .values(state="closed"))
    return presenter_state(arena, live.code)


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
    pair = {"task": rnd.task, "instruction": item.instruction,
            "source_url": media_url(item.source_path), "left_url": media_url(lo.image_path),
            "right_url": media_url(ro.image_path)}
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
        live, rnd = _load(s, code)
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
    ensure_voter(arena, voter_id, kind="audience")
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
        live, rnd = _load(s, code)
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
    """Record an audience vote through :func:`arena.voting.record_vote`, if its round is open.

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


__all__ = ["LiveError", "NewSession", "NoPairs", "NotPresenter", "RoundNotOpen", "STATES",
           "UnknownSession", "check_presenter", "check_vote_open", "close", "create_session",
           "get_session", "join_path", "next_round", "normalize_code", "present_path",
           "presenter_state", "public_base", "reveal", "state", "tally", "vote"]
