"""Live sessions: a presenter shows one pair per round, an audience votes on it from phones.

A session is joined with a short code; the presenter holds a random token of which only the
SHA-256 hash is stored. Each round is one pair (one item, two outputs, sides fixed), kept in
:class:`~arena.schema.LiveRound` so every audience member sees the same thing. Each audience
member who opens a round gets an impression of their own (with ``session_id``), recorded in
:class:`~arena.schema.LiveSeat`; opening the round again returns that same impression, and the
unique constraint on ``Vote.impression_id`` keeps it to one vote per person per round.

Votes are stored by :func:`arena.voting.record_vote`, like every other vote. A vote is taken
only while its round is open: once the presenter reveals the models (or closes the session, or
starts the next round) a new vote on that round is refused with 409, because the names are on
screen by then. A retry of a vote stored in time still gets its receipt back.

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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from arena import tokens
from arena.context import Arena
from arena.db import session, write_lock
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


def _round(arena: Arena, live: LiveSession) -> LiveRound | None:
    if live.current_round < 1:
        return None
    with session(arena.engine) as s:
        return s.exec(select(LiveRound).where(LiveRound.session_id == live.id,
                                              LiveRound.number == live.current_round)).one()


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


def _public_pair(arena: Arena, rnd: LiveRound) -> dict[str, Any]:
    with session(arena.engine) as s:
        item = s.get(Item, rnd.item_id)
        left = s.get(Output, rnd.left_output_id)
        right = s.get(Output, rnd.right_output_id)
    return {"task": rnd.task, "instruction": item.instruction,
            "source_url": media_url(item.source_path), "left_url": media_url(left.image_path),
            "right_url": media_url(right.image_path)}


def round_tally(arena: Arena, rnd: LiveRound | None) -> dict[str, Any]:
    """Votes per choice on one round, and how many audience members opened it."""
    counts = dict.fromkeys(CHOICES, 0)
    viewers = 0
    if rnd is not None:
        with session(arena.engine) as s:
            for choice, n in s.exec(select(Vote.choice, func.count())
                                    .join(LiveSeat, LiveSeat.impression_id == Vote.impression_id)
                                    .where(LiveSeat.round_id == rnd.id).group_by(Vote.choice)).all():
                counts[choice] = n
            viewers = s.exec(select(func.count()).select_from(LiveSeat)
                             .where(LiveSeat.round_id == rnd.id)).one()
    return {"counts": counts, "votes": sum(counts.values()), "viewers": viewers}


def tally(arena: Arena, code: Any) -> dict[str, Any]:
    """The current round's tally (no model names): ``{"code", "round", "state", "counts", ...}``."""
    live = get_session(arena, code)
    return {"code": live.code, "round": live.current_round, "state": live.state,
            **round_tally(arena, _round(arena, live))}


def _reveal(arena: Arena, rnd: LiveRound) -> dict[str, Any]:
    with session(arena.engine) as s:
        rows = {o.id: (o, m) for o, m in s.exec(
            select(Output, Model).join(Model, Model.id == Output.model_id)
            .where(Output.id.in_([rnd.left_output_id, rnd.right_output_id]))).all()}
    (lo, lm), (ro, rm) = rows[rnd.left_output_id], rows[rnd.right_output_id]
    return {"left_model": lm.name, "right_model": rm.name, "left_latency_s": lo.latency_s,
            "right_latency_s": ro.latency_s, "left_cost_usd": lo.cost_usd,
            "right_cost_usd": ro.cost_usd, "tally": round_tally(arena, rnd)}


def _seat(arena: Arena, live: LiveSession, rnd: LiveRound, voter_id: str,
          create: bool) -> Impression | None:
    """This voter's impression of the round: the stored one, else (if ``create``) a new one."""
    def stored() -> Impression | None:
        with session(arena.engine) as s:
            return s.exec(select(Impression).join(LiveSeat, LiveSeat.impression_id == Impression.id)
                          .where(LiveSeat.round_id == rnd.id, LiveSeat.voter_id == voter_id)).first()

    found = stored()
    if found is not None or not create:
        return found
    ensure_voter(arena, voter_id, kind="audience")
    imp = Impression(
        nonce=tokens.new_nonce(), task=rnd.task, item_id=rnd.item_id,
        left_output_id=rnd.left_output_id, right_output_id=rnd.right_output_id,
        left_model_id=rnd.left_model_id, right_model_id=rnd.right_model_id, voter_id=voter_id,
        session_id=live.id, sampler=rnd.sampler, propensity=rnd.propensity)
    dialect = arena.engine.dialect.name
    ins = {"postgresql": pg_insert, "sqlite": sqlite_insert}.get(dialect)
    with write_lock(arena.engine), session(arena.engine) as s:
        s.add(imp)
        s.flush()
        values = dict(round_id=rnd.id, voter_id=voter_id, impression_id=imp.id)
        if ins is None:  # pragma: no cover - the arena runs on SQLite or PostgreSQL
            won = s.execute(insert(LiveSeat.__table__).values(**values)).rowcount == 1
        else:
            won = s.execute(ins(LiveSeat.__table__).values(**values).on_conflict_do_nothing()
                            .returning(LiveSeat.__table__.c.id)).first() is not None
        if won:
            s.commit()
            return imp
        s.rollback()  # the same person opened the round twice at once: keep the first
    return stored()


def state(arena: Arena, code: Any, voter_id: str | None = None) -> dict[str, Any]:
    """What a page shows: state, round number, the pair (no names before the reveal).

    With ``voter_id``, the pair carries that person's own ``impression_id`` and ``token``
    (issued on first opening an open round, the same one afterwards) and ``your_vote``.
    ``reveal`` (models, latencies, tally) is set once the round is revealed or the session closed.
    """
    live = get_session(arena, code)
    rnd = _round(arena, live)
    answer: dict[str, Any] = {"code": live.code, "task": live.task or "any", "state": live.state,
                              "round": live.current_round, "pair": None, "your_vote": None,
                              "reveal": None}
    if rnd is None:
        return answer
    answer["pair"] = _public_pair(arena, rnd)
    if voter_id is not None:
        imp = _seat(arena, live, rnd, voter_id, create=live.state == "open")
        if imp is not None:
            answer["pair"].update(impression_id=imp.id,
                                  token=tokens.sign(arena.secret, imp.id, imp.nonce))
            with session(arena.engine) as s:
                answer["your_vote"] = s.exec(select(Vote.choice)
                                             .where(Vote.impression_id == imp.id)).first()
    if live.state in ("revealed", "closed"):
        answer["reveal"] = _reveal(arena, rnd)
    return answer


def presenter_state(arena: Arena, code: Any) -> dict[str, Any]:
    """The state as the presenter sees it: the pair, and the live tally (names after reveal)."""
    answer = state(arena, code)
    answer["tally"] = round_tally(arena, _round(arena, get_session(arena, code)))
    return answer


def check_vote_open(arena: Arena, imp: Impression) -> None:
    """Refuse (409) a first vote on a live impression whose round is no longer open.

    Impressions outside live sessions, and impressions that already have their vote (a retry
    gets the stored receipt), pass.
    """
    if imp.session_id is None:
        return
    with session(arena.engine) as s:
        rnd = s.exec(select(LiveRound).join(LiveSeat, LiveSeat.round_id == LiveRound.id)
                     .where(LiveSeat.impression_id == imp.id)).first()
        live = s.get(LiveSession, imp.session_id)
        voted = s.exec(select(Vote.id).where(Vote.impression_id == imp.id)).first() is not None
    if voted or (rnd is not None and live.state == "open" and live.current_round == rnd.number):
        return
    raise RoundNotOpen(f"voting on this round of live session {live.code} has ended")


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
    answer, created = record_vote(arena, impression_id, token, choice, duration_ms)
    return {key: answer[key] for key in VOTE_ANSWER}, created


__all__ = ["LiveError", "NewSession", "NoPairs", "NotPresenter", "RoundNotOpen", "STATES",
           "UnknownSession", "check_presenter", "check_vote_open", "close", "create_session",
           "get_session", "join_path", "next_round", "normalize_code", "present_path",
           "presenter_state", "public_base", "reveal", "state", "tally", "vote"]
