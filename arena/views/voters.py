"""Voter quality from the database or a vote file, and leaderboards refitted without bad voters.

The database is read with SQL aggregates only: the vote cube (``GROUP BY task, voter, left,
right, choice``, planted repeats included), per-voter counts of timed and fast votes, the
planted repeats joined to the votes they repeat (``GROUP BY voter, first answer, repeated
answer, swapped``) and the gold votes (``GROUP BY voter, answer, kind of the left model``).
The numbers come from :mod:`scoring.voters`.

Leaderboards come in three flavours (:data:`scoring.voters.MODES`): ``all`` votes,
``exclude`` (flagged voters' votes dropped) and ``weighted`` (flagged voters dropped, the rest
weighted by their Crowd-BT reliability); :func:`voter_leaderboards` adds to each row where the
model stood with all votes, so moves are visible.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import numpy as np
from sqlalchemy import case, func, or_, select
from sqlalchemy.engine import Engine

from arena.collect.checks import BASELINE_KIND
from arena.store.catalog import model_names
from arena.store.schema import Impression, Model, Vote, Voter, utcnow
from arena.views.cubes import count_rows, cubes_from_rows
from arena.views.leaderboard import OVERALL, battle_cubes
from scoring.data import Comparisons
from scoring.errors import ScoringError
from scoring.voters import MODES, Settings, VoterData, VoterReport, assess_voters
from scoring.voters.report import PROVISIONAL_WEIGHT

#: A vote faster than this (ms) counts as too fast to have compared two edits.
FAST_MS = 1500.0
#: The per-voter gate of decisive votes (scoring.voters.Settings.min_decisive).
MIN_DECISIVE = Settings().min_decisive
TABLE_COLUMNS = ("voter", "votes", "decisive", "flagged", "reliability", "weight", "reasons")


class NoVotersError(ScoringError):
    """Votes without voter ids: voter quality needs to know who cast each vote."""


# -- reading ----------------------------------------------------------------------------------
def pool_aliases(engine: Engine, rows: Mapping[str, np.ndarray], gate: int = MIN_DECISIVE
                 ) -> dict[str, str]:
    """Identities under the decisive-vote gate, pooled by the keyed hash of the address they
    were issued to: voter id -> ``pool:<hash>`` for every pool of two or more (DESIGN.md §4), so
    a swarm of short-lived ids from one client is tested as one voter."""
    decisive = np.isin(rows["choice"], ("left", "right"))
    voters, inverse = np.unique(rows["voter"].astype(str), return_inverse=True)
    per_voter = np.bincount(inverse, rows["count"] * decisive, len(voters))
    young = {str(x) for x, n in zip(voters, per_voter) if x and n < gate}
    if not young:
        return {}
    with engine.connect() as conn:
        hashes = conn.execute(select(Voter.id, Voter.address_hash)
                              .where(Voter.address_hash.is_not(None))).all()
    pools: dict[str, list[str]] = {}
    for voter, address in hashes:
        if voter in young:
            pools.setdefault(address, []).append(voter)
    return {v: f"pool:{address[:12]}" for address, members in pools.items() if len(members) > 1
            for v in members}


def db_voter_data(engine: Engine, *, fast_ms: float = FAST_MS, pool: bool = True,
                  min_decisive: int = MIN_DECISIVE) -> VoterData:
    """Everything voter quality needs from the database, aggregated in SQL.

    With ``pool``, identities under the ``min_decisive`` gate are pooled by client address
    (:func:`pool_aliases`); the report names the pool, and its weights apply to every member.
    The identities still under the gate are then pooled by behaviour in the report
    (:mod:`scoring.voters.pooled`).
    """
    rows = count_rows(engine, include_repeats=True)
    known = rows["voter"] != ""
    if not known.any():
        raise NoVotersError("no votes with a voter id in the database")
    aliases = pool_aliases(engine, rows, min_decisive) if pool else {}
    alias = np.vectorize(lambda x: aliases.get(x, x), otypes=[object]) if aliases else None
    label = (lambda col: alias(np.asarray(col, dtype=object))) if alias else (lambda col: col)
    names = model_names(engine)
    ids = np.array(sorted(names), dtype=np.int64)
    models = tuple(names[i] for i in ids)
    data = VoterData.from_rows(label(rows["voter"][known]), np.searchsorted(ids, rows["left"][known]),
                               np.searchsorted(ids, rows["right"][known]), rows["choice"][known],
                               rows["count"][known], task=rows["task"][known], models=models)
    data = replace(data, aliases=aliases)
    v = Vote.__table__.c
    with engine.connect() as conn:
        timing = conn.execute(
            select(v.voter_id, func.count(v.duration_ms),
                   func.sum(case((v.duration_ms < fast_ms, 1), else_=0)))
            .where(v.voter_id.is_not(None)).group_by(v.voter_id)).all()
        retests = conn.execute(_retest_query()).all()
        golds = conn.execute(_gold_query()).all()
        shown = conn.execute(_exposure_query()).all()
    if aliases:
        timing = [(aliases.get(r[0], r[0]), *r[1:]) for r in timing]
        retests = [(aliases.get(r[0], r[0]), *r[1:]) for r in retests]
        golds = [(aliases.get(r[0], r[0]), *r[1:]) for r in golds]
        shown = [(aliases.get(r[0], r[0]), *r[1:]) for r in shown]
    index = {x: k for k, x in enumerate(data.voters)}
    timed = np.zeros(data.n_voters, np.int64)
    fast = np.zeros(data.n_voters, np.int64)
    for voter, n_timed, n_fast in timing:
        if voter in index:
            k = index[voter]
            timed[k], fast[k] = timed[k] + n_timed, fast[k] + (n_fast or 0)
    data = data.with_durations(timed, fast, fast_ms)
    if shown:
        voter, left, right, voted, count = map(list, zip(*shown))
        data = data.with_exposure(voter, np.searchsorted(ids, left), np.searchsorted(ids, right),
                                  np.array(voted, dtype=bool), count)
    retests = [r for r in retests if r[0] in index]
    if retests:
        voter, first, again, swapped, count = map(list, zip(*retests))
        data = data.with_retests(voter, np.array(first, dtype=object), np.array(again, dtype=object),
                                 np.array(swapped, dtype=bool), count)
    else:
        data = data.with_retests([], np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    golds = [g for g in golds if g[0] in index]
    if golds:
        voter, choice, left_kind, count = map(list, zip(*golds))
        data = data.with_gold(voter, np.array(choice, dtype=object),
                              np.array([k == BASELINE_KIND for k in left_kind]), count)
    else:
        data = data.with_gold([], np.array([], dtype=np.int64), np.array([], dtype=bool))
    return data


def _exposure_query():
    """Pairs shown in the public arena that ended (voted, skipped or expired), per voter and
    pair of models: (voter, left model, right model, voted, count)."""
    i = Impression.__table__.c
    v = Vote.__table__.c
    voted = v.id.is_not(None).label("voted")
    return (select(i.voter_id, i.left_model_id, i.right_model_id, voted, func.count())
            .select_from(Impression.__table__.outerjoin(Vote.__table__, v.impression_id == i.id))
            .where(i.voter_id.is_not(None), i.session_id.is_(None), i.expires_at.is_not(None),
                   or_(v.id.is_not(None), i.ended.in_(("skipped", "expired")),
                       i.expires_at < utcnow()))
            .group_by(i.voter_id, i.left_model_id, i.right_model_id, voted))


def _retest_query():
    again = Vote.__table__.alias("again")
    first = Vote.__table__.alias("first")
    shown = Impression.__table__.alias("shown")
    swapped = (again.c.left_model_id != first.c.left_model_id).label("swapped")
    return (select(again.c.voter_id, first.c.choice, again.c.choice, swapped, func.count())
            .select_from(again.join(shown, shown.c.id == again.c.impression_id)
                         .join(first, first.c.impression_id == shown.c.repeat_of))
            .where(again.c.check_kind == "repeat", again.c.voter_id.is_not(None))
            .group_by(again.c.voter_id, first.c.choice, again.c.choice, swapped))


def _gold_query():
    v = Vote.__table__
    left = Model.__table__.alias("left_model")
    return (select(v.c.voter_id, v.c.choice, left.c.kind, func.count())
            .select_from(v.join(left, left.c.id == v.c.left_model_id))
            .where(v.c.check_kind == "gold", v.c.voter_id.is_not(None))
            .group_by(v.c.voter_id, v.c.choice, left.c.kind))


def battle_voter_data(cols: Mapping[str, np.ndarray], *, fast_ms: float = FAST_MS) -> VoterData:
    """Voter quality input from battle-format columns (``judge`` names the voter)."""
    if "judge" not in cols:
        raise NoVotersError("the vote file has no judge column: voter quality needs voter ids")
    judge = np.asarray(cols["judge"], dtype=object)
    known = judge != ""
    if not known.any():
        raise NoVotersError("no vote in the file has a judge (voter id)")
    sub = {k: np.asarray(c)[known] for k, c in cols.items()}
    duration = sub.get("duration_ms")
    return VoterData.from_votes(sub["judge"], sub["model_a"], sub["model_b"], sub["winner"],
                                task=sub.get("task"), duration_ms=duration, fast_ms=fast_ms)


# -- the report -------------------------------------------------------------------------------
def voter_settings(min_decisive: int | None = None, alpha: float | None = None) -> Settings:
    """The checks' settings with the decisive-vote gate and the family-wise test level set
    (``None`` keeps the default); what ``rank``, ``pareto`` and ``voters`` pass on."""
    fields = {k: v for k, v in (("min_decisive", min_decisive), ("alpha", alpha)) if v is not None}
    s = Settings(**fields)
    s.validate()
    return s


def voter_report(data: VoterData, **settings: Any) -> VoterReport:
    """Assess every voter (see :func:`scoring.voters.assess_voters`)."""
    return assess_voters(data, Settings(**settings) if settings else None)


def report_json(report: VoterReport, *, flagged_only: bool = False) -> dict[str, Any]:
    """The ``voters`` JSON of DESIGN.md §3, with a crowd summary."""
    return {"voters": report.rows(flagged_only=flagged_only), "summary": report.summary}


def table_rows(report: VoterReport, *, flagged_only: bool = False) -> list[dict[str, Any]]:
    """Rows for CSV or a text table (reasons joined)."""
    return [{c: r[c] for c in TABLE_COLUMNS} for r in report.rows(flagged_only=flagged_only)]


# -- leaderboards without bad voters ------------------------------------------------------------
def db_ranking_cubes(engine: Engine, tasks: list[str] | None = None) \
        -> tuple[dict[str, Comparisons], tuple[str, ...]]:
    """The ranking cubes (repeats left out) and the voter labels their voter codes index."""
    rows = count_rows(engine)
    labels = tuple(np.unique(rows["voter"].astype(str)).tolist())
    return cubes_from_rows(rows, model_names(engine), tasks), labels


def reweight(cubes: Mapping[str, Comparisons], report: VoterReport, mode: str,
             labels: tuple | None = None) -> dict[str, Comparisons]:
    """Each cube with its voters' weights for ``mode`` applied (votes without a voter id
    keep weight 1). ``labels`` names the voters when the cubes' voters are codes into it."""
    if mode not in MODES:
        raise ScoringError(f"unknown voter mode {mode!r}; expected one of {', '.join(MODES)}")
    out = {}
    for task, cube in cubes.items():
        if cube.voter is None or (cube.voters is None and labels is None):
            raise NoVotersError("these votes carry no voter ids: cannot exclude or weigh voters")
        if labels is None:
            names = cube.voters
        elif cube.voters is None:
            names = labels
        else:                        # database cubes: their voter labels are codes into labels
            names = [labels[int(i)] for i in cube.voters]
        weights = report.weights_for([str(x) for x in names], mode)
        weights[[str(x) == "" for x in names]] = 1.0
        out[task] = cube.reweighted(weights) if mode != "all" else cube
    return out


def compare_boards(base: dict[str, Any], adjusted: dict[str, Any]) -> dict[str, Any]:
    """``adjusted`` with, per row, the rank and score the model had in ``base``; ``votes``
    stay the votes cast (those of ``base``), ``effective_votes`` are what the fit counted
    once voters were weighted."""
    before = {b["task"]: {r["model"]: r for r in b["rows"]} for b in base["leaderboards"]}
    cast = {b["task"]: b["votes"] for b in base["leaderboards"]}
    for board in adjusted["leaderboards"]:
        old = before.get(board["task"], {})
        board["effective_votes"], board["votes"] = board["votes"], cast.get(board["task"], board["votes"])
        for row in board["rows"]:
            prev = old.get(row["model"])
            if prev is not None and "votes" in row:
                row["effective_votes"], row["votes"] = row["votes"], prev["votes"]
            row["rank_all"] = prev["rank"] if prev else None
            row["score_all"] = prev["score"] if prev else None
            row["rank_change"] = (prev["rank"] - row["rank"]) if prev else None
    return adjusted


def _report_and_cubes(path, engine, tasks, report, cubes, settings):
    """The voter report (unless given) and the ranking cubes with their voter labels."""
    s = settings or Settings()
    if path is not None:
        from arena.files.battles import read_battles

        cols = read_battles(path)
        if report is None:
            report = assess_voters(battle_voter_data(cols), s)
        if cubes is None or any(c.voters is None for c in cubes.values()):
            cubes = battle_cubes(cols, tasks)
        return report, cubes, None
    if engine is None:
        raise ScoringError("weighing voters needs a vote file or a database engine")
    if report is None:
        report = assess_voters(db_voter_data(engine, min_decisive=s.min_decisive), s)
    cubes, labels = db_ranking_cubes(engine, tasks)
    return report, cubes, labels


def voter_cubes(mode: str, *, path: str | None = None, engine: Engine | None = None,
                tasks: list[str] | None = None, cubes: Mapping[str, Comparisons] | None = None,
                settings: Settings | None = None) -> tuple[dict[str, Comparisons], dict[str, Any]]:
    """The ranking cubes with voters weighted by ``mode`` (for ``pareto --voters``), from a
    vote file or the database, and the summary of what was set aside (as in the ``rank``
    JSON's ``voters``). ``settings`` carries the gate and the test level
    (:func:`voter_settings`)."""
    report, cubes, labels = _report_and_cubes(path, engine, tasks, None, cubes, settings)
    out = dict(cubes) if mode == "all" else reweight(cubes, report, mode, labels)
    return out, voters_summary(report, mode)


def voters_summary(report: VoterReport, mode: str) -> dict[str, Any]:
    """How many voters and votes ``mode`` left out or counted as provisional."""
    weights = report.weights(mode)
    provisional = (weights > 0) & (weights < 1) if mode == "defended" else np.zeros(len(weights), bool)
    pooled = report.summary.get("pooled") or {}
    return {"mode": mode, "flagged": int(report.flagged.sum()),
            "excluded_votes": int(round(float(report.votes[weights == 0].sum()))),
            "provisional": int(provisional.sum()),
            "provisional_votes": int(round(float(report.votes[provisional].sum()))),
            "provisional_weight": PROVISIONAL_WEIGHT if mode == "defended" else None,
            "pooled_identities": len(report.aliases),
            "pooled_flagged": int(pooled.get("flagged", 0)),
            "min_decisive": report.settings.min_decisive, "alpha": report.settings.alpha,
            "voters": int(len(report.voters))}


def voter_leaderboards(mode: str, *, path: str | None = None, engine: Engine | None = None,
                       tasks: list[str] | None = None, report: VoterReport | None = None,
                       cubes: Mapping[str, Comparisons] | None = None,
                       settings: Settings | None = None, **options: Any) -> dict[str, Any]:
    """The ``rank`` JSON refitted with voters weighted by ``mode``, from a vote file (``path``)
    or the database (``engine``); each row also carries ``rank_all``, ``score_all`` and
    ``rank_change`` (positive: the model moved up once bad voters were set aside).

    ``cubes`` (with a vote file) are the file's ranking cubes when already built; they must
    carry voter labels. ``settings`` (:func:`voter_settings`) sets the decisive-vote gate and
    the test level of the checks when ``report`` is not given.
    """
    from arena.views.leaderboard import leaderboards

    if options.get("method", "bt") != "bt":
        raise ScoringError("excluding or weighing voters needs the Bradley-Terry method (bt)")
    report, cubes, labels = _report_and_cubes(path, engine, tasks, report, cubes, settings)
    base = leaderboards(cubes, **options)
    if mode == "all":
        result = compare_boards(base, leaderboards(cubes, **options))
    else:
        result = compare_boards(base, leaderboards(reweight(cubes, report, mode, labels), **options))
    result["voters"] = voters_summary(report, mode)
    if mode == "defended":
        result["note"] = defended_note(result["voters"])
    return result


def defended_note(summary: Mapping[str, Any]) -> str:
    """What the default board did with the votes, in a sentence or two."""
    left_out = (f"{summary['flagged']} flagged voter(s) are left out ({summary['excluded_votes']} "
                "votes)" if summary["flagged"] else "No voter is flagged")
    young = (f"; {summary['provisional']} identities too new to be checked count "
             f"{summary['provisional_weight']:g} each ({summary['provisional_votes']} votes)"
             if summary["provisional"] else "")
    pooled = (f"; {summary['pooled_identities']} new identities from shared addresses are "
              "checked together" if summary["pooled_identities"] else "")
    if summary.get("pooled_flagged"):
        pooled += (f"; {summary['pooled_flagged']} new identities are left out as groups that "
                   "push one model")
    return f"{left_out}{young}{pooled}. All votes: voters=all."


# -- the organiser's view ---------------------------------------------------------------------
def voter_votes(engine: Engine, voter: str, limit: int = 200) -> list[dict[str, Any]]:
    """One voter's most recent votes (for a person to read, not for any statistic)."""
    names = model_names(engine)
    v = Vote.__table__.c
    with engine.connect() as conn:
        rows = conn.execute(select(v.created_at, v.task, v.left_model_id, v.right_model_id,
                                   v.choice, v.duration_ms, v.check_kind)
                            .where(v.voter_id == voter).order_by(v.id.desc()).limit(limit)).all()
    return [{"when": r[0].isoformat(timespec="seconds") if r[0] else "", "task": r[1],
             "left": names.get(r[2], str(r[2])), "right": names.get(r[3], str(r[3])),
             "choice": r[4], "seconds": None if r[5] is None else round(r[5] / 1000, 1),
             "check": r[6]} for r in rows]


def rank_moves(result: dict[str, Any], task: str = OVERALL) -> list[dict[str, Any]]:
    """Rows of one task of :func:`voter_leaderboards`: model, ranks and scores before/after."""
    for board in result["leaderboards"]:
        if board["task"] == task:
            return [{"model": r["model"], "rank_all": r["rank_all"], "rank": r["rank"],
                     "rank_change": r["rank_change"], "score_all": r["score_all"],
                     "score": r["score"]} for r in board["rows"]]
    return []


def voters_overview(engine: Engine, mode: str = "exclude", task: str = OVERALL) -> dict[str, Any]:
    """What the organiser's Voters tab shows: the crowd summary, the flagged voters with their
    reasons, and how one task's ranks move when they are set aside (``mode``)."""
    try:
        data = db_voter_data(engine)
    except NoVotersError as exc:
        return {"summary": None, "flagged": [], "moves": [], "note": str(exc)}
    report = assess_voters(data)
    result = voter_leaderboards(mode, engine=engine, tasks=[task], report=report)
    return {"summary": report.summary, "flagged": report.rows(flagged_only=True),
            "moves": rank_moves(result, task), "note": ""}
