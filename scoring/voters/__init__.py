"""Voter quality: flag inconsistent voters, say why, and keep them from bending the ranking.

Public API::

    from scoring.voters import VoterData, assess_voters
    data = VoterData.from_votes(judge, model_a, model_b, winner, task=task, duration_ms=ms)
    report = assess_voters(data)            # checks, Bonferroni over voters, reasons
    report.rows()                           # the `voters` JSON rows of DESIGN.md §3
    cube.reweighted(report.weights_for(cube.voters, "exclude"))   # refit without them

See :mod:`.report` for the decision rule, :mod:`.detectors`, :mod:`.favour` (rigging told
apart from taste), :mod:`.selective` and :mod:`.pooled` (new identities) for the checks.
"""
from .data import RETEST_CATEGORIES, VoterData
from .detectors import Check, cohen_kappa, jeffreys
from .report import MODES, Settings, VoterReport, assess_voters

__all__ = ["RETEST_CATEGORIES", "VoterData", "Check", "cohen_kappa", "jeffreys", "MODES",
           "Settings", "VoterReport", "assess_voters"]
