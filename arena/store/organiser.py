"""The organiser's key: who may see voter ids, their flags and their votes, and start live
sessions.

Voter quality pages name voters and list what each voted, which the crowd must not see (a
flagged rigger would learn how to hide); a live session is started by whoever runs the room,
not by someone in it. The key comes from ``$ARENA_ORGANISER_KEY`` or is made
once and kept in the database; ``python -m arena organiser`` prints it, and the server prints it
when it starts.
"""
from __future__ import annotations

import hmac
import os
import secrets

from sqlalchemy.engine import Engine

from arena.store.db import stored_setting

ENV_KEY = "ARENA_ORGANISER_KEY"
WHERE = "`python -m arena organiser` prints it; the server prints it when it starts"
_SETTING = "organiser_key"


def organiser_key(engine: Engine) -> str:
    """The organiser key: ``$ARENA_ORGANISER_KEY``, else the one stored in the database."""
    if os.environ.get(ENV_KEY):
        return os.environ[ENV_KEY]
    return stored_setting(engine, _SETTING, lambda: secrets.token_urlsafe(18))


def is_organiser(engine: Engine, key: str | None) -> bool:
    """Whether ``key`` is the organiser key (compared in constant time)."""
    if not key:
        return False
    return hmac.compare_digest(organiser_key(engine).encode(), str(key).strip().encode())
