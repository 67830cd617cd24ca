"""A live session in Debian's chromium: a presenter runs a round, two phones vote, then the reveal."""
from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}


@pytest.fixture(autouse=True)
def _wait_longer():
    """The pages' Content-Security-Policy forbids eval, so waits use locators, with more time."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)


def test_presenter_runs_a_round_and_phones_see_the_reveal(browser, live_url, organiser, tmp_path):
    from playwright.sync_api import expect

    shots = Path(os.environ.get("ARENA_SCREENSHOT_DIR", tmp_path))
    made = httpx.post(live_url + "/api/live", json={"task": "object_removal"}, headers=organiser,
                      timeout=30).json()
    code = made["code"]

    presenter = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    presenter.goto(made["present_url"], wait_until="load")
    expect(presenter.locator("#status")).to_contain_text("Next round")
    assert "token=" not in presenter.url  # taken out of the address bar shown on the projector
    expect(presenter.locator("#trio")).to_be_hidden()
    phone_contexts = [browser.new_context(**PHONE) for _ in range(2)]
    phones = [c.new_page() for c in phone_contexts]
    for phone in phones:
        phone.goto(f"{live_url}/live/{code.lower()}", wait_until="load")
        expect(phone.locator("#status")).to_contain_text("Waiting")

    presenter.click("#next")
    presenter.wait_for_selector("#trio img#img-b[src^='/live-media/']", timeout=15_000)
    for phone in phones:
        phone.wait_for_selector("#img-b[src^='/live-media/']", timeout=15_000)
        expect(phone.locator("#vote-a")).to_be_enabled()
    assert phones[0].locator("#img-a").get_attribute("src") == presenter.locator("#img-a").get_attribute("src")
    seats = [[c for c in ctx.cookies() if c["name"] == f"pa_seat_{code}"] for ctx in phone_contexts]
    assert all(len(s) == 1 and s[0]["httpOnly"] for s in seats)   # a server-issued seat each
    assert seats[0][0]["value"] != seats[1][0]["value"]

    # A and B side by side, all four buttons on screen without scrolling.
    a_box, b_box = phones[0].locator("#img-a").bounding_box(), phones[0].locator("#img-b").bounding_box()
    assert abs(a_box["y"] - b_box["y"]) < 2 and a_box["x"] + a_box["width"] <= b_box["x"]
    assert phones[0].locator("#vote-bad").bounding_box()["y"] + 40 < 844
    phones[0].screenshot(path=str(shots / "live-phone-vote.png"))

    phones[0].click("#vote-a")
    phones[1].click("#vote-bad")
    for phone in phones:
        expect(phone.locator("#note")).to_contain_text("Vote recorded")
        expect(phone.locator(".vote:disabled")).to_have_count(4)
    expect(presenter.locator("#counts")).to_contain_text("2 votes")
    expect(presenter.locator("#name-a")).to_have_text("")
    presenter.screenshot(path=str(shots / "live-presenter-open.png"))

    phones[0].reload(wait_until="load")  # re-opening: the same vote, still recorded
    expect(phones[0].locator("#note")).to_contain_text("A is better")

    presenter.click("#reveal")
    expect(presenter.locator("#name-a")).not_to_have_text("")
    names = (presenter.locator("#name-a").inner_text(), presenter.locator("#name-b").inner_text())
    for phone in phones:
        expect(phone.locator("#name-b")).not_to_have_text("")
        assert (phone.locator("#name-a").inner_text(), phone.locator("#name-b").inner_text()) == names
        expect(phone.locator("#status")).to_contain_text("revealed")
    presenter.screenshot(path=str(shots / "live-presenter-revealed.png"))
    phones[1].screenshot(path=str(shots / "live-phone-revealed.png"))
    for context in phone_contexts:
        context.close()
    presenter.context.close()


def test_presenter_shows_the_join_qr_code_hides_the_tally_and_counts_down(browser, live_url, organiser,
                                                                        tmp_path):
    """The QR code decodes to the join link, the tally is hidden while voting is open, and a
    3-second countdown reveals the round by itself (desktop and phone widths)."""
    import cv2
    import numpy as np
    from playwright.sync_api import expect

    shots = Path(os.environ.get("ARENA_SCREENSHOT_DIR", tmp_path))
    made = httpx.post(live_url + "/api/live", json={"task": "recolor"}, headers=organiser,
                      timeout=30).json()
    served = httpx.get(made["present_url"], timeout=30).text
    assert "{{qr}}" not in served and 'data-qr="data:image/' in served     # filled by the server

    for viewport in ({"width": 1366, "height": 900}, {"width": 390, "height": 844}):
        page = browser.new_context(viewport=viewport).new_page()
        page.goto(made["present_url"] + "&seconds=3&theme=dark", wait_until="load")
        expect(page.locator("#qr")).to_be_visible()
        # shown as soon as its source is set, decoded a moment later on a busy machine
        page.wait_for_function("() => { const q = document.getElementById('qr');"
                               " return q.complete && q.naturalWidth > 0; }")
        png = page.locator("#qr").screenshot()
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        image = cv2.copyMakeBorder(image, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        assert cv2.QRCodeDetector().detectAndDecode(image)[0] == made["join_url"]
        loopback = "127.0.0.1" in made["join_url"] or "localhost" in made["join_url"]
        assert page.locator("#loopback").is_visible() == loopback
        assert "dark" in page.locator("body").get_attribute("class")
        if viewport["width"] > 1000:
            page.click("#next")
            expect(page.locator("#status")).to_contain_text("voting open")
            expect(page.locator("#tally")).to_have_class(re.compile("masked"))
            expect(page.locator("#countdown")).to_be_visible()
            page.screenshot(path=str(shots / "live-presenter-countdown.png"))
            expect(page.locator("#status")).to_contain_text("revealed", timeout=15_000)
            expect(page.locator("#tally")).not_to_have_class(re.compile("masked"))
        else:
            page.screenshot(path=str(shots / "live-presenter-phone.png"))
        page.context.close()
