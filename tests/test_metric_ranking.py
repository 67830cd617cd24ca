"""Rankings by stored metrics, their agreement with the vote ranking, and the CLI around them."""
import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from arena.outputs.metrics import refresh_metrics
from arena.store.catalog import add_item, add_output, ensure_model, ensure_task
from arena.store.db import session
from arena.store.schema import Output, Vote
from arena.views.metrics import MetricGroup, metric_agreement, metric_leaderboards, separation

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
MODELS = ("weak", "fair", "good", "best")  # true order, worst first


def metrics_for(k, rng):
    """Model k's metrics: ref_psnr and ocr_cer follow its strength, ssim_outside runs against
    it, psnr_outside is the same for every model (it separates nothing)."""
    return {"ref_psnr": 20 + 5 * k + rng.normal(0, 0.5), "ocr_cer": 0.6 - 0.15 * k + rng.normal(0, 0.02),
            "ssim_outside": 0.99 - 0.05 * k, "psnr_outside": 100.0}


def catalog(arena, votes=True, items=5):
    """One text_edit task, four models with metrics per output and (optionally) votes that
    follow the true order."""
    rng = np.random.default_rng(0)
    ensure_task(arena.engine, "text_edit")
    models = [ensure_model(arena.engine, name, "classical") for name in MODELS]
    image = Image.new("RGB", (8, 8))
    for i in range(items):
        item = add_item(arena.engine, arena.media, key=f"t-{i}", task="text_edit",
                        instruction="write OPEN", source=image)
        for k, model in enumerate(models):
            add_output(arena.engine, arena.media, item=item, model=model, image=image,
                       metrics=metrics_for(k, rng))
    if votes:
        with session(arena.engine) as s:
            for i in range(4):
                for j in range(i + 1, 4):
                    for n in range(12):  # the stronger model j wins 9 of 12
                        left, right = (models[i], models[j]) if n % 2 else (models[j], models[i])
                        j_won = n < 9
                        choice = "left" if (left is models[j]) == j_won else "right"
                        s.add(Vote(task="text_edit", left_model_id=left.id, right_model_id=right.id,
                                   choice=choice, voter_id=f"v{n}"))
            s.commit()
    return models


def test_leaderboard_by_metric_follows_its_direction(arena):
    catalog(arena, votes=False)
    higher = metric_leaderboards(arena.engine, "ref_psnr")
    assert higher["direction"] == "higher"
    (board,) = higher["leaderboards"]
    assert board["task"] == "text_edit" and board["outputs"] == 20
    assert [r["model"] for r in board["rows"]] == ["best", "good", "fair", "weak"]
    assert [r["rank"] for r in board["rows"]] == [1, 2, 3, 4]
    assert board["rows"][0]["score"] == pytest.approx(35, abs=0.5) and board["rows"][0]["outputs"] == 5
    lower = metric_leaderboards(arena.engine, "ocr_cer")["leaderboards"][0]
    assert [r["model"] for r in lower["rows"]] == ["best", "good", "fair", "weak"]  # lower is better
    flat = metric_leaderboards(arena.engine, "psnr_outside")["leaderboards"][0]
    assert [r["rank"] for r in flat["rows"]] == [1, 1, 1, 1]  # ties share the rank
    assert metric_leaderboards(arena.engine, "old_text_gone")["leaderboards"] == []


def test_agreement_with_votes_and_separation(arena):
    catalog(arena)
    result = metric_agreement(arena.engine)
    rows = {r["metric"]: r for r in result["agreement"]}
    assert set(rows) == {"ref_psnr", "ocr_cer", "ssim_outside", "psnr_outside"}
    assert rows["ref_psnr"]["ranked_by_votes"] == 4 and rows["ref_psnr"]["kendall_tau"] == pytest.approx(1.0)
    assert rows["ocr_cer"]["kendall_tau"] == pytest.approx(1.0) and rows["ocr_cer"]["scope"] == "task-specific"
    assert rows["ssim_outside"]["kendall_tau"] == pytest.approx(-1.0)
    assert rows["psnr_outside"]["kendall_tau"] is None  # constant: no ranking to compare
    assert rows["psnr_outside"]["eta_squared"] == 0.0 and rows["psnr_outside"]["anova_p"] == 1.0
    assert rows["ref_psnr"]["eta_squared"] > 0.95 and rows["ref_psnr"]["anova_p"] < 1e-6
    summary = {r["scope"]: r for r in result["summary"]}
    assert summary["task-specific"]["mean_kendall_tau"] == pytest.approx(1.0)
    assert summary["generic"]["mean_kendall_tau"] == pytest.approx(0.0)  # +1 and -1
    assert summary["generic"]["metrics"] == 3


def test_without_votes_no_agreement_is_claimed(arena):
    catalog(arena, votes=False)
    rows = metric_agreement(arena.engine)["agreement"]
    assert all(r["ranked_by_votes"] == 0 and r["kendall_tau"] is None for r in rows)
    assert all(r["eta_squared"] is not None for r in rows)


def test_separation_matches_a_direct_anova():
    from scipy.stats import f_oneway

    rng = np.random.default_rng(3)
    groups = [rng.normal(mu, 1.0, n) for mu, n in ((0, 8), (0.5, 11), (2, 6))]
    eta, p = separation({str(k): MetricGroup(len(g), g.mean(), (g * g).mean()) for k, g in enumerate(groups)})
    values = np.concatenate(groups)
    between = sum(len(g) * (g.mean() - values.mean()) ** 2 for g in groups)
    assert eta == pytest.approx(between / ((values - values.mean()) ** 2).sum())
    assert p == pytest.approx(f_oneway(*groups).pvalue)


@SQLITE_ONLY
def test_refresh_fills_missing_metrics(arena):
    ensure_task(arena.engine, "recolor")
    model = ensure_model(arena.engine, "m", "classical")
    mask = Image.new("L", (16, 16))
    mask.paste(255, (4, 4, 12, 12))
    item = add_item(arena.engine, arena.media, key="r", task="recolor", instruction="red",
                    source=Image.new("RGB", (16, 16), "white"), mask=mask)
    add_output(arena.engine, arena.media, item=item, model=model, image=Image.new("RGB", (16, 16), "red"))
    assert refresh_metrics(arena.engine, arena.media) == 1
    with session(arena.engine) as s:
        (output,) = s.query(Output).all()
    assert output.metrics["psnr_outside"] < 10  # the outside was repainted too
    assert refresh_metrics(arena.engine, arena.media) == 0  # nothing left to compute


# -- the command line -------------------------------------------------------------------------

@pytest.fixture
def run(db_url, arena, monkeypatch, capsys):
    from arena.cli import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ARENA_MEDIA", str(arena.media.root))

    def invoke(*argv):
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return invoke


def test_cli_rank_by_metric(arena, run):
    catalog(arena, votes=False)
    code, out, _ = run("rank", "--metric", "ocr_cer")
    assert code == 0
    board = json.loads(out)["leaderboards"][0]
    assert [r["model"] for r in board["rows"]] == ["best", "good", "fair", "weak"]
    code, out, _ = run("rank", "--metric", "ref_psnr", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["model"] for r in table] == ["best", "good", "fair", "weak"] and table[0]["rank"] == "1"


@SQLITE_ONLY
@pytest.mark.parametrize("argv, message", [
    (["rank", "--metric", "clip_score"], "unknown metric 'clip_score'; known: psnr_outside"),
    (["rank", "--metric", "ref_psnr", "--votes", "votes.csv"], "drop --votes"),
])
def test_cli_rank_by_metric_bad_input(run, argv, message):
    code, _, err = run(*argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_metrics_formats(arena, run):
    catalog(arena)
    code, out, _ = run("metrics")
    assert code == 0 and {"agreement", "summary"} == set(json.loads(out))
    code, out, _ = run("metrics", "--format", "csv")
    table = {r["metric"]: r for r in csv.DictReader(io.StringIO(out))}
    assert float(table["ref_psnr"]["kendall_tau"]) == pytest.approx(1.0)
    code, out, _ = run("metrics", "--format", "table", "--task", "text_edit")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["task", "metric", "scope"]
    assert len(out.splitlines()) == 5
