"""Annotation campaigns: a named set of pairs, each judged by K annotators, with planted checks.

:func:`create_campaign` takes the pairs (drawn by the sampler, ``pairs`` per task, or listed in
a file: :mod:`arena.collect.campaign_pairs`), deals them to the annotators
(:func:`arena.collect.campaign_plan.plan`: each pair to exactly ``overlap`` annotators, loads
balanced, sides alternated, queues shuffled, gold pairs for everyone, repeats with the sides
swapped after their original), and stores it all in one transaction: the campaign, its pairs,
one voter of kind ``annotator`` per member (``campaign<ID>-<name>``, so two campaigns' queues
never mix), their impressions (no expiry, as annotation queues), which campaign pair each shows,
their queues as :class:`~arena.store.schema.Assignment` rows, and a private link per member
(:mod:`arena.collect.annotator_links`).

Members then work through their queue on the Annotate tab exactly as an ``arena queue``
annotator does (:mod:`arena.collect.annotation`: next item, vote, skip, resumes after a reload
or restart). Campaign labels are ordinary votes: like every annotator's, they count on the
public board, where planted repeats are left out as everywhere (:mod:`arena.collect.checks`).
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from arena.collect import tokens
from arena.collect.annotation import ANNOTATOR_KIND, AnnotationError, UnknownTask, _check_task
from arena.collect.annotator_links import issue, token_hash
from arena.collect.campaign_pairs import Pair, PairFileError, drawn_pairs, file_pairs, gold_pairs
from arena.collect.campaign_plan import plan
from arena.context import Arena
from arena.store.db import write_lock
from arena.store.schema import (AnnotatorToken, Assignment, Campaign, CampaignImpression,
                                CampaignMember, CampaignPair, Impression, Voter, utcnow)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MEMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
MAX_PAIRS = 10_000
MAX_MEMBERS = 500
REPEAT_SHARE = 0.1
GOLD_SHARE = 0.05


class CampaignError(AnnotationError):
    """A campaign request that cannot be served (bad name, sizes, annotators, pairs)."""


class UnknownCampaign(CampaignError, LookupError):
    status = 404


class UnknownMember(CampaignError, LookupError):
    status = 404


@dataclass(frozen=True)
class Created:
    """A new campaign and each member's private token (shown once: only a hash is kept)."""

    campaign: str
    tasks: list[str]
    pairs: int
    gold: int
    overlap: int
    tokens: dict[str, str]
    assigned: dict[str, int]


def check_name(name: Any) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not NAME.match(name):
        raise CampaignError("campaign name must be 1-64 letters, digits, '.', '-' or '_'")
    return name


def member_names(annotators: Any) -> list[str]:
    """Annotator names from a list or a comma-separated string (each once, 1-48 letters,
    digits, '-' or '_')."""
    if isinstance(annotators, str):
        annotators = annotators.split(",")
    names = [a.strip() for a in annotators or [] if isinstance(a, str) and a.strip()]
    if not names:
        raise CampaignError("give at least one annotator (--annotators a,b,c)")
    bad = [n for n in names if not MEMBER.match(n)]
    if bad:
        raise CampaignError(f"annotator name {bad[0]!r} must be 1-48 letters, digits, '-' or '_'")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CampaignError(f"annotator {twice[0]!r} is listed twice")
    if len(names) > MAX_MEMBERS:
        raise CampaignError(f"at most {MAX_MEMBERS} annotators per campaign")
    return names


def _tasks(arena: Arena, tasks: Any) -> list[str]:
    if isinstance(tasks, str):
        tasks = tasks.split(",")
    tasks = [t.strip() for t in tasks or [] if t and t.strip()]
    if len(set(tasks)) != len(tasks):
        raise CampaignError("a task is listed twice")
    for task in tasks:
        _check_task(arena, task)
    return tasks


def _choose_pairs(arena: Arena, tasks: list[str], pairs: Any, pairs_file: Any,
                  rng: np.random.Generator) -> list[Pair]:
    if pairs_file:
        if pairs not in (None, 0):
            raise CampaignError("give --pairs N or --pairs-file FILE, not both")
        try:
            chosen = file_pairs(arena, Path(pairs_file), tasks or None)
        except PairFileError as exc:
            raise CampaignError(str(exc)) from None
        if len(chosen) > MAX_PAIRS:
            raise CampaignError(f"at most {MAX_PAIRS} pairs per campaign")
        return chosen
    if not tasks:
        raise CampaignError("give --task T (pairs are drawn per task) or --pairs-file FILE")
    if isinstance(pairs, bool) or not isinstance(pairs, int) or not 1 <= pairs * len(tasks) <= MAX_PAIRS:
        raise CampaignError(f"--pairs must be between 1 and {MAX_PAIRS // max(len(tasks), 1)}")
    try:
        return [p for task in tasks for p in drawn_pairs(arena, task, pairs, rng)]
    except ValueError as exc:
        raise CampaignError(str(exc)) from None


def create_campaign(arena: Arena, name: str, tasks: Any = None, pairs: int | None = None, *,
                    overlap: int, annotators: Any, pairs_file: str | Path | None = None,
                    repeat_share: float = REPEAT_SHARE, gold_share: float = GOLD_SHARE,
                    seed: int | None = None) -> Created:
    """Make a campaign and return each member's private token (see the module docstring).

    ``tasks``: a task name, several (a list or comma-separated), or none with ``pairs_file``
    (then the file's items decide). ``pairs``: pairs drawn per task. Raises
    :class:`CampaignError` (or :class:`~arena.collect.annotation.UnknownTask`) with a message
    that says what to change; nothing is stored then.
    """
    name = check_name(name)
    members = member_names(annotators)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 1 <= overlap <= len(members):
        raise CampaignError(f"--overlap must be between 1 and the number of annotators ({len(members)})")
    for what, share in (("repeat", repeat_share), ("gold", gold_share)):
        if not 0 <= share <= 0.5:
            raise CampaignError(f"the {what} share must be between 0 and 0.5")
    if find_campaign(arena, name, missing_ok=True) is not None:
        raise CampaignError(f"campaign {name!r} exists already: choose another name")
    tasks = _tasks(arena, tasks)
    seed = secrets.randbits(31) if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise CampaignError("--seed must be an integer from 0 to 2147483647")
    rng = np.random.default_rng(seed)
    chosen = _choose_pairs(arena, tasks, pairs, pairs_file, rng)
    tasks = tasks or sorted({p.task for p in chosen})
    per_member = len(chosen) * overlap / len(members)
    n_gold = int(np.ceil(gold_share * per_member)) if gold_share > 0 else 0
    golds = gold_pairs(arena, tasks, n_gold, {p.key for p in chosen}, rng)
    queues = plan(list(range(len(chosen))), list(range(len(chosen), len(chosen) + len(golds))),
                  len(members), overlap, repeat_share=repeat_share, rng=rng)
    settings = {"pairs_per_task": pairs, "pairs_file": str(pairs_file) if pairs_file else None,
                "repeat_share": repeat_share, "gold_share": gold_share}
    try:
        made = _store(arena, name, tasks, overlap, seed, settings, chosen + golds,
                      len(chosen), members, queues)
    except IntegrityError:
        raise CampaignError(f"campaign {name!r} exists already, or one of its annotators' "
                            "voter ids is taken: choose another name") from None
    return Created(name, tasks, len(chosen), len(golds), overlap, made,
                   {m: len(q) for m, q in zip(members, queues)})


def voter_id(campaign_id: int, member: str) -> str:
    """The voter id a member's labels are stored under."""
    return f"campaign{campaign_id}-{member}"


def _store(arena: Arena, name: str, tasks: list[str], overlap: int, seed: int,
           settings: dict, pairs: list[Pair], n_regular: int, members: list[str],
           queues: list) -> dict[str, str]:
    made: dict[str, str] = {}
    now, secret = utcnow(), arena.secret       # the secret first: it may be stored on first use
    with write_lock(arena.engine), arena.engine.begin() as conn:
        cid = conn.execute(insert(Campaign.__table__).returning(Campaign.__table__.c.id).values(
            name=name, tasks=tasks, overlap=overlap, source="file" if settings["pairs_file"]
            else "sampler", seed=seed, settings=settings, created_at=now)).scalar_one()
        pair_ids = [conn.execute(insert(CampaignPair.__table__).returning(CampaignPair.__table__.c.id)
                                 .values(campaign_id=cid, task=p.task, item_id=p.item_id,
                                         output_a=p.output_a, output_b=p.output_b,
                                         model_a=p.model_a, model_b=p.model_b,
                                         kind="pair" if k < n_regular else "gold",
                                         gold_answer=p.gold_answer, sampler=p.sampler,
                                         propensity=p.propensity)).scalar_one()
                    for k, p in enumerate(pairs)]
        for member, queue in zip(members, queues):
            vid = voter_id(cid, member)
            conn.execute(insert(Voter.__table__).values(id=vid, kind=ANNOTATOR_KIND, created_at=now))
            mid = conn.execute(insert(CampaignMember.__table__).returning(CampaignMember.__table__.c.id)
                               .values(campaign_id=cid, name=member, voter_id=vid)).scalar_one()
            shown: list[int] = []
            for position, slot in enumerate(queue):
                p = pairs[slot.pair]
                a, b = ((p.output_b, p.model_b), (p.output_a, p.model_a)) if slot.flipped \
                    else ((p.output_a, p.model_a), (p.output_b, p.model_b))
                imp = conn.execute(insert(Impression.__table__).returning(Impression.__table__.c.id)
                                   .values(nonce=tokens.new_nonce(), task=p.task, item_id=p.item_id,
                                           left_output_id=a[0], right_output_id=b[0],
                                           left_model_id=a[1], right_model_id=b[1],
                                           voter_id=vid, sampler=p.sampler,
                                           propensity=p.propensity,
                                           check_kind=slot.kind,
                                           repeat_of=None if slot.repeat_of is None
                                           else shown[slot.repeat_of],
                                           issued_at=now, expires_at=None, ended=None)
                                   ).scalar_one()
                shown.append(imp)
                conn.execute(insert(CampaignImpression.__table__).values(
                    impression_id=imp, campaign_id=cid, pair_id=pair_ids[slot.pair], member_id=mid))
                conn.execute(insert(Assignment.__table__).values(
                    voter_id=vid, impression_id=imp, position=position, status="pending"))
            token = secrets.token_urlsafe(24)
            conn.execute(insert(AnnotatorToken.__table__).values(
                voter_id=vid, token_hash=token_hash(secret, token), created_at=now))
            made[member] = token
    return made


def find_campaign(arena: Arena, name: Any, *, missing_ok: bool = False) -> Any:
    """The campaign row called ``name``; :class:`UnknownCampaign` (naming the known ones) if
    none, or ``None`` with ``missing_ok``."""
    c = Campaign.__table__.c
    with arena.engine.connect() as conn:
        found = conn.execute(select(Campaign.__table__).where(c.name == str(name))).first()
        if found is None and not missing_ok:
            known = sorted(conn.execute(select(c.name)).scalars())
            raise UnknownCampaign(f"unknown campaign {name!r}; known campaigns: "
                                  f"{', '.join(known) or 'none'}")
    return found


def campaign_names(arena: Arena) -> list[str]:
    with arena.engine.connect() as conn:
        return sorted(conn.execute(select(Campaign.__table__.c.name)).scalars())


def members(arena: Arena, campaign_id: int) -> list[tuple[str, str]]:
    """(name, voter id) of each member, in the order they were given."""
    m = CampaignMember.__table__.c
    with arena.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(m.name, m.voter_id)
                                               .where(m.campaign_id == campaign_id).order_by(m.id))]


def membership(arena: Arena, voter: str) -> tuple[str, str] | None:
    """(campaign name, member name) of a campaign member's voter id, else ``None``."""
    m, c = CampaignMember.__table__.c, Campaign.__table__.c
    with arena.engine.connect() as conn:
        row = conn.execute(select(c.name, m.name).join(Campaign.__table__, c.id == m.campaign_id)
                           .where(m.voter_id == voter)).first()
    return None if row is None else (row[0], row[1])


def new_link(arena: Arena, name: str, member: str) -> str:
    """A new private token for one member (their old link stops working)."""
    campaign = find_campaign(arena, name)
    known = dict(members(arena, campaign.id))
    if member not in known:
        raise UnknownMember(f"{member!r} is not an annotator of campaign {name!r}; its "
                            f"annotators: {', '.join(known) or 'none'}")
    return issue(arena, known[member])


__all__ = ["CampaignError", "UnknownCampaign", "UnknownMember", "UnknownTask", "Created",
           "create_campaign", "find_campaign", "campaign_names", "members", "membership",
           "new_link", "voter_id"]
