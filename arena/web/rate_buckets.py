"""Token buckets per client address, shared by every process of one arena on this machine.

``python app.py --workers N`` (or uvicorn's and gunicorn's own workers) runs several processes
behind one port; buckets kept in each process's memory would let an address send N times its
limit, one share per worker its connections land on. :class:`SharedBuckets` keeps them instead in
one small file mapped into every process (in ``$ARENA_LIMITS_DIR``, else ``/dev/shm`` where
there is one), named by a key derived from the arena's secret, so all processes of one arena
(they share the secret) share the buckets and two arenas on one machine do not. Each update
holds an exclusive ``flock`` on the file for a few microseconds. Times are ``CLOCK_MONOTONIC``,
which all processes share.

The table is set-associative: a key hashes to a set of :data:`WAYS` slots; a key not in its set
takes the slot used longest ago (it starts with a full bucket, as a key not seen before does).
Keys are keyed hashes of addresses (:func:`arena.collect.identity.address_hash`), so which keys
share a set cannot be chosen by a client. Where the file cannot be made (a read-only or foreign
temporary folder, or a system without ``flock``), :class:`Buckets` keeps the buckets in this
process only.
"""
from __future__ import annotations

import hashlib
import mmap
import os
import stat
import struct
import tempfile
import threading
import time
from collections import OrderedDict

try:
    import fcntl
except ImportError:                     # not a POSIX system: each process keeps its own
    fcntl = None

#: The folder of the shared tables (default ``/dev/shm``, else the temporary folder).
DIR_ENV = "ARENA_LIMITS_DIR"
#: Slots per set, sets in the table: 4 x 16384 slots of 24 bytes, 1.5 MiB.
WAYS, SETS = 4, 1 << 14
_SLOT = struct.Struct("<Qdd")           # key hash (0: empty), tokens, time last updated
_SET = struct.Struct("<" + "Qdd" * WAYS)


class Buckets:
    """Token buckets per key in this process: ``rate`` tokens a second, ``burst`` banked."""

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
            tokens, wait = _spend(tokens, then, now, self.rate, self.burst, cost)
            self._state[key] = (tokens, now)
            while len(self._state) > self.max_keys:
                self._state.popitem(last=False)
        return wait


def _spend(tokens: float, then: float, now: float, rate: float, burst: float,
           cost: float) -> tuple[float, float]:
    """(tokens left, seconds to wait) after asking for ``cost`` tokens at ``now``."""
    tokens = min(burst, tokens + max(0.0, now - then) * rate)
    if tokens >= cost:
        return tokens - cost, 0.0
    return tokens, (cost - tokens) / rate


class SharedBuckets:
    """:class:`Buckets` kept in the mapped file ``path`` (made if missing), for every process
    that opens the same file with the same ``rate`` and ``burst``."""

    def __init__(self, path: str, rate: float, burst: float):
        self.rate, self.burst, self.path = rate, burst, path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() \
                    or info.st_mode & 0o077:
                raise PermissionError(f"{path}: not a private file of this user")
            if info.st_size < _SET.size * SETS:
                os.ftruncate(fd, _SET.size * SETS)      # new pages read as zeros: empty slots
            self._map = mmap.mmap(fd, _SET.size * SETS)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._lock = threading.Lock()       # flock does not exclude this process's threads

    def take(self, key: str | None, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens of ``key``; 0.0 if allowed, else seconds until it would be."""
        if key is None or self.rate <= 0:
            return 0.0
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
        digest = digest or 1                             # 0 marks an empty slot
        offset = (digest % SETS) * _SET.size
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                now = time.monotonic()
                slots = _SET.unpack_from(self._map, offset)
                way = _find(slots, digest)
                if way is None:
                    way = min(range(WAYS), key=lambda w: slots[3 * w + 2])   # used longest ago
                    tokens, then = self.burst, now
                else:
                    tokens, then = slots[3 * way + 1], slots[3 * way + 2]
                    if then > now:                       # written before a reboot
                        tokens, then = self.burst, now
                tokens, wait = _spend(tokens, then, now, self.rate, self.burst, cost)
                _SLOT.pack_into(self._map, offset + way * _SLOT.size, digest, tokens, now)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        return wait


def _find(slots: tuple, digest: int) -> int | None:
    for way in range(WAYS):
        if slots[3 * way] == digest:
            return way
    return None


def buckets_file(secret: bytes, name: str) -> str:
    """The path of the shared table ``name`` of the arena whose secret is ``secret``."""
    shm = os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
    folder = os.environ.get(DIR_ENV) or ("/dev/shm" if shm else tempfile.gettempdir())
    tag = hashlib.blake2b(name.encode(), key=secret[:64], digest_size=12).hexdigest()
    return os.path.join(folder, f"pareto-arena-{os.getuid()}-{tag}")


def shared_buckets(secret: bytes, name: str, rate: float, burst: float) -> SharedBuckets | Buckets:
    """The arena's shared buckets ``name``; this process's own where the file cannot be used."""
    if fcntl is None:
        return Buckets(rate, burst)
    try:
        return SharedBuckets(buckets_file(secret, f"{name}:{rate!r}:{burst!r}"), rate, burst)
    except OSError:
        return Buckets(rate, burst)
