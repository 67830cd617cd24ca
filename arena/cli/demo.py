"""``arena demo``: build the bundled demo set (scenes, classical editors' outputs, latencies)."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="build the bundled demo set into the database")
    p.add_argument("--per-task", type=int, default=12, help="items per task (default 12)")
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    p.add_argument("--force", action="store_true", help="build even if the database already holds items")
    p.set_defaults(run=run)


def run(args) -> int:
    from arena.cli import InputError
    from arena.context import Arena
    from arena.demo.build import build_demo

    if args.per_task < 1:
        raise InputError("--per-task must be at least 1")
    summary = build_demo(Arena.open(), per_task=args.per_task, seed=args.seed, force=args.force)
    print(summary.describe())
    return 0
