"""Where the arena keeps its data: the database URL and the media folder.

``DATABASE_URL`` selects the database (any SQLAlchemy URL; PostgreSQL through psycopg 3, e.g.
``postgresql+psycopg://user@host/db``); the default is ``sqlite:///arena.db`` in the working
folder. ``ARENA_MEDIA`` selects the folder of image files (default ``media`` beside a SQLite
file, else ``./media``).
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///arena.db"


def database_url(url: str | None = None) -> str:
    """The database URL to use: ``url``, else ``$DATABASE_URL``, else the SQLite default."""
    url = url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if url.startswith("postgres://"):  # the form many hosts hand out
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def media_root(url: str | None = None) -> Path:
    """The folder holding source, mask, reference and output images."""
    if os.environ.get("ARENA_MEDIA"):
        return Path(os.environ["ARENA_MEDIA"])
    url = database_url(url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///"):]).resolve().parent / "media"
    return Path("media").resolve()
