"""``arena rank``: per-task and overall leaderboards from a vote file or the database.

With ``--votes FILE`` the votes stay in Arrow columns (:func:`arena.files.battles.read_battle_table`)
and go straight to :meth:`scoring.data.Comparisons.from_battles` (or :class:`scoring.data.Votes`
for Elo, replayed in ``tstamp`` order when the file has it, else in file order). This path
imports no gradio, torch, diffusers or sqlalchemy.
"""
from __future__ import annotations

import os
from typing import Callable

from arena.cli import InputError
from arena.cli.output import add_format_option, emit
from arena.cli.voters import add_gate_options, gate_settings

COLUMNS = ("task", "rank", "model", "score", "ci_low", "ci_high", "votes", "provisional")


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
    p.add_argument("--resample", choices=("voters", "votes"), default="voters",
                   help="what the bootstrap resamples: voters (default; the clusters, with the "
                        "sandwich's small-sample correction) or votes")
    p.add_argument("--position-bias", choices=("fit", "none"), default="fit",
                   help="fit the left/right advantage h and report it (default), or none: h = 0, "
                        "the conventional Bradley-Terry fit of choix, evalica and FastChat")
    p.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--voters", choices=("all", "exclude", "weighted", "defended"), default="all",
                   help="all votes (default); exclude flagged voters; also weigh the rest by "
                        "reliability; or the defended board (flagged voters out, identities under "
                        "the gate at a quarter; see `arena voters`); rows then show rank_all and "
                        "rank_change")
    p.add_argument("--campaign", metavar="NAME",
                   help="rank from one annotation campaign's labels alone, intervals clustered by "
                        "annotator however few (see `arena campaign`)")
    add_gate_options(p)
    add_format_option(p)
    p.set_defaults(run=run)


def reuse_freed_memory() -> bool:
    """Have glibc serve every allocation from its heap and keep freed memory for reuse, in
    ordinary pages.

    Ranking a large file makes many short-lived arrays of tens of MB; by default glibc maps
    each one afresh and unmaps it when freed, so every page is faulted in (and zeroed) again,
    which on a virtual machine costs more than the arithmetic (about a second of system time
    on 1.7M votes). One arena for all threads keeps the fit threads on that heap. numpy asks
    for transparent huge pages on large arrays; on a busy machine finding one means compacting
    memory, which cost more (0.9 s of system time against 0.4 s on 1.7M votes) than the faults
    it saves. A batch command's choice; elsewhere (not glibc) nothing changes (returns False).
    Imports only ctypes until the heap is set (numpy comes after: see :func:`_warm_for`).
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    for option, value in ((-8, 1), (-4, 0), (-1, 2 ** 31 - 1), (-2, 64 << 20)):
        mallopt(option, value)      # M_ARENA_MAX, M_MMAP_MAX, M_TRIM_THRESHOLD, M_TOP_PAD
    return True


def arrow_on_the_heap() -> None:
    """pyarrow's buffers (the vote file as read) from glibc's heap too, instead of its own
    allocator (mimalloc or jemalloc), so that they land on the pages warmed already and their
    memory is reused once freed: 1.7M votes peaked at 510-525 MiB instead of 590."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def no_huge_pages() -> None:
    """numpy's large arrays in ordinary pages (see :func:`reuse_freed_memory`)."""
    import numpy as np

    try:
        np._core.multiarray._set_madvise_hugepage(False)
    except AttributeError:
        pass


#: Heap bytes touched ahead per byte of a large Parquet vote file, before its footer is read
#: (a file of 12 bytes a vote needs about 200 a vote), and per vote once it is read (about 250
#: bytes a vote are used at the peak of ranking 1.7M votes in 5 tasks).
WARM_BYTES_PER_FILE_BYTE, WARM_BYTES_PER_VOTE = 16, 200
#: The warming zeroes this much at a time, and stops early once told the real need.
WARM_CHUNK = 16 << 20


def warm_heap(nbytes: int) -> Callable[[int], None]:
    """Fault up to ``nbytes`` of heap in on a thread of its own: malloc, zero, free. Returns
    ``cap(n)``, which stops the warming at ``n`` bytes (once the real need is known).

    After :func:`reuse_freed_memory` a freed block stays in the heap, so the arrays made later
    land on pages already faulted in. The page faults (their cost is the kernel zeroing each
    page) then happen while the main thread is still importing and reading the file, on a core
    that is otherwise idle then, instead of in the middle of building the cubes (1.7M votes:
    about 100k faults, 0.25 s of system time). The C calls release the GIL.
    """
    import ctypes
    import threading

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
    libc.free.argtypes = (ctypes.c_void_p,)
    limit = [nbytes]

    def warm():
        block = libc.malloc(nbytes)
        if block:
            done = 0
            while done < min(nbytes, limit[0]):
                step = min(WARM_CHUNK, nbytes - done)
                libc.memset(block + done, 0, step)
                done += step
            libc.free(block)

    threading.Thread(target=warm, name="warm-heap", daemon=True).start()
    return lambda n: limit.__setitem__(0, n)


def _warm_for(path: str) -> Callable[[int], None] | None:
    """:func:`warm_heap` for ranking a Parquet vote file of 1 MB or more (about 100,000
    votes), at most an eighth of the machine's memory; returns its ``cap``.

    Sized first from the file's length, so the warming starts before numpy and pyarrow are
    imported (about 0.15 s, on one core) rather than after; :func:`_cap_warming` then caps it
    at what the file's rows need (a file with other wide columns is not a file of more votes).
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PAR1":
                return None
            size = os.fstat(fh.fileno()).st_size
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):   # reading the file reports its problems
        return None
    if size < 1 << 20:
        return None
    return warm_heap(min(size * WARM_BYTES_PER_FILE_BYTE, memory // 8))


def _cap_warming(cap: Callable[[int], None], path: str) -> None:
    """Stop the warming at :data:`WARM_BYTES_PER_VOTE` per row of the Parquet footer."""
    try:
        import pyarrow.parquet as pq

        cap(pq.read_metadata(path).num_rows * WARM_BYTES_PER_VOTE)
    except Exception:           # noqa: BLE001 - reading the file reports its problems
        cap(0)


def run(args) -> int:
    ordered = args.method == "elo"
    if not args.metric:
        if args.rounds < 2:
            raise InputError("--rounds must be at least 2")
        if ordered and args.intervals in ("sandwich", "hessian"):
            raise InputError(f"--intervals {args.intervals} needs a likelihood: use bootstrap or none with --method elo")
        if ordered and args.voters != "all":
            raise InputError("--voters exclude or weighted needs --method bt")
        if args.votes and args.campaign:
            raise InputError("--campaign reads the database: leave out --votes")
    cap = _warm_for(args.votes) if reuse_freed_memory() and args.votes and not args.metric \
        else None
    no_huge_pages()
    if args.metric:
        from arena.cli.metrics import run_rank_by_metric

        return run_rank_by_metric(args)
    ahead = None
    if args.votes:          # read on a thread while the ranking code imports (pyarrow's
        from concurrent.futures import ThreadPoolExecutor     # reader releases the GIL)

        from arena.files.battles import read_battle_table

        if cap is not None:
            arrow_on_the_heap()
            _cap_warming(cap, args.votes)
        pool = ThreadPoolExecutor(1, thread_name_prefix="read")
        ahead = pool.submit(read_battle_table, args.votes, ordered=ordered)
        pool.shutdown(wait=False)           # the read goes on; ahead.result() waits for it
    from arena.views.leaderboard import leaderboards

    if ahead is not None:
        from arena.views.leaderboard import battle_cubes

        table = ahead.result()
        cubes = None if not ordered and args.voters == "all" \
            else battle_cubes(table, args.task, ordered=ordered)
    elif ordered:
        raise InputError("--method elo needs --votes FILE: Elo depends on the order of the votes")
    elif args.campaign:
        from arena.store.db import get_engine
        from arena.views.campaign_labels import UnknownCampaignName, campaign_cubes

        if args.voters != "all":
            raise InputError("--campaign ranks the campaign's labels: use --voters all")
        try:
            cubes = campaign_cubes(get_engine(), args.campaign, args.task)
        except UnknownCampaignName as exc:
            raise InputError(str(exc)) from None
    else:
        from arena.store.db import get_engine
        from arena.views.cubes import db_cubes

        cubes = db_cubes(get_engine(), args.task)
    if ordered and args.position_bias != "fit":
        raise InputError("--position-bias needs --method bt (Elo has no position term)")
    options = {"method": args.method, "ties": args.ties, "intervals": args.intervals,
               "rounds": args.rounds, "seed": args.seed}
    if not ordered:
        options.update(position_bias=args.position_bias, resample=args.resample)
    if args.campaign:
        options.update(min_clusters=2)          # a panel: cluster by annotator however few
    if args.voters != "all":
        from arena.store.db import get_engine
        from arena.views.voters import voter_leaderboards

        result = voter_leaderboards(args.voters, path=args.votes, cubes=cubes if args.votes else None,
                                    engine=None if args.votes else get_engine(), tasks=args.task,
                                    settings=gate_settings(args), **options)
    elif cubes is None:         # every board ranked as soon as its cube is built
        from arena.views.leaderboard import battle_leaderboards

        result = battle_leaderboards(table, args.task, **options)
    else:
        result = leaderboards(cubes, **options)
    rows = [{"task": b["task"], **r} for b in result["leaderboards"] for r in b["rows"]]
    emit(result, args.format, rows, COLUMNS + (("rank_all", "rank_change") if args.voters != "all" else ()))
    return 0
