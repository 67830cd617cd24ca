"""``arena simulate``: a synthetic crowd with known truth, written as a vote file."""
from __future__ import annotations

from arena.cli import InputError
from arena.cli.output import add_format_option, emit


def _mix(text: str) -> dict[str, float]:
    from scoring.simulate import VOTER_TYPES

    mix = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, share = part.partition("=")
        if name not in VOTER_TYPES:
            raise InputError(f"unknown voter type {name!r} in --mix; expected "
                             + ", ".join(VOTER_TYPES))
        try:
            mix[name] = float(share)
        except ValueError:
            raise InputError(f"--mix share for {name} must be a number") from None
    return mix


def add_parser(sub) -> None:
    p = sub.add_parser(
        "simulate", help="write a synthetic crowd's votes with the truth beside them",
        description="Simulate voters of known types (honest, noisy, random, always_left, "
                    "anti_consensus, rigger, subtle_rigger, sybil, taste, tie_spammer) on "
                    "models with known per-task strengths, and write the votes in the battle format (json, jsonl, csv, "
                    "parquet by extension) and the truth as JSON (default: FILE with "
                    ".truth.json). Seeded: the same options give the same file.")
    p.add_argument("out", metavar="FILE", help="vote file to write")
    p.add_argument("--truth", metavar="FILE", help="where to write the truth (JSON)")
    p.add_argument("--voters", type=int, default=2000, help="number of voters (default 2000)")
    p.add_argument("--votes", type=int, default=100_000, help="number of votes (default 100000)")
    p.add_argument("--models", type=int, default=8, help="models per task (default 8)")
    p.add_argument("--tasks", default=None,
                   help="comma-separated task names (default: four edit tasks)")
    p.add_argument("--mix", default=None, metavar="TYPE=SHARE,...",
                   help="voter type shares, e.g. honest=0.9,random=0.1 (default: a mixed crowd)")
    p.add_argument("--spread", type=float, default=4.0,
                   help="logit gap between the best and worst model of a task (default 4)")
    p.add_argument("--no-durations", action="store_true", help="leave out duration_ms")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_format_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    import json
    from pathlib import Path

    import pyarrow as pa

    from arena.files.battles import detect_format, write_battles
    from scoring.simulate import CrowdConfig, simulate_crowd

    detect_format(args.out)
    fields = {"voters": args.voters, "votes": args.votes, "models": args.models,
              "spread": args.spread, "durations": not args.no_durations, "seed": args.seed}
    if args.tasks:
        fields["tasks"] = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    if args.mix:
        fields["mix"] = _mix(args.mix)
    crowd = simulate_crowd(CrowdConfig(**fields))
    out = Path(args.out)
    truth_path = Path(args.truth) if args.truth else out.with_name(out.stem + ".truth.json")
    n = write_battles(pa.table(crowd.columns()), out)
    truth = crowd.truth()
    truth_path.write_text(json.dumps(truth, indent=1), encoding="utf-8")
    summary = {"file": str(out), "truth": str(truth_path), "votes": n,
               "voters": len(crowd.voters), "models": len(crowd.models),
               "tasks": list(crowd.tasks), "rigged_model": truth["rigged_model"],
               "voter_types": truth["voter_types"]}
    emit(summary, args.format, [{"type": k, "voters": v} for k, v in truth["voter_types"].items()],
         ("type", "voters"))
    return 0
