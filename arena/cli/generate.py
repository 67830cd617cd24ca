"""``arena generate``: run the models of a models file over the stored items, resumably."""
from __future__ import annotations

from arena.cli.output import add_format_option, emit

COLUMNS = ("model", "made", "skipped", "failed")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "generate", help="run the models of a models file (TOML) over the stored items",
        description="Run every model of a models file on every stored item of the tasks it "
                    "does, measuring latency (warm-up once per model, then timed repeats), "
                    "peak memory and cost, and computing the automatic metrics. Pairs that "
                    "already have an output are skipped, so a stopped run resumes; failed edits "
                    "are recorded and retried on the next run. Each edit is claimed in the "
                    "database first, so runs at once (here or on a Ray cluster) share the work.")
    p.add_argument("--models", metavar="FILE", help="models file (TOML, [[model]] tables)")
    p.add_argument("--tasks", nargs="+", metavar="TASK", help="only these tasks (default: all)")
    p.add_argument("--limit", type=int, metavar="N", help="at most N items per task (the first by id after --offset)")
    p.add_argument("--offset", type=int, default=0, metavar="N",
                   help="skip the first N items of each task (with --limit: one slice of a benchmark)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run on a Ray cluster: one actor per model replica (num_gpus, num_cpus, "
                        "replicas from the models file); a new local cluster without ADDRESS or "
                        "with 'local', else 'auto', HOST:PORT or ray://HOST:PORT")
    p.add_argument("--lease", type=float, default=120.0, metavar="S",
                   help="seconds a claimed edit stays claimed without renewal (default 120): "
                        "the claims of a run that crashed lapse after this")
    p.add_argument("--only", nargs="+", metavar="MODEL", help="only these models of the file")
    p.add_argument("--repeats", type=int, default=2, help="timed runs per item (default 2)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before a model's first item (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of every edit (default 0)")
    p.add_argument("--threads", type=int, metavar="N", help="limit torch and BLAS to N threads")
    p.add_argument("--no-memory", action="store_true", help="skip the extra run that measures peak memory")
    p.add_argument("--no-ocr", action="store_true", help="skip the OCR metrics of text edits")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--failures", action="store_true",
                   help="list the recorded failed edits (of pairs still without output) and exit")
    add_format_option(p)
    p.set_defaults(run=run)


def _check(args) -> None:
    from arena.cli import InputError

    for name, least in (("limit", 1), ("offset", 0), ("repeats", 1), ("warmup", 0), ("threads", 1)):
        value = getattr(args, name)
        if value is not None and value < least:
            raise InputError(f"--{name} must be at least {least}, got {value}")
    if args.lease <= 0:
        raise InputError(f"--lease must be above 0 seconds, got {args.lease}")


def _specs(args):
    from arena.cli import InputError
    from models.config import ConfigError, load_models

    try:
        specs = load_models(args.models)
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    if args.only:
        unknown = sorted(set(args.only) - {s.name for s in specs})
        if unknown:
            raise InputError(f"--only: {unknown} not in {args.models}")
        specs = tuple(s for s in specs if s.name in args.only)
    return specs


def run(args) -> int:
    import contextlib
    import sys

    from arena.cli import InputError
    from arena.context import Arena
    from arena.outputs.generate import GenerateError, RunOptions, generate
    from models.config import ConfigError

    if args.failures:
        return _failures(args)
    if not args.models:
        raise InputError("--models FILE is required (or --failures)")
    _check(args)
    specs = _specs(args)
    options = RunOptions(warmup=args.warmup, repeats=args.repeats, seed=args.seed,
                         track_memory=not args.no_memory, ocr=not args.no_ocr, lease_s=args.lease)
    where = dict(tasks=args.tasks, limit=args.limit, offset=args.offset, options=options,
                 progress=not args.quiet)
    with _thread_limit(args.threads) if args.threads else contextlib.nullcontext():
        try:
            if args.ray is not None:
                from arena.outputs.ray_run import generate_on_ray

                summary = generate_on_ray(Arena.open(), specs, address=args.ray, **where)
            else:
                summary = generate(Arena.open(), specs, **where)
        except (GenerateError, ConfigError) as exc:
            raise InputError(str(exc)) from None
    rows = summary.rows(s.name for s in specs)
    emit({"generated": {"made": sum(summary.made.values()), "skipped": sum(summary.skipped.values()),
                        "failed": sum(summary.failed.values()), "seconds": summary.seconds},
          "models": rows}, args.format, rows, COLUMNS)
    print(summary.describe(), file=sys.stderr)
    if summary.failed:
        print("failed edits are listed by `arena generate --failures`", file=sys.stderr)
    return 0


def _failures(args) -> int:
    from arena.outputs.failures import list_failures
    from arena.store.db import get_engine

    rows = list_failures(get_engine())
    emit({"failures": rows}, args.format, rows, ("item", "task", "model", "attempts", "error"))
    return 0


def _thread_limit(threads: int):
    """Limit BLAS pools (threadpoolctl) and torch, if installed, to ``threads``."""
    import importlib.util

    from threadpoolctl import threadpool_limits

    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(threads)
    return threadpool_limits(threads)
