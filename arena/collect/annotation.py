"""Annotator queues: a fixed list of pairs for one annotator, worked through in order.

An organiser creates a queue with :func:`create_queue` (or ``arena queue``): the annotator is
registered as a voter of kind ``annotator`` and ``size`` impressions are issued up front through
the ordinary vote path (:func:`arena.collect.voting.issue_pair`), so the sampler's propensities, the
planted checks (:mod:`arena.collect.checks`) and the signed tokens are exactly those of any other
voter. Each impression becomes an :class:`~arena.store.schema.Assignment` with a position (0, 1, ...
continuing after any earlier queue of the same annotator) and status ``pending``.

The queue lives in the database, so an annotator resumes where they left off after a reload,
another browser or a server restart: :func:`next_item` is the pending assignment with the
lowest position. :func:`vote` records the vote with :func:`arena.collect.voting.record_vote` (one vote
per impression, a retry is harmless) and marks the assignment ``done``.

Skipping
--------
:func:`skip` marks an assignment ``skipped``. Skipped items do **not** come back on their own:
the queue is finished when nothing is pending, so an annotator is never shown an item again
that they chose not to judge. :func:`requeue_skipped` puts them back (status ``pending``,
same positions) when the annotator, or the organiser, wants a second look; the Annotate tab
offers it on its finished screen. A skipped impression simply has no vote: the pair was chosen
before anyone saw it, so leaving it out does not bias the ranking by the choice of pairs.

Planted checks in a queue
-------------------------
Gold pairs appear in every queue at the usual rate. A planted repeat shows again one of the
annotator's earlier *voted* pairs; since a queue is issued before any of it is voted, repeats
come from the annotator's earlier queues (a first queue has gold pairs only).
:func:`progress` reports the annotator's agreement on both kinds so far.

Every assignment belongs to one annotator: voting on or skipping another annotator's item is
refused, so several annotators work at once without taking each other's items.

Private links
-------------
The annotator id names a queue; it opens nothing. The Annotate tab opens a queue only with the
annotator's private token (:mod:`arena.collect.annotator_links`), which ``arena queue`` issues
with the first queue and prints once as the link ``BASE/?annotate=TOKEN``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from arena.collect import tokens
from arena.collect.annotator_links import link
from arena.collect.voting import ensure_voter, issue_pair, pair_view, record_vote
from arena.context import Arena
from arena.store.db import session, write_lock
from arena.store.schema import Assignment, Impression, Model, Task, Vote, Voter

STATUSES = ("pending", "done", "skipped")
ANNOTATOR_KIND = "annotator"
#: The most impressions one call may add to a queue.
MAX_QUEUE_SIZE = 10_000
#: The rule for every voter id (:func:`arena.collect.voting.ensure_voter`).
_ANNOTATOR_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class AnnotationError(Exception):
    """A queue request that cannot be served; ``status`` is the HTTP status to answer."""

    status = 400


class UnknownAnnotator(AnnotationError, LookupError):
    """No queue for this annotator id."""

    status = 404


class UnknownTask(AnnotationError, LookupError):
    """The task does not exist."""

    status = 404


class NotInQueue(AnnotationError, LookupError):
    """The assignment does not exist or belongs to another annotator."""

    status = 404


class AlreadyVoted(AnnotationError):
    """The assignment already has its vote (it cannot be skipped any more)."""

    status = 409


@dataclass(frozen=True)
class Progress:
    """Where an annotator stands, and their answers on the planted checks so far.

    ``gold_right`` of ``gold_decisive``: gold pairs answered with the real edit (ties and
    "both bad" are not decisive and not counted). ``repeat_same`` of ``repeat_pairs``: planted
    repeats answered as the first time (the same model preferred, or again no preference).
    """

    annotator: str
    total: int
    done: int
    skipped: int
    pending: int
    gold_right: int = 0
    gold_decisive: int = 0
    repeat_same: int = 0
    repeat_pairs: int = 0

    @property
    def finished(self) -> bool:
        return self.pending == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"finished": self.finished}


@dataclass(frozen=True)
class QueueItem:
    """The assignment to show: ``number`` of ``total`` (1-based) and the anonymous pair.

    ``pair`` has the fields :func:`arena.collect.voting.issue_pair` returns (no model names).
    """

    assignment_id: int
    number: int
    total: int
    pair: dict[str, Any]


@dataclass(frozen=True)
class QueueCreated:
    annotator: str
    task: str
    added: int
    first_number: int
    progress: Progress

    def as_dict(self) -> dict[str, Any]:
        return {"annotator": self.annotator, "task": self.task, "added": self.added,
                "first_number": self.first_number, "progress": self.progress.as_dict()}


def check_annotator_id(annotator: Any) -> str:
    """The id, stripped, if it is a valid voter id (8-64 letters, digits, '-' or '_')."""
    annotator = annotator.strip() if isinstance(annotator, str) else ""
    if not _ANNOTATOR_ID.match(annotator):
        raise AnnotationError("annotator id must be 8-64 letters, digits, '-' or '_'")
    return annotator


def queue_url(token: str, base_url: str = "http://127.0.0.1:7860") -> str:
    """The private page an annotator opens to work through their queue (their token's link)."""
    return link(token, base_url)


def _check_task(arena: Arena, task: str | None) -> None:
    with session(arena.engine) as s:
        known = sorted(s.scalars(select(Task.name)).all())
    if task is not None and task not in known:
        raise UnknownTask(f"unknown task {task!r}; known tasks: {', '.join(known) or 'none'}")
    ready = arena.sampler.tasks()
    if task is None and not ready:
        raise AnnotationError("no task has outputs from two models yet")
    if task is not None and task not in ready:
        arena.sampler.invalidate()
        if task not in arena.sampler.tasks():
            raise AnnotationError(f"task {task!r} has no item with outputs from two models yet")


def create_queue(arena: Arena, annotator: str, task: str | None = None, size: int = 50) -> QueueCreated:
    """Issue ``size`` impressions of ``task`` (``None`` or ``"any"``: any task) to the annotator
    and append them to their queue, in order.

    Registers ``annotator`` as a voter of kind ``annotator``; an id already used by a public
    or audience voter is refused. Raises :class:`UnknownTask` for a task that does not exist
    and :class:`AnnotationError` for a bad id or size, or a task with nothing to compare.
    """
    annotator = check_annotator_id(annotator)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_QUEUE_SIZE:
        raise AnnotationError(f"queue size must be between 1 and {MAX_QUEUE_SIZE}")
    task = None if task in (None, "", "any") else task
    _check_task(arena, task)
    with session(arena.engine) as s:
        voter = s.get(Voter, annotator)
    if voter is not None and voter.kind != ANNOTATOR_KIND:
        raise AnnotationError(f"{annotator!r} is already a {voter.kind} voter: choose another "
                              "id for the annotator")
    ensure_voter(arena, annotator, kind=ANNOTATOR_KIND)
    impressions = [issue_pair(arena, task, annotator, hold=False)["impression_id"] for _ in range(size)]
    table = Assignment.__table__
    for attempt in range(5):  # another queue for the same annotator may take the positions first
        try:
            with write_lock(arena.engine), arena.engine.begin() as conn:
                last = conn.execute(select(func.max(table.c.position))
                                    .where(table.c.voter_id == annotator)).scalar()
                start = 0 if last is None else last + 1
                conn.execute(insert(table), [
                    {"voter_id": annotator, "impression_id": imp, "position": start + k,
                     "status": "pending"} for k, imp in enumerate(impressions)])
            break
        except IntegrityError:
            if attempt == 4:
                raise
    return QueueCreated(annotator, task or "any", size, start + 1, progress(arena, annotator))


def _counts(conn, annotator: str) -> dict[str, int]:
    a = Assignment.__table__.c
    rows = conn.execute(select(a.status, func.count()).where(a.voter_id == annotator)
                        .group_by(a.status)).all()
    return {status: n for status, n in rows}


def _check_answers(conn, annotator: str) -> tuple[int, int, int, int]:
    """(gold right, gold decisive, repeats answered the same, repeats) for one voter."""
    vote = Vote.__table__
    left = Model.__table__.alias("left_model")
    golds = conn.execute(select(vote.c.choice, left.c.kind)
                         .join(left, left.c.id == vote.c.left_model_id)
                         .where(vote.c.voter_id == annotator, vote.c.check_kind == "gold")).all()
    decisive = [(choice, kind) for choice, kind in golds if choice in ("left", "right")]
    right = sum((choice == "right") == (kind == "baseline") for choice, kind in decisive)
    again, first = vote.alias("again"), vote.alias("first")
    shown = Impression.__table__.alias("shown")
    pairs = conn.execute(
        select(again.c.choice, again.c.left_model_id, again.c.right_model_id,
               first.c.choice, first.c.left_model_id, first.c.right_model_id)
        .select_from(again.join(shown, shown.c.id == again.c.impression_id)
                     .join(first, first.c.impression_id == shown.c.repeat_of))
        .where(again.c.voter_id == annotator, again.c.check_kind == "repeat")).all()

    def preferred(choice: str, left_model: int, right_model: int) -> int | None:
        return {"left": left_model, "right": right_model}.get(choice)

    same = sum(preferred(*row[:3]) == preferred(*row[3:]) for row in pairs)
    return right, len(decisive), same, len(pairs)


def progress(arena: Arena, annotator: str) -> Progress:
    """Done, skipped and pending counts, and the planted checks answered so far."""
    annotator = check_annotator_id(annotator)
    with arena.engine.connect() as conn:
        counts = _counts(conn, annotator)
        if not counts:
            raise UnknownAnnotator(f"no queue for annotator {annotator!r}: ask the organiser to "
                                   f"create one (arena queue --annotator {annotator})")
        checks = _check_answers(conn, annotator)
    return Progress(annotator, sum(counts.values()), counts.get("done", 0),
                    counts.get("skipped", 0), counts.get("pending", 0), *checks)


def next_item(arena: Arena, annotator: str) -> QueueItem | None:
    """The annotator's pending assignment with the lowest position, or ``None`` when finished.

    Calling it again without a vote or skip returns the same item (nothing new is issued).
    Raises :class:`UnknownAnnotator` when the annotator has no queue.
    """
    annotator = check_annotator_id(annotator)
    a = Assignment.__table__.c
    voted = exists().where(Vote.__table__.c.impression_id == a.impression_id)
    with arena.engine.connect() as conn:
        counts = _counts(conn, annotator)
        if not counts:
            raise UnknownAnnotator(f"no queue for annotator {annotator!r}: ask the organiser to "
                                   f"create one (arena queue --annotator {annotator})")
        stale = conn.execute(select(a.id).where(a.voter_id == annotator, a.status == "pending",
                                                voted)).scalars().all()
    if stale:  # voted but not marked (an interrupted vote): mark them now
        _set_status(arena, stale, "done")
    with session(arena.engine) as s:
        assignment = s.scalars(select(Assignment).where(Assignment.voter_id == annotator,
                                                        Assignment.status == "pending")
                               .order_by(Assignment.position).limit(1)).first()
        if assignment is None:
            return None
        imp = s.get(Impression, assignment.impression_id)
        pair = pair_view(arena, imp)
    return QueueItem(assignment.id, assignment.position + 1, sum(counts.values()), pair)


def _set_status(arena: Arena, ids: list[int], status: str, *, only_from: str | None = None) -> int:
    a = Assignment.__table__.c
    stmt = update(Assignment.__table__).where(a.id.in_(ids)).values(status=status)
    if only_from is not None:
        stmt = stmt.where(a.status == only_from)
    with write_lock(arena.engine), arena.engine.begin() as conn:
        return conn.execute(stmt).rowcount


def _own(arena: Arena, annotator: str, assignment_id: Any) -> Assignment:
    annotator = check_annotator_id(annotator)
    if isinstance(assignment_id, bool) or not isinstance(assignment_id, int):
        raise NotInQueue("assignment id must be an integer")
    with session(arena.engine) as s:
        assignment = s.get(Assignment, assignment_id)
    if assignment is None or assignment.voter_id != annotator:
        raise NotInQueue(f"assignment {assignment_id} is not in the queue of {annotator!r}")
    return assignment


def vote(arena: Arena, annotator: str, assignment_id: int, choice: str,
         duration_ms: float | None = None) -> tuple[dict[str, Any], bool]:
    """Record the annotator's vote on one of their assignments and mark it done.

    Returns ``(receipt, created)`` as :func:`arena.collect.voting.record_vote` does: voting again on
    the same assignment stores nothing and returns the first vote's receipt. A skipped
    assignment may still be voted on. Raises :class:`NotInQueue` for another annotator's
    assignment, and :class:`arena.collect.voting.InvalidVote` for a bad choice or duration.
    """
    assignment = _own(arena, annotator, assignment_id)
    with session(arena.engine) as s:
        imp = s.get(Impression, assignment.impression_id)
    token = tokens.sign(arena.secret, imp.id, imp.nonce)
    receipt, created = record_vote(arena, imp.id, token, choice, duration_ms)
    if assignment.status != "done":
        _set_status(arena, [assignment.id], "done")
    return receipt, created


def skip(arena: Arena, annotator: str, assignment_id: int) -> None:
    """Mark one of the annotator's pending assignments skipped (a skipped one stays skipped).

    Raises :class:`AlreadyVoted` when it has its vote, :class:`NotInQueue` when it is not the
    annotator's.
    """
    assignment = _own(arena, annotator, assignment_id)
    if assignment.status == "done":
        raise AlreadyVoted(f"assignment {assignment_id} already has its vote")
    _set_status(arena, [assignment.id], "skipped", only_from="pending")


def requeue_skipped(arena: Arena, annotator: str) -> int:
    """Put the annotator's skipped assignments back in the queue (at their positions);
    returns how many."""
    annotator = check_annotator_id(annotator)
    a = Assignment.__table__.c
    with write_lock(arena.engine), arena.engine.begin() as conn:
        return conn.execute(update(Assignment.__table__)
                            .where(and_(a.voter_id == annotator, a.status == "skipped"))
                            .values(status="pending")).rowcount
