"""Planted checks: an earlier pair shown again with the sides swapped, and gold pairs.

About one impression in :data:`REPEAT_RATE` (1/30) of a voter repeats one of that voter's
earlier, already-voted impressions with left and right swapped (test-retest agreement and
Cohen's kappa); about one in :data:`GOLD_RATE` (1/30) is a gold pair: the no-edit baseline
(a model of kind ``baseline``) against a real edit of an item that has a reference image,
where the right answer is the edit. A check looks like any other pair to the voter.

Which impressions are checks is decided by an HMAC of the voter id and the voter's step (the
number of impressions it has had, or on the vote path the id of its latest one), keyed with a
key derived from the arena's secret for this purpose only: reproducible for a given database,
and not predictable from the open source code or from anything a client sees.

How check votes count
---------------------
* Repeats count for voter quality only. The judgement was already counted once, so the
  ranking cube leaves them out (:func:`arena.views.cubes.count_rows`).
* Gold votes count for voter quality **and** for the ranking. Each is a genuine, single
  judgement of the baseline against a model; which pair is shown does not depend on the
  answer, so Bradley-Terry stays unbiased. They add comparisons with the baseline only.

A check's ``propensity`` is the probability of that presentation under the check planner
(the check rate, times one over the number of candidates, times one half for the sides).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, exists, func, select
from sqlalchemy.engine import Engine

from arena.collect.mac import hmac_sha256
from arena.collect.sampling import PairChoice
from arena.store.schema import Impression, Item, Model, Output, Vote

REPEAT_RATE = 1 / 30
GOLD_RATE = 1 / 30
#: Never repeat one of the voter's last few impressions: the voter would remember it.
MIN_GAP = 3
#: How far back a repeat may reach (most recent voted impressions of the voter).
LOOKBACK = 200
BASELINE_KIND = "baseline"


@dataclass(frozen=True)
class CheckChoice(PairChoice):
    """A pair chosen as a planted check: ``check_kind`` is ``"repeat"`` or ``"gold"``."""

    check_kind: str = "none"
    repeat_of: int | None = None


def _uniform(secret: bytes, voter_id: str, n: int, salt: str) -> float:
    digest = hmac_sha256(secret, f"{salt}:{voter_id}:{n}".encode())
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def plan_check(engine: Engine, voter_id: str | None, task: str | None = None, *,
               secret: bytes | None = None, repeat_rate: float = REPEAT_RATE,
               gold_rate: float = GOLD_RATE, step: int | None = None) -> CheckChoice | None:
    """A planted check for this voter's next impression, or ``None`` for an ordinary pair.

    ``task`` limits the check to one task (``None``, ``""`` or ``"any"``: any task). Anonymous
    impressions (no voter) never get checks. Returns ``None`` as well when a check is due but
    nothing qualifies (no earlier vote to repeat, no gold pair in the task). ``step`` names
    the voter's position in the schedule (any number that changes with each impression of the
    voter, e.g. the id of its latest one); by default, its count of impressions.
    """
    if not voter_id:
        return None
    if secret is None:
        from arena.collect.tokens import load_secret

        secret = load_secret(engine)
    task = None if task in (None, "", "any") else task
    if step is not None:
        u = _uniform(secret, voter_id, step, "check")
        if u >= repeat_rate + gold_rate:        # most pairs: no query at all
            return None
    with engine.connect() as conn:
        if step is None:
            step = conn.execute(select(func.count()).select_from(Impression)
                                .where(Impression.voter_id == voter_id)).scalar_one()
        u = _uniform(secret, voter_id, step, "check")
        pick = _uniform(secret, voter_id, step, "pick")
        if u < repeat_rate:
            return _repeat(conn, voter_id, task, pick, repeat_rate)
        if u < repeat_rate + gold_rate:
            return _gold(conn, task, pick, gold_rate)
    return None


def _repeat_query(by_task: bool):
    imp = Impression.__table__.c
    again = Impression.__table__.alias("again")
    query = (select(imp.id, imp.task, imp.item_id, imp.left_output_id, imp.right_output_id,
                    imp.left_model_id, imp.right_model_id)
             .join(Vote.__table__, Vote.__table__.c.impression_id == imp.id)
             .where(imp.voter_id == bindparam("voter"), imp.check_kind == "none",
                    ~exists().where(again.c.repeat_of == imp.id))
             .order_by(imp.id.desc()).limit(LOOKBACK))
    return query.where(imp.task == bindparam("task")) if by_task else query


#: Built once (any task, one task), so their compiled forms come from SQLAlchemy's cache.
_REPEATS = {False: _repeat_query(False), True: _repeat_query(True)}
_IC = Impression.__table__.c
_RECENT = select(_IC.id).where(_IC.voter_id == bindparam("voter")).order_by(_IC.id.desc()).limit(MIN_GAP)


def _repeat(conn, voter_id: str, task: str | None, pick: float, rate: float) -> CheckChoice | None:
    """One of the voter's earlier voted ordinary impressions, not yet repeated, sides swapped."""
    rows = conn.execute(_REPEATS[task is not None], {"voter": voter_id, "task": task}).all()
    recent = set(conn.execute(_RECENT, {"voter": voter_id}).scalars())
    rows = [r for r in rows if r.id not in recent]
    if not rows:
        return None
    r = rows[min(int(pick * len(rows)), len(rows) - 1)]
    return CheckChoice(task=r.task, item_id=r.item_id, left_output_id=r.right_output_id,
                       right_output_id=r.left_output_id, left_model_id=r.right_model_id,
                       right_model_id=r.left_model_id, sampler="check-repeat",
                       propensity=rate / len(rows), check_kind="repeat", repeat_of=r.id)


def gold_candidates(task: str | None = None):
    """The query of gold pairs: (item, task, baseline output/model, edit output/model).

    An item qualifies when it has a reference image and an output of a ``baseline`` model;
    the edit is any other model's output on it whose image differs from the baseline's.
    """
    base = Output.__table__.alias("base")
    edit = Output.__table__.alias("edit")
    bm = Model.__table__.alias("bm")
    em = Model.__table__.alias("em")
    item = Item.__table__.c
    query = (select(item.id.label("item_id"), item.task, base.c.id.label("base_output"),
                    base.c.model_id.label("base_model"), edit.c.id.label("edit_output"),
                    edit.c.model_id.label("edit_model"))
             .select_from(Item.__table__
                          .join(base, base.c.item_id == item.id)
                          .join(bm, and_(bm.c.id == base.c.model_id, bm.c.kind == BASELINE_KIND))
                          .join(edit, edit.c.item_id == item.id)
                          .join(em, and_(em.c.id == edit.c.model_id, em.c.kind != BASELINE_KIND)))
             .where(item.reference_path.is_not(None),
                    edit.c.content_hash != base.c.content_hash))
    if task is not None:
        query = query.where(item.task == task)
    return query


#: Gold pairs per (database, task), with the catalogue's newest ids they were read at.
_GOLD: dict[tuple[str, str | None], tuple[tuple, list]] = {}
_GOLD_LOCK = threading.Lock()
_NEWEST = select(select(func.max(Item.id)).scalar_subquery(),
                 select(func.max(Output.id)).scalar_subquery(),
                 select(func.max(Model.id)).scalar_subquery())


def _gold_pairs(conn, task: str | None) -> list:
    """The gold candidates of ``task`` in a fixed order, read again only when an item, output
    or model has been added since (catalogue rows are never changed in place)."""
    newest = tuple(conn.execute(_NEWEST).one())
    key = (str(conn.engine.url), task)
    known = _GOLD.get(key)
    if known is not None and known[0] == newest:
        return known[1]
    query = gold_candidates(task).subquery()
    rows = conn.execute(select(query).order_by(query.c.item_id, query.c.edit_output)).all()
    with _GOLD_LOCK:
        if len(_GOLD) > 1000:
            _GOLD.clear()
        _GOLD[key] = (newest, rows)
    return rows


def _gold(conn, task: str | None, pick: float, rate: float) -> CheckChoice | None:
    rows = _gold_pairs(conn, task)
    total = len(rows)
    if not total:
        return None
    k = min(int(pick * total), total - 1)
    r = rows[k]
    # the sides from the fractional part of the same draw, independent of the pair index
    base_left = (pick * total - k) < 0.5
    lo, lm, ro, rm = ((r.base_output, r.base_model, r.edit_output, r.edit_model) if base_left
                      else (r.edit_output, r.edit_model, r.base_output, r.base_model))
    return CheckChoice(task=r.task, item_id=r.item_id, left_output_id=lo, right_output_id=ro,
                       left_model_id=lm, right_model_id=rm, sampler="check-gold",
                       propensity=rate / total / 2, check_kind="gold")
