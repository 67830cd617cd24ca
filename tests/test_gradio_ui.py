"""The Gradio pages through their real API with gradio_client: start, vote, reveal, leaderboard."""
from __future__ import annotations

import re

import httpx
import pytest

from arena.web.ui.pareto_tab import dollars, human_duration

gradio_client = pytest.importorskip("gradio_client")


IMAGES = r"src='(/media/[A-Za-z0-9_-]+)'"


def browser_client(url: str):
    """A client that holds the identity cookie the page load sets, as a browser does."""
    cookie = httpx.get(url + "/", timeout=30).cookies["pa_voter"]
    return gradio_client.Client(url + "/", verbose=False, headers={"Cookie": f"pa_voter={cookie}"})


def vote(client, task: str, choice: str) -> str:
    """Vote on the pair on screen, then ask for the next (as the page does); the reveal."""
    _, reveal = client.predict(task_name=task, api_name=f"/vote_{choice}")
    client.predict(task_name=task, api_name="/next_pair")
    return reveal


@pytest.fixture(scope="module")
def client(demo_server):
    return browser_client(demo_server.url)


def test_start_then_vote_reveals_and_advances(demo_server):
    client = browser_client(demo_server.url)
    page, reveal = client.predict(task_name="recolor", api_name="/start")
    assert "pa-pair" in page and reveal == ""
    first_images = re.findall(IMAGES, page)
    assert len(first_images) == 3
    again, _ = client.predict(task_name="recolor", api_name="/start")   # a reload: the same pair
    assert re.findall(IMAGES, again) == first_images

    page2, reveal = client.predict(task_name="recolor", api_name="/vote_left")
    assert reveal.startswith("**You voted A is better.**")
    assert re.search(r"A was \*\*[\w-]+\*\* \(\d+ ms, [^)]+\), B was \*\*[\w-]+\*\*", reveal)
    # the reveal is drawn on the pair just judged: the same images, the models named under them
    assert re.findall(IMAGES, page2) == first_images and "data-phase='reveal'" in page2
    left = re.search(r"A was \*\*([\w-]+)\*\*", reveal).group(1)
    assert f"<span class='pa-model'>{left}</span>" in page2
    again, reveal2 = client.predict(task_name="recolor", api_name="/vote_right")  # a second press
    assert reveal2 == reveal and re.findall(IMAGES, again) == first_images

    page3, reveal = client.predict(task_name="recolor", api_name="/next_pair")
    assert reveal == "" and "data-phase='vote'" in page3
    assert not set(re.findall(IMAGES, page3)) & set(first_images)   # URLs of this impression only
    assert client.predict(task_name="recolor", api_name="/next_pair")[0].count("/media/") == 3
    assert re.findall(IMAGES, client.predict(task_name="recolor", api_name="/next_pair")[0]) == \
        re.findall(IMAGES, page3)        # Next before a vote is no re-roll

    _, reveal = client.predict(task_name="recolor", api_name="/vote_both_bad")
    assert "You voted both bad" in reveal


def test_no_cookie_no_pair_and_each_browser_its_own_identity(demo_server):
    bare = gradio_client.Client(demo_server.url + "/", verbose=False)
    page, _ = bare.predict(task_name="any", api_name="/start")
    assert "reload the page" in page and "/media/" not in page
    forged = gradio_client.Client(demo_server.url + "/", verbose=False,
                                  headers={"Cookie": "pa_voter=v-someone-else.0123456789abcdef01234567"})
    assert "/media/" not in forged.predict(task_name="any", api_name="/start")[0]
    one, two = browser_client(demo_server.url), browser_client(demo_server.url)
    first = re.findall(IMAGES, one.predict(task_name="recolor", api_name="/start")[0])
    second = re.findall(IMAGES, two.predict(task_name="recolor", api_name="/start")[0])
    assert first and second and not set(first) & set(second)


def test_leaderboard_tab_shows_the_recorded_votes(client):
    client.predict(task_name="text_edit", api_name="/start")
    for _ in range(4):
        vote(client, "text_edit", "right")
    table, plot, summary, _ = client.predict(task_name="text_edit", mode_name="all",
                                             api_name="/leaderboard")
    votes = int(re.match(r"\*\*(\d+) votes\*\*", summary).group(1))
    assert votes >= 4 and plot                     # the forest plot beside the table
    heads = re.findall(r"<th[^>]*>([^<]+)</th>", table)
    assert heads[:4] == ["Rank", "Model", "Score", "95% CI"]
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in re.findall(r"<tr class='[^']*'>(.*?)</tr>", table)]
    assert len(rows) >= 2
    assert sum(int(row[4]) for row in rows) == 2 * votes  # each vote counts for two models


def test_leaderboard_without_flagged_voters_and_against_a_public_board(client, tmp_path):
    client.predict(task_name="object_removal", api_name="/change_task")
    for _ in range(6):
        vote(client, "object_removal", "left")
    table, _, summary, _ = client.predict(task_name="object_removal", mode_name="exclude",
                                          api_name="/leaderboard")
    assert re.findall(r"<th[^>]*>([^<]+)</th>", table)[-1] == "Rank change" and "<td" in table
    assert "votes** on object_removal" in summary
    # the public board is ours turned upside down, written from the exact scores (a few votes can
    # leave two models tied, which a board written as ranks 1..n would break)
    ours = httpx.get(f"{client.src}api/leaderboard",                 # the board compared with
                     params={"task": "object_removal", "voters": "all"}).json()
    scores = {r["model"]: r["score"] for r in ours["leaderboards"][0]["rows"]}
    models = sorted(scores)
    board = tmp_path / "public.csv"
    board.write_text("model,score\n" + "".join(f"{m},{-scores[m]!r}\n" for m in models))
    shifts, text = client.predict(task_name="object_removal", path=gradio_client.handle_file(str(board)),
                                  api_name="/compare_board")
    assert f"{len(models)} models in common" in text
    if len(set(scores.values())) > 1:
        assert "Kendall tau-b -1.00" in text
    else:       # the server's votes on the task so far (all "left" here) leave every model
        assert "Kendall tau-b , Spearman ," in text     # tied: no order, no correlation
    assert sorted(row[0] for row in shifts["data"]) == sorted(models)


def test_pareto_tab_projects_the_time_and_cost_of_a_benchmark_run(client):
    client.predict(task_name="recolor", api_name="/change_task")
    for _ in range(4):
        vote(client, "recolor", "left")
    _, table, summary = client.predict(task_name="recolor", axis_name="latency_s", n_images=1000,
                                       api_name="/pareto")
    assert "models on the front** of recolor" in summary and "is a control" in summary
    assert table["headers"][3:7] == ["Latency", "Time for the run", "Cost per 1,000 images",
                                     "Cost of the run"]
    units = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "days": 86400}
    for row in table["data"]:                    # latency is shown to 3 digits, the run to ~2
        value, unit = row[4].split()
        latency, latency_unit = row[3].split()
        assert float(value) * units[unit] == pytest.approx(
            1000 * float(latency) * units[latency_unit], rel=0.06, abs=0.06)
        assert row[5].startswith("$") and "e-" not in row[5]
    assert any(row[0].endswith("(control)") for row in table["data"])
    _, bigger, _ = client.predict(task_name="recolor", axis_name="latency_s", n_images=26000,
                                  api_name="/pareto")
    assert [r[4] for r in bigger["data"]] != [r[4] for r in table["data"]]


def test_durations_read_as_a_person_says_them():
    assert human_duration(26_000 * 62) == "18.7 days"      # a slow model over a benchmark
    assert human_duration(7 * 3600) == "7.0 h"
    assert [human_duration(s) for s in (0.004, 45, 100, 600, 5000)] == [
        "0.0 s", "45 s", "1.7 min", "10 min", "83 min"]
    assert [dollars(x) for x in (0, 0.0014, 0.5, 1234.5, 5.9e-7)] == [
        "$0.00", "$0.0014", "$0.50", "$1,234.50", "$0.00000059"]


def test_the_position_term_can_be_switched_off_in_both_tabs(client):
    client.predict(task_name="recolor", api_name="/change_task")
    for _ in range(3):
        client.predict(task_name="recolor", api_name="/vote_left")
        client.predict(task_name="recolor", api_name="/next_pair")
    fitted = client.predict(task_name="recolor", mode_name="all", corrected=True, api_name="/leaderboard")
    plain = client.predict(task_name="recolor", mode_name="all", corrected=False, api_name="/leaderboard")
    switched_off = "No correction for a preference for the left or right image (switched off)"
    assert switched_off in plain[2] and switched_off not in fitted[2]

    def board(position_bias):
        return httpx.get(f"{client.src}api/leaderboard", params={
            "task": "recolor", "voters": "all", "position_bias": position_bias}).json()["leaderboards"][0]

    assert board("none")["position_bias"] is None
    # fitted, or (three votes on the left may be explained perfectly by a left/right term,
    # whose estimate then does not exist) fixed at 0 with a warning that says why
    with_term = board("fit")
    assert with_term["position_bias"] is not None or \
        any("not estimable" in w for w in with_term["warnings"])
    _, table, _ = client.predict(task_name="recolor", axis_name="latency_s", n_images=100,
                                 corrected=False, api_name="/pareto")
    assert table["data"]


def test_the_pareto_tab_has_an_energy_axis(client):
    from arena.web.ui.plots import watt_hours_label

    client.predict(task_name="recolor", api_name="/change_task")
    client.predict(task_name="recolor", api_name="/vote_left")
    _, table, summary = client.predict(task_name="recolor", axis_name="energy_wh", n_images=100,
                                       api_name="/pareto")
    assert table["data"] and "front" in summary
    assert [watt_hours_label(x) for x in (0.0005, 12, 3000)] == ["0.5 mWh", "12 Wh", "3 kWh"]
