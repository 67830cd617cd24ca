"""The pairs of a campaign: drawn by the arena's sampler, listed in a file, and gold pairs.

A pair is an item and two of its outputs, in a canonical orientation (a, b) that labels are
mapped to for agreement. Drawn pairs come from :meth:`arena.collect.sampling.PairSampler.choose`
(distinct pairs: a draw that repeats one is drawn again; the sampler's propensity of the draw
is kept), topped up uniformly from the pairs not yet drawn when the sampler keeps returning the
same few. A pair file (CSV, JSON list or JSONL) has one row per pair: ``item`` (the item's key,
or its id), ``model_a``, ``model_b`` and optionally ``task``. Gold pairs are
:func:`arena.collect.checks.gold_candidates`: the no-edit baseline against a real edit.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from arena.collect.checks import gold_candidates
from arena.context import Arena
from arena.store.schema import Item, Model, Output

#: Draws per wanted pair before the rest is taken uniformly.
DRAWS_PER_PAIR = 20


class PairFileError(ValueError):
    """A pair file that cannot be read, or rows that name nothing in the arena."""


@dataclass(frozen=True)
class Pair:
    task: str
    item_id: int
    output_a: int
    output_b: int
    model_a: int
    model_b: int
    sampler: str = "file"
    propensity: float = 1.0
    gold_answer: str | None = None

    @property
    def key(self) -> tuple[int, frozenset]:
        return self.item_id, frozenset((self.output_a, self.output_b))


def all_pairs(arena: Arena, task: str) -> list[Pair]:
    """Every pair of two outputs of one item of ``task`` (a before b by output id)."""
    with arena.engine.connect() as conn:
        rows = conn.execute(select(Output.item_id, Output.id, Output.model_id)
                            .join(Item, Item.id == Output.item_id).where(Item.task == task)
                            .order_by(Output.item_id, Output.id)).all()
    by_item: dict[int, list] = {}
    for item_id, output_id, model_id in rows:
        by_item.setdefault(item_id, []).append((output_id, model_id))
    return [Pair(task, item, a[0], b[0], a[1], b[1], "campaign-uniform")
            for item, outs in by_item.items() for i, a in enumerate(outs) for b in outs[i + 1:]
            if a[1] != b[1]]


def drawn_pairs(arena: Arena, task: str, n: int, rng: np.random.Generator) -> list[Pair]:
    """``n`` distinct pairs of ``task`` from the sampler; ``ValueError`` if it has fewer."""
    everything = all_pairs(arena, task)
    if n > len(everything):
        raise ValueError(f"task {task!r} has {len(everything)} distinct pairs; asked for {n}")
    chosen: dict = {}
    for _ in range(DRAWS_PER_PAIR * n):
        if len(chosen) == n:
            break
        c = arena.sampler.choose(task)
        pair = Pair(task, c.item_id, c.left_output_id, c.right_output_id, c.left_model_id,
                    c.right_model_id, f"campaign-{c.sampler}", c.propensity)
        chosen.setdefault(pair.key, pair)
    rest = [p for p in everything if p.key not in chosen]
    for k in rng.permutation(len(rest))[:n - len(chosen)]:
        chosen[rest[k].key] = rest[k]
    return list(chosen.values())


def gold_pairs(arena: Arena, tasks: list[str], n: int, taken: set,
               rng: np.random.Generator) -> list[Pair]:
    """Up to ``n`` gold pairs of ``tasks`` not among ``taken`` (keys), sides at random."""
    if n <= 0:
        return []
    with arena.engine.connect() as conn:
        rows = [r for task in tasks for r in conn.execute(gold_candidates(task)).all()]
    found = []
    for r in rows:
        pair = Pair(r.task, r.item_id, r.base_output, r.edit_output, r.base_model, r.edit_model,
                    "campaign-gold", 1.0, "right")
        if pair.key not in taken:
            found.append(pair)
    picked = [found[k] for k in rng.permutation(len(found))[:n]]
    return [p if rng.integers(2) else Pair(p.task, p.item_id, p.output_b, p.output_a, p.model_b,
                                           p.model_a, p.sampler, p.propensity, "left")
            for p in picked]


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise PairFileError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix.lower() == ".csv":
            return list(csv.DictReader(text.splitlines()))
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if path.suffix.lower() == ".json":
            rows = json.loads(text)
            rows = rows.get("pairs", rows) if isinstance(rows, dict) else rows
            if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
                return rows
            raise PairFileError(f"{path}: expected a list of pair objects")
    except (json.JSONDecodeError, csv.Error, RecursionError) as exc:
        raise PairFileError(f"{path}: not a readable pair file ({type(exc).__name__})") from None
    raise PairFileError(f"{path}: unknown pair file format (use .csv, .json or .jsonl)")


def file_pairs(arena: Arena, path: str | Path, tasks: list[str] | None) -> list[Pair]:
    """The pairs listed in ``path``; every bad row is named (the first 10) before anything is
    stored. ``tasks``: the campaign's tasks, which every row's item must belong to."""
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise PairFileError(f"{path}: no pairs in the file")
    with arena.engine.connect() as conn:
        items = {r.key: (r.id, r.task) for r in conn.execute(select(Item.key, Item.id, Item.task))}
        by_id = {i: (i, t) for i, t in items.values()}
        models: dict[str, int] = {}
        for name, mid in conn.execute(select(Model.name, Model.id).order_by(Model.id)):
            models[name] = mid                       # the latest version of a name
        outputs = {(i, m): o for o, i, m in conn.execute(select(Output.id, Output.item_id,
                                                                Output.model_id))}
    pairs, errors, seen = [], [], {}
    for n, row in enumerate(rows, start=2 if path.suffix.lower() == ".csv" else 1):
        if not isinstance(row, dict):
            errors.append(f"row {n}: not an object")
            continue
        item = str(row.get("item", row.get("item_key", "")) or "").strip()
        found = items.get(item) or (by_id.get(int(item)) if item.isdigit() else None)
        names = [str(row.get(c, "") or "").strip() for c in ("model_a", "model_b")]
        task = str(row.get("task", "") or "").strip()
        problem = None
        if found is None:
            problem = f"unknown item {item!r}" if item else "no item"
        elif task and task != found[1]:
            problem = f"item {item!r} belongs to task {found[1]!r}, not {task!r}"
        elif tasks and found[1] not in tasks:
            problem = f"item {item!r} is in task {found[1]!r}, not in {', '.join(tasks)}"
        elif not all(names) or names[0] == names[1]:
            problem = "needs two different models (model_a, model_b)"
        elif any(m not in models for m in names):
            problem = f"unknown model {next(m for m in names if m not in models)!r}"
        elif any((found[0], models[m]) not in outputs for m in names):
            missing = next(m for m in names if (found[0], models[m]) not in outputs)
            problem = f"model {missing!r} has no output for item {item!r}"
        if problem:
            errors.append(f"row {n}: {problem}")
            continue
        ma, mb = models[names[0]], models[names[1]]
        pair = Pair(found[1], found[0], outputs[found[0], ma], outputs[found[0], mb], ma, mb)
        if pair.key in seen:
            errors.append(f"row {n}: the same pair as row {seen[pair.key]}")
            continue
        seen[pair.key] = n
        pairs.append(pair)
    if errors:
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise PairFileError(f"{path}: " + "; ".join(errors[:10]) + more)
    return pairs
