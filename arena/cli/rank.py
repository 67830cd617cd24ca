"""``arena rank``: per-task and overall leaderboards from a vote file or the database."""
from __future__ import annotations

from arena.cli.output import add_format_option, emit

COLUMNS = ("task", "rank", "model", "score", "ci_low", "ci_high", "votes", "provisional")


def add_parser(sub) -> None:
    p = sub.add_parser("rank", help="rank models per task (Bradley-Terry with 95%% intervals)",
                       description="Rank models per task and overall. Reads --votes FILE (battle "
                                   "format: json, jsonl, csv, parquet) or the database ($DATABASE_URL).")
    p.add_argument("--votes", metavar="FILE", help="vote file in the battle format (default: the database)")
    p.add_argument("--task", action="append", metavar="TASK", help="only this task (repeatable; 'overall' too)")
    add_format_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from arena.leaderboard import battle_cubes, leaderboards

    if args.votes:
        from arena.battles import read_battles

        cubes = battle_cubes(read_battles(args.votes), args.task)
    else:
        from arena.aggregate import db_cubes
        from arena.db import get_engine

        cubes = db_cubes(get_engine(), args.task)
    result = leaderboards(cubes)
    rows = [{"task": b["task"], **r} for b in result["leaderboards"] for r in b["rows"]]
    emit(result, args.format, rows, COLUMNS)
    return 0
