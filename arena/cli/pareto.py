"""``arena pareto``: per task, which models give the best preference for their latency, cost or
energy."""
from __future__ import annotations

from arena.cli.output import add_format_option, emit
from arena.cli.voters import add_gate_options, gate_settings

COLUMNS = ("task", "axis", "model", "score", "ci_low", "ci_high", "latency_s", "cost_usd",
           "energy_wh", "on_front", "p_front", "dominated_by")


def add_parser(sub) -> None:
    p = sub.add_parser("pareto", help="Pareto fronts of preference score against latency, cost and energy",
                       description="Pareto fronts per task. Scores from --votes FILE or the database; "
                                   "latency, cost and energy from --costs FILE (model, optional "
                                   "task, latency_s, cost_usd, energy_wh) or the outputs stored "
                                   "in the database.")
    p.add_argument("--votes", metavar="FILE", help="vote file in the battle format (default: the database)")
    p.add_argument("--costs", metavar="FILE", help="costs file: csv, json or jsonl (default: the database)")
    p.add_argument("--task", action="append", metavar="TASK", help="only this task (repeatable)")
    p.add_argument("--rounds", type=int, default=200, help="bootstrap rounds for p_front (default 200)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--resample", choices=("voters", "votes"), default="voters",
                   help="what the bootstrap behind p_front resamples: voters (default) or votes")
    p.add_argument("--position-bias", choices=("fit", "none"), default="fit",
                   help="fit the left/right advantage h (default), or none: h = 0")
    p.add_argument("--voters", choices=("all", "exclude", "weighted", "defended"), default="all",
                   help="all votes (default); leave flagged voters out, also weigh the rest by "
                        "reliability, or the defended board (see `arena voters`)")
    add_gate_options(p)
    add_format_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from arena.cli import InputError
    from arena.views.leaderboard import battle_cubes
    from arena.views.pareto import CostsFileError, db_costs, pareto_json, read_costs

    if args.rounds < 2:
        raise InputError("--rounds must be at least 2")
    if args.votes:
        from arena.files.battles import read_battle_table

        cubes = battle_cubes(read_battle_table(args.votes), args.task)
    else:
        from arena.store.db import get_engine
        from arena.views.cubes import db_cubes

        cubes = db_cubes(get_engine(), args.task)
    if args.voters != "all":
        from arena.views.voters import voter_cubes

        engine = None
        if not args.votes:
            from arena.store.db import get_engine

            engine = get_engine()
        cubes, _ = voter_cubes(args.voters, path=args.votes, engine=engine, tasks=args.task,
                               cubes=cubes if args.votes else None, settings=gate_settings(args))
    try:
        if args.costs:
            costs = read_costs(args.costs)
        else:
            from arena.store.catalog import model_stats
            from arena.store.db import get_engine

            costs = db_costs(model_stats(get_engine()))
    except CostsFileError as exc:
        raise InputError(str(exc)) from None
    result = pareto_json(cubes, costs, rounds=args.rounds, seed=args.seed,
                         position_bias=args.position_bias, resample=args.resample)
    rows = [{"task": f["task"], "axis": f["axis"], **p} for f in result["fronts"] for p in f["points"]]
    emit(result, args.format, rows, COLUMNS)
    return 0
