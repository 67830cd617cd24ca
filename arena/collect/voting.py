"""The vote path: issue an impression (a pair, signed) and record its one vote.

Nothing issued before the vote names a model; the receipt after the vote reveals them. A vote
is stored with ``INSERT ... ON CONFLICT DO NOTHING`` on the impression, so a retry returns the
first vote's receipt and never stores a second one.
"""
from __future__ import annotations

import re
from typing import Any

from sqlmodel import select

from arena.collect import tokens
from arena.collect.checks import plan_check
from arena.collect.sampling import same_pair
from arena.context import Arena
from arena.store.db import insert_ignore, session, write_lock
from arena.store.schema import CHOICES, VOTER_KINDS, Impression, Item, Model, Output, Vote, Voter

_VOTER_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class VoteError(Exception):
    """A vote or pair request that cannot be served; ``status`` is the HTTP status to answer."""

    status = 400


class UnknownImpression(VoteError):
    status = 404


class ForgedToken(VoteError):
    status = 403


class InvalidVote(VoteError):
    status = 422


class LiveImpression(VoteError):
    """A live session's pair, voted outside its page (which keeps names hidden until the reveal)."""

    status = 409


def media_url(name: str) -> str:
    return f"/media/{name}"


def ensure_voter(arena: Arena, voter_id: str, kind: str = "public") -> str:
    """Register a pseudonymous voter id (8-64 letters, digits, '-' or '_') if it is new."""
    if not _VOTER_ID.match(voter_id or ""):
        raise InvalidVote("voter id must be 8-64 letters, digits, '-' or '_'")
    if kind not in VOTER_KINDS:
        raise InvalidVote(f"voter kind must be one of {', '.join(VOTER_KINDS)}")
    with write_lock(arena.engine), arena.engine.begin() as conn:
        conn.execute(insert_ignore(arena.engine, Voter.__table__, id=voter_id, kind=kind))
    return voter_id


def _last_pair(arena: Arena, voter_id: str | None) -> tuple[int, int, int] | None:
    """(item, left output, right output) of the voter's latest impression, if any."""
    if voter_id is None:
        return None
    with session(arena.engine) as s:
        row = s.exec(select(Impression.item_id, Impression.left_output_id,
                            Impression.right_output_id)
                     .where(Impression.voter_id == voter_id)
                     .order_by(Impression.id.desc()).limit(1)).first()
    return None if row is None else tuple(row)


def issue_pair(arena: Arena, task: str | None = None, voter_id: str | None = None,
               session_id: int | None = None) -> dict[str, Any]:
    """Choose a pair, store the impression and return what a client may see (no model names).

    For a known voter, about one pair in 15 is a planted check (:mod:`arena.collect.checks`), and the
    pair they have just been shown is not drawn again straight away.
    """
    last = _last_pair(arena, voter_id)
    choice = arena.sampler.choose(task, avoid=last)
    if voter_id is not None:
        ensure_voter(arena, voter_id)
        check = plan_check(arena.engine, voter_id, task, secret=arena.secret)
        if check is not None and not same_pair(check, last):   # a gold pair may be the last one
            choice = check
    impression = Impression(
        nonce=tokens.new_nonce(), task=choice.task, item_id=choice.item_id,
        left_output_id=choice.left_output_id, right_output_id=choice.right_output_id,
        left_model_id=choice.left_model_id, right_model_id=choice.right_model_id,
        voter_id=voter_id, session_id=session_id, sampler=choice.sampler,
        propensity=choice.propensity, check_kind=getattr(choice, "check_kind", "none"),
        repeat_of=getattr(choice, "repeat_of", None))
    with write_lock(arena.engine), session(arena.engine) as s:
        s.add(impression)
        s.commit()
    with session(arena.engine) as s:
        item = s.get(Item, choice.item_id)
        left = s.get(Output, choice.left_output_id)
        right = s.get(Output, choice.right_output_id)
    return {
        "impression_id": impression.id,
        "token": tokens.sign(arena.secret, impression.id, impression.nonce),
        "task": choice.task,
        "instruction": item.instruction,
        "source_url": media_url(item.source_path),
        "left_url": media_url(left.image_path),
        "right_url": media_url(right.image_path),
    }


def _parse_vote(impression_id: Any, token: Any, choice: Any, duration_ms: Any) -> tuple[int, str, str, int | None]:
    if isinstance(impression_id, bool) or not isinstance(impression_id, int) or impression_id < 1:
        raise InvalidVote("impression_id must be a positive integer")
    if not isinstance(token, str) or not token:
        raise InvalidVote("token must be a non-empty string")
    if choice not in CHOICES:
        raise InvalidVote(f"choice must be one of {', '.join(CHOICES)}")
    if duration_ms is not None:
        if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, float)) or not 0 <= duration_ms < 86_400_000:
            raise InvalidVote("duration_ms must be a number of milliseconds between 0 and one day")
        duration_ms = int(duration_ms)
    return impression_id, token, choice, duration_ms


def record_vote(arena: Arena, impression_id: Any, token: Any, choice: Any,
                duration_ms: Any = None, *, live: bool = False) -> tuple[dict[str, Any], bool]:
    """Store the vote for an impression; return (receipt, created).

    ``created`` is False when the impression already had a vote: the receipt is then the
    first vote's, unchanged. Impressions of a live session are voted through
    :func:`arena.collect.live.vote` (``live=True``), which checks that the round is still open.
    """
    impression_id, token, choice, duration_ms = _parse_vote(impression_id, token, choice, duration_ms)
    with session(arena.engine) as s:
        imp = s.get(Impression, impression_id)
    if imp is None:
        raise UnknownImpression(f"no impression {impression_id}")
    if not tokens.verify(arena.secret, imp.id, imp.nonce, token):
        raise ForgedToken("token does not match this impression")
    if imp.session_id is not None and not live:
        raise LiveImpression("this pair belongs to a live session: vote on the session's page")
    values = dict(impression_id=imp.id, voter_id=imp.voter_id, task=imp.task,
                  left_model_id=imp.left_model_id, right_model_id=imp.right_model_id,
                  item_id=imp.item_id, choice=choice, check_kind=imp.check_kind,
                  duration_ms=duration_ms)
    with write_lock(arena.engine), arena.engine.begin() as conn:
        stmt = insert_ignore(arena.engine, Vote.__table__, **values)
        created = conn.execute(stmt.returning(Vote.__table__.c.id)).first() is not None
    return receipt(arena, imp), created


def receipt(arena: Arena, imp: Impression) -> dict[str, Any]:
    """The reveal after a vote: the stored choice and both models with latency and cost."""
    with session(arena.engine) as s:
        vote = s.exec(select(Vote).where(Vote.impression_id == imp.id)).one()
        rows = {o.id: (o, m) for o, m in s.exec(
            select(Output, Model).join(Model, Model.id == Output.model_id)
            .where(Output.id.in_([imp.left_output_id, imp.right_output_id]))).all()}
    (lo, lm), (ro, rm) = rows[imp.left_output_id], rows[imp.right_output_id]
    return {
        "vote_id": vote.id, "impression_id": imp.id, "task": imp.task, "choice": vote.choice,
        "left_model": lm.name, "right_model": rm.name,
        "left_latency_s": lo.latency_s, "right_latency_s": ro.latency_s,
        "left_cost_usd": lo.cost_usd, "right_cost_usd": ro.cost_usd,
    }
