"""An honest crowd and an attacker who tries to push one model, both through the real HTTP API.

Honest voters each come from their own address (``X-Forwarded-For`` behind a trusted proxy),
keep their identity cookie and vote by a Bradley-Terry truth. The attacker learns which model
made which image from the reveals of its own votes (hashing the decoded pixels, since URLs and
file bytes change per impression), then seeks pairs that show its target and votes for it,
skipping (or abandoning) the rest, with one of three identity habits: ``one`` (one identity
throughout), ``rotate`` (a new identity every 15 votes) or ``none`` (no cookies at all: a new
identity per pair). Used by tests/test_attack.py and benchmarks/bench_attack.py.
"""
from __future__ import annotations

import hashlib
import io
import math
import random
from dataclasses import dataclass, field

from PIL import Image

PROXY = "127.0.0.1"           # every simulated person reaches the app through this proxy
ATTACKER_ADDRESS = "198.51.100.66"


def truth(models_by_task: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Skills per task: the editors 1.0, 0.5 and 0.0 (in name order), the no-edit baseline -1.5."""
    out = {}
    for task, models in models_by_task.items():
        editors = sorted(m for m in models if m != "no-edit")
        skills = {m: 1.0 - 0.5 * k for k, m in enumerate(editors)}
        skills.update({m: -1.5 for m in models if m == "no-edit"})
        out[task] = skills
    return out


def weakest_editor(skills: dict[str, float]) -> str:
    return min((m for m in skills if m != "no-edit"), key=skills.get)


def honest_choice(rng: random.Random, skills: dict[str, float], left: str, right: str) -> str:
    if rng.random() < 0.1:
        return "tie"
    p_left = 1 / (1 + math.exp(skills[right] - skills[left]))
    return "left" if rng.random() < p_left else "right"


def honest_crowd(make_client, peek, tasks: list[str], skills: dict[str, dict[str, float]],
                 voters: int = 40, votes: int = 25, seed: int = 0) -> int:
    """Each voter, from an address of its own and with its own cookie jar, votes ``votes``
    times by the truth; ``peek(impression_id)`` gives the simulation the models behind a pair
    (an honest voter judges the pixels; the simulation needs the truth of those models).
    Returns the votes stored."""
    rng = random.Random(seed)
    stored = 0
    for k in range(voters):
        client = make_client()
        headers = {"x-forwarded-for": f"203.0.113.{k + 1}"}
        for n in range(votes):
            pair = client.get("/api/pair", params={"task": tasks[(k + n) % len(tasks)]},
                              headers=headers)
            pair.raise_for_status()
            pair = pair.json()
            left, right = peek(pair["impression_id"])
            choice = honest_choice(rng, skills[pair["task"]], left, right)
            answer = client.post("/api/votes", headers=headers, json={
                "impression_id": pair["impression_id"], "token": pair["token"],
                "choice": choice, "duration_ms": 4000})
            answer.raise_for_status()
            stored += 1
    return stored


def pixels(client, url: str, headers: dict) -> str:
    data = client.get(url, headers=headers).content
    with Image.open(io.BytesIO(data)) as img:
        return hashlib.sha1(img.convert("RGB").tobytes()).hexdigest()


@dataclass
class AttackResult:
    target_votes: dict[str, int] = field(default_factory=dict)
    learning_votes: int = 0
    skipped: int = 0
    refused: int = 0          # answers of 429
    identities: int = 0
    voter_ids: set = field(default_factory=set)


def attack(client, tasks: list[str], targets: dict[str, str], habit: str, budget: int = 120,
           max_requests: int = 4000, seed: int = 1) -> AttackResult:
    """Push ``targets[task]`` with ``budget`` votes per task; see the module docstring."""
    rng = random.Random(seed)
    headers = {"x-forwarded-for": ATTACKER_ADDRESS}
    known: dict[str, str] = {}                      # pixel hash -> model
    out = AttackResult(target_votes=dict.fromkeys(tasks, 0))
    client.cookies.clear()
    votes_on_identity, requests = 0, 0
    for task in tasks:
        while out.target_votes[task] < budget and requests < max_requests:
            if habit == "none" or (habit == "rotate" and votes_on_identity >= 15):
                client.cookies.clear()
                votes_on_identity = 0
            requests += 1
            got = client.get("/api/pair", params={"task": task}, headers=headers)
            if got.status_code == 429:
                out.refused += 1
                if out.refused > 50:
                    break
                continue
            got.raise_for_status()
            if "pa_voter" in got.cookies:
                out.identities += 1
                out.voter_ids.add(got.cookies["pa_voter"].split(".")[0])
            pair = got.json()
            if pair["task"] != task:                # an open pair of another task: skip it
                _skip(client, pair, headers, out)
                continue
            left, right = (known.get(pixels(client, pair[k], headers)) for k in ("left_url", "right_url"))
            target = targets[task]
            if left is None or right is None:       # learn: vote at random, read the reveal
                answer = _vote(client, pair, rng.choice(("left", "right")), headers)
                if answer is not None:
                    known[pixels(client, pair["left_url"], headers)] = answer["left_model"]
                    known[pixels(client, pair["right_url"], headers)] = answer["right_model"]
                    out.learning_votes += 1
                    votes_on_identity += 1
                continue
            if target in (left, right):
                if _vote(client, pair, "left" if left == target else "right", headers) is not None:
                    out.target_votes[task] += 1
                    votes_on_identity += 1
            elif habit != "none":                   # without cookies a pair is just dropped
                _skip(client, pair, headers, out)
    return out


def _vote(client, pair, choice, headers):
    answer = client.post("/api/votes", headers=headers, json={
        "impression_id": pair["impression_id"], "token": pair["token"], "choice": choice,
        "duration_ms": 3000})
    return answer.json() if answer.status_code in (200, 201) else None


def _skip(client, pair, headers, out: AttackResult) -> None:
    answer = client.post("/api/votes", headers=headers, json={
        "impression_id": pair["impression_id"], "token": pair["token"], "choice": "skip"})
    out.skipped += answer.status_code in (200, 201)
