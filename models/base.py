"""The one interface every image-editing model implements.

An editor takes an :class:`EditRequest` (source image, instruction, optional mask and target
text, task parameters, seed) and returns the edited image. Adapters for diffusers pipelines,
classical editors and imported outputs all satisfy :class:`Editor`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

from PIL import Image

#: Edit types of the bundled demo; other tasks are free-form names.
DEMO_TASKS = ("object_removal", "background_change", "text_edit", "recolor")

#: Kinds of model, as stored in the database.
KINDS = ("classical", "baseline", "diffusers", "imported", "api")


class EditError(RuntimeError):
    """An editor could not edit this item (unsupported task, missing mask, bad parameters)."""


@dataclass(frozen=True)
class EditRequest:
    """One edit to perform.

    ``mask`` is a mode-"L" image the size of ``source``; 255 marks where the edit should happen
    (the object to remove, the background to replace, the text box, the region to recolor).
    ``params`` holds structured task parameters (for example ``{"color": [r, g, b]}`` for a
    recolor, ``{"background": {...}}`` for a background change).
    """

    task: str
    instruction: str
    source: Image.Image
    mask: Image.Image | None = None
    target_text: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0


@runtime_checkable
class Editor(Protocol):
    """An image-editing model.

    Attributes: ``name`` (unique in an arena), ``version``, ``kind`` (one of :data:`KINDS`),
    ``settings`` (what changes its output: steps, guidance, method), and ``tasks`` (the tasks it
    can do, or ``None`` for any).
    """

    name: str
    version: str
    kind: str
    settings: Mapping[str, Any]
    tasks: frozenset[str] | None

    def edit(self, request: EditRequest) -> Image.Image:
        """Return the edited image (RGB, same size as the source)."""
        ...


def supports(editor: Editor, task: str) -> bool:
    """Whether ``editor`` declares that it can do ``task``."""
    return editor.tasks is None or task in editor.tasks
