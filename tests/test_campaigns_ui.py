"""The Campaigns tab (organiser key only), a campaign's board on the Leaderboard tab, and a
campaign member working through their queue on the Annotate tab with their private link."""
from __future__ import annotations

import re

import pytest
from toy_catalog import make_toy_catalog

from arena.collect import annotation as an
from arena.collect import annotator_links
from arena.collect import campaigns as cp
from arena.store.db import make_engine
from arena.store.organiser import organiser_key


@pytest.fixture
def lite(tmp_path):
    from arena.context import Arena
    from arena.store.media import MediaStore

    arena = Arena(engine=make_engine(f"sqlite:///{tmp_path / 'ui.db'}"),
                  media=MediaStore(str(tmp_path / "media")))
    make_toy_catalog(arena)
    yield arena
    arena.engine.dispose()


def work(arena, tokens, answer=lambda name: "left"):
    for name, token in tokens.items():
        voter = annotator_links.resolve(arena, token)
        while (item := an.next_item(arena, voter)) is not None:
            an.vote(arena, voter, item.assignment_id, answer(name), 1800)


def test_campaign_tab_shows_nothing_without_the_key(lite):
    from arena.web.ui import campaign_tab as tab

    made = cp.create_campaign(lite, "spring", "recolor", 8, overlap=2, annotators="ann,bob,cy")
    for key in (None, "", "wrong", made.tokens["ann"]):
        text, rows, names, members = tab.overview(lite, key, "spring")
        assert (rows, names, members) == ([], [], []) and "organiser key" in text
        assert tab.confusion_rows(lite, key, "spring", "ann") == []
        assert tab.export_file(lite, key, "spring") is None
    key = organiser_key(lite.engine)
    text, rows, names, members = tab.overview(lite, key, "spring")
    assert names == ["spring"] and members == ["ann", "bob", "cy"]
    assert "0 of " in text and "no pair has labels from two annotators yet" in text
    assert [r[0] for r in rows] == ["ann", "bob", "cy"] and rows[0][3] == ""

    work(lite, made.tokens, lambda name: "right" if name == "cy" else "left")
    text, rows, _, _ = tab.overview(lite, key, "nope")            # an unknown name: the latest
    assert "**spring**" in text and "Krippendorff's alpha (nominal)" in text and "95% CI" in text
    assert all(r[1].split("/")[0] == r[1].split("/")[1] for r in rows)
    assert re.match(r"\d+% of \d+", rows[0][3])
    confusion = tab.confusion_rows(lite, key, "spring", "ann")
    assert [r[0] for r in confusion] == ["A better", "B better", "Tie", "Both bad"]
    assert sum(sum(r[1:]) for r in confusion) == int(rows[0][3].split(" of ")[1])
    path = tab.export_file(lite, key, "spring")
    assert path.endswith("spring-labels.csv")
    import csv

    rows = list(csv.DictReader(open(path)))
    assert {r["judge"] for r in rows} == {"ann", "bob", "cy"} and len(rows) > 8


def test_leaderboard_tab_shows_a_campaign_board(lite):
    from arena.web.ui import leaderboard_tab as tab

    made = cp.create_campaign(lite, "spring", "recolor", 10, overlap=2, annotators="ann,bob,cy")
    work(lite, made.tokens)
    html, plot, summary = tab.board_view(lite, "recolor", "all", "fit", "spring")
    assert "labels** of campaign **spring** on recolor" in summary and "clustered by annotator" in summary
    assert html.count("<tr class=") == 3 and plot is not None
    arena_html, _, arena_summary = tab.board_view(lite, "recolor", "all", "fit", tab.ARENA_BOARD)
    assert arena_summary.startswith("**") and "campaign" not in arena_summary
    _, _, missing = tab.board_view(lite, "recolor", "all", "fit", "nope")
    assert "unknown campaign 'nope'" in missing


def test_a_member_works_through_the_campaign_with_the_link_through_gradio(lite):
    gradio = pytest.importorskip("gradio")
    gradio_client = pytest.importorskip("gradio_client")
    from arena.web.ui.annotate_tab import build_annotate_tab

    made = cp.create_campaign(lite, "spring", "recolor", 3, overlap=1, annotators="ann,bob",
                              repeat_share=0)
    with gradio.Blocks(analytics_enabled=False) as blocks:
        with gradio.Tabs():
            with gradio.Tab("Annotate", id="annotate") as tab:
                inputs, show, outputs = build_annotate_tab(lite)
        tab.select(show, inputs, outputs, api_name=False)
    _, url, _ = blocks.launch(prevent_thread_lock=True, quiet=True)
    try:
        client = gradio_client.Client(url, verbose=False)
        for wrong in ("campaign1-ann", "ann", made.tokens["ann"].upper()):
            _, header, page, _ = client.predict(a=wrong, api_name="/annotate_open")
            assert header == "" and "not a working private link" in page
        token = made.tokens["ann"]
        _, header, page, _ = client.predict(a=token, api_name="/annotate_open")
        assert header.startswith("Campaign **spring** · ann · **Item 1 of ")
        total = int(re.search(r"of (\d+)\*\*", header).group(1))
        for _ in range(total):
            client.predict(a=token, api_name="/annotate_tie")
            _, header, page, _ = client.predict(a=token, api_name="/annotate_next")
        assert "All done" in page
    finally:
        blocks.close()
    from arena.views.campaign_status import campaign_status

    rows = {r["annotator"]: r for r in campaign_status(lite, "spring", rounds=0)["annotators"]}
    assert rows["ann"]["done"] == rows["ann"]["assigned"] == total and rows["bob"]["done"] == 0
