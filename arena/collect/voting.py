"""The vote path: issue an impression (a pair, signed) and record its one vote.

Nothing issued before the vote names a model; the receipt after the vote reveals them. A vote
is stored with ``INSERT ... ON CONFLICT DO NOTHING`` on the impression, so a retry returns the
first vote's receipt and never stores a second one.
"""
from __future__ import annotations

import os
from datetime import timezone
from functools import partial
from typing import Any

from sqlalchemy import select

from arena.collect import tokens
from arena.collect.identity import derive, register, valid_id
from arena.collect.image_links import image_url
from arena.collect.issuing import IssueContended, expired as _expired, open_or_new
from arena.collect.vote_statements import (BY_ID as _BY_ID, CLAIM_AND_VOTE,
                                           LOCK_VOTER as _LOCK_VOTER, MARK as _MARK,
                                           MARK_VOTED as _MARK_VOTED, insert_vote)
from arena.context import Arena
from arena.store.db import open_held_unique
from arena.store.prepared import driver_write_transaction
from arena.store.schema import CHOICES, VOTER_KINDS, Impression, Vote, utcnow

LOOK_ENV = "ARENA_MIN_LOOK_MS"
DEFAULT_LOOK_MS = 400.0
#: Largest impression id a vote may name (the id column is a 32-bit integer on PostgreSQL).
MAX_ID = 2**31 - 1


class VoteError(Exception):
    """A vote or pair request that cannot be served; ``status`` is the HTTP status to answer."""

    status = 400


class UnknownImpression(VoteError):
    status = 404


class ForgedToken(VoteError):
    status = 403


class InvalidVote(VoteError):
    status = 422


class PairClosed(VoteError):
    """The pair was skipped or has expired: it no longer takes a vote."""

    status = 409


class TooFast(VoteError):
    """A vote that came before anyone could have looked at the pair."""

    status = 409


class Contended(VoteError):
    """Racing requests of one voter kept ending its pairs while one was issued: try again."""

    status = 409


class LiveImpression(VoteError):
    """A live session's pair, voted outside its page (which keeps names hidden until the reveal)."""

    status = 409


def ensure_voter(arena: Arena, voter_id: str, kind: str = "public") -> str:
    """Register a voter id the server chose (an annotator, a seat) if it is new."""
    if not valid_id(voter_id):
        raise InvalidVote("voter id must be 8-64 letters, digits, '-' or '_'")
    if kind not in VOTER_KINDS:
        raise InvalidVote(f"voter kind must be one of {', '.join(VOTER_KINDS)}")
    register(arena.engine, voter_id, kind)
    return voter_id


def _end(arena: Arena, impression_id: int, ending: str) -> bool:
    """Mark an open impression as ended (``ending``); False if it had ended already."""
    with driver_write_transaction(arena.engine) as conn:
        return _MARK.rowcount(conn, {"impression": impression_id, "ending": ending}) == 1


def pair_view(arena: Arena, imp: Any) -> dict[str, Any]:
    """What a client may see of an impression: its token, instruction and image URLs of its
    own (:mod:`arena.collect.image_links`), no model names; no query (:mod:`.hot`)."""
    item = arena.hot.item(imp.item_id)
    left, right = arena.hot.outputs(imp.left_output_id, imp.right_output_id)
    link = partial(image_url, arena.secret, "i", imp.id)
    return {
        "impression_id": imp.id,
        "token": tokens.sign(arena.secret, imp.id, imp.nonce),
        "task": imp.task,
        "instruction": item.instruction,
        "source_url": link("source", item.source_path),
        "left_url": link("left", left.image_path),
        "right_url": link("right", right.image_path),
    }


def issue_pair(arena: Arena, task: str | None = None, voter_id: str | None = None,
               session_id: int | None = None, *, hold: bool = True,
               registered: bool = False) -> dict[str, Any]:
    """Choose a pair, store the impression and return what a client may see (no model names).

    With ``hold`` (the public arena) a voter has one open pair at a time: while it is open
    (not voted, skipped or expired) the same pair is returned, whatever the task asked for;
    it expires after :func:`~arena.collect.issuing.pair_ttl_s`. Annotation queues issue
    with ``hold=False``: their pairs stay open until labelled. For a known voter, about one
    pair in 15 is a planted check (:mod:`arena.collect.checks`), and the pair they have just
    been shown is not drawn again straight away. ``registered``: the caller has stored the
    voter already.

    Requests of one voter racing each other, in one process or several, never leave it two
    open pairs: the database refuses the second (:mod:`arena.collect.issuing`).
    """
    if voter_id is not None and not registered:
        ensure_voter(arena, voter_id)
    arena.sampler.prepare()     # a reload of the sampler, and the secret's first read (which
    checks = derive(arena.secret, "checks")     # may store it), happen before the write lock
    issue = partial(open_or_new, arena, task=task, voter_id=voter_id, session_id=session_id,
                    hold=hold, checks=checks)
    try:
        if arena.engine.dialect.name == "postgresql" and open_held_unique(arena.engine):
            with arena.engine.connect() as conn:    # each statement commits on its own
                imp, made = issue(conn.execution_options(isolation_level="AUTOCOMMIT"))
        else:
            with driver_write_transaction(arena.engine) as conn:
                if voter_id is not None and arena.engine.dialect.name == "postgresql":
                    _LOCK_VOTER.first(conn, {"voter": voter_id})    # no index: serialise
                imp, made = issue(conn)
    except IssueContended as exc:
        raise Contended(str(exc)) from exc
    if made:                        # kept once committed (a failed commit leaves no trace)
        arena.hot.keep_issued(imp)
    return pair_view(arena, imp)


def _parse_vote(impression_id: Any, token: Any, choice: Any, duration_ms: Any,
                choices: tuple[str, ...] = CHOICES) -> tuple[int, str, str, int | None]:
    """Check a vote's fields before anything is looked up (ids within the column's range,
    tokens of printable length; NUL or over-long strings never reach a query)."""
    if isinstance(impression_id, bool) or not isinstance(impression_id, int) \
            or not 1 <= impression_id <= MAX_ID:
        raise InvalidVote(f"impression_id must be an integer from 1 to {MAX_ID}")
    if not isinstance(token, str) or not 0 < len(token) <= 200:
        raise InvalidVote("token must be a string of 1 to 200 characters")
    if not isinstance(choice, str) or choice not in choices:
        raise InvalidVote(f"choice must be one of {', '.join(choices)}")
    if duration_ms is not None:
        if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, float)) \
                or not 0 <= duration_ms < 86_400_000:
            raise InvalidVote("duration_ms must be a number of milliseconds between 0 and one day")
        duration_ms = int(duration_ms)
    return impression_id, token, choice, duration_ms


def _verified(arena: Arena, impression_id: int, token: str, live: bool) -> Any:
    """The impression a vote names, with its token checked: as this process issued it when
    it did (:meth:`arena.collect.hot.HotCatalog.issued`), else from the database."""
    imp = arena.hot.issued(impression_id)
    if imp is None:
        with arena.engine.connect() as conn:
            imp = _BY_ID.first(conn, {"impression": impression_id})
    if imp is None:
        raise UnknownImpression(f"no impression {impression_id}")
    if not tokens.verify(arena.secret, imp.id, imp.nonce, token):
        raise ForgedToken("token does not match this impression")
    if imp.session_id is not None and not live:
        raise LiveImpression("this pair belongs to a live session: vote on the session's page")
    return imp


def min_look_s() -> float:
    """Seconds a pair must have been out before its vote counts (``$ARENA_MIN_LOOK_MS``,
    default 400 ms): no one compares two edits faster, and a script that answers at once, or
    a second key press landing on the next pair, is refused."""
    try:
        return max(0.0, float(os.environ.get(LOOK_ENV, DEFAULT_LOOK_MS))) / 1000
    except ValueError:
        return DEFAULT_LOOK_MS / 1000


def _refuse_unseen(imp: Impression) -> None:
    issued = imp.issued_at if imp.issued_at.tzinfo else imp.issued_at.replace(tzinfo=timezone.utc)
    if (utcnow() - issued).total_seconds() < min_look_s():
        raise TooFast("this vote came faster than the pair could be looked at: try again")


def _refuse_closed(arena: Arena, imp: Impression) -> None:
    if imp.ended not in (None, "voted"):
        raise PairClosed(f"this pair was {imp.ended}: ask for a new one")
    if imp.ended is None and _expired(imp):
        _end(arena, imp.id, "expired")
        raise PairClosed("this pair has expired: ask for a new one")


def record_vote(arena: Arena, impression_id: Any, token: Any, choice: Any,
                duration_ms: Any = None, *, live: bool = False) -> tuple[dict[str, Any], bool]:
    """Store the vote for an impression; return (receipt, created).

    ``created`` is False when the impression already had a vote: the receipt is then the
    first vote's, unchanged. A pair that was skipped or has expired takes no vote (409).
    Impressions of a live session are voted through :func:`arena.collect.live.vote`
    (``live=True``), which checks that the round is still open.
    """
    impression_id, token, choice, duration_ms = _parse_vote(impression_id, token, choice, duration_ms)
    imp = _verified(arena, impression_id, token, live)
    if imp.ended == "voted":
        return receipt(arena, imp), False
    _refuse_closed(arena, imp)
    _refuse_unseen(imp)
    values = dict(impression_id=imp.id, voter_id=imp.voter_id, task=imp.task,
                  left_model_id=imp.left_model_id, right_model_id=imp.right_model_id,
                  item_id=imp.item_id, choice=choice, check_kind=imp.check_kind,
                  duration_ms=duration_ms, created_at=utcnow())
    arena.hot.forget_issued(imp.id)
    if arena.engine.dialect.name == "postgresql":
        vote_id = _claim_and_vote(arena, values)
        if vote_id is None:         # voted meanwhile (a retry), skipped or expired
            return _closed_meanwhile(arena, imp.id)
        return receipt(arena, imp, vote_id=vote_id, choice=choice), True
    try:
        with driver_write_transaction(arena.engine) as conn:
            vote_id = insert_vote(arena.engine).scalar(conn, values)
            if vote_id is not None and not _MARK_VOTED.rowcount(conn, {"impression": imp.id,
                                                                       "now": utcnow()}):
                raise _NotOpen          # (the vote's row goes with the rollback)
    except _NotOpen:
        return _closed_meanwhile(arena, imp.id)
    if vote_id is None:             # a retry that raced the first: answer with the stored vote
        return receipt(arena, imp), False
    return receipt(arena, imp, vote_id=vote_id, choice=choice), True


def _claim_and_vote(arena: Arena, values: dict[str, Any]) -> int | None:
    """PostgreSQL: claim the open pair and store its vote in one statement, committed on its
    own (:data:`arena.collect.vote_statements.CLAIM_AND_VOTE`); the vote's id, or ``None``
    when the pair was not open."""
    with arena.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return CLAIM_AND_VOTE.scalar(conn, {**values, "impression": values["impression_id"],
                                            "now": values["created_at"]})


class _NotOpen(Exception):
    """The pair was no longer open when its vote came to be written."""


def _closed_meanwhile(arena: Arena, impression_id: int) -> tuple[dict[str, Any], bool]:
    """Answer a vote whose pair the database no longer had open: the stored vote (a retry),
    or why it is closed (skipped, expired) as 409."""
    with arena.engine.connect() as conn:
        imp = _BY_ID.first(conn, {"impression": impression_id})
    if imp.ended == "voted":
        return receipt(arena, imp), False
    _refuse_closed(arena, imp)
    raise PairClosed("this pair was closed before the vote arrived: ask for a new one")


def record_skip(arena: Arena, impression_id: Any, token: Any) -> tuple[dict[str, Any], bool]:
    """Skip an open pair (recorded; reveals nothing) so that the voter can have a new one.

    Returns (answer, created); skipping again answers the same. A voted or expired pair
    cannot be skipped (409).
    """
    impression_id, token, _, _ = _parse_vote(impression_id, token, "skip", None, ("skip",))
    imp = _verified(arena, impression_id, token, live=False)
    answer = {"impression_id": imp.id, "task": imp.task, "choice": "skip"}
    if imp.ended == "skipped":
        return answer, False
    if imp.ended == "voted":
        raise PairClosed("this pair has a vote already")
    _refuse_closed(arena, imp)
    arena.hot.forget_issued(imp.id)
    if not _end(arena, imp.id, "skipped"):     # voted or skipped meanwhile: answer as that
        return record_skip(arena, impression_id, token)
    return answer, True


def receipt(arena: Arena, imp: Any, *, vote_id: int | None = None,
            choice: str | None = None) -> dict[str, Any]:
    """The reveal after a vote: the stored choice and both models with latency and cost (the
    vote is read back only when the caller does not know it)."""
    if vote_id is None:
        with arena.engine.connect() as conn:
            vote_id, choice = conn.execute(select(Vote.__table__.c.id, Vote.__table__.c.choice)
                                           .where(Vote.__table__.c.impression_id == imp.id)).one()
    lo, ro = arena.hot.outputs(imp.left_output_id, imp.right_output_id)
    return {
        "vote_id": vote_id, "impression_id": imp.id, "task": imp.task, "choice": choice,
        "left_model": arena.hot.model_name(lo.model_id),
        "right_model": arena.hot.model_name(ro.model_id),
        "left_latency_s": lo.latency_s, "right_latency_s": ro.latency_s,
        "left_cost_usd": lo.cost_usd, "right_cost_usd": ro.cost_usd,
    }
