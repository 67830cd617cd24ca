"""``arena voters``: every voter's vote count, flags with reasons, and reliability weight."""
from __future__ import annotations

from arena.cli import InputError
from arena.cli.output import add_format_option, emit


def add_parser(sub) -> None:
    p = sub.add_parser(
        "voters", help="flag inconsistent voters and say why (voter quality)",
        description="Check every voter with at least 20 decisive votes against the crowd's "
                    "consensus (person fit, Crowd-BT reliability, left/right bias, favouritism "
                    "for one model, tie spam, fast votes, planted repeats and gold pairs), with "
                    "a Bonferroni correction over voters. Reads --votes FILE (battle format with "
                    "a judge column) or the database ($DATABASE_URL).")
    p.add_argument("--votes", metavar="FILE", help="vote file in the battle format (default: the database)")
    p.add_argument("--flagged", action="store_true", help="list flagged voters only")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="family-wise error rate over all voters and checks (default 0.05)")
    p.add_argument("--min-decisive", type=int, default=20,
                   help="decisive votes a voter needs to be checked (default 20)")
    add_format_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from arena.views.voters import (battle_voter_data, db_voter_data, report_json, table_rows,
                                    voter_report)

    if not 0 < args.alpha < 1:
        raise InputError("--alpha must be between 0 and 1")
    if args.min_decisive < 1:
        raise InputError("--min-decisive must be at least 1")
    if args.votes:
        from arena.files.battles import read_battles

        data = battle_voter_data(read_battles(args.votes))
    else:
        from arena.store.db import get_engine

        data = db_voter_data(get_engine())
    report = voter_report(data, alpha=args.alpha, min_decisive=args.min_decisive)
    emit(report_json(report, flagged_only=args.flagged), args.format,
         table_rows(report, flagged_only=args.flagged),
         ("voter", "votes", "decisive", "flagged", "reliability", "weight", "reasons"))
    return 0
