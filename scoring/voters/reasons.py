"""The sentences a person reads about a flagged voter, one per check that flagged it."""
from __future__ import annotations

import numpy as np

from ..errors import ScoringError
from .data import VoterData
from .detectors import Check
from .favour import sought_reason
from .pooled import reason as pooled_reason
from .selective import reason as selective_reason


def _fmt_z(z: float) -> str:
    return f"z = {z:+.1f}" if abs(z) < 100 else f"z = {z:+.0f}"


def reason(check: Check, k: int, data: VoterData) -> str:
    d, z = check.detail, float(check.z[k])
    if check.name == "side":
        n, left = int(round(d["n"][k])), int(round(d["left"][k]))
        side, count = ("left", left) if check.effect[k] > 0 else ("right", n - left)
        expected = d["expected"][k] if side == "left" else n - d["expected"][k]
        return (f"picked the {side} image {count} times out of {n} decisive votes, where about "
                f"{expected:.0f} were expected ({_fmt_z(z)})")
    if check.name == "person_fit":
        return (f"went against the crowd's favourite in {int(round(d['against'][k]))} of "
                f"{int(round(d['n'][k]))} decisive votes, where about {d['expected'][k]:.0f} "
                f"were expected (person-fit {_fmt_z(z)})")
    if check.name == "reliability":
        return (f"Crowd-BT reliability {check.effect[k]:.2f} (1 follows the crowd, 0.5 is "
                f"random, 0 inverts it) over {int(round(d['n'][k]))} decisive votes "
                f"(likelihood-ratio {_fmt_z(z)})")
    if check.name == "favouritism":
        model = data.models[int(d["model"][k])]
        verb = "picked" if check.effect[k] > 0 else "picked against"
        wins, shown = int(round(d["wins"][k])), int(round(d["shown"][k]))
        if check.effect[k] > 0:
            return (f"picked {model} in {wins} of {shown} decisive votes where it was shown, "
                    f"where about {d['expected'][k]:.0f} were expected ({_fmt_z(z)})")
        return (f"{verb} {model}: it won only {wins} of {shown} decisive votes where it was "
                f"shown, where about {d['expected'][k]:.0f} were expected ({_fmt_z(z)})")
    if check.name == "ties":
        return (f"answered tie or both bad on {int(round(d['ties'][k]))} of "
                f"{int(round(d['n'][k]))} votes, where the crowd would on about "
                f"{d['expected'][k]:.0f} of the same pairs ({_fmt_z(z)})")
    if check.name == "speed":
        return (f"voted in under {data.fast_ms / 1000:g} s on {int(d['fast'][k])} of "
                f"{int(d['n'][k])} timed votes ({_fmt_z(z)})")
    if check.name == "retest":
        kappa = d["kappa"][k]
        kap = f", Cohen's kappa {kappa:.2f}" if np.isfinite(kappa) else ""
        return (f"gave the same answer to only {int(d['agree'][k])} of {int(d['n'][k])} "
                f"repeated pairs shown with the sides swapped{kap} ({_fmt_z(z)})")
    if check.name == "gold":
        n, c = int(d["n"][k]), int(d["correct"][k])
        return (f"chose the unedited image over a clean edit in {n - c} of {n} gold pairs "
                f"(accuracy {100 * c / n:.0f}%, 95% interval {100 * d['low'][k]:.0f}-"
                f"{100 * d['high'][k]:.0f}%; {_fmt_z(z)})")
    if check.name == "selective":
        return selective_reason(check, k, data, _fmt_z)
    if check.name == "sought":
        return sought_reason(check, k, data, _fmt_z)
    if check.name == "pooled":
        return pooled_reason(check, k, data)
    raise ScoringError(f"unknown check {check.name}")  # pragma: no cover
