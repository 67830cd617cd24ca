"""Voter quality: run every check, correct for the number of voters, flag with reasons, weigh.

:func:`assess_voters` fits the consensus (from the tested voters, each voter judged against
the fit without its own votes: :mod:`.consensus`), runs the checks of :mod:`.detectors`,
:mod:`.favour` and :mod:`.selective` for every voter with enough votes, and flags a voter
when a check is both significant after a Bonferroni correction over voters and checks
(family-wise ``alpha``) and large enough to matter (each check's floor). Identities under the
gate are tested in groups that favour the same model (:mod:`.pooled`, its own family at
``alpha``). The consensus is then refitted without the flagged voters and the checks run
again, until the flags stop changing (at most ``max_rounds``): a rigging campaign that has
already bent the consensus is judged against a clean one.

The result, :class:`VoterReport`, has one entry per voter: votes, flags with reasons a person
can read, Crowd-BT reliability, and the weight to refit leaderboards with
(:meth:`VoterReport.weights`: ``"all"`` 1 for everyone, ``"exclude"`` 0 for flagged voters,
``"weighted"`` 0 for flagged voters and for the rest the Crowd-BT reliability mapped linearly
from 0 at 1/2 (random) to 1 at ``Settings.weight_full`` (0.8) and above: an honest voter with
a taste for a model family disagrees with the crowd on that family's pairs, and weighting it
by ``2 * reliability - 1`` would move the family it honestly likes; ``"defended"``, the
default board, 0 for flagged voters and :data:`PROVISIONAL_WEIGHT` for identities below the
decisive-vote gate, which no check can test yet).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.special import ndtri
from threadpoolctl import threadpool_limits

from ..errors import ScoringError
from . import detectors as det
from .consensus import fit_consensus
from .data import VoterData
from .favour import favouritism, seeking_z, sought_favour
from .pooled import pooled_favouritism
from .reasons import reason as _reason
from .selective import selective

MODES = ("all", "exclude", "weighted", "defended")
#: Weight of an identity too new to be checked (under the decisive-vote gate) on the
#: ``defended`` board: a swarm of fresh identities cannot outweigh checked voters.
PROVISIONAL_WEIGHT = 0.25


@dataclass(frozen=True)
class Settings:
    """Thresholds of the checks (defaults of DESIGN.md §4).

    ``alpha`` is the family-wise error rate over all voters and checks (Bonferroni);
    ``min_decisive`` gates the model-based checks, ``min_votes`` the tie and speed checks.
    Floors are the smallest departures worth a flag: a share of decisive votes for
    ``side_floor``; for ``favour_floor`` the share of the wins still possible that one model
    got when shown (:mod:`.favour`; ``favour_forced``, ``seek_z`` and ``family_z`` tell a
    rigger from a voter with a taste for a model family); a reliability
    (1 follows the consensus, 0.5 is random) for ``misfit_floor`` and
    ``reliability_floor``; a share of all votes for ``tie_floor``; the share of votes faster
    than ``fast_ms`` for ``speed_floor`` (tested against ``speed_p0``); the agreement share of
    planted repeats and the accuracy on gold pairs for ``retest_floor`` and ``gold_floor``
    (tested against ``retest_p0`` and ``gold_p0``). ``use_durations=False`` leaves the speed
    check out even when durations are known. Identities under ``min_decisive`` are pooled by
    the model they favour (:mod:`.pooled`): each needs a p-value of at most ``pool_p``, and a
    group at least ``min_group`` members. ``weight_full`` is the reliability from which a voter
    counts fully on the ``weighted`` board.
    """

    alpha: float = 0.05
    min_decisive: int = 20
    min_votes: int = 20
    max_rounds: int = 2
    misfit_floor: float = 0.60
    reliability_floor: float = 0.60
    side_floor: float = 0.15
    favour_floor: float = 0.40
    favour_min_votes: int = 5
    favour_forced: float = 0.8
    seek_z: float = 3.0
    family_z: float = 2.0
    tie_floor: float = 0.20
    speed_p0: float = 0.10
    speed_floor: float = 0.30
    retest_p0: float = 0.60
    retest_floor: float = 0.40
    min_retests: int = 5
    gold_p0: float = 0.80
    gold_floor: float = 0.60
    min_gold: int = 5
    use_durations: bool = True
    selective_floor: float = 0.30
    min_shown: int = 20
    min_unvoted: int = 5
    pool_p: float = 1e-4
    min_group: int = 3
    weight_full: float = 0.8

    def validate(self) -> None:
        if not 0 < self.alpha < 1:
            raise ScoringError("alpha must be between 0 and 1")
        if self.min_decisive < 1 or self.min_votes < 1:
            raise ScoringError("min_decisive and min_votes must be at least 1")


@dataclass(frozen=True, eq=False)
class VoterReport:
    """Voter quality for every voter (arrays aligned with ``voters``) and a crowd summary.

    ``flagged`` voters have at least one entry in ``reasons``; ``checks`` names the checks
    behind each reason. ``reliability`` is the Crowd-BT ``eta`` (NaN for voters below the
    gate). ``stats`` holds each check's statistic and effect per voter
    (``"<check>_z"``, ``"<check>_effect"``).
    """

    voters: tuple
    votes: np.ndarray
    decisive: np.ndarray
    tested: np.ndarray
    flagged: np.ndarray
    reasons: tuple
    checks: tuple
    reliability: np.ndarray
    stats: dict
    summary: dict
    settings: Settings
    consensus_theta: np.ndarray = field(repr=False, default=None)
    #: Identities assessed under another label (a pool of new identities from one address).
    aliases: dict = field(repr=False, default_factory=dict)

    def weights(self, mode: str = "exclude") -> np.ndarray:
        """Refit weight per voter for ``mode`` in :data:`MODES`."""
        if mode not in MODES:
            raise ScoringError(f"unknown voter mode {mode!r}; expected one of {', '.join(MODES)}")
        w = np.ones(len(self.voters))
        if mode == "all":
            return w
        w[self.flagged] = 0.0
        if mode == "defended":
            w[(self.decisive < self.settings.min_decisive) & ~self.flagged] = PROVISIONAL_WEIGHT
        if mode == "weighted":
            full = self.settings.weight_full
            share = (self.reliability - 0.5) / max(full - 0.5, 1e-9)
            rel = np.where(np.isfinite(self.reliability), np.clip(share, 0, 1), 1.0)
            w = np.where(self.flagged, 0.0, rel)
        return w

    def weights_for(self, labels, mode: str = "exclude") -> np.ndarray:
        """Weights aligned with other voter ``labels`` (voters not in the report get 1)."""
        w = self.weights(mode)
        index = {v: k for k, v in enumerate(self.voters)}
        alias = self.aliases.get
        return np.array([w[index[alias(x, x)]] if alias(x, x) in index else 1.0 for x in labels])

    def rows(self, *, flagged_only: bool = False) -> list[dict]:
        """One JSON-ready dict per voter, flagged voters first, then by votes.

        ``weight`` is the voter's weight in the reliability-weighted refit; the other keys
        are the counts, the flags with their reasons and each check's statistic.
        """
        order = np.lexsort((np.arange(len(self.voters)), -self.votes, ~self.flagged))
        weight = self.weights("weighted")
        out = []
        for k in order:
            if flagged_only and not self.flagged[k]:
                continue
            voter = self.voters[k]
            row = {"voter": voter.item() if hasattr(voter, "item") else voter, "votes": int(self.votes[k]),
                   "decisive": int(self.decisive[k]), "flagged": bool(self.flagged[k]),
                   "reasons": list(self.reasons[k]), "checks": list(self.checks[k]),
                   "reliability": _num(self.reliability[k]), "weight": _num(weight[k]),
                   "tested": bool(self.tested[k])}
            row.update({name: _num(col[k]) for name, col in self.stats.items()})
            out.append(row)
        return out


def _num(x):
    if x is None or isinstance(x, str):
        return x
    if isinstance(x, (np.integer,)):
        return int(x)
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def consensus_weight(data: VoterData, flagged: np.ndarray, s: Settings) -> np.ndarray:
    """Who the consensus is fitted from: no flagged voter, and none of the identities under the
    gate (the pool of new identities) while the tested voters hold most decisive votes."""
    decisive = data.decisive()
    keep = ~flagged
    tested = keep & (decisive >= s.min_decisive)
    if decisive[tested].sum() >= 0.5 * decisive[keep].sum():
        keep = tested
    return keep.astype(float)


def _run_checks(data: VoterData, weight, s: Settings):
    cons = fit_consensus(data, weight)
    rows = det.DecisiveRows.build(data, cons, s.min_decisive)
    fit = det.person_fit(data, rows, s.misfit_floor)
    rel = det.crowd_reliability(data, rows, s.reliability_floor)
    side = det.side_bias(data, rows, s.side_floor)
    habit = ((np.nan_to_num(np.abs(side.effect)) >= s.side_floor / 2)
             & (np.nan_to_num(np.abs(side.z)) >= 3))            # an established side habit
    shift = det.side_shift(rows, data.n_voters, habit)
    # The specific checks come first: their reasons say the most about what a voter did.
    seek = seeking_z(data, weight > 0)
    fav = favouritism(data, rows, s.favour_floor, s.favour_min_votes,
                      eta=rel.detail["without_model"], shift=shift, seek=seek,
                      forced=s.favour_forced, seek_z=s.seek_z, family_z=s.family_z)
    checks = [fav, sought_favour(fav, seek, s.favour_floor, seek_z=s.seek_z),
              side,
              det.tie_spam(data, cons, s.tie_floor, s.min_votes),
              det.speed(data, s.speed_p0, s.speed_floor, s.min_votes) if s.use_durations else None,
              det.gold(data, s.gold_p0, s.gold_floor, s.min_gold),
              det.retest(data, s.retest_p0, s.retest_floor, s.min_retests),
              selective(data, s.selective_floor, s.min_shown, s.min_unvoted),
              fit, rel,
              pooled_favouritism(data, cons, s.min_decisive, s.alpha, s.pool_p, s.min_group)]
    return cons, [c for c in checks if c is not None]


def _decide(checks, n_voters, s: Settings):
    """Bonferroni over the tested voters and the checks that ran; the pooled check of new
    identities decides its own flags (its family is the groups it tested)."""
    own = [c for c in checks if "hits" in c.detail]
    tested = np.zeros(n_voters, bool)
    for c in checks:
        if c not in own:
            tested |= c.tested
    n_tested = max(int(tested.sum()), 1)
    n_checks = max(sum(bool(c.tested.any()) for c in checks if c not in own), 1)
    per_test = s.alpha / (n_tested * n_checks)
    hits = []
    for c in checks:
        if c in own:
            hits.append(np.asarray(c.detail["hits"], bool))
            continue
        with np.errstate(invalid="ignore"):
            hit = (c.p * np.maximum(c.tests, 1) <= per_test) & c.large
        hits.append(np.nan_to_num(hit, nan=0).astype(bool))
    return tested, per_test, hits


def assess_voters(data: VoterData, settings: Settings | None = None, **overrides) -> VoterReport:
    """Flag inconsistent voters, say why, and give each a refit weight.

    Parameters
    ----------
    data : VoterData
        Votes of every task with voter labels (and, optionally, durations and planted checks).
    settings : Settings, optional
        Thresholds; keyword ``overrides`` replace single fields (``alpha=0.01``).

    Returns
    -------
    VoterReport
    """
    s = settings or Settings()
    if overrides:
        s = Settings(**{**asdict(s), **overrides})
    s.validate()
    if data.n_voters == 0 or len(data.voter) == 0:
        raise ScoringError("no votes with a voter id to assess")
    v = data.n_voters
    flagged = np.zeros(v, bool)
    weight = consensus_weight(data, flagged, s)
    rounds = 0
    with threadpool_limits(1):
        for rounds in range(1, s.max_rounds + 1):
            cons, checks = _run_checks(data, weight, s)
            tested, per_test, hits = _decide(checks, v, s)
            new = np.any(hits, axis=0)
            if rounds > 1 and np.array_equal(new, flagged):
                break
            flagged = new
            weight = consensus_weight(data, flagged, s)
    reasons, names = [()] * v, [()] * v
    for k in np.flatnonzero(flagged):
        reasons[k] = tuple(_reason(c, k, data) for c, h in zip(checks, hits) if h[k])
        names[k] = tuple(c.name for c, h in zip(checks, hits) if h[k])
    by_name = {c.name: c for c in checks}
    stats = {}
    for c in checks:
        stats[f"{c.name}_z"] = c.z
    stats["left_share"] = by_name["side"].detail["left"] / np.maximum(by_name["side"].detail["n"], 1)
    stats["left_share"] = np.where(by_name["side"].tested, stats["left_share"], np.nan)
    stats["tie_share"] = np.where(by_name["ties"].tested, by_name["ties"].detail["ties"]
                                  / np.maximum(by_name["ties"].detail["n"], 1), np.nan)
    if "speed" in by_name:
        stats["fast_share"] = by_name["speed"].effect
    if "retest" in by_name:
        r = by_name["retest"]
        stats["retest_pairs"] = r.detail["n"]
        stats["retest_agreement"] = np.where(r.detail["n"] > 0, r.detail["agree"]
                                             / np.maximum(r.detail["n"], 1), np.nan)
        stats["retest_kappa"] = r.detail["kappa"]
    if "gold" in by_name:
        g = by_name["gold"]
        stats["gold_pairs"] = g.detail["n"]
        stats["gold_accuracy"] = np.where(g.detail["n"] > 0, g.detail["correct"]
                                          / np.maximum(g.detail["n"], 1), np.nan)
        stats["gold_low"], stats["gold_high"] = g.detail["low"], g.detail["high"]
    summary = _summary(data, checks, hits, tested, flagged, per_test, rounds, s)
    fav = by_name["favouritism"]
    favoured = np.array([data.models[int(m)] for m in fav.detail["model"]], dtype=object)
    stats["favoured_model"] = np.where(fav.tested, favoured, None)
    if "selective" in by_name:
        sel = by_name["selective"]
        sought = np.array([data.models[int(m)] for m in sel.detail["model"]], dtype=object)
        stats["sought_model"] = np.where(sel.tested, sought, None)
    return VoterReport(tuple(data.voters), data.votes(), data.decisive(), tested, flagged,
                       tuple(reasons), tuple(names), by_name["reliability"].effect, stats,
                       summary, s, cons.theta, dict(data.aliases or {}))


def _summary(data, checks, hits, tested, flagged, per_test, rounds, s) -> dict:
    out = {"voters": int(data.n_voters), "tested": int(tested.sum()),
           "flagged": int(flagged.sum()), "alpha": s.alpha, "per_test_alpha": per_test,
           "z_threshold": float(-ndtri(per_test)), "rounds": rounds,
           "checks": [c.name for c in checks if c.tested.any() and "hits" not in c.detail],
           "flagged_by": {c.name: int(h.sum()) for c, h in zip(checks, hits)},
           "votes": int(round(float(data.counts.sum()))),
           "flagged_votes": int(round(float(data.votes()[flagged].sum())))}
    pooled = next((c for c in checks if c.name == "pooled"), None)
    if pooled is not None:
        d = pooled.detail
        groups = sorted({int(m) for m in d["model"][d["hits"]]})
        out["pooled"] = {"new_identities": d["young"], "flagged": int(d["hits"].sum()),
                         "pool_p": s.pool_p,
                         "groups": [{"model": data.models[m],
                                     "members": int(d["group"][d["hits"] & (d["model"] == m)][0]),
                                     "expected": float(d["group_expected"][d["hits"] & (d["model"] == m)][0])}
                                    for m in groups]}
    if data.retest is not None:
        table = data.retest.sum(axis=0)
        n = float(table.sum())
        out["retest"] = {"pairs": int(n),
                         "agreement": float(np.trace(table) / n) if n else None,
                         "kappa": _num(det.cohen_kappa(table))}
    if data.gold is not None:
        c, w, u = data.gold.sum(axis=0)
        low, high = det.jeffreys(np.array([c]), np.array([c + w]))
        out["gold"] = {"pairs": int(c + w + u), "decisive": int(c + w),
                       "accuracy": float(c / (c + w)) if c + w else None,
                       "low": _num(low[0]), "high": _num(high[0])}
    return out
