"""Leaderboards are kept until the next vote (SQLite and PostgreSQL), then refitted."""
from __future__ import annotations

from toy_catalog import make_toy_catalog

from arena.collect.voting import issue_pair, record_vote
from arena.views.cache import BoardCache
from arena.web.ui.leaderboard_tab import leaderboard_rows


def vote(arena, voter="voter-cache-01", choice="left"):
    pair = issue_pair(arena, "recolor", voter)
    record_vote(arena, pair["impression_id"], pair["token"], choice, 900)


def test_a_result_is_reused_until_a_vote_arrives(arena):
    make_toy_catalog(arena)
    cache, calls = BoardCache(arena.engine), []

    def fit():
        calls.append(1)
        return {"fit": len(calls)}

    assert cache.version()[0] == 0 and cache.version()[1] > 0      # outputs, no votes yet
    assert cache.get("k", fit) == {"fit": 1} and cache.get("k", fit) == {"fit": 1}
    vote(arena)
    assert cache.version()[0] > 0
    assert cache.get("k", fit) == {"fit": 2} and cache.get("k", fit) == {"fit": 2}
    assert cache.get("other", fit) == {"fit": 3}           # keys are separate
    make_toy_catalog(arena, task="restyle", items=1)       # new outputs: new latencies to show
    assert cache.get("k", fit) == {"fit": 4}


def test_old_entries_and_old_results_expire(arena):
    make_toy_catalog(arena)
    fresh = BoardCache(arena.engine, ttl_s=0.0)
    assert fresh.get("k", lambda: 1) == 1 and fresh.get("k", lambda: 2) == 2
    small = BoardCache(arena.engine, size=2)
    for key in "abc":
        small.get(key, lambda: key)
    assert small.get("a", lambda: "refit") == "refit" and small.get("c", lambda: "refit") == "c"


def test_the_leaderboard_tab_shows_each_new_vote(arena):
    make_toy_catalog(arena)
    for k in range(3):
        vote(arena, voter=f"voter-cache-{k:02d}")
    rows, summary = leaderboard_rows(arena, "recolor")
    assert summary.startswith("**3 votes**")
    notes = [line[2:] for line in summary.splitlines() if line.startswith("- ")]
    assert any(n.startswith("Only 3 voters so far: the intervals treat every vote as independent")
               for n in notes)
    assert any("identities too new to be checked" in n for n in notes)   # the defended board
    assert all(not n[0].islower() and n.endswith(".") for n in notes)
    assert leaderboard_rows(arena, "recolor") == (rows, summary)
    vote(arena, voter="voter-cache-09", choice="right")
    assert leaderboard_rows(arena, "recolor")[1].startswith("**4 votes**")


def test_position_bias_is_shown_once_there_are_enough_votes(arena):
    make_toy_catalog(arena)
    for k in range(21):
        vote(arena, voter=f"voter-bias-{k:02d}", choice=("left", "right", "tie")[k % 3])
        summary = leaderboard_rows(arena, "recolor")[1]
        assert ("Position bias: between equal models the left image wins" in summary) == (k >= 19)


def test_pages_and_api_read_one_cached_result_per_computation(arena):
    from arena.views.cached import boards_of, pareto_of, stats_of

    make_toy_catalog(arena)
    for k in range(3):
        vote(arena, voter=f"voter-views-{k:02d}")
    boards, pareto, stats = boards_of(arena), pareto_of(arena, "recolor"), stats_of(arena)
    assert boards_of(arena) is boards and pareto_of(arena, "recolor") is pareto and stats_of(arena) is stats
    assert boards_of(arena, ["recolor"])[0]["leaderboards"][0]["votes"] == 3
    assert {f["task"] for f in pareto["fronts"]} == {"recolor"}
    vote(arena, voter="voter-views-09")
    assert boards_of(arena) is not boards and boards_of(arena)[0]["leaderboards"][0]["votes"] == 4


def test_readers_at_once_after_a_vote_share_one_fit(arena):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    make_toy_catalog(arena)
    cache = BoardCache(arena.engine)
    calls, lock = [], threading.Lock()

    def slow_fit():
        with lock:
            calls.append(1)
        time.sleep(0.3)
        return "board"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: cache.get("k", slow_fit), range(8)))
    assert results == ["board"] * 8 and len(calls) == 1


def test_a_board_is_not_refitted_sooner_than_its_spacing_after_a_vote(arena):
    make_toy_catalog(arena)
    slow = BoardCache(arena.engine, refit_spacing=1e6)     # every fit "recent" for the test
    calls = []

    def fit():
        calls.append(1)
        return {"fit": len(calls)}

    assert slow.get("k", fit) == {"fit": 1}
    vote(arena)
    assert slow.get("k", fit) == {"fit": 1}                # a vote: kept, the fit is too recent
    make_toy_catalog(arena, task="restyle", items=1)       # new outputs: always refitted
    assert slow.get("k", fit) == {"fit": 2}
    eager = BoardCache(arena.engine, refit_spacing=0.0)
    assert eager.get("k", fit) == {"fit": 3}
    vote(arena, voter="voter-cache-02")
    assert eager.get("k", fit) == {"fit": 4}               # no spacing: every vote refits



def test_the_task_list_is_kept_until_the_catalogue_changes(arena):
    """tasks_of answers from memory while tasks, items and outputs are unchanged (votes do not
    matter), and at once shows a new task, a new item without outputs and a new output."""
    from sqlalchemy import event
    from toy_catalog import solid

    from arena.store.catalog import add_item, ensure_task
    from arena.views.cached import tasks_of

    make_toy_catalog(arena)
    statements: list[str] = []

    def seen(conn, cursor, sql, *rest):
        statements.append(sql)

    def counts() -> dict[str, tuple[int, int]]:
        return {t.name: (t.items, t.models) for t in tasks_of(arena)}

    event.listen(arena.engine, "before_cursor_execute", seen)
    try:
        assert counts() == {"recolor": (4, 3)}
        vote(arena)
        statements.clear()
        for _ in range(5):
            assert counts() == {"recolor": (4, 3)}
        assert len(statements) == 5                          # the version query, nothing else
        assert not any("GROUP BY" in sql.upper() for sql in statements)
        ensure_task(arena.engine, "text_edit")
        assert counts() == {"recolor": (4, 3), "text_edit": (0, 0)}
        add_item(arena.engine, arena.media, key="recolor-new", task="recolor",
                 instruction="Make it green", source=solid((0, 200, 0)))
        assert counts()["recolor"] == (5, 3)
        make_toy_catalog(arena, task="text_edit", models=("delta",), items=1)
        assert counts()["text_edit"] == (1, 1)
    finally:
        event.remove(arena.engine, "before_cursor_execute", seen)
