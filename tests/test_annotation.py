"""Annotator queues on SQLite and PostgreSQL: issued up front through the vote path, worked in
order, resumed from the database, skipped, kept apart between annotators; the Annotate tab's
callbacks and Gradio endpoints, opened only by the annotator's private link; and ``arena queue``."""
from __future__ import annotations

import functools
import json
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func
from sqlmodel import select
from toy_catalog import gold_catalog, make_toy_catalog

from arena.collect import annotation as an
from arena.collect import annotator_links, checks, issuing, tokens, voting
from arena.store.catalog import ensure_task
from arena.store.db import make_engine, session
from arena.store.schema import Assignment, Impression, Model, Vote, Voter

ALICE, BOB = "annotator-alice", "annotator-bob"


def assignments(arena, annotator):
    with session(arena.engine) as s:
        return s.exec(select(Assignment).where(Assignment.voter_id == annotator)
                      .order_by(Assignment.position)).all()


def count(arena, table, *where) -> int:
    with session(arena.engine) as s:
        return s.exec(select(func.count()).select_from(table).where(*where)).one()


def test_queue_is_issued_up_front_in_order_and_resumes(arena):
    make_toy_catalog(arena)
    created = an.create_queue(arena, ALICE, "recolor", 6)
    assert (created.added, created.first_number, created.task) == (6, 1, "recolor")
    assert created.progress.as_dict() == {
        "annotator": ALICE, "total": 6, "done": 0, "skipped": 0, "pending": 6, "gold_right": 0,
        "gold_decisive": 0, "repeat_same": 0, "repeat_pairs": 0, "finished": False}
    rows = assignments(arena, ALICE)
    assert [a.position for a in rows] == list(range(6))
    assert {a.status for a in rows} == {"pending"}
    with session(arena.engine) as s:
        assert s.get(Voter, ALICE).kind == "annotator"
        imps = [s.get(Impression, a.impression_id) for a in rows]
    # Real impressions: the annotator's, from the sampler, with a propensity.
    assert all(i.voter_id == ALICE and i.task == "recolor" and 0 < i.propensity <= 1 for i in imps)
    assert count(arena, Impression) == 6

    item = an.next_item(arena, ALICE)
    assert (item.assignment_id, item.number, item.total) == (rows[0].id, 1, 6)
    assert item.pair["impression_id"] == rows[0].impression_id
    assert tokens.verify(arena.secret, imps[0].id, imps[0].nonce, item.pair["token"])
    assert "model" not in json.dumps(item.pair)
    assert an.next_item(arena, ALICE) == item            # asking again issues nothing new
    assert count(arena, Impression) == 6

    an.vote(arena, ALICE, item.assignment_id, "left", 1200)
    # A restart: a new engine on the same database picks up at the next item.
    from arena.context import Arena

    again = Arena(engine=make_engine(arena.engine.url.render_as_string(hide_password=False)),
                  media=arena.media)
    resumed = an.next_item(again, ALICE)
    assert (resumed.assignment_id, resumed.number) == (rows[1].id, 2)
    again.engine.dispose()

    # A second queue for the same annotator goes on at the end.
    more = an.create_queue(arena, ALICE, "any", 2)
    assert more.first_number == 7 and more.progress.total == 8
    assert [a.position for a in assignments(arena, ALICE)] == list(range(8))


def test_vote_marks_done_and_stores_exactly_one_vote(arena):
    make_toy_catalog(arena)
    an.create_queue(arena, ALICE, "recolor", 3)
    item = an.next_item(arena, ALICE)
    receipt, created = an.vote(arena, ALICE, item.assignment_id, "right", 900)
    assert created and receipt["choice"] == "right"
    assert {receipt["left_model"], receipt["right_model"]} <= {"alpha", "beta", "gamma"}
    receipt2, created2 = an.vote(arena, ALICE, item.assignment_id, "left", 100)  # a retry
    assert not created2 and receipt2 == receipt
    assert count(arena, Vote) == 1
    with session(arena.engine) as s:
        vote = s.exec(select(Vote)).one()
        assert vote.voter_id == ALICE and vote.duration_ms == 900
        assert vote.impression_id == item.pair["impression_id"]
        assert s.get(Assignment, item.assignment_id).status == "done"
    assert an.next_item(arena, ALICE).number == 2
    with pytest.raises(voting.InvalidVote):
        an.vote(arena, ALICE, an.next_item(arena, ALICE).assignment_id, "maybe")
    # A vote stored without its assignment marked (an interrupted request) is not shown again.
    nxt = an.next_item(arena, ALICE)
    voting.record_vote(arena, nxt.pair["impression_id"], nxt.pair["token"], "tie")
    assert an.next_item(arena, ALICE).number == 3
    assert an.progress(arena, ALICE).done == 2


def test_skipped_items_stay_out_until_brought_back(arena):
    make_toy_catalog(arena)
    an.create_queue(arena, ALICE, "recolor", 3)
    first = an.next_item(arena, ALICE)
    an.skip(arena, ALICE, first.assignment_id)
    an.skip(arena, ALICE, first.assignment_id)             # skipping twice changes nothing
    second = an.next_item(arena, ALICE)
    assert second.number == 2
    an.vote(arena, ALICE, second.assignment_id, "tie")
    with pytest.raises(an.AlreadyVoted):
        an.skip(arena, ALICE, second.assignment_id)
    an.vote(arena, ALICE, an.next_item(arena, ALICE).assignment_id, "both_bad")
    assert an.next_item(arena, ALICE) is None              # finished: the skipped one is not shown
    p = an.progress(arena, ALICE)
    assert (p.done, p.skipped, p.pending, p.finished) == (2, 1, 0, True)

    assert an.requeue_skipped(arena, ALICE) == 1
    back = an.next_item(arena, ALICE)
    assert (back.assignment_id, back.number) == (first.assignment_id, 1)
    an.vote(arena, ALICE, back.assignment_id, "left")
    assert an.next_item(arena, ALICE) is None
    assert an.progress(arena, ALICE).done == 3 and count(arena, Vote) == 3


def test_two_annotators_work_at_once_without_taking_each_others_items(arena):
    make_toy_catalog(arena)
    an.create_queue(arena, ALICE, "recolor", 8)
    an.create_queue(arena, BOB, "recolor", 8)
    alice_first = an.next_item(arena, ALICE)
    with pytest.raises(an.NotInQueue):
        an.vote(arena, BOB, alice_first.assignment_id, "left")
    with pytest.raises(an.NotInQueue):
        an.skip(arena, BOB, alice_first.assignment_id)
    with pytest.raises(an.NotInQueue):
        an.vote(arena, BOB, 10_000, "left")
    assert count(arena, Vote) == 0

    errors = []

    def work(annotator, choice):
        try:
            while (item := an.next_item(arena, annotator)) is not None:
                an.vote(arena, annotator, item.assignment_id, choice)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a, c)) for a, c in ((ALICE, "left"), (BOB, "right"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with session(arena.engine) as s:
        votes = s.exec(select(Vote)).all()
    assert len(votes) == 16
    assert {v.choice for v in votes if v.voter_id == ALICE} == {"left"}
    assert {v.choice for v in votes if v.voter_id == BOB} == {"right"}
    for name in (ALICE, BOB):
        assert an.progress(arena, name).done == 8



def test_progress_reports_agreement_on_planted_checks(arena, monkeypatch):
    monkeypatch.setenv("ARENA_SECRET", "annotation-test-secret")  # which impressions are checks
    gold_catalog(arena)
    # Plant checks far more often than usual, so a short queue has some of each.
    monkeypatch.setattr(issuing, "plan_check", functools.partial(checks.plan_check, repeat_rate=0.4,
                                                                gold_rate=0.4))
    with session(arena.engine) as s:
        kinds = {m.id: m.kind for m in s.exec(select(Model)).all()}

    first_choice = {}

    def work_through(wrong_gold: int = 0):
        while (item := an.next_item(arena, ALICE)) is not None:
            with session(arena.engine) as s:
                imp = s.get(Impression, item.pair["impression_id"])
            if imp.check_kind == "gold":
                right = "right" if kinds[imp.left_model_id] == "baseline" else "left"
                choice = {"left": "right", "right": "left"}[right] if wrong_gold > 0 else right
                wrong_gold -= 1
            elif imp.check_kind == "repeat":                # the same model again (sides swapped)
                choice = {"left": "right", "right": "left"}[first_choice.get(imp.repeat_of, "left")]
            else:
                choice = "left"
            first_choice[imp.id] = choice
            an.vote(arena, ALICE, item.assignment_id, choice)

    an.create_queue(arena, ALICE, "object_removal", 12)
    with session(arena.engine) as s:
        first_kinds = [i.check_kind for i in s.exec(select(Impression)).all()]
    assert "repeat" not in first_kinds                      # nothing voted yet to repeat
    golds = first_kinds.count("gold")
    assert golds >= 2
    work_through(wrong_gold=1)
    p = an.progress(arena, ALICE)
    assert (p.gold_right, p.gold_decisive, p.repeat_pairs) == (golds - 1, golds, 0)

    an.create_queue(arena, ALICE, "object_removal", 12)     # repeats come from the first queue
    work_through()
    with session(arena.engine) as s:
        kinds_now = [i.check_kind for i in s.exec(select(Impression)).all()]
    p = an.progress(arena, ALICE)
    assert p.repeat_pairs == kinds_now.count("repeat") >= 1
    # Repeated pairs of first-queue golds and ordinary pairs were answered the same way.
    assert p.repeat_same == p.repeat_pairs
    assert p.gold_decisive == kinds_now.count("gold") and p.gold_right == p.gold_decisive - 1


def test_clear_errors_for_unknown_tasks_annotators_and_bad_requests(arena):
    make_toy_catalog(arena)
    ensure_task(arena.engine, "style")                      # a task with nothing to compare
    with pytest.raises(an.UnknownTask, match="unknown task 'nope'; known tasks: recolor, style"):
        an.create_queue(arena, ALICE, "nope", 3)
    with pytest.raises(an.AnnotationError, match="'style' has no item with outputs from two models"):
        an.create_queue(arena, ALICE, "style", 3)
    for size in (0, -1, an.MAX_QUEUE_SIZE + 1, "3"):
        with pytest.raises(an.AnnotationError, match="queue size"):
            an.create_queue(arena, ALICE, "recolor", size)
    with pytest.raises(an.AnnotationError, match="8-64 letters"):
        an.create_queue(arena, "bob", "recolor", 3)
    voting.ensure_voter(arena, "public-voter-01")
    with pytest.raises(an.AnnotationError, match="already a public voter"):
        an.create_queue(arena, "public-voter-01", "recolor", 3)
    for call in (an.next_item, an.progress):
        with pytest.raises(an.UnknownAnnotator, match="no queue for annotator 'annotator-nobody'"):
            call(arena, "annotator-nobody")
    assert count(arena, Impression) == 0 and count(arena, Assignment) == 0


# -- the Annotate tab ---------------------------------------------------------------------------

@pytest.fixture
def lite(tmp_path):
    """An arena on SQLite with the toy catalogue (the tab's logic is tested on both databases above)."""
    from arena.context import Arena
    from arena.store.media import MediaStore

    arena = Arena(engine=make_engine(f"sqlite:///{tmp_path / 'ui.db'}"),
                  media=MediaStore(str(tmp_path / "media")))
    make_toy_catalog(arena)
    yield arena
    arena.engine.dispose()


def test_tab_callbacks_walk_a_queue(lite):
    from arena.web.ui import annotate_tab as tab

    assert tab.open_queue(lite, "").page == tab.PROMPT
    an.create_queue(lite, ALICE, "recolor", 3)
    token = annotator_links.issue(lite, ALICE)
    for wrong in (ALICE, "annotator-nobody", token[:-2], "x" * 32):   # the id alone opens nothing
        refused = tab.open_queue(lite, wrong)
        assert "not a working private link" in refused.page and not refused.voting
        assert refused.state is None
    assert tab.credential_from("", SimpleNamespace(query_params={"annotate": token})) == token
    assert tab.credential_from(" typed ", SimpleNamespace(query_params={"annotate": token})) == "typed"
    assert tab.credential_from(None, None) == ""
    pasted = tab.open_queue(lite, f"https://arena.example.org/?annotate={token}")
    assert pasted.voting and pasted.state["annotator"] == ALICE

    screen = tab.open_queue(lite, token)
    # an item opened with the token takes no vote, skip or Next with the id or a wrong token
    for wrong in (ALICE, "", "x" * 32):
        assert not tab.vote_and_reveal(lite, "left", screen.state, wrong).revealed
        assert tab.skip_and_next(lite, screen.state, wrong).reveal == ""
        assert tab.review_skipped(lite, wrong).state is None
    assert count(lite, Vote) == 0 and an.progress(lite, ALICE).skipped == 0
    assert screen.header.startswith("**Item 1 of 3** · 0 done · 0 skipped")
    assert "pa-pair" in screen.page and screen.voting and not screen.review
    shown = screen.page
    screen = tab.vote_and_reveal(lite, "left", screen.state)
    assert screen.reveal.startswith("**You voted A is better.** A was **")
    assert screen.revealed and screen.header.startswith("**Item 1 of 3**")
    assert re.findall(r"src='([^']+)'", screen.page) == re.findall(r"src='([^']+)'", shown)
    assert tab.vote_and_reveal(lite, "right", screen.state).reveal.startswith(
        "Already recorded: **You voted A is better.**")          # a second press stores nothing
    assert count(lite, Vote) == 1
    screen = tab.next_screen(lite, screen.state)
    assert screen.header.startswith("**Item 2 of 3** · 1 done") and screen.voting
    screen = tab.skip_and_next(lite, screen.state)
    assert screen.reveal == "Skipped."
    assert screen.header.startswith("**Item 3 of 3** · 1 done · 1 skipped")
    stale = screen.state
    screen = tab.vote_and_next(lite, "both_bad", screen.state)
    assert "You voted both bad" in screen.reveal
    assert "All done: 2 voted, 1 skipped." in screen.page and screen.review and not screen.voting
    again = tab.vote_and_next(lite, "left", stale)             # a second click on the same item
    assert again.reveal.startswith("Already recorded: **You voted both bad.**")
    assert count(lite, Vote) == 2

    screen = tab.review_skipped(lite, token)
    assert screen.reveal == "1 skipped item back in the queue."
    assert screen.header.startswith("**Item 2 of 3**")
    screen = tab.vote_and_next(lite, "tie", screen.state)
    assert "All done: 3 voted." in screen.page and not screen.review
    # Nothing on screen (e.g. a key pressed on the finished screen): just shows the queue again.
    assert tab.vote_and_next(lite, "left", None, token).page == screen.page
    assert count(lite, Vote) == 3


def test_tab_endpoints_through_gradio_client(lite):
    gradio = pytest.importorskip("gradio")
    gradio_client = pytest.importorskip("gradio_client")
    from arena.web.ui.annotate_tab import build_annotate_tab

    an.create_queue(lite, ALICE, "recolor", 2)
    token = annotator_links.issue(lite, ALICE)
    with gradio.Blocks(analytics_enabled=False) as blocks:
        with gradio.Tabs():
            with gradio.Tab("Annotate", id="annotate") as tab:
                inputs, show, outputs = build_annotate_tab(lite)
        tab.select(show, inputs, outputs, api_name=False)
        blocks.load(show, inputs, outputs, api_name=False)
    _, url, _ = blocks.launch(prevent_thread_lock=True, quiet=True)
    try:
        client = gradio_client.Client(url, verbose=False)
        for wrong in (ALICE, "", "x" * 32):          # the id alone, nothing, a made-up token
            for endpoint in ("/annotate_open", "/annotate_left", "/annotate_skip",
                             "/annotate_next", "/annotate_review_skipped"):
                _, header, page, _ = client.predict(a=wrong, api_name=endpoint)
                assert header == "" and "pa-pair" not in page
        assert count(lite, Vote) == 0 and an.progress(lite, ALICE).pending == 2
        annotator, header, page, reveal = client.predict(a=token, api_name="/annotate_open")
        assert annotator == token and header.startswith("**Item 1 of 2**") and "pa-pair" in page
        _, _, page, _ = client.predict(a=ALICE, api_name="/annotate_left")   # opened, then the id
        assert "pa-pair" not in page and count(lite, Vote) == 0
        client.predict(a=token, api_name="/annotate_open")
        _, header, page, reveal = client.predict(a=token, api_name="/annotate_right")
        assert reveal.startswith("**You voted B is better.**") and header.startswith("**Item 1 of 2**")
        assert "data-phase='reveal'" in page        # named under the images just judged
        _, header, page, _ = client.predict(a=token, api_name="/annotate_left")   # a second press
        assert header.startswith("**Item 1 of 2**") and "data-phase='reveal'" in page
        _, header, _, _ = client.predict(a=token, api_name="/annotate_next")
        assert header.startswith("**Item 2 of 2**")
        _, header, page, reveal = client.predict(a=token, api_name="/annotate_skip")
        assert reveal == "Skipped." and "All done: 1 voted, 1 skipped." in page
        _, header, _, reveal = client.predict(a=token, api_name="/annotate_review_skipped")
        assert header.startswith("**Item 2 of 2**")
        client.predict(a=token, api_name="/annotate_tie")
        _, _, page, _ = client.predict(a=token, api_name="/annotate_next")
        assert "All done: 2 voted." in page
    finally:
        blocks.close()
    assert count(lite, Vote) == 2


def test_annotate_tab_on_the_real_app(request):
    demo_server = request.getfixturevalue("demo_server")
    gradio_client = pytest.importorskip("gradio_client")
    from live_server import app_env, run_cli

    env = app_env(Path(demo_server.log.name).parent)
    done = run_cli(["queue", "--annotator", "annotator-live-1", "--task", "text_edit",
                    "--size", "2", "--base-url", demo_server.url], env)
    assert done.returncode == 0, done.stderr
    link = json.loads(done.stdout)["url"]
    assert link.startswith(demo_server.url + "/?annotate=")
    client = gradio_client.Client(demo_server.url + "/", verbose=False)
    _, header, page, _ = client.predict(a="annotator-live-1", api_name="/annotate_open")
    assert header == "" and "not a working private link" in page       # the id alone
    _, header, page, _ = client.predict(a=link, api_name="/annotate_open")
    assert header.startswith("**Item 1 of 2**") and "pa-pair" in page
    _, header, _, reveal = client.predict(a=link, api_name="/annotate_left")
    assert reveal.startswith("**You voted A is better.**") and header.startswith("**Item 1 of 2**")
    _, header, _, _ = client.predict(a=link, api_name="/annotate_next")
    assert header.startswith("**Item 2 of 2**")


# -- arena queue --------------------------------------------------------------------------------

def test_queue_command(tmp_path, monkeypatch, capsys):
    from arena.cli import main
    from arena.context import Arena
    from arena.store.db import get_engine

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ARENA_MEDIA", str(tmp_path / "media"))
    get_engine.cache_clear()
    make_toy_catalog(Arena.open())

    assert main(["queue", "--annotator", ALICE, "--task", "recolor", "--size", "4",
                 "--url", "https://arena.example.org/"]) == 0
    out = json.loads(capsys.readouterr().out)
    base, token = out["url"].split("?annotate=")
    assert base == "https://arena.example.org/" and annotator_links.resolve(Arena.open(), token) == ALICE
    assert (out["annotator"], out["task"], out["added"], out["first_item"]) == (ALICE, "recolor", 4, 1)
    assert out["queue"]["pending"] == 4 and out["queue"]["finished"] is False

    monkeypatch.setenv("ARENA_PUBLIC_URL", "https://public.example.org")
    assert main(["queue", "--annotator", ALICE, "--size", "1"]) == 0     # more: the same link
    captured = capsys.readouterr()
    assert json.loads(captured.out)["url"] is None and "--new-link" in captured.err
    assert annotator_links.resolve(Arena.open(), token) == ALICE
    assert main(["queue", "--annotator", ALICE, "--size", "0", "--new-link"]) == 0
    fresh = json.loads(capsys.readouterr().out)["url"]
    assert fresh.startswith("https://public.example.org/?annotate=")
    assert annotator_links.resolve(Arena.open(), token) is None
    assert annotator_links.resolve(Arena.open(), fresh) == ALICE

    assert main(["queue", "--annotator", ALICE, "--size", "0", "--format", "table"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:7] == ["annotator", "task", "added", "total", "done", "skipped", "pending"]
    assert table[1].split()[:6] == [ALICE, "0", "5", "0", "0", "5"]

    assert main(["queue", "--size", "1", "--format", "csv"]) == 0      # a new random id
    row = capsys.readouterr().out.splitlines()[1].split(",")
    assert row[0].startswith("annotator-") and row[1:3] == ["any", "1"]

    for args, message in ((["--annotator", ALICE, "--task", "nope"], "unknown task 'nope'"),
                          (["--annotator", "bob"], "8-64 letters"),
                          (["--annotator", "annotator-nobody", "--size", "0"], "no queue for annotator"),
                          (["--annotator", ALICE, "--size", "-2"], "--size must be 0 or more")):
        assert main(["queue", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("arena queue: error: ") and message in err and err.count("\n") == 1
    get_engine.cache_clear()


def test_queue_command_runs_as_a_module(tmp_path):
    from live_server import app_env, run_cli

    env = app_env(tmp_path)
    done = run_cli(["queue", "--help"], env)
    assert done.returncode == 0 and "--annotator" in done.stdout
    assert "queue" in run_cli(["--help"], env).stdout
