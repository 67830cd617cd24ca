"""A campaign's labels out of the database: for agreement, for rankings and for export.

One query joins the campaign's votes to the pair each impression showed and the member who gave
it. :func:`campaign_labels` maps every label to the pair's canonical orientation (a, b): a vote
for the left image is a vote for ``a`` when ``a`` was shown on the left, for ``b`` otherwise.
:func:`campaign_cubes` gives the comparisons of :func:`arena.views.cubes.db_cubes` (per task and
overall) from the campaign's labels alone, with the *member name* as the voter, so the
sandwich intervals of :mod:`scoring.clustered` are clustered by annotator. Planted repeats are
left out of the cubes, as on the public board; gold pairs stay in (a genuine judgement each).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.engine import Engine

from arena.files.battles import CHOICE_TO_WINNER, write_battles
from arena.store.catalog import model_names
from arena.store.schema import (Campaign, CampaignImpression, CampaignMember, CampaignPair,
                                Impression, Item, Vote)
from arena.views.cubes import OVERALL, cubes_from_rows
from scoring.data import Comparisons

SWAP = {"left": "right", "right": "left", "tie": "tie", "both_bad": "both_bad"}


class UnknownCampaignName(LookupError):
    """No campaign of that name."""


@dataclass(frozen=True)
class Label:
    """One vote of a campaign: ``answer`` in the pair's orientation, ``choice`` as shown."""

    impression_id: int
    member: str
    pair_id: int
    pair_kind: str
    gold_answer: str | None
    task: str
    item: str
    left_model: int
    right_model: int
    choice: str
    answer: str
    check_kind: str
    repeat_of: int | None
    duration_ms: int | None
    created_at: Any


def campaign_id(engine: Engine, name: str) -> int:
    """The id of campaign ``name``; :class:`UnknownCampaignName` naming the known ones."""
    c = Campaign.__table__.c
    with engine.connect() as conn:
        found = conn.execute(select(c.id).where(c.name == str(name))).scalar()
        if found is None:
            known = sorted(conn.execute(select(c.name)).scalars())
            raise UnknownCampaignName(f"unknown campaign {name!r}; known campaigns: "
                                      f"{', '.join(known) or 'none'}")
    return int(found)


def campaign_labels(engine: Engine, cid: int) -> list[Label]:
    """Every vote on the campaign's impressions, in the order they were cast."""
    v, ci, p = Vote.__table__.c, CampaignImpression.__table__.c, CampaignPair.__table__.c
    m, i, item = CampaignMember.__table__.c, Impression.__table__.c, Item.__table__.c
    query = (select(v.impression_id, m.name, p.id, p.kind, p.gold_answer, v.task, item.key,
                    v.left_model_id, v.right_model_id, v.choice, i.left_output_id, p.output_a,
                    v.check_kind, i.repeat_of, v.duration_ms, v.created_at)
             .select_from(Vote.__table__.join(CampaignImpression.__table__,
                                               ci.impression_id == v.impression_id)
                          .join(CampaignPair.__table__, p.id == ci.pair_id)
                          .join(CampaignMember.__table__, m.id == ci.member_id)
                          .join(Impression.__table__, i.id == v.impression_id)
                          .join(Item.__table__, item.id == v.item_id))
             .where(ci.campaign_id == cid).order_by(v.id))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [Label(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                  r[9] if r[10] == r[11] else SWAP[r[9]], r[12], r[13], r[14], r[15])
            for r in rows]


def campaign_cubes(engine: Engine, name: str, tasks: list[str] | None = None
                   ) -> dict[str, Comparisons]:
    """Per-task and overall comparisons from campaign ``name``'s labels alone, in the shape of
    :func:`arena.views.cubes.db_cubes` (``tasks`` limits them the same way), voters = members."""
    labels = [lab for lab in campaign_labels(engine, campaign_id(engine, name))
              if lab.check_kind != "repeat"]
    names = model_names(engine)
    wanted = None if tasks is None else list(tasks)
    if wanted is not None and OVERALL not in wanted:
        labels = [lab for lab in labels if lab.task in wanted]
    rows = {"task": np.array([lab.task for lab in labels], dtype=object),
            "voter": np.array([lab.member for lab in labels], dtype=object),
            "left": np.array([lab.left_model for lab in labels], dtype=np.int64),
            "right": np.array([lab.right_model for lab in labels], dtype=np.int64),
            "choice": np.array([lab.choice for lab in labels], dtype=object),
            "count": np.ones(len(labels), dtype=np.int64)}
    return cubes_from_rows(rows, names, wanted)


def export_labels(engine: Engine, name: str, path: str | Path, fmt: str | None = None) -> int:
    """Write campaign ``name``'s labels in the battle format (``judge`` = annotator name,
    ``model_a`` shown left, ``check`` the planted-check kind); returns the count."""
    labels = campaign_labels(engine, campaign_id(engine, name))
    names = model_names(engine)
    table = pa.table({
        "model_a": [names[lab.left_model] for lab in labels],
        "model_b": [names[lab.right_model] for lab in labels],
        "winner": [CHOICE_TO_WINNER[lab.choice] for lab in labels],
        "judge": [lab.member for lab in labels],
        "task": [lab.task for lab in labels],
        "tstamp": [lab.created_at.timestamp() for lab in labels],
        "item": [lab.item for lab in labels],
        "duration_ms": pa.array([lab.duration_ms for lab in labels], type=pa.int64()),
        "check": [lab.check_kind for lab in labels],
        "campaign": [name] * len(labels),
        "pair": pa.array([lab.pair_id for lab in labels], type=pa.int64()),
    })
    return write_battles(table, path, fmt)
