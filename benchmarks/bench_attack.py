"""Benchmark: an attacker seeking one model against the defended board, through the real API.

    python benchmarks/bench_attack.py [--budget 120] [--voters 40] [--votes 25]
                                      [--habits one rotate none]

On the demo set (3 items per task), an honest crowd of ``--voters`` x ``--votes`` votes, each
voter from its own address, then an attacker from one address who learns which model made which
image from its own reveals (hashing decoded pixels) and spends ``--budget`` votes per task on
the weakest editor, with one identity, a new identity every 15 votes, or no cookies at all.
Prints, per habit and task, the target's place on the defended board before and after, the
same on the board of all votes (the undefended peer, from the same votes), the share of the
rigged votes that still counted at full weight, and how many pair requests got 429. Request
rate limits are raised for the attacker here (they are tested on their own), so the figures
show what the voter checks do; the identity limit stays at its default, and the look time is
off (a script that waits 400 ms per pair is slowed, not stopped).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=120)
    parser.add_argument("--voters", type=int, default=40)
    parser.add_argument("--votes", type=int, default=25)
    parser.add_argument("--habits", nargs="+", default=["one", "rotate", "none"])
    args = parser.parse_args()
    os.environ["ARENA_RATE_PER_ADDRESS"] = "1000"
    os.environ["ARENA_MIN_LOOK_MS"] = "0"     # every simulated person answers at once
    from attack_run import TASKS, build_demo_copy, run

    with tempfile.TemporaryDirectory() as tmp:
        template = build_demo_copy(Path(tmp))
        print(f"honest crowd {args.voters} x {args.votes} votes; attacker budget {args.budget} "
              f"votes per task on the weakest editor\n")
        for habit in args.habits:
            start = time.perf_counter()
            out = run(template, Path(tmp), habit, budget=args.budget, voters=args.voters,
                      votes=args.votes)
            share = out.full_weight_votes / max(out.target_votes, 1)
            print(f"{habit:7s} attacker's votes stored {out.target_votes}, at full weight "
                  f"{out.full_weight_votes} ({100 * share:.1f}%), identities {out.identities}, "
                  f"429 answers {out.refused}, honest voters flagged {out.honest_flagged}  "
                  f"[{time.perf_counter() - start:.0f} s]")
            for task in TASKS:
                print(f"        {task:18s} defended board: place {out.before[task]} -> "
                      f"{out.after[task]} (moved {out.moves[task]:+d}); all votes: place "
                      f"{out.all_before[task]} -> {out.all_after[task]}")


if __name__ == "__main__":
    main()
