"""``arena plan``: how many votes a task needs before its leaderboard can be trusted."""
from __future__ import annotations

from arena.cli import InputError
from arena.cli.output import add_format_option, emit

COLUMNS = ("votes", "ci_half_width", "adjacent_separated", "kendall_tau", "top_correct")


def _budgets(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--budgets must be comma-separated whole numbers, got {text!r}") from None


def add_parser(sub) -> None:
    p = sub.add_parser(
        "plan", help="votes needed for intervals of a given width (simulated vote budget)",
        description="Simulate collecting votes with the arena's estimator and sampler and print, "
                    "per vote budget, the median 95%% interval half-width (score points), the "
                    "share of neighbouring models told apart, Kendall's tau against the truth "
                    "and how often the best model comes first. The true scores are a guess "
                    "(--models N models spread evenly over --spread points) or a task's current "
                    "scores (--task T, from --votes FILE or the database named by $DATABASE_URL).")
    p.add_argument("--models", type=int, help="number of models (with --spread)")
    p.add_argument("--spread", type=float, default=300.0,
                   help="score points between the best and the worst model (default 300)")
    p.add_argument("--task", help="use this task's current scores as the truth")
    p.add_argument("--votes", metavar="FILE", help="vote file for --task (default: the database)")
    p.add_argument("--target-ci", type=float, default=25.0, metavar="POINTS",
                   help="interval half-width to reach, in score points (default 25)")
    p.add_argument("--budgets", default="250,500,1000,2000,4000,8000,16000",
                   help="vote counts to simulate, comma-separated (default 250,...,16000)")
    p.add_argument("--sampler", choices=("variance", "uniform"), default="variance",
                   help="how pairs are chosen: the arena's sampler (default) or uniformly")
    p.add_argument("--runs", type=int, default=5, help="repetitions per budget (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_format_option(p)
    p.set_defaults(run=run)


def _current_scores(task: str, votes: str | None) -> tuple[list[str], list[float], int]:
    """Models, current scores and vote count of ``task``."""
    from scoring import rank

    if votes:
        from arena.files.battles import read_battle_table
        from arena.views.leaderboard import battle_cubes

        cubes = battle_cubes(read_battle_table(votes), [task])
    else:
        from arena.store.db import get_engine
        from arena.views.cubes import db_cubes

        cubes = db_cubes(get_engine(), [task])
    cube = cubes.get(task)
    if cube is None or cube.n_votes == 0:
        raise InputError(f"task {task!r} has no votes to plan from")
    board = rank(cube)
    if len(board.rows) < 2:
        raise InputError(f"task {task!r} has votes on fewer than 2 models")
    return [r.model for r in board.rows], [r.score for r in board.rows], int(round(cube.n_votes))


def run(args) -> int:
    from scoring.planning import plan_votes, spread_scores

    budgets = _budgets(args.budgets)
    if args.runs < 1:
        raise InputError("--runs must be at least 1")
    if args.task:
        models, scores, so_far = _current_scores(args.task, args.votes)
    elif args.models is not None:
        scores = list(spread_scores(args.models, args.spread))
        models, so_far = [f"model {k + 1}" for k in range(args.models)], None
    else:
        raise InputError("give --models N (and --spread), or --task T to plan from its current scores")
    plan = plan_votes(scores, budgets=budgets, sampler=args.sampler,
                      target_half_width=args.target_ci, runs=args.runs, seed=args.seed)
    data = {"task": args.task, "models": models, "votes_so_far": so_far, **plan.to_dict()}
    emit(data, args.format, data["budgets"], COLUMNS)
    if args.format == "table":
        needed = (f"about {plan.votes_needed} votes" if plan.votes_needed is not None
                  else f"more than {budgets[-1]} votes")
        print(f"# half-width of {args.target_ci:g} points needs {needed}"
              + (f" ({so_far} so far)" if so_far is not None else ""))
    return 0
