"""``arena export``: stored votes in the battle format (json, jsonl, csv, parquet)."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export votes in the battle format")
    p.add_argument("output", metavar="FILE", help="file to write; the format follows the extension")
    p.add_argument("--format", dest="file_format", choices=("json", "jsonl", "csv", "parquet"),
                   help="file format (default: from the extension)")
    p.add_argument("--task", action="append", metavar="TASK", help="only this task (repeatable)")
    p.set_defaults(run=run)


def run(args) -> int:
    from arena.files.battles import detect_format
    from arena.files.export import export_votes
    from arena.store.db import get_engine

    fmt = detect_format(args.output, args.file_format)
    n = export_votes(get_engine(), args.output, fmt, tasks=args.task)
    print(f"wrote {n} votes to {args.output}")
    return 0
