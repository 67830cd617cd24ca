"""Selective voting: a voter who votes when one model is on screen and skips (or lets expire)
the pairs without it.

Each voter's shown pairs are split by whether they showed model ``m``; if the voter's choice to
vote does not depend on the models (as for an honest voter, who cannot see them), the number
of voted pairs showing ``m`` is hypergeometric given the totals (Fisher's exact conditional
test of a 2x2 table; Agresti 2002, *Categorical Data Analysis*, §3.5). The statistic is the
standardised count with a continuity correction, one test per model the voter was shown; the
effect is the difference of the two vote rates, so a voter who skips at random, or skips hard
pairs whatever the models, is not flagged.
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .data import VoterData
from .detectors import Check, _mask


def selective(data: VoterData, floor: float, min_shown: int, min_unvoted: int) -> Check | None:
    """Per voter: the model whose pairs the voter voted on far more often than the others.

    Needs ``data.exposure`` (shown and voted pairs per voter and model). Voters are tested with
    at least ``min_shown`` pairs shown of which at least ``min_unvoted`` were not voted on.
    """
    if data.exposure is None:
        return None
    shown_m, voted_m = data.exposure[..., 0], data.exposure[..., 1]    # (v, m)
    total, voted = data.exposure_totals[:, 0], data.exposure_totals[:, 1]
    n, k = total[:, None], voted[:, None]
    rest = n - shown_m
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = shown_m * k / n
        var = shown_m * rest * k * (n - k) / (n * n * np.maximum(n - 1, 1))
        z = (np.abs(voted_m - mean) - 0.5) * np.sign(voted_m - mean) / np.sqrt(var)
        effect = voted_m / shown_m - (k - voted_m) / rest
    ok = (shown_m > 0) & (rest > 0) & (var > 0)
    z = np.where(ok, z, np.nan)
    effect = np.where(ok, effect, np.nan)
    score = np.where(np.isfinite(z), z, -np.inf)
    best = np.argmax(score, axis=1)
    pick = np.arange(data.n_voters), best
    gate = (total >= min_shown) & (total - voted >= min_unvoted) & ok.any(axis=1)
    zb = _mask(z[pick], gate)
    eb = _mask(effect[pick], gate)
    tests = ok.sum(axis=1).astype(float)
    detail = {"model": best, "shown": shown_m[pick], "voted": voted_m[pick],
              "rest_shown": rest[pick], "rest_voted": (k[:, 0] - voted_m[pick])}
    return Check("selective", zb, ndtr(-zb), eb, np.nan_to_num(eb) >= floor, tests, detail)


def reason(check: Check, k: int, data: VoterData, fmt_z) -> str:
    """What a person reads about a selective voter."""
    d = check.detail
    model = data.models[int(d["model"][k])]
    return (f"voted on {int(d['voted'][k])} of {int(d['shown'][k])} pairs that showed {model} "
            f"but on only {int(d['rest_voted'][k])} of {int(d['rest_shown'][k])} pairs without "
            f"it, skipping the rest ({fmt_z(float(check.z[k]))})")
