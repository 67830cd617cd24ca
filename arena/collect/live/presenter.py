"""The presenter's actions on a live session: next round, reveal, close."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update
from sqlmodel import select

from arena.collect.live.rounds import presenter_state
from arena.collect.live.sessions import (NoPairs, RoundNotOpen, check_presenter, get_session)
from arena.collect.sampling import NoPairError, PairChoice
from arena.context import Arena
from arena.store.db import session, write_lock
from arena.store.schema import LiveRound, LiveSession

REDRAWS = 10  # tries at a pair not yet shown in the session


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

