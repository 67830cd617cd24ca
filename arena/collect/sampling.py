"""Choosing which pair of outputs to show next, with the probability of each choice logged.

Within a task, the sampler mixes a uniform draw over model pairs (``uniform_share``) with a draw
in proportion to how much one more vote on the pair would lower the summed variance of the gaps
between rank-adjacent models (:func:`scoring.active_sampling.pair_weights`, DESIGN.md §4);
models with few votes have uncertain gaps, so their pairs are boosted. It then picks an item
uniformly among those both models have outputs for, then the sides by a fair coin.
``propensity`` is the probability of the whole ordered presentation (task x pair x item x side),
so estimators can reweight by it.

The outputs table and each task's pair weights are computed once per refresh (every ``cache_s``
seconds, or after :meth:`PairSampler.invalidate`) from vote counts kept up to date by a
``GROUP BY`` over the votes added since the previous refresh; the outcome map is left win 1,
right win 0, tie and both_bad 1/2, whatever the side. Repeat checks are left out, as on the
leaderboard.
"""
from __future__ import annotations

import random
import secrets
import threading
import time
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from arena.store.db import session
from arena.store.schema import Item, Output, Vote
from scoring.active_sampling import pair_weights, win_matrix
from scoring.columns import BATTLE_WINNERS, CHOICES

#: Score of the left model for each stored choice label (arena votes and imported battles).
_LEFT_SCORE = {**dict(zip(CHOICES, (1.0, 0.0, 0.5, 0.5))),
               **dict(zip(BATTLE_WINNERS, (1.0, 0.0, 0.5, 0.5)))}


#: Draws at most, to avoid repeating the pair a voter has just seen (each succeeds with
#: probability 1 - P(that pair); the last draw is kept whatever it is).
REDRAWS = 50


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
    """Outputs of one task as an items × models table of output ids (-1 where missing), with
    the lookups a draw needs (no array search on the vote path)."""

    item_ids: np.ndarray
    model_ids: np.ndarray
    output_ids: np.ndarray  # (n_items, n_models)
    pairs: np.ndarray  # (n_pairs, 2) model column indices with at least one shared item
    present: np.ndarray  # (n_models, n_items) bool: the model has an output for the item
    shared: np.ndarray  # (n_pairs,) items both models of the pair have outputs for
    row_of: dict  # item id -> row
    column_of: dict  # output id -> its model's column
    pair_of: dict  # (column, column), the lower first -> index into pairs


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


def same_pair(choice: PairChoice, avoid: tuple[int, int, int] | None) -> bool:
    """Whether ``choice`` shows the pair ``avoid`` (item, two outputs), on either side."""
    return (avoid is not None and choice.item_id == avoid[0]
            and {choice.left_output_id, choice.right_output_id} == {avoid[1], avoid[2]})


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
    pairs = np.stack([i[keep], j[keep]], axis=1)
    return _TaskPool(item_ids, model_ids, table, pairs, np.ascontiguousarray(table.T >= 0),
                     shared[i, j][keep], {int(v): k for k, v in enumerate(item_ids)},
                     {int(o): int(c) for o, c in zip(outputs, model_ids.searchsorted(models))},
                     {(int(a), int(b)): k for k, (a, b) in enumerate(pairs)})


@dataclass(frozen=True)
class _State:
    """What the sampler draws from: one snapshot, replaced whole by each refresh."""

    pools: dict[str, _TaskPool]
    weights: dict[str, np.ndarray]
    loaded_at: float
    cumulative: dict[str, np.ndarray] = None  # running sums of weights, for the draws

    def __post_init__(self) -> None:
        if self.cumulative is None:
            object.__setattr__(self, "cumulative", {t: np.cumsum(w) for t, w in self.weights.items()})


class _Counts:
    """Vote counts per task and (left, right, choice), brought up to date incrementally.

    Votes are only added, so a refresh reads just the votes with ids above the last one read.
    A transaction can commit a lower id after a higher one was read (PostgreSQL sequences), so
    the counts are rebuilt from scratch every ``recount_s`` seconds as well.
    """

    def __init__(self) -> None:
        self.by_task: dict[str, dict[tuple[int, int, str], int]] = {}
        self.last_id = 0
        self.counted_at = -np.inf

    def update(self, s, recount_s: float) -> set[str]:
        """Read new votes through session ``s``; returns the tasks whose counts changed."""
        top = s.exec(select(func.max(Vote.id))).one() or 0
        full = time.monotonic() - self.counted_at >= recount_s
        if full:
            changed, self.by_task, first = set(self.by_task), {}, 0
            self.counted_at = time.monotonic()
        elif top == self.last_id:
            return set()
        else:
            changed, first = set(), self.last_id
        rows = s.exec(select(Vote.task, Vote.left_model_id, Vote.right_model_id, Vote.choice,
                             func.count())
                      .where(Vote.id > first, Vote.id <= top, Vote.check_kind != "repeat")
                      .group_by(Vote.task, Vote.left_model_id, Vote.right_model_id,
                                Vote.choice)).all()
        for task, a, b, choice, n in rows:
            bucket = self.by_task.setdefault(task, {})
            bucket[a, b, choice] = bucket.get((a, b, choice), 0) + n
            changed.add(task)
        self.last_id = top
        return changed

    def rows(self, task: str) -> list[tuple[int, int, str, int]]:
        return [(a, b, c, n) for (a, b, c), n in self.by_task.get(task, {}).items()]


class PairSampler:
    """Draws pairs for a task from a snapshot of outputs and pair weights.

    The snapshot is refreshed every ``cache_s`` seconds (counting only the votes since the last
    refresh) and after :meth:`invalidate`. One thread refreshes at a time, outside the lock the
    draws take; meanwhile the others keep drawing from the previous snapshot, so a refresh never
    stalls the vote path (only the first load, and a load after :meth:`invalidate`, is waited
    for).
    """

    name = "variance-mix"

    def __init__(self, engine: Engine, *, uniform_share: float = 0.1, cache_s: float = 10.0,
                 recount_s: float = 600.0, seed: int | None = None):
        self.engine = engine
        self.uniform_share = uniform_share
        self.cache_s = cache_s
        self.recount_s = recount_s
        self._rng = random.Random(seed if seed is not None else secrets.randbits(64))
        self._lock = threading.Lock()        # the random generator
        self._loading = threading.Lock()     # one refresh at a time
        self._state: _State | None = None
        self._stale = True                   # set by invalidate()
        self._counts = _Counts()
        self._outputs_key: tuple | None = None

    def invalidate(self) -> None:
        """Reload outputs and votes before the next draw (after new outputs are stored)."""
        self._stale = True

    def _fresh(self, state: _State | None) -> bool:
        return (state is not None and not self._stale
                and time.monotonic() - state.loaded_at < self.cache_s)

    def _current(self) -> _State:
        state = self._state
        if self._fresh(state):
            return state
        must_wait = state is None or self._stale
        if not self._loading.acquire(blocking=must_wait):
            return state                     # another thread is refreshing it
        try:
            if not self._fresh(self._state):
                self._stale = False          # an invalidate() during the load loads again
                self._state = self._load(self._state)
            return self._state
        finally:
            self._loading.release()

    def _load(self, previous: _State | None) -> _State:
        with session(self.engine) as s:
            key = tuple(s.exec(select(func.count(Output.id), func.max(Output.id))).one())
            same_outputs = previous is not None and key == self._outputs_key
            if not same_outputs:
                rows = s.exec(select(Item.task, Output.item_id, Output.model_id, Output.id)
                              .join(Item, Item.id == Output.item_id)).all()
            changed = self._counts.update(s, self.recount_s)
        if same_outputs:
            pools = previous.pools
        else:
            by_task: dict[str, list[tuple[int, int, int]]] = {}
            for task, item_id, model_id, output_id in rows:
                by_task.setdefault(task, []).append((item_id, model_id, output_id))
            built = {t: _build_pool(r) for t, r in by_task.items()}
            pools = {t: p for t, p in built.items() if len(p.pairs)}
            self._outputs_key = key
        weights = {t: (previous.weights[t] if same_outputs and t not in changed
                       and t in previous.weights
                       else _task_weights(p, self._counts.rows(t), self.uniform_share))
                   for t, p in pools.items()}
        return _State(pools, weights, time.monotonic())

    def prepare(self) -> None:
        """Bring the snapshot up to date now if it is due (so that a caller about to take a
        lock does not reload it inside)."""
        self._current()

    def tasks(self) -> list[str]:
        """Tasks that have at least one pair to show."""
        return sorted(self._current().pools)

    def choose(self, task: str | None = None, *,
               avoid: tuple[int, int, int] | None = None) -> PairChoice:
        """Draw a pair for ``task`` (``None`` or ``"any"``: a task uniformly, then a pair).

        ``avoid`` = (item id, output id, output id) of the pair the voter has just seen: another
        presentation is drawn unless that one is the only one. The propensity is then the exact
        probability given the rule (draws are repeated until they differ, so each other
        presentation's probability is divided by 1 - P(avoided pair, either side)).
        """
        state = self._current()
        if task in (None, "", "any"):
            if not state.pools:
                raise NoPairError("no task has outputs from two models yet")
            names = sorted(state.pools)
        elif task not in state.pools:
            raise NoPairError(f"task {task!r} has no item with outputs from two models")
        else:
            names = [task]
        p_avoid = self._probability(state, names, avoid) if avoid else 0.0
        for _ in range(REDRAWS):
            choice = self._draw(state, names)
            if not p_avoid or not same_pair(choice, avoid):
                break
        if p_avoid and not same_pair(choice, avoid):
            choice = replace(choice, propensity=choice.propensity / (1.0 - p_avoid))
        return choice

    def _draw(self, state: _State, names: list[str]) -> PairChoice:
        if len(names) == 1:
            return self._choose_in(state, names[0], 1.0)
        with self._lock:
            task = names[self._rng.randrange(len(names))]
        return self._choose_in(state, task, 1.0 / len(names))

    @staticmethod
    def _probability(state: _State, names: list[str], avoid: tuple[int, int, int]) -> float:
        """Probability of drawing the unordered presentation ``avoid`` (either side)."""
        item_id, a, b = avoid
        for task in names:
            pool = state.pools[task]
            if item_id not in pool.row_of or a not in pool.column_of or b not in pool.column_of:
                continue
            ca, cb = pool.column_of[a], pool.column_of[b]
            k = pool.pair_of.get((min(ca, cb), max(ca, cb)))
            if k is None:
                return 0.0
            return float(state.weights[task][k] / pool.shared[k] / len(names))
        return 0.0

    def _choose_in(self, state: _State, task: str, p_task: float) -> PairChoice:
        pool, weights, cumulative = state.pools[task], state.weights[task], state.cumulative[task]
        with self._lock:
            u, pick, side = self._rng.random(), self._rng.random(), self._rng.random()
        k = min(int(cumulative.searchsorted(u * cumulative[-1], side="right")), len(weights) - 1)
        ci, cj = (int(c) for c in pool.pairs[k])
        shared = np.flatnonzero(pool.present[ci] & pool.present[cj])
        row = int(shared[min(int(pick * len(shared)), len(shared) - 1)])
        if side < 0.5:
            ci, cj = cj, ci
        return PairChoice(
            task=task, item_id=int(pool.item_ids[row]),
            left_output_id=int(pool.output_ids[row, ci]), right_output_id=int(pool.output_ids[row, cj]),
            left_model_id=int(pool.model_ids[ci]), right_model_id=int(pool.model_ids[cj]),
            sampler=self.name, propensity=float(p_task * weights[k] / len(shared) / 2))
