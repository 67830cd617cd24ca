"""An editor for outputs made elsewhere (API models, other machines).

The outputs are images already on disk, one per item, with the latency and cost their maker
reported. :class:`ImportedEditor` returns them through the usual :class:`~models.base.Editor`
interface; the item is named by ``request.params["item"]`` (the item key).
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from PIL import Image

from .base import EditError, EditRequest

#: Key of ``EditRequest.params`` that names the item an imported output belongs to.
ITEM_PARAM = "item"

#: Largest image (in pixels) opened; bigger files are refused before decoding.
MAX_PIXELS = 64_000_000


@dataclass(frozen=True)
class ImportedOutput:
    """One stored output: image file, and the latency (seconds) and cost (USD) reported for it."""

    path: Path
    latency_s: float | None = None
    cost_usd: float | None = None

    def __post_init__(self) -> None:
        for name in ("latency_s", "cost_usd"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a non-negative number, not {value!r}")


class ImportedEditor:
    """Serve stored outputs as an :class:`~models.base.Editor` (kind ``"imported"``).

    Parameters
    ----------
    name : str
        Model name in the arena.
    outputs : Mapping[str, ImportedOutput | str | os.PathLike | Mapping]
        Item key → output. A mapping value holds ``path`` (or ``image``) and optional
        ``latency_s`` and ``cost_usd``.
    version : str
    settings : Mapping, optional
        What the maker reported about how the outputs were made.
    tasks : frozenset of str, optional
        Tasks covered; ``None`` for any.
    root : path, optional
        Folder that relative image paths are resolved against.
    """

    kind = "imported"

    def __init__(
        self,
        name: str,
        outputs: Mapping[str, Any],
        *,
        version: str = "1",
        settings: Mapping[str, Any] | None = None,
        tasks: frozenset[str] | None = None,
        root: str | os.PathLike | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.settings = dict(settings or {})
        self.tasks = frozenset(tasks) if tasks is not None else None
        base = Path(root) if root is not None else None
        self.outputs = {
            str(key): _as_output(value, base, f"{name}: item {key!r}")
            for key, value in outputs.items()
        }

    @classmethod
    def from_manifest(cls, name: str, manifest: str | os.PathLike, **kwargs: Any) -> "ImportedEditor":
        """Build from a manifest file (see :func:`read_manifest`)."""
        return cls(name, read_manifest(manifest), **kwargs)

    def output_for(self, request_or_key: EditRequest | str) -> ImportedOutput:
        """The stored output for an item key, or for the item named in a request.

        Raises
        ------
        EditError
            If the request names no item, or no output was imported for it.
        """
        key = request_or_key
        if isinstance(request_or_key, EditRequest):
            key = request_or_key.params.get(ITEM_PARAM)
            if key is None:
                raise EditError(
                    f"{self.name}: imported outputs are found by item key; "
                    f"put it in request.params[{ITEM_PARAM!r}]"
                )
        try:
            return self.outputs[str(key)]
        except KeyError:
            raise EditError(f"{self.name}: no imported output for item {key!r}") from None

    def edit(self, request: EditRequest) -> Image.Image:
        """Return the stored output for ``request.params["item"]``, RGB, resized to the source."""
        output = self.output_for(request)
        image = open_image(output.path)
        if image.size != request.source.size:
            image = image.resize(request.source.size, Image.Resampling.LANCZOS)
        return image

    def __repr__(self) -> str:
        return f"ImportedEditor({self.name!r}, outputs={len(self.outputs)})"


def open_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image file as RGB, refusing files over ``max_pixels`` before decoding them.

    Raises
    ------
    EditError
        If the file is missing, unreadable or too large.
    """
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise EditError(f"{path}: {width}x{height} is larger than {max_pixels} pixels")
            return im.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise EditError(f"cannot read imported image {str(path)!r}: {exc}") from exc


def read_manifest(path: str | os.PathLike) -> dict[str, ImportedOutput]:
    """Read a manifest of imported outputs.

    Parameters
    ----------
    path : path
        ``.json``: an object mapping item key to an image path or to ``{"path", "latency_s",
        "cost_usd"}``, or a list of records; ``.jsonl``: one record a line; ``.csv``: a header
        row. Records have ``item``, ``path`` (or ``image``), and optional ``latency_s`` and
        ``cost_usd``. Relative image paths are relative to the manifest's folder.

    Returns
    -------
    dict
        Item key → :class:`ImportedOutput`.

    Raises
    ------
    ValueError
        If the file cannot be parsed, a record lacks its item or path, or an item repeats.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read manifest {str(path)!r}: {exc}") from exc
    try:
        if suffix == ".json":
            data = json.loads(text)
            records = (
                [{"item": k, **(v if isinstance(v, Mapping) else {"path": v})} for k, v in data.items()]
                if isinstance(data, Mapping) else data
            )
        elif suffix == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif suffix == ".csv":
            records = list(csv.DictReader(text.splitlines()))
        else:
            raise ValueError("use a .json, .jsonl or .csv manifest")
    except (json.JSONDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return _records_to_outputs(records, path.parent, str(path))


def _records_to_outputs(records: Iterable[Any], root: Path, where: str) -> dict[str, ImportedOutput]:
    outputs: dict[str, ImportedOutput] = {}
    for n, record in enumerate(records, start=1):
        if not isinstance(record, Mapping) or not record.get("item"):
            raise ValueError(f"{where}: record {n} has no 'item'")
        key = str(record["item"])
        if key in outputs:
            raise ValueError(f"{where}: item {key!r} appears twice")
        outputs[key] = _as_output(record, root, f"{where}: item {key!r}")
    return outputs


def _as_output(value: Any, root: Path | None, where: str) -> ImportedOutput:
    if isinstance(value, ImportedOutput):
        output = value
    elif isinstance(value, (str, os.PathLike)):
        output = ImportedOutput(Path(value))
    elif isinstance(value, Mapping):
        image = value.get("path") or value.get("image")
        if not image:
            raise ValueError(f"{where}: no image path")
        try:
            output = ImportedOutput(
                Path(image), _number(value.get("latency_s")), _number(value.get("cost_usd"))
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    else:
        raise ValueError(f"{where}: expected a path or a mapping, not {type(value).__name__}")
    if root is not None and not output.path.is_absolute():
        output = ImportedOutput(root / output.path, output.latency_s, output.cost_usd)
    return output


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, not {value!r}")
    return float(value)
