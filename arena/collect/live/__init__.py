"""Live sessions: a presenter shows one pair per round, an audience votes on it from phones.

A session is joined with a short code; the presenter holds a random token of which only the
SHA-256 hash is stored. Each round is one pair (one item, two outputs, sides fixed), kept in
:class:`~arena.store.schema.LiveRound` so every audience member sees the same thing. Each audience
member who opens a round gets an impression of their own (with ``session_id``), recorded in
:class:`~arena.store.schema.LiveSeat`; opening the round again returns that same impression, and the
unique constraint on ``Vote.impression_id`` keeps it to one vote per person per round.

Votes are stored by :func:`arena.collect.voting.record_vote`, like every other vote. :func:`vote` (the
audience page's route) takes a vote only while its round is open: once the presenter reveals
the models (or closes the session, or starts the next round) a new vote on that round is
refused with 409, because the names are on screen by then; a retry of a vote stored in time
still gets its answer back. :func:`check_vote_open` is that check, for any path that takes votes.

States of a session (those of its current round): ``open`` (taking votes; also before the
first round, when there is nothing to vote on), ``revealed`` (models, latencies and the tally
shown), ``closed`` (over: the last round is revealed and nothing more can be done).
"""
from arena.collect.live.presenter import close, next_round, reveal
from arena.collect.live.rounds import (check_vote_open, presenter_state, state, tally, vote)
from arena.collect.live.sessions import (STATES, LiveError, NewSession, NoPairs, NotPresenter,
                                         RoundNotOpen, UnknownSession, check_presenter,
                                         create_session, get_session, join, join_path,
                                         normalize_code, present_path, public_base,
                                         seat_counts, seats_per_address, session_id, set_joining)

__all__ = ["LiveError", "NewSession", "NoPairs", "NotPresenter", "RoundNotOpen", "STATES",
           "UnknownSession", "check_presenter", "check_vote_open", "close", "create_session",
           "get_session", "join", "join_path", "next_round", "normalize_code", "present_path",
           "presenter_state", "public_base", "reveal", "seat_counts", "seats_per_address", "session_id",
           "set_joining", "state",
           "tally", "vote"]
