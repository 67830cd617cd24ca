"""OpenAI-compatible image edits: ``POST {base_url}/images/edits`` through the ``openai`` SDK.

The source goes as a PNG; the arena's mask (255 = edit here) goes as the PNG whose transparent
pixels mark the area to edit, as the Images API expects. Declared settings (``size``,
``quality``, ``input_fidelity``, ...) are passed to ``images.edit``. The SDK's own retries are
off (``max_retries=0``): :class:`models.api.client.Retrying` retries, so both protocols behave
alike. The answer's ``b64_json`` is decoded; a ``url`` answer is downloaded.
"""
from __future__ import annotations

import base64
from typing import Any

from PIL import Image

from models.base import EditRequest

from .client import (
    RETRY_STATUSES, ApiError, HostedEditor, Retrying, Transient, decode_image, png_bytes, retry_after,
)


class OpenAIEditor(HostedEditor):
    """An editor that calls an OpenAI-compatible Images API (``protocol = "openai"``)."""

    def __init__(self, spec: Any, key: str | None):
        super().__init__(spec, key)
        from openai import OpenAI

        self.client = OpenAI(api_key=key or "none", base_url=self.base_url,
                             timeout=self.timeout_s, max_retries=0)

    def _call(self, request: EditRequest, retrying: Retrying):
        source = request.source.convert("RGB")
        files: dict[str, Any] = {"image": ("source.png", png_bytes(source), "image/png")}
        if request.mask is not None:
            files["mask"] = ("mask.png", png_bytes(edit_mask(request.mask, source.size)), "image/png")
        answer = retrying(lambda: self._edit(request.instruction, files))
        item = answer.data[0] if answer.data else None
        if item is not None and getattr(item, "b64_json", None):
            data = base64.b64decode(item.b64_json)
        elif item is not None and getattr(item, "url", None):
            data = retrying(lambda: self._download(item.url))
        else:
            raise ApiError(f"{self.name}: the API answered with no image")
        return decode_image(data, self.name), None, None

    def _edit(self, prompt: str, files: dict[str, Any]):
        import openai

        try:
            return self.client.images.edit(model=self.model, prompt=prompt, n=1, **files, **self.params)
        except openai.APIStatusError as exc:
            message = f"{self.name}: HTTP {exc.status_code}: {_message(exc)}"
            if exc.status_code in RETRY_STATUSES or exc.status_code >= 500:
                raise Transient(message, retry_after(exc.response.headers)) from None
            raise ApiError(message) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise Transient(f"{self.name}: {type(exc).__name__}: {exc}") from None

    def _download(self, url: str) -> bytes:
        import httpx

        try:
            answer = httpx.get(url, timeout=self.timeout_s, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise Transient(f"{self.name}: downloading the image: {exc}") from None
        if answer.status_code >= 500 or answer.status_code == 429:
            raise Transient(f"{self.name}: downloading the image: HTTP {answer.status_code}",
                            retry_after(answer.headers))
        if answer.status_code != 200:
            raise ApiError(f"{self.name}: downloading the image: HTTP {answer.status_code}")
        return answer.content


def edit_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The Images API's mask: an RGBA PNG whose fully transparent pixels are where to edit."""
    alpha = mask.convert("L").resize(size).point(lambda v: 0 if v >= 128 else 255)
    out = Image.new("RGBA", size, (0, 0, 0, 255))
    out.putalpha(alpha)
    return out


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    return str(exc)[:300]
