"""Work claimed in the database: one driver per (item, model) pair, leases that lapse, and
``arena generate`` leaving alone the pairs another run holds."""
from sqlalchemy import func, select

from arena.outputs.claims import ClaimKeeper, claim, claimed_by_others, release, renew
from arena.outputs.generate import RunOptions, generate
from arena.store.catalog import ensure_model
from arena.store.schema import GenerationClaim, Model
from models.config import load_models
from test_generate import CLASSICAL, store_scenes, write


def count(arena):
    with arena.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(GenerationClaim)).scalar_one()


def test_one_owner_per_pair_until_release_or_expiry(arena):
    (item, *_) = store_scenes(arena, per_task=1)
    model = ensure_model(arena.engine, "m", "classical")
    assert claim(arena.engine, item.id, model.id, "a") and claim(arena.engine, item.id, model.id, "a")
    assert not claim(arena.engine, item.id, model.id, "b")
    assert claimed_by_others(arena.engine, [model.id], "b") == {(item.id, model.id)}
    release(arena.engine, item.id, model.id, "b")  # not b's: nothing happens
    assert not claim(arena.engine, item.id, model.id, "b")
    release(arena.engine, item.id, model.id, "a")
    assert claim(arena.engine, item.id, model.id, "b")
    # a lease that ran out (a crashed driver) is taken over; a renewed one is not
    assert renew(arena.engine, "b", lease_s=-1) == 1
    assert claim(arena.engine, item.id, model.id, "c")
    assert renew(arena.engine, "c", lease_s=60) == 1 and not claim(arena.engine, item.id, model.id, "d")


def test_keeper_renews_then_drops_its_claims(arena):
    items = store_scenes(arena, per_task=1)
    model = ensure_model(arena.engine, "m", "classical")
    with ClaimKeeper(arena.engine, lease_s=0.3) as keeper:
        assert all(keeper.claim(i.id, model.id) for i in items)
        import time

        time.sleep(0.5)  # past one lease: the renewals keep the claims
        assert not claim(arena.engine, items[0].id, model.id, "other")
    assert count(arena) == 0


def test_generate_skips_pairs_another_run_holds(arena, tmp_path):
    items = store_scenes(arena)
    specs = load_models(write(tmp_path, CLASSICAL))
    options = RunOptions(repeats=1, ocr=False)
    generate(arena, specs[2:], options=options, limit=1)  # registers no-edit on 4 items
    with arena.engine.connect() as conn:
        no_edit = conn.execute(select(Model).where(Model.name == "no-edit")).one()
    busy = [i for i in items if i.task == "recolor"][1]
    assert claim(arena.engine, busy.id, no_edit.id, "another-driver", lease_s=60)
    summary = generate(arena, specs[2:], options=options)
    assert dict(summary.made) == {"no-edit": 3} and dict(summary.skipped) == {"no-edit": 5}
    release(arena.engine, busy.id, no_edit.id, "another-driver")
    assert dict(generate(arena, specs[2:], options=options).made) == {"no-edit": 1}
    assert count(arena) == 0
