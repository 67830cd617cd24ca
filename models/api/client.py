"""What every hosted editing API shares: concurrency, retries with backoff, timing.

Retries follow the usual practice for rate-limited HTTP APIs (and the OpenAI SDK's own rule):
429, 408, 409 and 5xx answers, timeouts and dropped connections are retried with exponential
backoff and full jitter (``base * 2**attempt``, capped), waiting ``Retry-After`` seconds instead
when the server sends it; other 4xx answers fail at once.
"""
from __future__ import annotations

import io
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

from PIL import Image

from models.base import EditError, EditRequest

T = TypeVar("T")

#: HTTP statuses worth another attempt.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})

#: Longest wait between attempts, in seconds (also the cap on ``Retry-After``).
MAX_BACKOFF_S = 60.0


class ApiError(EditError):
    """A hosted API refused or failed the edit (after any retries)."""


class Transient(Exception):
    """One attempt failed in a way worth retrying; ``retry_after`` is the server's hint (s)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ApiResult:
    """One call's image and timing: ``latency_s`` is the wall time of the call, less the time
    spent waiting to retry; ``queue_s`` and ``run_s`` as the API reports them (or None)."""

    image: Image.Image
    latency_s: float
    queue_s: float | None = None
    run_s: float | None = None
    attempts: int = 1


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds of a ``Retry-After`` (or ``retry-after-ms``) header, when it is a number."""
    if not headers:
        return None
    for key, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(key)
        try:
            if value is not None:
                return max(float(value) * scale, 0.0)
        except ValueError:
            continue
    return None


def backoff_s(attempt: int, base_s: float = 0.5, hint: float | None = None,
              rng: random.Random | None = None) -> float:
    """Wait before attempt ``attempt + 1``: the server's hint, else full jitter on
    ``base_s * 2**attempt``; both capped at :data:`MAX_BACKOFF_S`."""
    if hint is not None:
        return min(hint, MAX_BACKOFF_S)
    ceiling = min(base_s * 2 ** attempt, MAX_BACKOFF_S)
    return (rng or random).uniform(0.0, ceiling)


class Retrying:
    """Run one HTTP request with retries; counts attempts and the seconds spent waiting."""

    def __init__(self, retries: int, sleep: Callable[[float], None] = time.sleep):
        self.retries = retries
        self.sleep = sleep
        self.attempts = 0
        self.waited_s = 0.0

    def __call__(self, attempt: Callable[[], T]) -> T:
        for n in range(self.retries + 1):
            self.attempts += 1
            try:
                return attempt()
            except Transient as exc:
                if n == self.retries:
                    raise ApiError(f"{exc} (gave up after {n + 1} attempts)") from None
                wait = backoff_s(n, hint=exc.retry_after)
                self.sleep(wait)
                self.waited_s += wait
        raise AssertionError("unreachable")


class HostedEditor:
    """Base of the API editors: subclasses implement ``_call(request, retrying)`` returning
    ``(image, queue_s, run_s)`` and send each HTTP request through ``retrying``.

    Attributes follow :class:`models.base.Editor`; ``device`` is ``"api"``, ``concurrency`` the
    calls allowed at once (enforced here, across threads).
    """

    kind = "api"
    device = "api"

    def __init__(self, spec: Any, key: str | None):
        self.name = spec.name
        self.version = spec.version or "1"
        self.tasks = spec.tasks
        self.params = dict(spec.settings)
        self.settings = {"protocol": spec.protocol, "model": spec.api_model, **self.params}
        self.base_url = spec.base_url
        self.model = spec.api_model
        self.key = key
        self.timeout_s = spec.timeout_s
        self.retries = spec.retries
        self.concurrency = spec.concurrency
        self._slots = threading.BoundedSemaphore(spec.concurrency)

    def call(self, request: EditRequest) -> ApiResult:
        """Edit through the API: the image (RGB, the source's size) with its timing."""
        retrying = Retrying(self.retries)
        with self._slots:
            start = time.perf_counter()
            image, queue_s, run_s = self._call(request, retrying)
            wall = time.perf_counter() - start
        image = fit_to_source(image, request.source)
        return ApiResult(image, max(wall - retrying.waited_s, 0.0), queue_s, run_s, retrying.attempts)

    def edit(self, request: EditRequest) -> Image.Image:
        return self.call(request).image

    def _call(self, request: EditRequest, retrying: Retrying):  # pragma: no cover - abstract
        raise NotImplementedError


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def decode_image(data: bytes, where: str) -> Image.Image:
    """An image from bytes the API sent, refused when it is not one (or is huge)."""
    from models.imported import MAX_PIXELS

    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise ApiError(f"{where}: the API sent a {image.width}x{image.height} image")
        image.load()
    except (OSError, Image.DecompressionBombError) as exc:
        raise ApiError(f"{where}: the API's answer is not an image: {exc}") from None
    return image


def fit_to_source(image: Image.Image, source: Image.Image) -> Image.Image:
    """RGB at the source's size (APIs answer at sizes of their own, e.g. 1024x1024)."""
    image = image.convert("RGB")
    if image.size != source.size:
        image = image.resize(source.size, Image.Resampling.LANCZOS)
    return image
