"""Who is asking: the client address (behind trusted proxies only) and per-address rate limits.

The address is the TCP peer, unless the peer is listed in ``$ARENA_TRUSTED_PROXIES``
(addresses or CIDRs, comma-separated): then it is the right-most address of
``X-Forwarded-For`` that is not itself a trusted proxy, so a client cannot pick its own address
by sending the header. Only a keyed hash of it is ever stored
(:func:`arena.collect.identity.address_hash`).

Limits (DESIGN.md §2): requests to the vote routes (``$ARENA_RATE_PER_ADDRESS`` per second,
bursts of ten times that), token buckets shared by the arena's processes on one machine; and
new identities (at most ``$ARENA_IDENTITIES_PER_ADDRESS`` in any hour, all at once if need be,
so a class or a hall behind one NAT can start together), counted in the database. Past a limit
the answer is 429 with ``Retry-After``.
"""
from __future__ import annotations

import ipaddress
import math
import os
from functools import cached_property, lru_cache
from typing import Callable

from fastapi import HTTPException

RATE_ENV, IDENTITIES_ENV, PROXIES_ENV = ("ARENA_RATE_PER_ADDRESS", "ARENA_IDENTITIES_PER_ADDRESS",
                                         "ARENA_TRUSTED_PROXIES")
DEFAULT_RATE = 20.0          # vote-route requests per second per address
DEFAULT_IDENTITIES = 300.0   # new identities per hour per address (and at once)


@lru_cache(maxsize=4)
def _networks(spec: str) -> tuple:
    nets = []
    for part in spec.split(","):
        part = part.strip()
        if part:
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise SystemExit(f"{PROXIES_ENV}: {part!r} is not an address or CIDR") from None
    return tuple(nets)


def _trusted(address: str, nets: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def client_address(peer: str | None, forwarded_for: str | None) -> str | None:
    """The client's address from the TCP ``peer`` and its ``X-Forwarded-For`` header."""
    if not peer or not forwarded_for:
        return peer
    nets = _networks(os.environ.get(PROXIES_ENV, ""))
    if not nets or not _trusted(peer, nets):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        if hop and not _trusted(hop, nets):
            return hop[:64]
    return peer


def _number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise SystemExit(f"{name} must be a number") from None


class Limits:
    """The arena's per-address limits, read from the environment when it starts.

    Request buckets are shared by all the arena's processes on this machine
    (:mod:`arena.web.rate_buckets`); new identities are counted in the database
    (:func:`arena.collect.identity.register_within`), so that limit holds however many
    processes or machines share the database."""

    def __init__(self, secret: Callable[[], bytes]) -> None:
        self._secret = secret
        self.rate = _number(RATE_ENV, DEFAULT_RATE)
        self.identities_per_hour = _number(IDENTITIES_ENV, DEFAULT_IDENTITIES)

    @cached_property
    def requests(self):
        """The request buckets: ``rate`` a second, bursts of ten times that."""
        from arena.web.rate_buckets import shared_buckets

        return shared_buckets(self._secret(), "requests", self.rate, self.rate * 10)

    @staticmethod
    def check(buckets, key: str | None, what: str) -> None:
        """Raise 429 with ``Retry-After`` when ``key`` is over its limit in ``buckets``."""
        Limits.refuse(buckets.take(key), what)

    @staticmethod
    def refuse(wait: float, what: str) -> None:
        """Raise 429 with ``Retry-After`` when ``wait`` (seconds) is not 0."""
        if wait:
            raise HTTPException(429, f"too many {what} from this address; retry later",
                                headers={"Retry-After": str(max(1, math.ceil(wait)))})
