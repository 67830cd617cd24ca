"""The hard kinds of voters for bench_voters.py: one crowd each, ours beside FastChat.

Riggers of the second-best model who show it in half their battles, subtle riggers who seek the
target in 30% of their votes (honest otherwise), a swarm of 20 sybil identities x 15 votes for a
weak model, and honest voters with a taste for the weakest model family
(:mod:`scoring.simulate` types ``rigger``, ``subtle_rigger``, ``sybil`` and ``taste``).
"""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from scoring.bradley_terry import fit_bradley_terry
from scoring.data import Comparisons
from scoring.simulate import simulate_crowd
from scoring.voters import VoterData, assess_voters


def kind_crowds(voters: int, seed: int) -> dict[str, tuple[str, dict]]:
    """The hard kinds, one crowd each: name -> (voter type to score, simulate_crowd options)."""
    votes = 50 * voters
    base = {"voters": voters, "votes": votes, "seed": seed}
    return {
        "top-model riggers": ("rigger", {**base, "rigged_rank": 1 / 7, "rigger_focus": 0.5,
                                         "mix": {"honest": 0.9, "noisy": 0.05, "rigger": 0.05}}),
        "subtle riggers (30% seek)": ("subtle_rigger", {
            **base, "mix": {"honest": 0.85, "noisy": 0.05, "subtle_rigger": 0.10}}),
        "sybils (20 ids x 15 votes)": ("sybil", {
            **base, "rigged_rank": 0.85, "mix": {"honest": (voters - 20) / voters,
                                                 "sybil": 20 / voters}}),
        "taste voters (weak family)": ("taste", {
            **base, "mix": {"honest": 0.80, "noisy": 0.05, "taste": 0.15}}),
    }


def family_moves(crowd, report) -> dict[str, tuple[float, float]]:
    """Per board: the largest move (points, over tasks) of the taste family's mean score from
    the all-votes board, and the smallest 95% half-width of that mean (sandwich by voter)."""
    from scoring.bradley_terry import SCALE
    from scoring.intervals import sandwich_cov

    fam = np.array(crowd.family)
    out, base = {}, None
    for mode in ("all", "exclude", "weighted", "defended"):
        w = report.weights(mode)
        scores, widths = [], []
        for t in range(len(crowd.tasks)):
            sel = crowd.task == t
            cube = Comparisons.from_counts(crowd.models, crowd.left[sel], crowd.right[sel],
                                           crowd.choice[sel], voter=crowd.voter[sel])
            cube = cube.reweighted(w[np.asarray(cube.voters)])
            fit = fit_bradley_terry(cube)
            cov = sandwich_cov(cube, fit)
            cov = cov[0] if isinstance(cov, tuple) else cov
            a = np.zeros(len(fit.index))
            a[np.searchsorted(fit.index, fam)] = 1 / len(fam)
            a -= a.mean()                                   # scores are centred
            k = len(a)
            scores.append(SCALE * fit.theta @ a)
            widths.append(1.96 * SCALE * float(np.sqrt(a @ cov[:k, :k] @ a)))
        scores = np.array(scores)
        base = scores if base is None else base
        out[mode] = (float(np.abs(scores - base).max()), float(min(widths)))
    return out


def kinds_section(voters: int, seed: int) -> None:
    """Print the share flagged per kind, ours / FastChat, and the taste family's moves."""
    from bench_voters import fastchat_outlier_detect, timed

    print(f"\nhard kinds, one crowd each ({voters:,} voters, {50 * voters:,} votes): share flagged, "
          "ours / fastchat outlier_detect")
    print(f"  {'crowd':28s} {'kind n (>=100)':>15s} {'all':>13s} {'>=100 votes':>13s} "
          f"{'honest FP':>13s} {'honest FP >=100':>15s} {'time':>6s}")
    for name, (kind, options) in kind_crowds(voters, seed).items():
        crowd = simulate_crowd(**options)
        types, n = crowd.types(), crowd.votes_per_voter()
        data = VoterData.from_votes(crowd.voter, crowd.left, crowd.right, crowd.choice,
                                    task=crowd.task, models=crowd.models,
                                    duration_ms=crowd.duration_ms)
        with threadpool_limits(1):
            (wall, _), report = timed(lambda: assess_voters(data), 1)
            fc = fastchat_outlier_detect(crowd)

        def share(flags, sel):
            return f"{flags[sel].mean():.3f}" if sel.any() else "  -  "

        sel, big = types == kind, (types == kind) & (n >= 100)
        honest, honest_big = types == "honest", (types == "honest") & (n >= 100)
        print(f"  {name:28s} {int(sel.sum()):7d} ({int(big.sum()):4d}) "
              f"{share(report.flagged, sel):>6s}/{share(fc, sel):<6s} "
              f"{share(report.flagged, big):>6s}/{share(fc, big):<6s} "
              f"{share(report.flagged, honest):>6s}/{share(fc, honest):<6s} "
              f"{share(report.flagged, honest_big):>7s}/{share(fc, honest_big):<7s} {wall:5.2f}s")
        if kind == "taste":
            moves = family_moves(crowd, report)
            print("    taste family (" + ", ".join(crowd.models[k] for k in crowd.family)
                  + ") moved from the all-votes board, points (95% half-width): "
                  + "; ".join(f"{mode} {mv:.1f} ({hw:.1f})" for mode, (mv, hw) in moves.items()
                              if mode != "all"))
