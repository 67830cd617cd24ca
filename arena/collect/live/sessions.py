"""Live sessions at rest: join codes, the presenter's token, and finding a session and its round.

A session is joined with a short code; the presenter holds a random token of which only the
SHA-256 hash is stored.
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

from arena.collect.identity import new_id
from arena.collect.voting import VoteError
from arena.context import Arena
from arena.store.db import session, write_lock
from arena.store.schema import LiveMember, LiveRound, LiveSession, Voter

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
CODE_LENGTH = 6
_CODE = re.compile(r"^[A-Z0-9]{4,16}$")
STATES = ("open", "revealed", "closed")


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


_IDS: Any = weakref.WeakKeyDictionary()   # engine -> {code: session id}; codes never move


def session_id(arena: Arena, code: Any) -> int:
    """The id of the session with join code ``code`` (kept once found), else :class:`UnknownSession`."""
    known = _IDS.setdefault(arena.engine, {})
    code = normalize_code(code)
    if code not in known:
        if len(known) > 10_000:
            known.clear()
        known[code] = get_session(arena, code).id
    return known[code]


def check_presenter(arena: Arena, code: Any, presenter_token: Any) -> LiveSession:
    """The session if ``presenter_token`` is its presenter's, else :class:`NotPresenter` (403)."""
    row = get_session(arena, code)
    if not isinstance(presenter_token, str) or not hmac.compare_digest(
            _hash(presenter_token), row.presenter_token_hash):
        raise NotPresenter("this action needs the presenter token of the session")
    return row



def load_with_round(s: Any, code: Any) -> tuple[LiveSession, LiveRound | None]:
    """The session for ``code`` and its current round (``None`` before the first), in one query."""
    code = normalize_code(code)
    row = s.exec(select(LiveSession, LiveRound).outerjoin(LiveRound, and_(
        LiveRound.session_id == LiveSession.id, LiveRound.number == LiveSession.current_round))
        .where(LiveSession.code == code)).first()
    if row is None:
        raise UnknownSession(f"no live session {code}")
    return row[0], row[1]



SEATS_ENV = "ARENA_SEATS_PER_ADDRESS"
#: Seats one client address may take in one session: a hall behind one NAT fits.
DEFAULT_SEATS = 1000


def seats_per_address() -> int:
    """``$ARENA_SEATS_PER_ADDRESS`` (default :data:`DEFAULT_SEATS`)."""
    try:
        return max(1, int(os.environ.get(SEATS_ENV, DEFAULT_SEATS)))
    except ValueError:
        raise SystemExit(f"{SEATS_ENV} must be a whole number") from None


def join(arena: Arena, live: LiveSession, address_hash: str | None) -> str | None:
    """A new seat in ``live`` for a phone at ``address_hash``: its voter id, or ``None`` when
    the session is closed, joining is closed, or that address has its share of seats."""
    if live.state == "closed" or live.joining_closed:
        return None
    m = LiveMember.__table__.c
    with arena.engine.connect() as conn:
        taken = conn.execute(select(func.count()).select_from(LiveMember.__table__)
                             .where(m.session_id == live.id, m.address_hash == address_hash)
                             ).scalar_one() if address_hash else 0
    if taken >= seats_per_address():
        return None
    voter_id = new_id("seat")
    with write_lock(arena.engine), arena.engine.begin() as conn:   # the voter and its seat, one commit
        conn.execute(insert(Voter.__table__).values(id=voter_id, kind="audience",
                                                    address_hash=address_hash))
        conn.execute(insert(LiveMember.__table__).values(session_id=live.id, voter_id=voter_id,
                                                         address_hash=address_hash))
    return voter_id


def seat_counts(s: Any, session_id: int) -> dict[str, int]:
    """Seats in a session, and how many of them share the busiest client address."""
    m = LiveMember.__table__.c
    per_address = s.exec(select(func.count()).select_from(LiveMember.__table__)
                         .where(m.session_id == session_id).group_by(m.address_hash)).all()
    counts = [row[0] if isinstance(row, tuple) else row for row in per_address]
    return {"seats": int(sum(counts)), "busiest_address_seats": int(max(counts, default=0))}


def set_joining(arena: Arena, code: Any, presenter_token: Any, is_open: bool) -> LiveSession:
    """Open or close joining (new seats) for the presenter's session."""
    live = check_presenter(arena, code, presenter_token)
    with write_lock(arena.engine), arena.engine.begin() as conn:
        conn.execute(update(LiveSession.__table__).where(LiveSession.id == live.id)
                     .values(joining_closed=not is_open))
    return get_session(arena, live.code)
