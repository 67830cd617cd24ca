"""Image URLs that belong to one impression (or one live round) alone.

A stored image has one random file name for good, so serving it under that name would let a
voter learn, from one reveal, which model made every later image with that URL. Instead each
impression names its three images (``s`` source, ``l`` left, ``r`` right) with a fresh opaque
token: the stored name encrypted with a keystream unique to (impression, slot) and
authenticated with an HMAC, both keyed from the arena secret (:func:`arena.collect.identity
.derive`). The route decodes the token without a database query; a token for another
impression, slot or name fails its MAC. Nothing in two tokens of the same image matches.

:func:`jitter_png` adds a private PNG chunk of random length and bytes to every image served,
so neither a file hash nor a ``Content-Length`` matches across impressions, or between an
unedited output and its source.
"""
from __future__ import annotations

import base64
import hmac
import os
import struct
import zlib

from arena.collect.identity import derive
from arena.collect.mac import hmac_sha256

SLOTS = {"source": b"s", "left": b"l", "right": b"r"}
_HEAD = struct.Struct(">cQcB")       # scope ('i' impression, 'r' live round), id, slot, length
_MAC = 12
PREFIX = "/media/"


def _keystream(key: bytes, head: bytes, n: int) -> bytes:
    out, block = b"", 0
    while len(out) < n:
        out += hmac_sha256(key, head + block.to_bytes(4, "big"))
        block += 1
    return out[:n]


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def image_url(secret: bytes, scope: str, owner_id: int, slot: str, name: str) -> str:
    """The URL of stored image ``name`` as shown in ``slot`` of impression (or round) ``owner_id``."""
    raw = name.encode()
    if len(raw) > 255:
        raise ValueError("stored image names are at most 255 bytes")
    head = _HEAD.pack(scope.encode(), owner_id, SLOTS[slot], len(raw))
    body = _xor(raw, _keystream(derive(secret, "image-name"), head[:10], len(raw)))
    mac = hmac_sha256(derive(secret, "image-mac"), head + body)[:_MAC]
    return PREFIX + base64.urlsafe_b64encode(head + body + mac).decode().rstrip("=")


def stored_name(secret: bytes, token: str) -> str | None:
    """The stored image name a URL token stands for, or ``None`` if it is not a valid token."""
    if not token or len(token) > 600:
        return None
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(data) < _HEAD.size + _MAC:
        return None
    head, body, mac = data[:_HEAD.size], data[_HEAD.size:-_MAC], data[-_MAC:]
    if len(body) != head[-1]:
        return None
    want = hmac_sha256(derive(secret, "image-mac"), head + body)[:_MAC]
    if not hmac.compare_digest(want, mac):
        return None
    raw = _xor(body, _keystream(derive(secret, "image-name"), head[:10], len(body)))
    try:
        return raw.decode()
    except UnicodeDecodeError:  # pragma: no cover - only names we encoded pass the MAC
        return None


_PNG = b"\x89PNG\r\n\x1a\n"
_AFTER_IHDR = 8 + 4 + 4 + 13 + 4


def jitter_png(data: bytes) -> bytes:
    """``data`` with a private ancillary chunk (``paNd``) of 16-1039 random bytes after IHDR.

    Decoders skip unknown ancillary chunks, so the pixels are unchanged. Non-PNG data is
    returned as it is.
    """
    if not data.startswith(_PNG) or data[12:16] != b"IHDR":
        return data
    size = 16 + int.from_bytes(os.urandom(2), "big") % 1024
    payload = os.urandom(size)
    chunk = struct.pack(">I", size) + b"paNd" + payload
    chunk += struct.pack(">I", zlib.crc32(chunk[4:]) & 0xFFFFFFFF)
    return data[:_AFTER_IHDR] + chunk + data[_AFTER_IHDR:]
