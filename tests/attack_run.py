"""One attack scenario end to end, for the test and the benchmark: a demo arena, an honest
crowd, then an attacker with one identity habit; the defended board before and after."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from attack_crowd import PROXY, attack, honest_crowd, truth, weakest_editor
from sqlalchemy import select
from starlette.testclient import TestClient

TASKS = ["object_removal", "background_change", "text_edit", "recolor"]


def build_demo_copy(workdir: Path, per_task: int = 3) -> Path:
    """A demo set built once under ``workdir/template`` (SQLite file and media folder)."""
    from arena.context import Arena
    from arena.demo.build import build_demo

    template = workdir / "template"
    if not (template / "arena.db").exists():
        template.mkdir(parents=True, exist_ok=True)
        arena = Arena.open(f"sqlite:///{template / 'arena.db'}", media=str(template / "media"))
        build_demo(arena, per_task=per_task, repeats=1)
        arena.engine.dispose()
    return template


@dataclass
class Outcome:
    habit: str
    moves: dict            # task -> places the target moved up on the defended board
    before: dict           # task -> position (1 = best) before the attack
    after: dict
    target_votes: int
    full_weight_votes: int
    refused: int
    identities: int
    all_before: dict       # the same on the board of all votes (no defence)
    all_after: dict
    honest_flagged: int    # honest voters flagged by the voter checks


def positions(board: dict) -> dict[str, dict[str, int]]:
    out = {}
    for b in board["leaderboards"]:
        order = sorted(b["rows"], key=lambda r: -r["score"])
        out[b["task"]] = {r["model"]: k + 1 for k, r in enumerate(order)}
    return out


def run(template: Path, workdir: Path, habit: str, *, budget: int = 120, voters: int = 40,
        votes: int = 25) -> Outcome:
    import os

    from arena.context import Arena
    from arena.store.catalog import model_names
    from arena.store.db import get_engine
    from arena.store.schema import Impression, Item, Output, Vote
    from arena.views.cached import boards_of
    from arena.views.voters import db_voter_data
    from arena.web.server import build_app
    from scoring.voters import assess_voters

    here = workdir / habit
    shutil.copytree(template, here)
    os.environ["ARENA_TRUSTED_PROXIES"] = PROXY
    get_engine.cache_clear()
    arena = Arena.open(f"sqlite:///{here / 'arena.db'}", media=str(here / "media"))
    names = model_names(arena.engine)
    with arena.engine.connect() as conn:
        pairs = conn.execute(select(Item.task, Output.model_id).join(Output, Output.item_id == Item.id)
                             .distinct()).all()
    by_task = {t: sorted({names[m] for task, m in pairs if task == t}) for t in TASKS}
    skills = truth(by_task)
    targets = {t: weakest_editor(skills[t]) for t in TASKS}
    app = build_app(arena)

    def peek(impression_id: int) -> tuple[str, str]:
        with arena.engine.connect() as conn:
            row = conn.execute(select(Impression.left_model_id, Impression.right_model_id)
                               .where(Impression.id == impression_id)).one()
        return names[row[0]], names[row[1]]

    honest_crowd(lambda: TestClient(app, client=(PROXY, 50000)), peek, TASKS, skills,
                 voters=voters, votes=votes)
    before = positions(boards_of(arena, None, "defended")[0])
    all_before = positions(boards_of(arena, None, "all")[0])
    result = attack(TestClient(app, client=(PROXY, 50001)), TASKS, targets, habit, budget=budget)
    after = positions(boards_of(arena, None, "defended")[0])
    all_after = positions(boards_of(arena, None, "all")[0])
    report = assess_voters(db_voter_data(arena.engine))
    attacker = sorted(result.voter_ids)
    weights = dict(zip(attacker, report.weights_for(attacker, "defended")))
    with arena.engine.connect() as conn:
        rigged = conn.execute(select(Vote.voter_id).where(Vote.voter_id.in_(attacker))).scalars().all()
    full = sum(weights.get(v, 1.0) >= 1.0 for v in rigged)
    members = set(attacker) | {report.aliases.get(v, v) for v in attacker}
    honest_flagged = sum(bool(f) for v, f in zip(report.voters, report.flagged) if v not in members)
    moves = {t: before[t][targets[t]] - after[t][targets[t]] for t in TASKS}
    arena.engine.dispose()
    return Outcome(habit, moves, {t: before[t][targets[t]] for t in TASKS},
                   {t: after[t][targets[t]] for t in TASKS}, len(rigged), full, result.refused,
                   result.identities, {t: all_before[t][targets[t]] for t in TASKS},
                   {t: all_after[t][targets[t]] for t in TASKS}, honest_flagged)
