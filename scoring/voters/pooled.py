"""New identities (under the decisive-vote gate) tested together, grouped by behaviour.

One identity with 15 votes cannot be tested alone, which a swarm of short-lived identities
pushing one model would exploit. Where the database knows client addresses, identities from
one address are already assessed as one voter (``VoterData.aliases``). The rest are pooled by
what they favour:

1. Each new identity gets its favourite: the model with the largest one-sided favouritism z
   (wins when shown against the consensus, which new identities are kept out of; exact tails
   of :mod:`.tails`), with a p-value Bonferroni-corrected over the models it was shown
   (``p_v = k_v * Phi(-z)``), so that under the null ``P(p_v <= pool_p) <= pool_p``.
2. The identities with ``p_v <= pool_p`` form one group per favourite model ``m``; under the
   null, the size ``K_m`` of a group is a sum of independent Bernoulli trials each with
   probability at most ``pool_p / k_v``, so ``K_m`` is tested against a Poisson law with
   that mean (Le Cam's bound; a Poisson tail is conservative for such sums, Hoeffding 1956,
   "On the distribution of the number of successes in independent trials", Ann. Math.
   Statist. 27), Bonferroni over the models. Every identity of a significant group of at
   least ``min_group`` is flagged.

This is a scan over clusters defined by behaviour (compare Kulldorff 1997, "A spatial scan
statistic", Commun. Statist. 26, with the clusters given by the favourite instead of a
place): honest newcomers seldom reach ``p_v <= pool_p`` (about ``pool_p`` of them), a sybil
swarm that picks a weak model every time does, identity after identity.
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr
from scipy.stats import poisson

from .consensus import Consensus
from .data import VoterData
from .detectors import Check
from .tails import signed_root


def pooled_favouritism(data: VoterData, cons: Consensus, gate: int, alpha: float,
                       pool_p: float = 1e-4, min_group: int = 3, min_shown: int = 3) -> Check:
    """The pooled test of the module docstring; ``check.detail["hits"]`` are the members of
    significant groups (decided here, at family-wise ``alpha`` over the models)."""
    v, m = data.n_voters, data.n_models
    n_row = data.row_decisive
    young = (data.decisive() < gate) & (data.decisive() > 0)
    rows = np.flatnonzero(young[data.voter] & (n_row > 0) & np.isfinite(cons.p_left))
    voter, n = data.voter[rows], n_row[rows]
    p_left, wins_l = cons.p_left[rows], data.counts[rows, 0]
    gl, gr = voter * m + data.left[rows], voter * m + data.right[rows]
    size = v * m
    observed = np.bincount(gl, wins_l, size) + np.bincount(gr, n - wins_l, size)
    shown = np.bincount(gl, n, size) + np.bincount(gr, n, size)
    z, _, _ = signed_root(np.concatenate([p_left, 1 - p_left]), np.concatenate([n, n]),
                          np.concatenate([gl, gr]), size, observed, refine_above=2.0)
    ok = (shown >= min_shown).reshape(v, m)
    z = np.where(ok, z.reshape(v, m), np.nan)
    k = ok.sum(axis=1)
    best = np.argmax(np.nan_to_num(z, nan=-np.inf), axis=1)
    pick = np.arange(v), best
    zb = np.where(k > 0, z[pick], np.nan)
    p_v = np.minimum(1.0, k * ndtr(-np.nan_to_num(zb, nan=-np.inf)))
    member = (k > 0) & (p_v <= pool_p)
    share = np.where(k > 0, pool_p / np.maximum(k, 1), 0.0)
    mu = (ok * share[:, None]).sum(axis=0)                   # null mean of each group's size
    size_m = np.bincount(best[member], minlength=m)
    p_group = np.where(mu > 0, poisson.sf(size_m - 1, np.maximum(mu, 1e-300)), 1.0)
    n_groups = max(int((mu > 0).sum()), 1)
    significant = (p_group * n_groups <= alpha) & (size_m >= min_group)
    hits = member & significant[best]
    detail = {"model": best, "shown": shown.reshape(v, m)[pick], "wins": observed.reshape(v, m)[pick],
              "group": size_m[best], "group_expected": mu[best], "group_p": p_group[best],
              "young": int((k > 0).sum()), "hits": hits}
    z_out = np.where(k > 0, zb, np.nan)
    return Check("pooled", z_out, np.where(member, p_group[best], np.nan), np.where(k > 0, 1.0, np.nan),
                 hits, np.ones(v), detail)


def reason(check: Check, k: int, data: VoterData) -> str:
    """What a person reads about a member of a flagged group of new identities."""
    d = check.detail
    model = data.models[int(d["model"][k])]
    return (f"one of {int(d['group'][k])} new identities that each picked {model} far beyond "
            f"chance (this one: {int(round(d['wins'][k]))} of {int(round(d['shown'][k]))} "
            f"decisive votes where it was shown); about {d['group_expected'][k]:.2g} such "
            f"identities were expected among {d['young']} new ones (p = {d['group_p'][k]:.1e})")
