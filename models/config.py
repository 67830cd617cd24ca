"""Read the models file that declares an arena's models, and build their editors.

A models file is TOML with one ``[[model]]`` table per model::

    [[model]]
    name = "instruct-pix2pix"        # unique with its version
    kind = "diffusers"               # classical, baseline, diffusers, imported or api
    version = "1"
    provider = "timbrooks"
    hub_id = "timbrooks/instruct-pix2pix"   # or path = "weights/ip2p" (a local folder)
    pipeline = "instruct_pix2pix"    # diffusers class name or family key; default "auto"
    settings = { steps = 20, guidance_scale = 7.5 }
    price_per_gpu_hour = 2.50        # or price_per_image = 0.04 (USD)
    hardware = "1x A100 80GB"
    tasks = ["recolor", "style"]     # omit for any task

``path`` is a model folder for ``diffusers`` and a manifest of outputs (see
:func:`models.imported.read_manifest`) for ``imported`` and ``api``; relative paths are relative
to the models file. ``classical`` and ``baseline`` models name an editor of
:func:`models.classical.classical_editors`; their settings override its defaults. A hosted
editing API is a ``kind = "api"`` model with a ``protocol`` instead of a path::

    [[model]]
    name = "gpt-image-1"
    kind = "api"
    protocol = "openai"              # POST {base_url}/images/edits; or "replicate"
    base_url = "https://api.openai.com/v1"
    model = "gpt-image-1"            # the provider's model id
    api_key_env = "OPENAI_API_KEY"   # the key is read from this environment variable
    price_per_image = 0.04
    concurrency = 4                  # calls at once; timeout_s = 120, retries = 4
    tasks = ["recolor"]

Any model may declare ``power_w`` (its power draw in W, for energy estimated where no counter
is readable) and, for ``arena generate --ray``, ``num_gpus``, ``num_cpus`` and ``replicas``.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .base import KINDS, Editor
from .spec_fields import API_FIELDS, RESOURCE_FIELDS, api_fields, resources

#: Keys a ``[[model]]`` table may hold.
FIELDS = (
    "name", "kind", "version", "provider", "path", "hub_id", "pipeline", "settings",
    "price_per_image", "price_per_gpu_hour", "hardware", "tasks", "device", "dtype",
    "description", "power_w", *RESOURCE_FIELDS, *API_FIELDS,
)


class ConfigError(ValueError):
    """A models file is malformed; the message names the file, the model and the field."""


@dataclass(frozen=True)
class ModelSpec:
    """One declared model.

    Attributes
    ----------
    name, kind, version, provider : str
        Identity; ``version`` is ``None`` when not declared (classical editors then report
        their own).
    path : pathlib.Path or None
        Model folder (diffusers) or outputs manifest (imported, api), made absolute.
    hub_id : str or None
        Hugging Face Hub id of a diffusers model (used only if its weights are in the local
        cache, unless downloads are allowed).
    pipeline : str
        diffusers pipeline class name or family key, or ``"auto"``.
    settings : Mapping
        Settings passed to the editor (read-only).
    price_per_image, price_per_gpu_hour : float or None
        USD; at most one is set.
    hardware, description : str
    tasks : frozenset of str or None
        Tasks the model is entered in; ``None`` for every task it supports.
    device, dtype : str
        Where a diffusers model runs (``"auto"`` by default).
    power_w : float or None
        Declared power draw (W), for energy estimated where no counter is readable.
    num_gpus, num_cpus, replicas
        Ray resources of one replica and the number of replicas (``arena generate --ray``).
    protocol, base_url, api_model, api_key_env, concurrency, timeout_s, retries
        Hosted editing APIs (:mod:`models.api`): ``protocol`` is ``None`` for other models.
    """

    name: str
    kind: str
    version: str | None = None
    provider: str = ""
    path: Path | None = None
    hub_id: str | None = None
    pipeline: str = "auto"
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    price_per_image: float | None = None
    price_per_gpu_hour: float | None = None
    hardware: str = ""
    tasks: frozenset[str] | None = None
    device: str = "auto"
    dtype: str = "auto"
    description: str = ""
    power_w: float | None = None
    num_gpus: float = 0.0
    num_cpus: float = 1.0
    replicas: int = 1
    protocol: str | None = None
    base_url: str | None = None
    api_model: str | None = None
    api_key_env: str | None = None
    concurrency: int = 1
    timeout_s: float | None = None
    retries: int = 0

    @property
    def hosted(self) -> bool:
        """Whether this model is a hosted editing API called at run time."""
        return self.protocol is not None

    def cost_usd(self, latency_s: float | None) -> float | None:
        """Cost of one image: the price per image, or latency × price per GPU-hour."""
        if self.price_per_image is not None:
            return self.price_per_image
        if self.price_per_gpu_hour is not None and latency_s is not None:
            return latency_s / 3600.0 * self.price_per_gpu_hour
        return None


def load_models(path: str | Path) -> tuple[ModelSpec, ...]:
    """Read and check a models file.

    Raises
    ------
    ConfigError
        If the file cannot be read or parsed, or a model is malformed: unknown kind or field,
        missing name, path that does not exist, bad price, duplicate name and version.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_models(data, base_dir=path.parent, source=str(path))


def parse_models(
    data: Mapping[str, Any], base_dir: str | Path = ".", source: str = "models file"
) -> tuple[ModelSpec, ...]:
    """Check parsed TOML (``{"model": [table, ...]}``) and return the model specs.

    Relative paths are resolved against ``base_dir``; ``source`` names the file in messages.
    """
    unknown = set(data) - {"model"}
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {sorted(unknown)}; use [[model]] tables")
    tables = data.get("model", [])
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{source}: no [[model]] tables")
    specs = [_spec(table, n, Path(base_dir), source) for n, table in enumerate(tables, start=1)]
    seen: set[tuple[str, str | None]] = set()
    for spec in specs:
        if (spec.name, spec.version) in seen:
            raise ConfigError(f"{source}: model {spec.name!r} version {spec.version!r} declared twice")
        seen.add((spec.name, spec.version))
    return tuple(specs)


def build_editor(spec: ModelSpec) -> Editor:
    """Build the editor a spec declares (diffusers weights load on the first edit).

    Raises
    ------
    ConfigError
        If the classical editor does not exist, its settings or tasks do not fit it, or a
        diffusers model or outputs manifest cannot be found.
    """
    where = f"model {spec.name!r}"
    if spec.kind in ("classical", "baseline"):
        return _classical(spec, where)
    if spec.hosted:
        from .api import hosted_editor

        return hosted_editor(spec)
    if spec.kind == "diffusers":
        from .diffusers_editors import DiffusersEditor, ModelLoadError

        try:
            return DiffusersEditor.from_pretrained(
                spec.path if spec.path is not None else spec.hub_id, spec.name,
                pipeline=spec.pipeline, version=spec.version or "1", settings=spec.settings,
                tasks=spec.tasks, device=spec.device, dtype=spec.dtype,
            )
        except (ModelLoadError, ValueError) as exc:
            message = str(exc)
            raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from exc
    from .imported import ImportedEditor

    try:
        editor = ImportedEditor.from_manifest(
            spec.name, spec.path, version=spec.version or "1", settings=spec.settings,
            tasks=spec.tasks,
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    editor.kind = spec.kind
    return editor


def _classical(spec: ModelSpec, where: str) -> Editor:
    from .classical import classical_editors

    known = {editor.name: editor for editor in classical_editors()}
    if spec.name not in known:
        raise ConfigError(f"{where}: no classical editor of that name; known: {', '.join(known)}")
    base = known[spec.name]
    if base.kind != spec.kind:
        raise ConfigError(f"{where}: field 'kind' is {spec.kind!r} but this editor is {base.kind!r}")
    if spec.version is not None and spec.version != base.version:
        raise ConfigError(
            f"{where}: field 'version' is {spec.version!r} but the code is version {base.version!r}"
        )
    try:
        editor = type(base)(**spec.settings)
    except TypeError as exc:
        raise ConfigError(f"{where}: field 'settings': {exc}") from exc
    if spec.tasks is not None:
        if base.tasks is not None and not spec.tasks <= base.tasks:
            extra = sorted(spec.tasks - base.tasks)
            raise ConfigError(f"{where}: field 'tasks': this editor cannot do {extra}")
        editor.tasks = spec.tasks
    return editor


def _spec(table: Any, n: int, base_dir: Path, source: str) -> ModelSpec:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: model #{n} is not a table")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{source}: model #{n}: field 'name' is missing or empty")
    where = f"{source}: model {name!r}"
    unknown = set(table) - set(FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; known: {', '.join(FIELDS)}")
    kind = table.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: field 'kind' is {kind!r}; use one of {', '.join(KINDS)}")
    text = {k: _string(table, k, where) for k in
            ("version", "provider", "hub_id", "pipeline", "hardware", "device", "dtype",
             "description", "path")}
    settings = table.get("settings", {})
    if not isinstance(settings, dict):
        raise ConfigError(f"{where}: field 'settings' must be a table")
    tasks = table.get("tasks")
    if tasks is not None and (
        not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) and t for t in tasks)
    ):
        raise ConfigError(f"{where}: field 'tasks' must be a non-empty list of task names")
    prices = {k: _price(table, k, where) for k in ("price_per_image", "price_per_gpu_hour")}
    if None not in prices.values():
        raise ConfigError(f"{where}: give price_per_image or price_per_gpu_hour, not both")
    api = api_fields(table, kind, where)
    path = None if api else _path(kind, text["path"], text["hub_id"], base_dir, where)
    return ModelSpec(
        name=name, kind=kind, version=text["version"], provider=text["provider"] or "",
        path=path, hub_id=text["hub_id"], pipeline=text["pipeline"] or "auto",
        settings=MappingProxyType(dict(settings)), hardware=text["hardware"] or "",
        tasks=frozenset(tasks) if tasks is not None else None,
        device=text["device"] or "auto", dtype=text["dtype"] or "auto",
        description=text["description"] or "", **prices, **resources(table, where), **api,
    )


def _string(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: field {key!r} must be a non-empty string")
    return value


def _price(table: Mapping[str, Any], key: str, where: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"{where}: field {key!r} must be a non-negative number (USD), not {value!r}"
        )
    return float(value)


def _path(kind: str, path: str | None, hub_id: str | None, base_dir: Path, where: str) -> Path | None:
    if kind in ("classical", "baseline"):
        if path or hub_id:
            raise ConfigError(f"{where}: {kind} models take no 'path' or 'hub_id'")
        return None
    if kind == "diffusers":
        if (path is None) == (hub_id is None):
            raise ConfigError(f"{where}: a diffusers model needs exactly one of 'path' and 'hub_id'")
    elif hub_id is not None or path is None:
        raise ConfigError(
            f"{where}: an {kind} model needs 'path' (its outputs manifest) and no 'hub_id'"
        )
    if path is None:
        return None
    resolved = (base_dir / Path(path).expanduser()).resolve()
    if not resolved.exists():
        raise ConfigError(f"{where}: field 'path': {resolved} does not exist")
    return resolved
