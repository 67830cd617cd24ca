"""A hall of phones on SQLite and PostgreSQL: seats issued by group commit, votes checked against
the database (never a process's memory), and the room watched by server-sent events."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select
from toy_catalog import make_toy_catalog

from arena.collect import live
from arena.collect.live import rounds
from arena.context import Arena
from arena.store.db import make_engine
from arena.store.schema import Impression, LiveSeat, Vote
from arena.web.live_watch import LiveWatch


@pytest.fixture
def room(arena):
    make_toy_catalog(arena)
    made = live.create_session(arena, "recolor")
    row = live.get_session(arena, made.code)
    return made, [live.join(arena, row, "hall") for _ in range(40)]


def other_process(arena: Arena) -> Arena:
    """The same database through an engine (and caches) of its own, as another process has."""
    return Arena(engine=make_engine(str(arena.engine.url.render_as_string(hide_password=False))),
                 media=arena.media)


def count(arena, statement) -> int:
    with arena.engine.connect() as conn:
        return conn.execute(statement).scalar_one()


def test_a_hall_opening_at_once_gets_one_stored_impression_each_in_few_commits(arena, room):
    made, seats = room
    live.next_round(arena, made.code, made.presenter_token)
    before = rounds.issuer(arena).batches

    def open_round(voter):
        view = live.state(arena, made.code, voter)
        with arena.engine.connect() as conn:      # answered only once it is stored
            stored = conn.execute(select(LiveSeat.impression_id).where(
                LiveSeat.voter_id == voter)).scalar_one()
        return view, stored

    with ThreadPoolExecutor(16) as pool:
        views = list(pool.map(open_round, seats + seats[:10]))    # ten phones open twice at once
    ids = [v["pair"]["impression_id"] for v, _ in views]
    assert all(v["pair"]["impression_id"] == stored for v, stored in views)
    assert len(set(ids)) == len(seats) and ids[len(seats):] == ids[:10]
    assert count(arena, select(func.count()).select_from(LiveSeat)) == len(seats)
    assert count(arena, select(func.count()).select_from(Impression)
                 .where(Impression.session_id.is_not(None))) == len(seats)
    assert rounds.issuer(arena).batches - before < len(seats)      # commits were shared
    for view, _ in views[:5]:
        answer, created = live.vote(arena, made.code, view["pair"]["impression_id"],
                                    view["pair"]["token"], "left", 900)
        assert created and answer["choice"] == "left"
    assert count(arena, select(func.count()).select_from(Vote)) == 5


def test_another_process_sees_the_same_seat_and_refuses_votes_after_a_reveal_at_once(arena, room):
    made, seats = room
    live.next_round(arena, made.code, made.presenter_token)
    mine = live.state(arena, made.code, seats[0])
    theirs = other_process(arena)
    try:
        seen = live.state(theirs, made.code, seats[0])     # the seat stored here, read there
        assert seen["pair"]["impression_id"] == mine["pair"]["impression_id"]
        late = live.state(theirs, made.code, seats[1])
        assert live.state(arena, made.code, seats[1])["pair"]["impression_id"] == \
            late["pair"]["impression_id"]
        live.reveal(arena, made.code, made.presenter_token)
        with pytest.raises(live.RoundNotOpen):           # no cached "open" in the other process
            live.vote(theirs, made.code, late["pair"]["impression_id"], late["pair"]["token"], "tie")
        assert live.state(theirs, made.code)["state"] == "revealed"
        nxt = live.next_round(arena, made.code, made.presenter_token)
        again = live.state(theirs, made.code, seats[0])
        assert again["round"] == nxt["round"] == 2 and again["pair"]["impression_id"] != \
            mine["pair"]["impression_id"]
    finally:
        theirs.engine.dispose()


def test_the_phones_see_the_revealed_tally(arena, room):
    made, seats = room
    live.next_round(arena, made.code, made.presenter_token)
    for voter, choice in zip(seats[:3], ("left", "left", "both_bad")):
        view = live.state(arena, made.code, voter)
        live.vote(arena, made.code, view["pair"]["impression_id"], view["pair"]["token"], choice)
    live.reveal(arena, made.code, made.presenter_token)
    phone = live.state(arena, made.code, seats[0])
    assert phone["your_vote"] == "left" and phone["reveal"]["tally"]["counts"] == {
        "left": 2, "right": 0, "tie": 0, "both_bad": 1}
    assert phone["reveal"]["tally"] == live.presenter_state(arena, made.code)["tally"]
    assert "impression_id" not in live.state(arena, made.code, seats[5])["pair"]   # too late to open


def test_event_stream_tells_each_change_and_stays_quiet_between(arena, room):
    made, _ = room
    watch = LiveWatch(arena, poll_s=0.1, keepalive_s=0.5)

    async def scenario():
        stream = await watch.events(made.code)
        first = await stream.__anext__()
        assert first.startswith(b"retry: ") and json.loads(first.split(b"data: ")[1]) == {
            "code": made.code, "round": 0, "state": "open"}
        began = time.monotonic()
        assert await stream.__anext__() == b": still here\n\n"      # a comment, not a request
        assert time.monotonic() - began >= 0.3
        threading.Timer(0.2, live.next_round, (arena, made.code, made.presenter_token)).start()
        while (chunk := await stream.__anext__()).startswith(b":"):
            pass
        assert json.loads(chunk[len(b"data: "):]) == {"code": made.code, "round": 1, "state": "open"}
        watch.poll_s = 600                             # from now on only refresh() can tell
        await asyncio.sleep(0.5)
        await asyncio.to_thread(live.reveal, arena, made.code, made.presenter_token)
        await watch.refresh(made.code)                 # the presenter's process: no poll needed
        chunk = await asyncio.wait_for(stream.__anext__(), 10)
        assert json.loads(chunk[len(b"data: "):])["state"] == "revealed"
        await stream.aclose()
        assert watch._waiting[made.code] == 0
        with pytest.raises(live.UnknownSession):
            await watch.events("ZZZZZZ")

    # on a thread of its own: a test before may hold an event loop in this one (Playwright's
    # sync API keeps one running while its session-wide browser is open)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()


def test_events_over_http(client_url, organiser):
    made = httpx.post(client_url + "/api/live", json={"task": "recolor"}, headers=organiser,
                      timeout=30).json()
    code, presenter = made["code"], {"X-Presenter-Token": made["presenter_token"]}
    assert httpx.get(f"{client_url}/api/live/ZZZZZZ/events", timeout=30).status_code == 404
    with httpx.stream("GET", f"{client_url}/api/live/{code}/events", timeout=30) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
        assert json.loads(first[5:]) == {"code": code, "round": 0, "state": "open"}
        began = time.monotonic()
        httpx.post(f"{client_url}/api/live/{code}/next", headers=presenter, timeout=30)
        woke = next(line for line in lines if line.startswith("data:"))
        assert json.loads(woke[5:])["round"] == 1 and time.monotonic() - began < 5


@pytest.fixture
def client_url(live_url):
    return live_url


def test_round_images_come_from_memory_with_bytes_of_their_own(client_url, organiser):
    import io

    from PIL import Image

    made = httpx.post(client_url + "/api/live", json={"task": "recolor"}, headers=organiser,
                      timeout=30).json()
    shown = httpx.post(f"{client_url}/api/live/{made['code']}/next", timeout=30,
                       headers={"X-Presenter-Token": made["presenter_token"]}).json()
    url = shown["pair"]["left_url"]
    assert url.startswith("/live-media/")
    first, second = (httpx.get(client_url + url, timeout=30) for _ in range(2))
    assert first.status_code == second.status_code == 200 and first.content != second.content
    assert first.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(first.content)).tobytes() == Image.open(io.BytesIO(second.content)).tobytes()
    assert httpx.get(client_url + url[:-3] + "xyz", timeout=30).status_code == 404
    assert httpx.get(client_url + "/live-media/nope", timeout=30).status_code == 404


def test_a_hall_asking_for_a_round_image_at_once_reads_its_file_once(arena, room, monkeypatch):
    from arena.web.api_app import build_api
    from arena.web.visitors import Visitors

    made, seats = room
    live.next_round(arena, made.code, made.presenter_token)
    url = live.state(arena, made.code, seats[0])["pair"]["left_url"]
    reads = []
    path = type(arena.media).path

    def counted(self, name):
        reads.append(name)
        return path(self, name)

    monkeypatch.setattr(type(arena.media), "path", counted)
    app = build_api(arena, Visitors(arena))

    async def hall():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hall") as client:
            return await asyncio.gather(*(client.get(url) for _ in range(50)))

    with ThreadPoolExecutor(1) as pool:          # (a loop of its own, as the test above)
        answers = pool.submit(asyncio.run, hall()).result()
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 50            # bytes differ at every request
    assert len(reads) == 1
