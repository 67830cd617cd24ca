"""Benchmark: coverage of the 95% intervals, ours beside LMArena's arena-rank, per scenario.

    python benchmarks/bench_coverage.py [--replications 200] [--rounds 200]
        [--peer-replications 30] [--peer-bootstrap-replications 2] [--peer-rounds 25] [--scenario NAME ...] [--no-peer]

Each replication draws a crowd from :mod:`scoring.coverage` (no voter taste; strong taste; the
10 busiest voters casting 50% and 75% of the votes; few voters), fits it, and checks whether
each model's interval holds the estimand (the crowd's Bradley-Terry score). Methods:

* ``sandwich``: ``scoring.rank`` defaults (voter-clustered, CR2, t on the effective number of
  voters);
* ``bootstrap``: ``scoring.rank(intervals="bootstrap")`` (voters resampled, small-sample
  correction);
* ``bootstrap-votes``: the same resampling votes (``resample="votes"``), for contrast;
* ``arena-rank sandwich`` / ``arena-rank bootstrap``: ``arena_rank.models.bradley_terry``
  (``pip install arena-rank``; it pins numpy and jax, so ``pip install --no-deps arena-rank
  jax optax jaxtyping`` keeps this project's numpy), on the same crowds, against the estimand
  without position term (arena-rank fits none). Its bootstrap is run in this process (its
  pool hangs under fork with JAX) and is slow (a JAX fit per round), so it gets
  ``--peer-bootstrap-replications`` replications of ``--peer-rounds`` rounds, and its
  sandwich (a JAX compile per crowd) ``--peer-replications`` (the first crowds).

Coverage is over all (replication, model) intervals; ``+-`` is two standard errors of that
proportion, with replications as the independent units. BLAS is pinned to one thread.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring import Comparisons, rank  # noqa: E402
from scoring.coverage import SCENARIOS, draw_crowd, population_scores  # noqa: E402


def ours(cols, truth, method, rounds, seed):
    data = Comparisons.from_battles(cols["model_a"], cols["model_b"], cols["winner"],
                                    voter=cols["judge"])
    if method == "sandwich":
        board = rank(data)
    else:
        board = rank(data, intervals="bootstrap", rounds=rounds, seed=seed,
                     resample="votes" if method == "bootstrap-votes" else "voters")
    return [r.ci_low <= truth[r.model] <= r.ci_high for r in board.rows]


def peer(cols, truth, method, rounds, seed):
    import pandas as pd
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.utils.data_utils import PairDataset

    df = pd.DataFrame({k: cols[k] for k in ("model_a", "model_b", "winner")})
    dataset = PairDataset.from_pandas(df)
    model = BradleyTerry(n_competitors=len(dataset.competitors))
    if method == "sandwich":
        out = model.compute_ratings_and_cis(dataset, ci_method="sandwich")
        lo, hi = np.asarray(out["rating_lower"]), np.asarray(out["rating_upper"])
    else:
        # arena-rank's bootstrap branch, run in this process: its multiprocessing pool hangs
        # under fork once JAX has started. Same draws (jax multinomial over vote rows) and the
        # same per-round fit (its fit_single_bootstrap_sample).
        import jax
        from arena_rank.models.bradley_terry import fit_single_bootstrap_sample

        model.fit(dataset)
        total = float(np.asarray(dataset.counts).sum())
        draws = jax.random.multinomial(jax.random.PRNGKey(seed), n=int(total),
                                       p=dataset.counts / total,
                                       shape=(rounds, dataset.counts.shape[0]), dtype=model.dtype)
        ratings = np.stack([np.asarray(fit_single_bootstrap_sample(draws[b], model, dataset)
                                       ["ratings"]) for b in range(rounds)])
        scaled = ratings * model.alpha + model.init_rating
        lo, hi = np.quantile(scaled, [0.025, 0.975], axis=0)
    return [lo[k] <= truth[c] <= hi[k] for k, c in enumerate(dataset.competitors)]


def have_peer() -> bool:
    try:
        import arena_rank.models.bradley_terry  # noqa: F401
    except Exception:
        return False
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replications", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=200, help="our bootstrap rounds")
    ap.add_argument("--peer-replications", type=int, default=30,
                    help="replications of arena-rank's sandwich (a JAX compile per crowd)")
    ap.add_argument("--peer-bootstrap-replications", type=int, default=2,
                    help="replications of arena-rank's bootstrap (slow: a JAX fit per round)")
    ap.add_argument("--peer-rounds", type=int, default=25, help="arena-rank bootstrap rounds")
    ap.add_argument("--scenario", action="append", help="only these scenarios (by name)")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--seed", type=int, default=20_000)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    with_peer = not args.no_peer and have_peer()
    if not args.no_peer and not with_peer:
        print("arena-rank is not installed: only our figures (pip install --no-deps arena-rank "
              "jax optax jaxtyping)")
    methods = ["sandwich", "bootstrap", "bootstrap-votes"]
    peer_methods = ["sandwich", "bootstrap"] if with_peer else []
    scenarios = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    print(f"{args.replications} replications, {args.rounds} bootstrap rounds; arena-rank: "
          f"sandwich {args.peer_replications} replications, bootstrap "
          f"{args.peer_bootstrap_replications} of {args.peer_rounds} rounds; coverage of 95% "
          "intervals (+- 2 s.e.)")
    header = ["scenario", *methods, *(f"arena-rank {m}" for m in peer_methods), "G*"]
    print(" | ".join(f"{h:>20s}" for h in header))
    for s in scenarios:
        t0 = time.perf_counter()
        hits = {m: [] for m in methods + [f"peer {m}" for m in peer_methods]}
        effective = []
        for r in range(args.replications):
            seed = args.seed + r
            cols, truth = draw_crowd(s, seed)
            for m in methods:
                hits[m].append(ours(cols, truth, m, args.rounds, seed))
            data = Comparisons.from_battles(cols["model_a"], cols["model_b"], cols["winner"],
                                            voter=cols["judge"])
            effective.append(rank(data, intervals="sandwich").effective_voters or np.nan)
            if peer_methods and r < args.peer_replications:
                rng = np.random.default_rng(seed)
                theta = rng.normal(0, s.spread, s.models)
                no_h = population_scores(s, theta - theta.mean(), position_term=False)
                truth0 = {f"m{k:02d}": v for k, v in enumerate(no_h)}
                hits["peer sandwich"].append(peer(cols, truth0, "sandwich", 0, seed))
                if r < args.peer_bootstrap_replications:
                    hits["peer bootstrap"].append(peer(cols, truth0, "bootstrap",
                                                       args.peer_rounds, seed))
        cells = [s.name]
        for k, v in hits.items():
            per = np.array([np.mean(x) for x in v])
            cov = float(np.mean(np.concatenate([np.asarray(x, float) for x in v])))
            cells.append(f"{cov:.3f} +-{2 * per.std(ddof=1) / np.sqrt(len(per)):.3f}")
        cells.append(f"{np.nanmedian(effective):.1f} of {s.voters}")
        print(" | ".join(f"{c:>20s}" for c in cells), f"({time.perf_counter() - t0:.0f} s)",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
