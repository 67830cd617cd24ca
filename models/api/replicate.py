"""Replicate predictions over HTTP (https://replicate.com/docs/reference/http).

``model = "owner/name"`` posts to ``{base_url}/models/owner/name/predictions``; ``model =
"owner/name:VERSION"`` posts ``{"version": VERSION, ...}`` to ``{base_url}/predictions``. The
request asks to wait for the result (``Prefer: wait``); a prediction still running is polled at
``urls.get`` until it ends. The input is ``prompt`` (the instruction), the source as a data URI
under ``settings.image_input`` (default ``input_image``), the mask under ``settings.mask_input``
when declared, and the other settings as they are. Queue time is ``started_at - created_at``,
run time is ``metrics.predict_time``.
"""
from __future__ import annotations

import base64
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from models.base import EditRequest

from .client import (
    RETRY_STATUSES, ApiError, HostedEditor, Retrying, Transient, decode_image, png_bytes, retry_after,
)

#: Seconds between polls of a prediction that has not ended.
POLL_S = 0.5
DONE = ("succeeded", "failed", "canceled", "aborted")


class ReplicateEditor(HostedEditor):
    """An editor that runs Replicate predictions (``protocol = "replicate"``)."""

    def __init__(self, spec: Any, key: str | None):
        super().__init__(spec, key)
        import httpx

        self.image_input = self.params.pop("image_input", "input_image")
        self.mask_input = self.params.pop("mask_input", None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout_s)

    def _call(self, request: EditRequest, retrying: Retrying):
        path, body = self._target()
        body["input"] = self._input(request)
        prediction = retrying(lambda: self._send("POST", path, json=body, headers={"Prefer": "wait"}))
        deadline = time.monotonic() + (self.timeout_s or 600.0)
        while prediction.get("status") not in DONE:
            if time.monotonic() > deadline:
                raise ApiError(f"{self.name}: prediction {prediction.get('id')} still "
                               f"{prediction.get('status')} after {self.timeout_s:g} s")
            time.sleep(POLL_S)
            prediction = retrying(lambda: self._send("GET", prediction["urls"]["get"]))
        if prediction["status"] != "succeeded":
            raise ApiError(f"{self.name}: prediction {prediction['status']}: "
                           f"{str(prediction.get('error') or '')[:300]}")
        data = retrying(lambda: self._output(prediction.get("output")))
        return decode_image(data, self.name), *_times(prediction)

    def _target(self) -> tuple[str, dict[str, Any]]:
        if ":" in self.model:
            _, version = self.model.split(":", 1)
            return "/predictions", {"version": version}
        return f"/models/{self.model}/predictions", {}

    def _input(self, request: EditRequest) -> dict[str, Any]:
        values = {"prompt": request.instruction, **self.params,
                  self.image_input: data_uri(png_bytes(request.source.convert("RGB")))}
        if self.mask_input and request.mask is not None:
            values[self.mask_input] = data_uri(png_bytes(request.mask.convert("L")))
        return values

    def _send(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        try:
            answer = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise Transient(f"{self.name}: {type(exc).__name__}: {exc}") from None
        if answer.status_code in RETRY_STATUSES or answer.status_code >= 500:
            raise Transient(f"{self.name}: HTTP {answer.status_code}: {answer.text[:300]}",
                            retry_after(answer.headers))
        if answer.status_code >= 400:
            raise ApiError(f"{self.name}: HTTP {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    def _output(self, output: Any) -> bytes:
        """The first output file's bytes (a URL, a data URI, or a list of them)."""
        if isinstance(output, list):
            output = output[0] if output else None
        if not isinstance(output, str):
            raise ApiError(f"{self.name}: the prediction has no output file")
        if output.startswith("data:"):
            return base64.b64decode(output.split(",", 1)[1])
        import httpx

        same_host = urlsplit(output).netloc == urlsplit(self.base_url).netloc
        client = self.http if same_host else httpx  # the key goes to Replicate's host only
        try:
            answer = client.get(output, timeout=self.timeout_s, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise Transient(f"{self.name}: downloading the output: {exc}") from None
        if answer.status_code != 200:
            error = Transient if answer.status_code >= 500 or answer.status_code == 429 else ApiError
            raise error(f"{self.name}: downloading the output: HTTP {answer.status_code}")
        return answer.content


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _times(prediction: dict[str, Any]) -> tuple[float | None, float | None]:
    """(queue seconds, run seconds) of a finished prediction, where it reports them."""
    run = (prediction.get("metrics") or {}).get("predict_time")
    try:
        created, started = (datetime.fromisoformat(str(prediction[k]).replace("Z", "+00:00"))
                            for k in ("created_at", "started_at"))
        queue = max((started - created).total_seconds(), 0.0)
    except (KeyError, TypeError, ValueError):
        queue = None
    return queue, float(run) if isinstance(run, (int, float)) else None
