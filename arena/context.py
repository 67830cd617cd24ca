"""The running arena's shared parts: database engine, media folder, token secret, sampler and
the cache of leaderboards."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.engine import Engine

from arena.collect.hot import HotCatalog
from arena.collect.sampling import PairSampler
from arena.collect.tokens import load_secret
from arena.store.config import database_url, media_root
from arena.store.db import get_engine, stored_setting
from arena.store.media import MediaStore
from arena.views.cache import BoardCache, CatalogueCache


@dataclass
class Arena:
    engine: Engine
    media: MediaStore

    @classmethod
    def open(cls, url: str | None = None, media: str | None = None) -> "Arena":
        """Connect to the database at ``url`` (default ``$DATABASE_URL``) and its media folder."""
        url = database_url(url)
        return cls(engine=get_engine(url), media=MediaStore(media or media_root(url)))

    @cached_property
    def secret(self) -> bytes:
        return load_secret(self.engine)

    @cached_property
    def browser_key(self) -> str:
        """The key of Gradio's BrowserState: random, kept in the database, and unrelated to the
        signing secret (Gradio publishes it in the page's /config)."""
        return stored_setting(self.engine, "browser_state_key", lambda: secrets.token_hex(16))

    @cached_property
    def sampler(self) -> PairSampler:
        return PairSampler(self.engine)

    @cached_property
    def hot(self) -> HotCatalog:
        """Items, outputs and model names the vote path reads, kept in memory."""
        return HotCatalog(self.engine)

    @cached_property
    def boards(self) -> BoardCache:
        return BoardCache(self.engine)

    @cached_property
    def catalogue(self) -> CatalogueCache:
        """What depends on the catalogue alone (the task list), kept until it changes."""
        return CatalogueCache(self.engine)
