"""``arena rank``: per-task and overall leaderboards from a vote file or the database.

With ``--votes FILE`` the votes stay in Arrow columns: Parquet is read column-wise with its
string columns dictionary-encoded (no Python object per vote), other formats through
:func:`arena.battles.read_battles`; the columns go straight to
:meth:`scoring.data.Comparisons.from_battles` (or :class:`scoring.data.Votes` for Elo, replayed
in ``tstamp`` order when the file has it, else in file order). This path imports no gradio,
torch, diffusers or sqlalchemy.
"""
from __future__ import annotations

from arena.cli import InputError
from arena.cli.output import add_format_option, emit

COLUMNS = ("task", "rank", "model", "score", "ci_low", "ci_high", "votes", "provisional")
STRING_COLUMNS = ("model_a", "model_b", "winner", "judge", "task", "category")


def add_parser(sub) -> None:
    p = sub.add_parser("rank", help="rank models per task (Bradley-Terry with 95%% intervals)",
                       description="Rank models per task and overall. Reads --votes FILE (battle "
                                   "format: json, jsonl, csv, parquet) or the database ($DATABASE_URL).")
    p.add_argument("--votes", metavar="FILE", help="vote file in the battle format (default: the database)")
    p.add_argument("--task", action="append", metavar="TASK", help="only this task (repeatable; 'overall' too)")
    p.add_argument("--metric", metavar="NAME",
                   help="rank by the mean of a stored automatic metric instead of votes (see `arena metrics`)")
    p.add_argument("--method", choices=("bt", "elo"), default="bt",
                   help="bt: Bradley-Terry (default); elo: online Elo ticker, needs --votes (vote order)")
    p.add_argument("--ties", choices=("half", "davidson", "rao-kupper"), default="half",
                   help="Bradley-Terry tie model (default half: a tie is half a win each)")
    p.add_argument("--intervals", choices=("sandwich", "hessian", "bootstrap", "none"), default=None,
                   help="interval method (default: sandwich clustered by voter for bt, none for elo)")
    p.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--voters", choices=("all", "exclude", "weighted"), default="all",
                   help="all votes (default); exclude flagged voters; or also weigh the rest by "
                        "reliability (see `arena voters`); rows then show rank_all and rank_change")
    add_format_option(p)
    p.set_defaults(run=run)


def read_vote_table(path: str, ordered: bool = False):
    """The battle columns of a vote file as an Arrow table (``category`` renamed ``task``)."""
    import pyarrow as pa

    from arena.battles import BattleFileError, REQUIRED, detect_format, read_battles

    if detect_format(path) == "parquet" and _is_file(path):
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
            wanted = [c for c in (*STRING_COLUMNS, *(("tstamp",) if ordered else ())) if c in names]
            # batch by batch, strings as dictionaries: a fraction of read_table's time and memory
            reader = pq.ParquetFile(path, memory_map=True,
                                    read_dictionary=[c for c in wanted if c in STRING_COLUMNS])
            batches = list(reader.iter_batches(batch_size=1 << 18, columns=wanted, use_threads=False))
            table = pa.Table.from_batches(batches) if batches \
                else reader.schema_arrow.empty_table().select(wanted)
        except (pa.ArrowException, OSError) as exc:
            raise BattleFileError(f"{path}: not a readable parquet vote file ({exc})") from None
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise BattleFileError(f"{path}: missing column(s) {', '.join(missing)}")
    else:
        cols = read_battles(path)
        table = pa.table({k: v for k, v in cols.items()})
    if "task" not in table.column_names and "category" in table.column_names:
        table = table.rename_columns(["task" if c == "category" else c for c in table.column_names])
    if ordered and "tstamp" in table.column_names:
        table = table.sort_by("tstamp")
    return table


def _is_file(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_file()


def vote_cubes(table, tasks: list[str] | None, ordered: bool = False) -> dict:
    """``{task: Comparisons}`` (or ``Votes`` when ``ordered``): overall, then each task."""
    from arena.battles import BattleFileError
    from arena.leaderboard import OVERALL
    from scoring.data import Comparisons, Votes
    from scoring.errors import UnknownOutcomeError

    build = Votes.from_battles if ordered else Comparisons.from_battles

    def cube(t):
        voter = t["judge"] if "judge" in t.column_names else None
        try:
            return build(t["model_a"], t["model_b"], t["winner"], voter=voter)
        except UnknownOutcomeError as exc:
            raise BattleFileError("unknown winner label(s) " + ", ".join(map(repr, exc.labels[:5]))
                                  + "; expected one of model_a, model_b, tie, tie (bothbad)") from None

    task_col = None
    if "task" in table.column_names:
        import pyarrow.compute as pc    # only when there are tasks to split (about 70 ms)

        task_col = table["task"].cast("string")
    present = sorted(x for x in pc.unique(task_col).to_pylist() if x) if task_col is not None else []
    wanted = present if tasks is None else [t for t in tasks if t != OVERALL]
    cubes = {}
    if tasks is None or OVERALL in tasks:
        cubes[OVERALL] = cube(table)
    for task in wanted:
        keep = pc.equal(task_col, task) if task_col is not None else [False] * table.num_rows
        cubes[task] = cube(table.filter(keep))
    return cubes


def run(args) -> int:
    if args.metric:
        from arena.cli.metrics import run_rank_by_metric

        return run_rank_by_metric(args)
    from arena.leaderboard import leaderboards

    ordered = args.method == "elo"
    if args.rounds < 2:
        raise InputError("--rounds must be at least 2")
    if ordered and args.intervals in ("sandwich", "hessian"):
        raise InputError(f"--intervals {args.intervals} needs a likelihood: use bootstrap or none with --method elo")
    if ordered and args.voters != "all":
        raise InputError("--voters exclude or weighted needs --method bt")
    if args.votes:
        cubes = vote_cubes(read_vote_table(args.votes, ordered), args.task, ordered)
    elif ordered:
        raise InputError("--method elo needs --votes FILE: Elo depends on the order of the votes")
    else:
        from arena.aggregate import db_cubes
        from arena.db import get_engine

        cubes = db_cubes(get_engine(), args.task)
    options = {"method": args.method, "ties": args.ties, "intervals": args.intervals,
               "rounds": args.rounds, "seed": args.seed}
    if args.voters != "all":
        from arena.db import get_engine
        from arena.voter_quality import voter_leaderboards

        result = voter_leaderboards(args.voters, path=args.votes, cubes=cubes if args.votes else None,
                                    engine=None if args.votes else get_engine(), tasks=args.task,
                                    **options)
    else:
        result = leaderboards(cubes, **options)
    rows = [{"task": b["task"], **r} for b in result["leaderboards"] for r in b["rows"]]
    emit(result, args.format, rows, COLUMNS + (("rank_all", "rank_change") if args.voters != "all" else ()))
    return 0
