"""Checks of the models-file fields for hosted APIs, Ray resources and power draw.

Kept apart from :mod:`models.config` (which reads the file) so each stays short. Every check
takes the parsed ``[[model]]`` table and the ``where`` prefix of its messages, and raises
:class:`models.config.ConfigError` naming the field.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping

#: Protocols of hosted editing APIs, with the base URL used when none is declared.
PROTOCOLS = {"openai": "https://api.openai.com/v1", "replicate": "https://api.replicate.com/v1"}

#: Fields only a hosted API model takes.
API_FIELDS = ("protocol", "base_url", "model", "api_key_env", "concurrency", "timeout_s", "retries")

#: Ray resources of one replica, and the replica count (DESIGN.md §5).
RESOURCE_FIELDS = ("num_gpus", "num_cpus", "replicas")


def _error(message: str):
    from .config import ConfigError

    return ConfigError(message)


def number(table: Mapping[str, Any], key: str, where: str, default: float | None, *,
           least: float = 0.0, integer: bool = False, positive: bool = False) -> Any:
    """A non-negative (or positive) number, an integer when ``integer``; ``default`` if absent."""
    value = table.get(key)
    if value is None:
        return default
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and value >= least and (value > 0 or not positive)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "a whole number" if integer else "a number"
        bound = "above 0" if positive else f"of at least {least:g}"
        raise _error(f"{where}: field {key!r} must be {kind} {bound}, not {value!r}")
    return int(value) if integer else float(value)


def resources(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``num_gpus`` (default 0), ``num_cpus`` (default 1) and ``replicas`` (default 1) of a
    model run on Ray, plus its declared ``power_w`` (W, for estimated energy)."""
    return {"num_gpus": number(table, "num_gpus", where, 0.0),
            "num_cpus": number(table, "num_cpus", where, 1.0),
            "replicas": number(table, "replicas", where, 1, least=1, integer=True),
            "power_w": number(table, "power_w", where, None)}


def api_fields(table: Mapping[str, Any], kind: str, where: str) -> dict[str, Any]:
    """The hosted-API fields of a model: empty for a model that declares no ``protocol``.

    A ``kind = "api"`` model with a ``protocol`` calls the API; without one it reads a manifest
    of outputs made elsewhere (``path``).
    """
    declared = [k for k in API_FIELDS if k in table]
    if "protocol" not in table:
        if declared:
            raise _error(f"{where}: field(s) {declared} need protocol = \"openai\" or \"replicate\"")
        return {}
    protocol = table["protocol"]
    if kind != "api":
        raise _error(f"{where}: field 'protocol' is for kind = \"api\" models, not {kind!r}")
    if protocol not in PROTOCOLS:
        raise _error(f"{where}: field 'protocol' is {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    if "path" in table or "hub_id" in table:
        raise _error(f"{where}: a hosted API model takes no 'path' or 'hub_id'")
    text = {k: _text(table, k, where) for k in ("base_url", "model", "api_key_env")}
    if text["model"] is None:
        raise _error(f"{where}: field 'model' (the provider's model id) is missing")
    base_url = (text["base_url"] or PROTOCOLS[protocol]).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise _error(f"{where}: field 'base_url' must be an http(s) URL, not {base_url!r}")
    return {"protocol": protocol, "base_url": base_url, "api_model": text["model"],
            "api_key_env": text["api_key_env"],
            "concurrency": number(table, "concurrency", where, 4, least=1, integer=True),
            "timeout_s": number(table, "timeout_s", where, 120.0, positive=True),
            "retries": number(table, "retries", where, 4, integer=True)}


def _text(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise _error(f"{where}: field {key!r} must be a non-empty string")
    return value


def api_key(env: str | None, where: str) -> str | None:
    """The API key from the environment variable the models file names (None if it names none).

    Raises ConfigError when the variable is named but unset or empty.
    """
    if env is None:
        return None
    value = os.environ.get(env, "").strip()
    if not value:
        raise _error(f"{where}: environment variable {env} (field 'api_key_env') is not set")
    return value
