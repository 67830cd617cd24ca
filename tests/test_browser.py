"""End to end in Debian's chromium: open the arena, vote with a click and a key, see the reveal."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


SIZES = {"phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
                   "is_mobile": True, "has_touch": True},
         "desktop": {"viewport": {"width": 1366, "height": 900}}}


def boxes(page, selector: str) -> list[dict]:
    return [page.locator(selector).nth(i).bounding_box() for i in range(page.locator(selector).count())]


def stored_votes(server, tmp_path) -> int:
    from live_server import run_cli

    out = tmp_path / f"votes-{os.urandom(4).hex()}.json"
    assert run_cli(["export", str(out)], server.env).returncode == 0
    return len(json.loads(out.read_text()))


def contrast(page, selector: str) -> float:
    """WCAG contrast of an element's text colour against its background colour."""
    return page.evaluate("""sel => {
      const el = document.querySelector(sel), cs = getComputedStyle(el);
      const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
      const lum = c => { const v = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
                         return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
      const a = lum(rgb(cs.color)), b = lum(rgb(cs.backgroundColor));
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); }""", selector)


@pytest.mark.parametrize("size", SIZES)
def test_the_reveal_sits_under_the_pair_voted_on(browser, demo_server, tmp_path, size):
    shots = Path(os.environ.get("ARENA_SCREENSHOT_DIR", tmp_path))
    context = browser.new_context(**SIZES[size])
    page = context.new_page()
    height = SIZES[size]["viewport"]["height"]
    page.goto(demo_server.url, wait_until="load")
    page.wait_for_selector("#pair .pa-view[data-phase=vote] .pa-b img", timeout=30_000)
    shown = [page.locator(f"#pair .pa-{side} img").get_attribute("src") for side in ("source", "a", "b")]
    before = stored_votes(demo_server, tmp_path)

    # Phone first: outputs at least as large as the source, buttons on screen without scrolling.
    source, a, b = (page.locator(f"#pair .pa-{s} img").bounding_box() for s in ("source", "a", "b"))
    assert a["width"] >= source["width"] and b["width"] >= source["width"]
    assert abs(a["y"] - b["y"]) < 2 and a["x"] + a["width"] <= b["x"]
    assert page.locator("#vote-bad").bounding_box()["y"] + 40 < height
    assert all(img.get_attribute("alt") for img in page.locator("img").all())
    for selector in ("#vote-a", "#vote-b", "#vote-tie"):
        assert contrast(page, selector) >= 4.5, selector
    page.screenshot(path=str(shots / f"vote-{size}.png"))

    page.keyboard.press("1")
    page.keyboard.press("2")           # a quick second press lands on the pair already answered
    page.wait_for_selector("#pair .pa-view[data-phase=reveal]", timeout=30_000)
    page.wait_for_timeout(800)
    page.keyboard.press("3")            # nothing to vote on until Next
    page.wait_for_timeout(600)
    assert [page.locator(f"#pair .pa-{side} img").get_attribute("src")
            for side in ("source", "a", "b")] == shown            # the same pair, now revealed
    assert "pa-chosen" in page.locator("#pair .pa-a").get_attribute("class")
    assert "You voted A is better" in page.locator("#pair .pa-note").inner_text()
    for side in "ab":                   # each name under its own image, on screen
        image = page.locator(f"#pair .pa-{side} img").bounding_box()
        name = page.locator(f"#pair .pa-{side} .pa-model").bounding_box()
        assert page.locator(f"#pair .pa-{side} .pa-model").inner_text().strip()
        assert image["y"] + image["height"] - 2 <= name["y"] < image["y"] + image["height"] + 40
        assert image["x"] - 1 <= name["x"] and name["x"] + name["width"] <= image["x"] + image["width"] + 1
        assert name["y"] + name["height"] < height
    next_box = page.locator("#vote-next").bounding_box()
    assert next_box and next_box["y"] + next_box["height"] <= height
    assert page.locator("#vote-a").bounding_box() is None           # vote buttons put away
    assert stored_votes(demo_server, tmp_path) == before + 1
    page.screenshot(path=str(shots / f"reveal-{size}.png"))

    page.keyboard.press("Enter")
    page.wait_for_selector("#pair .pa-view[data-phase=vote]", timeout=30_000)
    assert page.locator("#pair .pa-a img").get_attribute("src") not in shown
    page.keyboard.press("1")           # at once: the new pair has not been looked at yet
    page.wait_for_timeout(1200)
    assert page.locator("#pair .pa-view").get_attribute("data-phase") == "vote"
    assert stored_votes(demo_server, tmp_path) == before + 1

    page.click("#pair .pa-b img")       # a closer look, flipping between source and edit
    page.wait_for_selector(".pa-zoom:not([hidden]) #pa-zoom-img", timeout=10_000)
    big = page.locator("#pa-zoom-img").bounding_box()
    assert big["width"] > b["width"] * 1.5 or big["width"] >= SIZES[size]["viewport"]["width"] - 40
    page.click("#pa-zoom-source")
    assert page.locator("#pa-zoom-img").get_attribute("src") == page.locator(
        "#pair .pa-source img").get_attribute("src")
    page.screenshot(path=str(shots / f"zoom-{size}.png"))
    page.keyboard.press("Escape")
    assert page.locator(".pa-zoom").is_hidden()
    context.close()


def test_keys_do_nothing_on_another_tab(browser, demo_server):
    page = browser.new_context().new_page()
    page.goto(demo_server.url, wait_until="load")
    page.wait_for_selector("#pair .pa-view[data-phase=vote] .pa-b img", timeout=30_000)
    page.wait_for_timeout(800)
    shown = page.locator("#pair .pa-a img").get_attribute("src")
    page.get_by_role("tab", name="Leaderboard").click()
    page.keyboard.press("3")
    page.wait_for_timeout(1000)
    page.get_by_role("tab", name="Vote", exact=True).click()
    assert page.locator("#pair .pa-view").get_attribute("data-phase") == "vote"
    assert page.locator("#pair .pa-a img").get_attribute("src") == shown
    page.context.close()


@pytest.mark.parametrize("size", SIZES)
def test_leaderboard_and_pareto_plots_are_on_the_page(browser, demo_server, tmp_path, size):
    shots = Path(os.environ.get("ARENA_SCREENSHOT_DIR", tmp_path))
    page = browser.new_context(**SIZES[size]).new_page()
    page.goto(demo_server.url, wait_until="load")
    page.wait_for_selector("#pair .pa-view", timeout=30_000)
    open_tab(page, "Leaderboard")
    page.wait_for_selector("#board-plot .js-plotly-plot", timeout=30_000)
    page.wait_for_selector("#board-notes p, #board-notes li", timeout=30_000)
    page.screenshot(path=str(shots / f"leaderboard-{size}.png"), full_page=True)
    if page.locator("#board-table").count():
        rows = page.locator("#board-table tbody tr")
        for i in range(rows.count()):          # every row shown (no scroll box)
            assert rows.nth(i).is_visible()
        for column in (1, 2, 3, 4):            # rank, model, score, interval stay on a phone
            assert page.locator(f"#board-table th:nth-child({column})").is_visible()
    open_tab(page, "Pareto")
    page.wait_for_selector("#pareto-plot .js-plotly-plot", timeout=30_000)
    ticks = " ".join(page.locator("#pareto-plot .xtick text").all_text_contents())
    assert "ms" in ticks or " s" in ticks or ticks == ""
    assert "µ" not in ticks and "n" not in ticks.replace("min", "")
    page.screenshot(path=str(shots / f"pareto-{size}.png"), full_page=True)
    page.context.close()


def open_tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.is_visible():
        tab.click()
    else:                                    # on a phone the last tabs sit under "More tabs"
        page.click("button[aria-label='More tabs']")
        page.click(f".overflow-dropdown button:has-text('{name}')")


def test_identity_and_open_pair_survive_a_reload(browser, demo_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(demo_server.url, wait_until="load")
    page.wait_for_selector("#pair .pa-pair img", timeout=30_000)
    cookie = [c for c in context.cookies() if c["name"] == "pa_voter"]
    assert len(cookie) == 1 and cookie[0]["httpOnly"]     # issued by the server, not by a script
    shown = [page.locator(f"#pair .pa-{side} img").get_attribute("src") for side in "ab"]
    page.reload(wait_until="load")
    page.wait_for_selector("#pair .pa-pair img", timeout=30_000)
    assert [c["value"] for c in context.cookies() if c["name"] == "pa_voter"] == [cookie[0]["value"]]
    # the open pair is the same pair: a reload is no free re-roll
    assert [page.locator(f"#pair .pa-{side} img").get_attribute("src") for side in "ab"] == shown
    other_context = browser.new_context()          # another browser gets another identity
    other = other_context.new_page()
    other.goto(demo_server.url, wait_until="load")
    other.wait_for_selector("#pair .pa-pair img", timeout=30_000)
    assert [c["value"] for c in other_context.cookies() if c["name"] == "pa_voter"] != [cookie[0]["value"]]
    context.close()
    other_context.close()


def test_voters_tab_opens_only_with_the_organiser_key(browser, demo_server):
    from live_server import run_cli

    key = run_cli(["organiser"], demo_server.env).stdout.strip()
    log = (demo_server.workdir / "server.log").read_text()
    assert f"Organiser key (Voters tab, starting live sessions): {key}" in log
    context = browser.new_context()
    page = context.new_page()
    page.goto(demo_server.url, wait_until="load")
    page.get_by_role("tab", name="Voters").click()
    summary = page.locator("#voters-summary")
    page.wait_for_function("document.querySelector('#voters-summary').innerText.includes('organiser key')",
                           timeout=30_000)
    page.fill("#organiser-key input", "not-the-key")
    page.click("#organiser-open")
    page.wait_for_function("document.querySelector('#voters-summary').innerText.includes('not the organiser key')",
                           timeout=30_000)
    page.fill("#organiser-key input", key)
    page.click("#organiser-open")
    page.wait_for_function("!document.querySelector('#voters-summary').innerText.includes('organiser key')",
                           timeout=30_000)
    opened = summary.inner_text()
    assert "voter" in opened.lower()          # the crowd summary, or that there is no crowd yet

    page.reload(wait_until="load")       # this browser remembers the key
    page.get_by_role("tab", name="Voters").click()
    page.wait_for_function("!document.querySelector('#voters-summary').innerText.includes('organiser key')",
                           timeout=30_000)
    other = browser.new_context().new_page()   # another browser does not
    other.goto(demo_server.url, wait_until="load")
    other.get_by_role("tab", name="Voters").click()
    other.wait_for_timeout(1500)
    assert "organiser key" in other.locator("#voters-summary").inner_text()
    context.close()


def test_live_tab_starts_a_session_only_with_the_organiser_key(browser, demo_server, organiser):
    page = browser.new_context().new_page()
    page.goto(demo_server.url, wait_until="load")
    page.get_by_role("tab", name="Live").click()
    page.click("#live-start")
    page.wait_for_function("document.querySelector('#live-result').innerText.includes('organiser key')",
                           timeout=30_000)
    page.fill("#live-key input", organiser["X-Organiser-Key"])
    page.click("#live-start")
    page.wait_for_function("document.querySelector('#live-result').innerText.includes('/present?token=')",
                           timeout=30_000)
    code = page.locator(".pa-live-code").inner_text().strip()
    assert len(code) >= 4 and f"/live/{code}" in page.locator("#live-result").inner_text()
    join = page.locator("#live-result a").first.get_attribute("href")
    assert decode_qr(page.locator("#live-qr").screenshot()) == join and join.endswith(f"/live/{code}")
    assert "Phones cannot open this address" in page.locator("#live-result").inner_text()  # 127.0.0.1
    page.context.close()


def decode_qr(png: bytes) -> str:
    """The text of the QR code in a screenshot (OpenCV's detector)."""
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    image = cv2.copyMakeBorder(image, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return text
