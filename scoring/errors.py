"""Named exceptions of the scoring engine.

Every error raised on bad input is a :class:`ScoringError` (a ``ValueError``), so callers such
as the CLI can turn any of them into a one-line message and exit code 2.
"""
from __future__ import annotations


class ScoringError(ValueError):
    """Input the scoring engine cannot rank: malformed columns, bad options, too little data."""


class EmptyDataError(ScoringError):
    """No votes, or fewer than two models with votes: there is nothing to rank."""


class UnknownOutcomeError(ScoringError):
    """A vote outcome (``winner`` or ``choice``) that is not one of the known labels."""

    def __init__(self, labels, known):
        self.labels = tuple(labels)
        shown = ", ".join(repr(x) for x in self.labels[:10])
        more = f" and {len(self.labels) - 10} more" if len(self.labels) > 10 else ""
        super().__init__(f"unknown outcome label(s) {shown}{more}; expected one of "
                         + ", ".join(repr(k) for k in known))


class ConvergenceError(ScoringError):
    """An estimator did not converge (for example a tie parameter at its boundary)."""
