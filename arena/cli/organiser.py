"""``arena organiser``: print the organiser key (Voters tab, starting live sessions)."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "organiser", help="print the organiser key (Voters tab, starting live sessions)",
        description="Print the organiser key: $ARENA_ORGANISER_KEY if set, else the key kept in "
                    "the database named by $DATABASE_URL (made on first use). The Voters tab "
                    "shows voter ids, flags and votes only to whoever enters it, and only they "
                    "can start a live session.")
    p.set_defaults(run=run)


def run(args) -> int:
    from arena.context import Arena
    from arena.store.organiser import organiser_key

    print(organiser_key(Arena.open().engine))
    return 0
