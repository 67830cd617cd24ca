"""Hosted image-editing APIs as editors (``kind = "api"`` models with a ``protocol``).

* ``protocol = "openai"``: OpenAI-compatible ``POST {base_url}/images/edits`` through the
  ``openai`` SDK (:mod:`models.api.openai_edit`);
* ``protocol = "replicate"``: Replicate predictions over HTTP (:mod:`models.api.replicate`).

Both share :class:`models.api.client.HostedEditor`: a limit on calls at once, retries with
backoff on 429 and 5xx (``Retry-After`` honoured), a timeout per request, the key read from the
environment variable the models file names, and the latency, queue and run time of each call.
"""
from __future__ import annotations

from models.config import ModelSpec
from models.spec_fields import api_key

from .client import ApiError, ApiResult, HostedEditor

__all__ = ["ApiError", "ApiResult", "HostedEditor", "hosted_editor"]


def hosted_editor(spec: ModelSpec) -> HostedEditor:
    """The editor of a hosted API model (raises ConfigError when its key variable is unset)."""
    where = f"model {spec.name!r}"
    key = api_key(spec.api_key_env, where)
    if spec.protocol == "openai":
        try:
            from .openai_edit import OpenAIEditor

            return OpenAIEditor(spec, key)
        except ImportError:
            from models.config import ConfigError

            raise ConfigError(f"{where}: protocol \"openai\" needs the openai package: "
                              "pip install -r requirements-models.txt") from None
    from .replicate import ReplicateEditor

    return ReplicateEditor(spec, key)
