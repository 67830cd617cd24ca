"""Signed single-use impression tokens (HMAC-SHA256 over the impression id and a nonce).

The secret comes from ``$ARENA_SECRET`` or is generated once and kept in the database, so
tokens stay valid across restarts and replicas that share the database.
"""
from __future__ import annotations

import hmac
import os
import secrets

from sqlalchemy.engine import Engine

from arena.collect.mac import hmac_sha256
from arena.store.db import stored_setting

_SECRET_KEY = "token_secret"


def load_secret(engine: Engine) -> bytes:
    """The signing secret: ``$ARENA_SECRET``, else the one stored in the database (made once)."""
    if os.environ.get("ARENA_SECRET"):
        return os.environ["ARENA_SECRET"].encode()
    return stored_setting(engine, _SECRET_KEY, lambda: secrets.token_hex(32)).encode()


def new_nonce() -> str:
    """A random nonce for one impression."""
    return secrets.token_urlsafe(12)


def sign(secret: bytes, impression_id: int, nonce: str) -> str:
    """The token that proves the holder was shown impression ``impression_id``."""
    msg = f"{impression_id}.{nonce}".encode()
    return hmac_sha256(secret, msg).hex()[:40]


def verify(secret: bytes, impression_id: int, nonce: str, token: str) -> bool:
    """Whether ``token`` was issued for this impression (constant-time comparison of bytes, so
    any string, ASCII or not, is simply a mismatch)."""
    if not isinstance(token, str):
        return False
    return hmac.compare_digest(sign(secret, impression_id, nonce).encode(),
                               token.encode("utf-8", "surrogatepass"))
