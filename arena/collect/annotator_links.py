"""Private annotator links: a random token per annotator, kept only as a keyed hash.

An annotator's queue (``arena queue``, or a campaign member's) opens with the link
``BASE/?annotate=TOKEN``. The token is ``secrets.token_urlsafe(24)`` (192 random bits), shown
once when it is made; the database keeps HMAC-SHA256 of it under a key derived from the arena's
secret for this purpose only (:func:`arena.collect.identity.derive`), so neither a copy of the
database nor the annotator's id opens a queue. Issuing a new link replaces the old one (it stops
working). Rotating ``ARENA_SECRET`` voids every link; issue them again.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import parse_qs, quote, urlsplit

from sqlalchemy import delete, insert, select

from arena.collect.identity import derive
from arena.context import Arena
from arena.store.db import write_lock
from arena.store.schema import AnnotatorToken, utcnow

#: The query parameter of a private link.
PARAM = "annotate"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def token_hash(secret: bytes, token: str) -> str:
    """The keyed hash stored for ``token``."""
    return hmac.new(derive(secret, "annotator-link"), token.encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


def issue(arena: Arena, voter_id: str) -> str:
    """A new private token for ``voter_id`` (a registered voter); any earlier one stops working."""
    token = secrets.token_urlsafe(24)
    table = AnnotatorToken.__table__
    with write_lock(arena.engine), arena.engine.begin() as conn:
        conn.execute(delete(table).where(table.c.voter_id == voter_id))
        conn.execute(insert(table).values(voter_id=voter_id, token_hash=token_hash(arena.secret, token),
                                          created_at=utcnow()))
    return token


def has_link(arena: Arena, voter_id: str) -> bool:
    """Whether ``voter_id`` has a private link already."""
    table = AnnotatorToken.__table__
    with arena.engine.connect() as conn:
        return conn.execute(select(table.c.voter_id).where(table.c.voter_id == voter_id)).first() is not None


def token_from(text: object) -> str:
    """The token in what an annotator typed or pasted: the token itself, or the whole link."""
    if not isinstance(text, str):
        return ""
    text = text.strip()
    if "?" in text or "://" in text:
        try:
            values = parse_qs(urlsplit(text).query).get(PARAM) or [""]
        except ValueError:
            return ""
        text = values[0].strip()
    return text


def resolve(arena: Arena, text: object) -> str | None:
    """The voter id whose private token (or link) ``text`` is, or ``None``.

    Anything that is not the shape of a token (an annotator id, an empty box, a forged or
    revoked token) is ``None``: only a token that was issued and not replaced opens a queue.
    """
    token = token_from(text)
    if not _TOKEN.match(token):
        return None
    table = AnnotatorToken.__table__
    with arena.engine.connect() as conn:
        return conn.execute(select(table.c.voter_id)
                            .where(table.c.token_hash == token_hash(arena.secret, token))).scalar()


def link(token: str, base_url: str) -> str:
    """The page an annotator opens: ``BASE/?annotate=TOKEN``."""
    return f"{base_url.rstrip('/')}/?{PARAM}={quote(token)}"
