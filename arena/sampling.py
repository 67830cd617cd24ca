"""Choosing which pair of outputs to show next, with the probability of each choice logged.

Within a task, the sampler mixes a uniform draw over model pairs (``uniform_share``) with a draw
in proportion to how much one more vote on the pair would lower the summed variance of the gaps
between rank-adjacent models (:func:`scoring.active_sampling.pair_weights`, DESIGN.md §4);
models with few votes have uncertain gaps, so their pairs are boosted. It then picks an item
uniformly among those both models have outputs for, then the sides by a fair coin.
``propensity`` is the probability of the whole ordered presentation (task x pair x item x side),
so estimators can reweight by it.

The outputs table and each task's pair weights are computed once per refresh (every ``cache_s``
seconds, or after :meth:`PairSampler.invalidate`) from one ``GROUP BY`` over the votes; the
outcome map is left win 1, right win 0, tie and both_bad 1/2, whatever the side. Repeat checks
are left out, as on the leaderboard.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from arena.db import session
from arena.schema import Item, Output, Vote
from scoring.active_sampling import pair_weights, win_matrix
from scoring.columns import BATTLE_WINNERS, CHOICES

#: Score of the left model for each stored choice label (arena votes and imported battles).
_LEFT_SCORE = {**dict(zip(CHOICES, (1.0, 0.0, 0.5, 0.5))),
               **dict(zip(BATTLE_WINNERS, (1.0, 0.0, 0.5, 0.5)))}


class NoPairError(LookupError):
    """The task (or the whole arena) has no item with outputs from two models."""


@dataclass(frozen=True)
class PairChoice:
    task: str
    item_id: int
    left_output_id: int
    right_output_id: int
    left_model_id: int
    right_model_id: int
    sampler: str
    propensity: float


@dataclass(frozen=True)
class _TaskPool:
    """Outputs of one task as an items × models table of output ids (-1 where missing)."""

    item_ids: np.ndarray
    model_ids: np.ndarray
    output_ids: np.ndarray  # (n_items, n_models)
    pairs: np.ndarray  # (n_pairs, 2) model column indices with at least one shared item


def _task_weights(pool: _TaskPool, votes: list[tuple[int, int, str, int]],
                  uniform_share: float) -> np.ndarray:
    """Probability of each of ``pool.pairs`` from the task's (left, right, choice, count) rows.

    Votes on models without outputs in the pool, or with an unknown choice label, are skipped.
    """
    column = {int(mid): k for k, mid in enumerate(pool.model_ids)}
    kept = [(column[a], column[b], _LEFT_SCORE[c], n) for a, b, c, n in votes
            if a in column and b in column and a != b and c in _LEFT_SCORE]
    left, right, score, count = (np.array(col) for col in zip(*kept)) if kept else ([],) * 4
    wins = win_matrix(len(pool.model_ids), np.asarray(left, dtype=np.int64),
                      np.asarray(right, dtype=np.int64), score, count)
    return pair_weights(len(pool.model_ids), pool.pairs, wins, uniform_share=uniform_share)


def _build_pool(rows: list[tuple[int, int, int]]) -> _TaskPool:
    items, models, outputs = (np.array(col, dtype=np.int64) for col in zip(*rows))
    item_ids, item_idx = np.unique(items, return_inverse=True)
    model_ids, model_idx = np.unique(models, return_inverse=True)
    table = np.full((len(item_ids), len(model_ids)), -1, dtype=np.int64)
    table[item_idx, model_idx] = outputs
    present = (table >= 0).astype(np.int64)
    shared = present.T @ present
    i, j = np.triu_indices(len(model_ids), k=1)
    keep = shared[i, j] > 0
    return _TaskPool(item_ids, model_ids, table, np.stack([i[keep], j[keep]], axis=1))


class PairSampler:
    """Draws pairs for a task; caches the output table and pair weights for ``cache_s`` seconds."""

    name = "variance-mix"

    def __init__(self, engine: Engine, *, uniform_share: float = 0.1, cache_s: float = 10.0,
                 seed: int | None = None):
        self.engine = engine
        self.uniform_share = uniform_share
        self.cache_s = cache_s
        self._rng = np.random.default_rng(seed if seed is not None else secrets.randbits(64))
        self._lock = threading.Lock()
        self._pools: dict[str, _TaskPool] = {}
        self._weights: dict[str, np.ndarray] = {}
        self._loaded_at = -np.inf

    def invalidate(self) -> None:
        """Forget cached outputs and weights (after new outputs are stored)."""
        with self._lock:
            self._loaded_at = -np.inf

    def _refresh(self) -> None:
        if time.monotonic() - self._loaded_at < self.cache_s:
            return
        with session(self.engine) as s:
            rows = s.exec(select(Item.task, Output.item_id, Output.model_id, Output.id)
                          .join(Item, Item.id == Output.item_id)).all()
            votes = s.exec(select(Vote.task, Vote.left_model_id, Vote.right_model_id, Vote.choice,
                                  func.count())
                           .where(Vote.check_kind != "repeat")
                           .group_by(Vote.task, Vote.left_model_id, Vote.right_model_id,
                                     Vote.choice)).all()
        by_task: dict[str, list[tuple[int, int, int]]] = {}
        for task, item_id, model_id, output_id in rows:
            by_task.setdefault(task, []).append((item_id, model_id, output_id))
        pools = {t: _build_pool(r) for t, r in by_task.items()}
        self._pools = {t: p for t, p in pools.items() if len(p.pairs)}
        votes_by_task: dict[str, list[tuple[int, int, str, int]]] = {}
        for task, a, b, choice, n in votes:
            votes_by_task.setdefault(task, []).append((a, b, choice, n))
        self._weights = {t: _task_weights(p, votes_by_task.get(t, []), self.uniform_share)
                         for t, p in self._pools.items()}
        self._loaded_at = time.monotonic()

    def tasks(self) -> list[str]:
        """Tasks that have at least one pair to show."""
        with self._lock:
            self._refresh()
            return sorted(self._pools)

    def choose(self, task: str | None = None) -> PairChoice:
        """Draw a pair for ``task`` (``None`` or ``"any"``: a task uniformly, then a pair)."""
        with self._lock:
            self._refresh()
            if task in (None, "", "any"):
                if not self._pools:
                    raise NoPairError("no task has outputs from two models yet")
                names = sorted(self._pools)
                task = names[int(self._rng.integers(len(names)))]
                p_task = 1.0 / len(names)
            else:
                if task not in self._pools:
                    raise NoPairError(f"task {task!r} has no item with outputs from two models")
                p_task = 1.0
            return self._choose_in(task, p_task)

    def _choose_in(self, task: str, p_task: float) -> PairChoice:
        pool = self._pools[task]
        weights = self._weights[task]
        k = int(self._rng.choice(len(weights), p=weights))
        ci, cj = pool.pairs[k]
        shared = np.flatnonzero((pool.output_ids[:, ci] >= 0) & (pool.output_ids[:, cj] >= 0))
        row = int(shared[self._rng.integers(len(shared))])
        if self._rng.random() < 0.5:
            ci, cj = cj, ci
        return PairChoice(
            task=task, item_id=int(pool.item_ids[row]),
            left_output_id=int(pool.output_ids[row, ci]), right_output_id=int(pool.output_ids[row, cj]),
            left_model_id=int(pool.model_ids[ci]), right_model_id=int(pool.model_ids[cj]),
            sampler=self.name, propensity=float(p_task * weights[k] / len(shared) / 2))
