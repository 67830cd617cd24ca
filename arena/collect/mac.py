"""HMAC-SHA256 (RFC 2104) with each key's padded hash states kept.

The same MACs as ``hmac.digest(key, msg, "sha256")``, at about 40% of its cost: OpenSSL 3
looks the digest up and sets the key up again on every one-shot call, and the vote path makes
about a dozen MACs per pair and vote (tokens, cookies, image links, planted checks).
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

_BLOCK = 64                                   # SHA-256's block size in bytes
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@lru_cache(maxsize=1024)
def _pads(key: bytes) -> tuple:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    """HMAC-SHA256 of ``msg`` under ``key`` (32 bytes)."""
    inner, outer = _pads(key)
    inner = inner.copy()
    inner.update(msg)
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.digest()
