"""The no-edit baseline: returns the source unchanged."""
from __future__ import annotations

from PIL import Image

from models.base import EditRequest
from models.classical.common import ClassicalEditor


class NoEdit(ClassicalEditor):
    """Return the source as it is: the control that any useful editor must beat."""

    name = "no-edit"
    kind = "baseline"
    tasks = None
    defaults = {}

    def _edit(self, request: EditRequest) -> Image.Image:
        return request.source.convert("RGB").copy()
