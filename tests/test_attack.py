"""An attacker who learns which model made which image and seeks its target cannot move it on
the default board, with one identity, a new identity every 15 votes, or no cookies at all."""
from __future__ import annotations

import pytest
from attack_run import build_demo_copy, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_demo_copy(tmp_path_factory.mktemp("attack"))


@pytest.mark.parametrize("habit", ["one", "rotate", "none"])
def test_a_seeking_attacker_moves_its_target_at_most_one_place(template, tmp_path, habit, monkeypatch):
    monkeypatch.setenv("ARENA_TRUSTED_PROXIES", "127.0.0.1")
    monkeypatch.setenv("ARENA_RATE_PER_ADDRESS", "1000")   # the attacker is not slowed down here
    outcome = run(template, tmp_path, habit)
    assert outcome.target_votes >= 100, outcome          # the attack did happen
    assert all(abs(m) <= 1 for m in outcome.moves.values()), outcome
    assert outcome.full_weight_votes <= 0.05 * outcome.target_votes, outcome
    assert outcome.honest_flagged <= 1, outcome
