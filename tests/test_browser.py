"""End to end in Debian's chromium: open the arena, vote with a click and a key, see the reveal."""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.browser


def test_vote_by_click_and_key_reveals_models_on_a_phone(browser, demo_server, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    page.goto(demo_server.url, wait_until="load")
    page.wait_for_selector("#pair .pa-b img", timeout=30_000)
    first = [page.locator(f"#pair .pa-{side} img").get_attribute("src") for side in "ab"]

    page.click("#vote-a")
    page.wait_for_function("document.querySelector('#reveal').innerText.includes('A was')",
                           timeout=30_000)
    reveal = page.locator("#reveal").inner_text()
    assert "You voted A is better" in reveal and "B was" in reveal
    page.wait_for_function(  # the next pair: never the one just shown, so A or B changes
        "[...document.querySelectorAll('#pair .pa-a img, #pair .pa-b img')]"
        f".map(i => i.getAttribute('src')).join(' ') !== '{' '.join(first)}'", timeout=30_000)

    page.keyboard.press("2")
    page.wait_for_function("document.querySelector('#reveal').innerText.includes('B is better')",
                           timeout=30_000)
    shown = page.locator("#pair .pa-a img").get_attribute("src")

    # Keys do nothing while another tab is shown.
    page.get_by_role("tab", name="Leaderboard").click()
    page.keyboard.press("3")
    page.wait_for_timeout(1000)
    page.get_by_role("tab", name="Vote", exact=True).click()
    assert "B is better" in page.locator("#reveal").inner_text()
    assert page.locator("#pair .pa-a img").get_attribute("src") == shown

    # A and B sit side by side on a phone, with the vote buttons visible without scrolling.
    a_box, b_box = page.locator("#pair .pa-a img").bounding_box(), page.locator("#pair .pa-b img").bounding_box()
    assert abs(a_box["y"] - b_box["y"]) < 2 and a_box["x"] < b_box["x"]
    page.screenshot(path=os.environ.get("ARENA_SCREENSHOT", str(tmp_path / "phone.png")), full_page=True)
    context.close()


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
    page.context.close()
