"""QR codes of join links, as data URIs a page can show without another request.

Uses segno (pure Python). The live pages' Content-Security-Policy allows ``img-src 'self'
data:``, so the presenter page and the Live tab both show the code inline.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import segno


def qr_data_uri(url: str, scale: int = 8, border: int = 2) -> str:
    """A PNG data URI of ``url`` as a QR code (error correction M, dark on white).

    PNG rather than SVG: every phone camera and decoder reads it, and it scales crisply
    with ``image-rendering: pixelated``."""
    return segno.make(url, error="m", micro=False).png_data_uri(scale=scale, border=border,
                                                                dark="#000000", light="#ffffff")


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine only (``localhost``, 127.x, ``::1``, 0.0.0.0),
    which no phone in the room can open."""
    host = (urlsplit(url if "://" in url else "http://" + url).hostname or "").lower()
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


LOOPBACK_ADVICE = ("Phones cannot open this address: it points at this computer only. Start the "
                   "server with --host 0.0.0.0 and set ARENA_PUBLIC_URL to the address phones "
                   "can reach (for example http://192.168.1.20:7860), or open this page by that "
                   "address.")
