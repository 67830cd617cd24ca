"""Who is asking: the client address (behind trusted proxies only) and per-address rate limits.

The address is the TCP peer, unless the peer is listed in ``$ARENA_TRUSTED_PROXIES``
(addresses or CIDRs, comma-separated): then it is the right-most address of
``X-Forwarded-For`` that is not itself a trusted proxy, so a client cannot pick its own address
by sending the header. Only a keyed hash of it is ever stored
(:func:`arena.collect.identity.address_hash`).

Limits are token buckets kept in memory per process (DESIGN.md §2): requests to the vote routes
(``$ARENA_RATE_PER_ADDRESS`` per second, bursts of ten times that) and new identities
(``$ARENA_IDENTITIES_PER_ADDRESS`` per hour, the same number at once, so a class or a hall
behind one NAT can all start together). Past a limit the answer is 429 with ``Retry-After``.
"""
from __future__ import annotations

import ipaddress
import math
import os
import threading
import time
from collections import OrderedDict
from functools import lru_cache

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


class Buckets:
    """Token buckets per key: ``rate`` tokens a second, at most ``burst`` banked."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000):
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str | None, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens of ``key``; 0.0 if allowed, else seconds until it would be."""
        if key is None or self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, then = self._state.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            wait = 0.0 if tokens >= cost else (cost - tokens) / self.rate
            if not wait:
                tokens -= cost
            self._state[key] = (tokens, now)
            while len(self._state) > self.max_keys:
                self._state.popitem(last=False)
        return wait


def _number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise SystemExit(f"{name} must be a number") from None


class Limits:
    """The arena's per-address limits, read from the environment when it starts."""

    def __init__(self) -> None:
        rate = _number(RATE_ENV, DEFAULT_RATE)
        per_hour = _number(IDENTITIES_ENV, DEFAULT_IDENTITIES)
        self.requests = Buckets(rate, rate * 10)
        self.identities = Buckets(per_hour / 3600.0, per_hour)

    @staticmethod
    def check(buckets: Buckets, key: str | None, what: str) -> None:
        """Raise 429 with ``Retry-After`` when ``key`` is over its limit in ``buckets``."""
        wait = buckets.take(key)
        if wait:
            raise HTTPException(429, f"too many {what} from this address; retry later",
                                headers={"Retry-After": str(max(1, math.ceil(wait)))})
