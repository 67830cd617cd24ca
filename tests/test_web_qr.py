"""QR codes of join links, loopback warnings, the public address of `arena queue`, and the
plain-words helpers of the Gradio tabs (no browser needed)."""
from __future__ import annotations

import base64
import json

import pytest

from arena.web.qr import is_loopback, qr_data_uri


def decode(data_uri: str) -> str:
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    assert data_uri.startswith("data:image/png;base64,")
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data_uri.split(",", 1)[1]), np.uint8),
                         cv2.IMREAD_COLOR)
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert points is not None
    return text


@pytest.mark.parametrize("url", ["http://192.168.1.20:7860/live/ABC234",
                                 "https://arena.example.org/live/K7M2QX"])
def test_qr_code_decodes_to_the_join_url(url):
    assert decode(qr_data_uri(url)) == url


def test_loopback_addresses_are_told_apart():
    for url in ("http://127.0.0.1:7870/live/X", "http://localhost:7860", "http://[::1]:80/",
                "http://0.0.0.0:7860/live/X", "127.0.0.5:7860"):
        assert is_loopback(url), url
    for url in ("http://10.0.0.5:7860/live/X", "https://arena.example.org", "http://[2001:db8::1]/"):
        assert not is_loopback(url), url


def test_live_tab_shows_a_qr_code_and_warns_about_loopback():
    from arena.web.ui.live_tab import session_html

    shown = session_html("ABC234", "http://127.0.0.1:7870/live/ABC234", "http://127.0.0.1:7870/p")
    assert "Phones cannot open this address" in shown and "id='live-qr'" in shown
    uri = shown.split("id='live-qr' src='", 1)[1].split("'", 1)[0]
    assert decode(uri) == "http://127.0.0.1:7870/live/ABC234"
    public = session_html("ABC234", "https://arena.example.org/live/ABC234", "https://x/p")
    assert "Phones cannot open" not in public


def test_queue_link_uses_the_public_address(monkeypatch):
    from arena.cli.queue import FALLBACK, base_url

    monkeypatch.delenv("ARENA_PUBLIC_URL", raising=False)
    assert base_url("https://a.example.org:8443") == ("https://a.example.org:8443", None)
    base, warning = base_url(None)
    assert base == FALLBACK and "--base-url" in warning and "ARENA_PUBLIC_URL" in warning
    monkeypatch.setenv("ARENA_PUBLIC_URL", "http://10.1.2.3:7870")
    assert base_url(None) == ("http://10.1.2.3:7870", None)


def test_queue_command_prints_the_public_link(tmp_path, monkeypatch, capsys):
    from toy_catalog import make_toy_catalog

    from arena.cli import main
    from arena.context import Arena
    from arena.store.db import get_engine

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'q.db'}")
    monkeypatch.setenv("ARENA_MEDIA", str(tmp_path / "media"))
    monkeypatch.setenv("ARENA_PUBLIC_URL", "http://10.1.2.3:7870/")
    get_engine.cache_clear()
    make_toy_catalog(Arena.open())
    try:
        assert main(["queue", "--annotator", "annotator-q-1", "--size", "1"]) == 0
        assert json.loads(capsys.readouterr().out)["url"].startswith("http://10.1.2.3:7870/?annotate=")
        assert main(["queue", "--annotator", "annotator-q-1", "--size", "0", "--new-link",
                     "--base-url", "https://arena.example.org"]) == 0
        assert json.loads(capsys.readouterr().out)["url"].startswith("https://arena.example.org/?annotate=")
    finally:
        get_engine.cache_clear()


def test_notes_in_plain_words_and_units_people_read():
    from arena.web.ui.leaderboard_tab import plain_note
    from arena.web.ui.pair_view import cost_words
    from arena.web.ui.plots import dollars_label, seconds_label

    assert plain_note("only 2 voter(s): intervals treat votes as independent (clustering by voter "
                      "needs 20 or more)").startswith("Only 2 voters so far")
    assert "ridge" not in plain_note("never lost (score finite only through the ridge): a-model")
    assert "voters=all" not in plain_note("No voter is flagged. All votes: voters=all.")
    assert [seconds_label(s) for s in (1e-5, 0.001, 0.1, 1, 10)] == [
        "0.01 ms", "1 ms", "100 ms", "1 s", "10 s"]
    assert [dollars_label(x) for x in (1e-6, 0.01, 1, 100)] == ["$0.000001", "$0.01", "$1", "$100"]
    assert [cost_words(c) for c in (None, 0, 4e-5, 2e-8)] == [
        "cost unknown", "no cost", "$0.04 per 1,000 images", "under 1¢ per 1,000 images"]
