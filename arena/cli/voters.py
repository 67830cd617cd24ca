"""``arena voters``: every voter's vote count, flags with reasons, and reliability weight.

:func:`add_gate_options` and :func:`gate_settings` give ``rank`` and ``pareto`` the same
``--min-decisive`` and ``--alpha`` options for their ``--voters`` boards.
"""
from __future__ import annotations

from arena.cli import InputError
from arena.cli.output import add_format_option, emit


def add_gate_options(p) -> None:
    """``--min-decisive N`` (the per-voter gate) and ``--alpha A`` (the test level)."""
    p.add_argument("--alpha", type=float, default=0.05,
                   help="family-wise error rate of the voter checks over all voters and checks "
                        "(default 0.05)")
    p.add_argument("--min-decisive", type=int, default=20,
                   help="decisive votes a voter needs to be checked alone; identities under it "
                        "are checked in groups (by address, or by the model they favour) and "
                        "count 0.25 on the defended board (default 20)")


def gate_settings(args):
    """The voter checks' settings from ``--min-decisive`` and ``--alpha`` (exit 2 if bad)."""
    from arena.views.voters import voter_settings

    if not 0 < args.alpha < 1:
        raise InputError("--alpha must be between 0 and 1")
    if args.min_decisive < 1:
        raise InputError("--min-decisive must be at least 1")
    return voter_settings(min_decisive=args.min_decisive, alpha=args.alpha)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "voters", help="flag inconsistent voters and say why (voter quality)",
        description="Check every voter with at least --min-decisive decisive votes against the "
                    "crowd's consensus without that voter (person fit, Crowd-BT reliability, "
                    "left/right bias, favouritism for one model, selective voting, tie spam, "
                    "fast votes, planted repeats and gold pairs), with a Bonferroni correction "
                    "over voters; newer identities are checked in groups. Reads --votes FILE "
                    "(battle format with a judge column) or the database ($DATABASE_URL).")
    p.add_argument("--votes", metavar="FILE", help="vote file in the battle format (default: the database)")
    p.add_argument("--flagged", action="store_true", help="list flagged voters only")
    add_gate_options(p)
    add_format_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from scoring.voters import assess_voters

    from arena.views.voters import battle_voter_data, db_voter_data, report_json, table_rows

    settings = gate_settings(args)
    if args.votes:
        from arena.files.battles import read_battles

        data = battle_voter_data(read_battles(args.votes))
    else:
        from arena.store.db import get_engine

        data = db_voter_data(get_engine(), min_decisive=settings.min_decisive)
    report = assess_voters(data, settings)
    emit(report_json(report, flagged_only=args.flagged), args.format,
         table_rows(report, flagged_only=args.flagged),
         ("voter", "votes", "decisive", "flagged", "reliability", "weight", "reasons"))
    return 0
