"""Database tables (SQLModel): tasks, items, models, outputs, voters, impressions, votes, live rounds,
annotator links and annotation campaigns.

See DESIGN.md §2. Model names never appear in an impression's public fields; votes carry the
task and both model ids so rankings aggregate with one ``GROUP BY`` on one table.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint, and_, text
from sqlmodel import Field, SQLModel

CHOICES = ("left", "right", "tie", "both_bad")
VOTER_KINDS = ("public", "audience", "annotator")
CHECK_KINDS = ("none", "repeat", "gold")
ENDINGS = ("voted", "skipped", "expired", "dropped")
#: One open held pair per voter (the public arena's hold; :mod:`arena.collect.issuing`): a
#: partial unique index on the impressions that have an expiry, no live session and no end.
OPEN_HELD_INDEX = "ux_impression_open_held"
OPEN_HELD_WHERE = "session_id IS NULL AND expires_at IS NOT NULL AND ended IS NULL"


def open_held(columns: Any) -> Any:
    """:data:`OPEN_HELD_WHERE` on a table's (or an alias's) ``columns``, for queries."""
    return and_(columns.session_id.is_(None), columns.expires_at.isnot(None),
                columns.ended.is_(None))


def utcnow() -> datetime:
    """Timezone-aware current time (SQLModel rejects naive datetimes)."""
    return datetime.now(timezone.utc)


def _when() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False, default=utcnow))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Setting(SQLModel, table=True):
    """Key-value settings kept with the data (e.g. the token-signing secret)."""

    key: str = Field(primary_key=True, max_length=64)
    value: str


class Task(SQLModel, table=True):
    """An edit type: object_removal, background_change, text_edit, recolor, ..."""

    name: str = Field(primary_key=True, max_length=64)
    description: str = ""


class Item(SQLModel, table=True):
    """One source image and one instruction for one task (plus mask, target text, reference)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    task: str = Field(foreign_key="task.name", index=True, max_length=64)
    instruction: str
    source_path: str
    mask_path: Optional[str] = None
    reference_path: Optional[str] = None
    target_text: Optional[str] = None
    params: dict = _json()
    created_at: datetime = _when()


class Model(SQLModel, table=True):
    """An editing model; frozen once it has votes."""

    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True, max_length=120)
    version: str = Field(default="1", max_length=60)
    provider: str = ""
    kind: str = Field(max_length=20)
    settings: dict = _json()
    price_per_image: Optional[float] = None
    price_per_gpu_hour: Optional[float] = None
    hardware: str = ""
    created_at: datetime = _when()


class Output(SQLModel, table=True):
    """The image one model produced for one item, with how it was made and measured."""

    __table_args__ = (UniqueConstraint("item_id", "model_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    model_id: int = Field(foreign_key="model.id", index=True)
    image_path: str
    seed: Optional[int] = None
    settings: dict = _json()
    latency_s: Optional[float] = None
    latency_p90_s: Optional[float] = None
    peak_memory_mb: Optional[float] = None
    device: str = ""
    threads: Optional[int] = None
    cost_usd: Optional[float] = None
    content_hash: str = Field(max_length=64)
    metrics: dict = _json()
    created_at: datetime = _when()
    #: What the latency was measured with: weights' dtype, denoising steps, working size "WxH".
    dtype: Optional[str] = Field(default=None, max_length=20)
    steps: Optional[int] = None
    resolution: Optional[str] = Field(default=None, max_length=20)
    #: Edit calls spent on this output (warm-up, memory run and timed repeats) and how many of
    #: them were the model's warm-up: what a run takes beyond its median latency.
    calls: Optional[int] = None
    warmup_calls: Optional[int] = None
    #: Energy per image (watt-hours) and whether it was "measured" or "estimated".
    energy_wh: Optional[float] = None
    energy_source: Optional[str] = Field(default=None, max_length=10)
    #: Hosted APIs: time queued and time running, where the API reports them (seconds).
    queue_s: Optional[float] = None
    run_s: Optional[float] = None


class Voter(SQLModel, table=True):
    """A pseudonymous voter issued by the server (a signed cookie), never chosen by a client.

    ``address_hash`` is a keyed hash of the client address it was issued to (never the address
    in clear), for rate limits and for pooling identities too new to be checked one by one.
    """

    # the per-address limit on new identities counts an address's recent rows
    __table_args__ = (Index("ix_voter_address_created", "address_hash", "created_at"),)

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(default="public", max_length=20)
    address_hash: Optional[str] = Field(default=None, index=True, max_length=64)
    created_at: datetime = _when()


class LiveSession(SQLModel, table=True):
    """A presenter-led round of voting joined with a code.

    ``state`` is the current round's: open (taking votes), revealed (models shown), or closed
    (the session is over). Rounds are :class:`LiveRound` rows; ``current_round`` 0 means none yet.
    """

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=16)
    presenter_token_hash: str = Field(max_length=128)
    task: Optional[str] = Field(default=None, foreign_key="task.name", max_length=64)
    current_round: int = 0
    state: str = Field(default="open", max_length=20)
    joining_closed: Optional[bool] = None
    created_at: datetime = _when()


class LiveRound(SQLModel, table=True):
    """One round of a live session: the one pair every audience member sees, sides fixed."""

    __table_args__ = (UniqueConstraint("session_id", "number"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="livesession.id", index=True)
    number: int
    task: str = Field(foreign_key="task.name", max_length=64)
    item_id: int = Field(foreign_key="item.id")
    left_output_id: int = Field(foreign_key="output.id")
    right_output_id: int = Field(foreign_key="output.id")
    left_model_id: int = Field(foreign_key="model.id")
    right_model_id: int = Field(foreign_key="model.id")
    sampler: str = Field(default="uniform", max_length=40)
    propensity: float = 1.0
    started_at: datetime = _when()


class Impression(SQLModel, table=True):
    """One pair shown to one voter, with the sampler's propensity and a signed token."""

    __table_args__ = (Index(OPEN_HELD_INDEX, "voter_id", unique=True,
                            sqlite_where=text(OPEN_HELD_WHERE),
                            postgresql_where=text(OPEN_HELD_WHERE)),)
    id: Optional[int] = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=64)
    task: str = Field(foreign_key="task.name", index=True, max_length=64)
    item_id: int = Field(foreign_key="item.id")
    left_output_id: int = Field(foreign_key="output.id")
    right_output_id: int = Field(foreign_key="output.id")
    left_model_id: int = Field(foreign_key="model.id")
    right_model_id: int = Field(foreign_key="model.id")
    voter_id: Optional[str] = Field(default=None, foreign_key="voter.id", index=True, max_length=64)
    session_id: Optional[int] = Field(default=None, foreign_key="livesession.id")
    sampler: str = Field(default="uniform", max_length=40)
    propensity: float = 1.0
    check_kind: str = Field(default="none", max_length=10)
    repeat_of: Optional[int] = Field(default=None, foreign_key="impression.id", index=True)
    issued_at: datetime = _when()
    #: When an unvoted impression stops taking its vote; ``None``: never (annotation queues).
    expires_at: Optional[datetime] = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    #: How it ended: ``None`` while open, then one of :data:`ENDINGS`.
    ended: Optional[str] = Field(default=None, max_length=10)


class Vote(SQLModel, table=True):
    """One vote per impression (enforced by a unique constraint); imported votes have none."""

    id: Optional[int] = Field(default=None, primary_key=True)
    impression_id: Optional[int] = Field(default=None, foreign_key="impression.id", unique=True)
    voter_id: Optional[str] = Field(default=None, index=True, max_length=64)
    task: str = Field(foreign_key="task.name", index=True, max_length=64)
    left_model_id: int = Field(foreign_key="model.id")
    right_model_id: int = Field(foreign_key="model.id")
    item_id: Optional[int] = Field(default=None, foreign_key="item.id")
    choice: str = Field(max_length=10)
    check_kind: str = Field(default="none", max_length=10)
    duration_ms: Optional[int] = None
    created_at: datetime = _when()


class LiveSeat(SQLModel, table=True):
    """The impression one audience member got for one live round (at most one each)."""

    __table_args__ = (UniqueConstraint("round_id", "voter_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="liveround.id")
    voter_id: str = Field(foreign_key="voter.id", max_length=64)
    impression_id: int = Field(foreign_key="impression.id", unique=True)


class LiveMember(SQLModel, table=True):
    """A seat in a live session: issued by the server when a phone joins (one counted vote per
    seat per round), with the keyed hash of the address it joined from."""

    __table_args__ = (UniqueConstraint("session_id", "voter_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="livesession.id", index=True)
    voter_id: str = Field(foreign_key="voter.id", max_length=64)
    address_hash: Optional[str] = Field(default=None, max_length=64)
    joined_at: datetime = _when()


class Assignment(SQLModel, table=True):
    """One entry of an annotator's queue."""

    __table_args__ = (UniqueConstraint("voter_id", "position"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    voter_id: str = Field(foreign_key="voter.id", index=True, max_length=64)
    impression_id: int = Field(foreign_key="impression.id")
    position: int
    status: str = Field(default="pending", max_length=20)


class GenerationFailure(SQLModel, table=True):
    """An edit that failed during ``arena generate``: kept until the pair succeeds on a later run."""

    __table_args__ = (UniqueConstraint("item_id", "model_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    model_id: int = Field(foreign_key="model.id", index=True)
    error: str
    attempts: int = 1
    updated_at: datetime = _when()


class GenerationClaim(SQLModel, table=True):
    """An (item, model) edit a generation driver is working on, so no other driver runs it too.

    Taken with ``INSERT ... ON CONFLICT DO NOTHING``; ``expires_at`` is renewed while the driver
    lives, so the claims of a driver that crashed lapse and another run takes the work over.
    """

    __table_args__ = (UniqueConstraint("item_id", "model_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    model_id: int = Field(foreign_key="model.id", index=True)
    owner: str = Field(max_length=64, index=True)
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class AnnotatorToken(SQLModel, table=True):
    """The private link of an annotator (a queue's or a campaign member's): only a keyed hash
    of its random token is kept (:mod:`arena.collect.annotator_links`); the id alone opens
    nothing."""

    voter_id: str = Field(primary_key=True, foreign_key="voter.id", max_length=64)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = _when()


class Campaign(SQLModel, table=True):
    """A labelling job: a named set of pairs, each judged by ``overlap`` annotators, with
    planted checks (:mod:`arena.collect.campaigns`)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    tasks: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    overlap: int
    source: str = Field(default="sampler", max_length=20)
    seed: int = 0
    settings: dict = _json()
    created_at: datetime = _when()


class CampaignPair(SQLModel, table=True):
    """One pair of a campaign in its canonical orientation (a, b); ``kind`` is ``pair`` (judged
    by ``overlap`` annotators) or ``gold`` (shown to every annotator; ``gold_answer`` is
    ``left`` when a is the real edit, ``right`` when b is)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    task: str = Field(foreign_key="task.name", max_length=64)
    item_id: int = Field(foreign_key="item.id")
    output_a: int = Field(foreign_key="output.id")
    output_b: int = Field(foreign_key="output.id")
    model_a: int = Field(foreign_key="model.id")
    model_b: int = Field(foreign_key="model.id")
    kind: str = Field(default="pair", max_length=10)
    gold_answer: Optional[str] = Field(default=None, max_length=10)
    sampler: str = Field(default="file", max_length=40)
    propensity: float = 1.0


class CampaignMember(SQLModel, table=True):
    """An annotator of a campaign: ``name`` as the organiser gave it, and the voter id their
    labels are stored under (one per campaign, so queues of two campaigns never mix)."""

    __table_args__ = (UniqueConstraint("campaign_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    name: str = Field(max_length=48)
    voter_id: str = Field(foreign_key="voter.id", unique=True, max_length=64)


class CampaignImpression(SQLModel, table=True):
    """Which campaign pair an impression shows, to which member (the sides are read off the
    impression against the pair's canonical a, b)."""

    impression_id: int = Field(primary_key=True, foreign_key="impression.id")
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    pair_id: int = Field(foreign_key="campaignpair.id", index=True)
    member_id: int = Field(foreign_key="campaignmember.id", index=True)
