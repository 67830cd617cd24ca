"""Editors around diffusers pipelines (instruction editing, inpainting, Flux Kontext, Qwen).

:class:`DiffusersEditor` implements :class:`models.base.Editor`. Build one from a local folder
or a hub id with :meth:`DiffusersEditor.from_pretrained` (weights load on the first edit, or on
:meth:`DiffusersEditor.load`), or around a pipeline object with
:meth:`DiffusersEditor.from_pipeline`. torch and diffusers are imported only when needed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

from PIL import Image

from .base import EditError, EditRequest
from .devices import dtype_name, resolve_device, resolve_dtype
from .diffusers_pipelines import (
    GENERIC,
    PipelineFamily,
    call_parameters,
    family_for,
    pipeline_arguments,
    pipeline_class,
    resolve_settings,
    size_multiple,
    working_size,
)


class ModelLoadError(RuntimeError):
    """A pipeline could not be found or loaded."""


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` forbids reaching the Hugging Face Hub."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def is_local_source(source: str | os.PathLike) -> bool:
    """Whether ``source`` names a local folder rather than a hub id.

    Raises
    ------
    ModelLoadError
        If ``source`` looks like a path (absolute, ``./``, ``~``) but does not exist.
    """
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{str(source)!r} is a file, not a diffusers model folder")
        return True
    text = str(source)
    if path.is_absolute() or text.startswith((".", "~")) or text.count("/") != 1:
        raise ModelLoadError(f"model folder {text!r} does not exist")
    return False


class DiffusersEditor:
    """An :class:`~models.base.Editor` that runs a diffusers pipeline.

    Use :meth:`from_pretrained` or :meth:`from_pipeline` rather than the constructor.

    The source is resized so its longer side is ``settings["size"]`` (rounded down to the
    pipeline's size multiple; ``None`` keeps the source size), edited, and the result resized
    back to the source size. Pipelines that take a mask (``mask_image``) need one; with
    ``settings["composite"]`` (default for those) the result is pasted back through the mask, so
    pixels outside it are the source's. The seed drives a CPU ``torch.Generator``, so an edit is
    reproducible on any device.

    Attributes
    ----------
    name, version, kind, settings, tasks
        As in :class:`~models.base.Editor`; ``settings`` also records the pipeline class and
        dtype.
    device : str
        torch device the pipeline runs on.
    uses_mask : bool
        Whether the pipeline takes ``mask_image``.
    """

    kind = "diffusers"

    def __init__(
        self,
        name: str,
        *,
        family: PipelineFamily,
        class_name: str,
        accepted: frozenset[str],
        loader: Callable[[], Any],
        device: str,
        dtype: str,
        version: str = "1",
        settings: Mapping[str, Any] | None = None,
        tasks: frozenset[str] | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.tasks = frozenset(tasks) if tasks is not None else None
        self.family = family
        self.device = device
        self.uses_mask = "mask_image" in accepted
        self._accepted = accepted
        self._loader = loader
        self._pipeline: Any = None
        try:
            resolved = resolve_settings(family, accepted, settings)
        except ValueError as exc:
            raise ValueError(f"model {name!r}: {exc}") from None
        self.settings = {"pipeline": class_name, **resolved, "dtype": dtype}
        self._call_settings = pipeline_arguments(resolved)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_pipeline(
        cls,
        pipeline: Any,
        name: str,
        *,
        version: str = "1",
        settings: Mapping[str, Any] | None = None,
        tasks: frozenset[str] | None = None,
        device: str | None = None,
        dtype: Any = None,
    ) -> "DiffusersEditor":
        """Wrap an already-constructed pipeline.

        Parameters
        ----------
        pipeline : diffusers.DiffusionPipeline
        name : str
            Model name in the arena.
        version, settings, tasks
            As in :class:`~models.base.Editor`.
        device, dtype : optional
            Move the pipeline there first (``"auto"`` allowed); ``None`` leaves it where it is.
        """
        family = family_for(type(pipeline).__name__)
        if device is not None:
            pipeline = pipeline.to(resolve_device(device))
        if dtype is not None:
            pipeline = pipeline.to(resolve_dtype(dtype, str(pipeline.device), family.prefer_dtype))
        _quiet(pipeline)
        editor = cls(
            name,
            family=family,
            class_name=type(pipeline).__name__,
            accepted=call_parameters(pipeline),
            loader=lambda: pipeline,
            device=str(pipeline.device),
            dtype=dtype_name(pipeline.dtype),
            version=version,
            settings=settings,
            tasks=tasks,
        )
        editor._pipeline = pipeline
        return editor

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike,
        name: str | None = None,
        *,
        pipeline: str = "auto",
        version: str = "1",
        settings: Mapping[str, Any] | None = None,
        tasks: frozenset[str] | None = None,
        device: str = "auto",
        dtype: Any = "auto",
        allow_download: bool = False,
        offload: str | None = None,
        lazy: bool = True,
    ) -> "DiffusersEditor":
        """Declare an editor from a local diffusers folder or a Hugging Face Hub id.

        Parameters
        ----------
        source : str or path
            A folder saved with ``save_pretrained`` (it holds ``model_index.json``) or a hub id
            such as ``"timbrooks/instruct-pix2pix"``.
        name : str, optional
            Model name; defaults to the folder name or the hub id.
        pipeline : str
            ``"auto"``: the class named in ``model_index.json``, with its family's defaults
            when it is a known family. ``"generic"``: load with
            ``DiffusionPipeline.from_pretrained`` and use no family defaults (the source size,
            30 steps, the pipeline's own guidance); the mask is used when the pipeline accepts
            ``mask_image``. Or a diffusers class name, or a family key
            (``instruct_pix2pix``, ``inpaint``, ``flux_kontext``, ``qwen_image_edit``).
        version, settings, tasks
            As in :class:`~models.base.Editor`; settings override the family defaults.
        device : str
            ``"auto"`` (cuda, then mps, then cpu), or a torch device string.
        dtype : str or torch.dtype
            ``"auto"`` (float32 on the CPU, float16 or bfloat16 on a GPU by family), or a name.
        allow_download : bool
            Let a hub id be downloaded. By default only weights already in the local Hugging
            Face cache are used; ``HF_HUB_OFFLINE=1`` forbids downloads in any case.
        offload : {None, "model", "sequential"}
            Keep weights on the CPU and move them to the GPU as needed (diffusers CPU offload),
            for GPUs too small to hold the whole model.
        lazy : bool
            Load the weights on the first edit (default) rather than now.

        Raises
        ------
        ModelLoadError
            If the folder is missing, the hub id is not in the local cache, or the pipeline
            class is not in this diffusers.
        """
        local = is_local_source(source)
        if local and not (Path(source).expanduser() / "model_index.json").is_file():
            raise ModelLoadError(f"{str(source)!r} has no model_index.json: not a diffusers folder")
        local_only = hub_offline() or not allow_download or local
        where = str(Path(source).expanduser()) if local else str(source)
        generic = pipeline in ("generic", "DiffusionPipeline")
        class_name = _class_name_of(where, "auto" if generic else pipeline, local_only)
        family = GENERIC if generic else family_for(class_name)
        try:
            klass = pipeline_class(class_name)
            loader_class = pipeline_class("DiffusionPipeline") if generic else klass
        except LookupError as exc:
            raise ModelLoadError(str(exc)) from None
        resolved_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, resolved_device, family.prefer_dtype)
        if offload not in (None, "model", "sequential"):
            raise ValueError(f"offload must be None, 'model' or 'sequential', not {offload!r}")

        def load() -> Any:
            try:
                pipe = loader_class.from_pretrained(
                    where, dtype=torch_dtype, local_files_only=local_only
                )
            except (OSError, ValueError, EnvironmentError) as exc:
                hint = "" if local else (
                    " (not in the local Hugging Face cache; download it first or allow downloads)"
                    if local_only else ""
                )
                raise ModelLoadError(f"cannot load {where!r}{hint}: {exc}") from exc
            if offload == "model":
                pipe.enable_model_cpu_offload(device=resolved_device)
            elif offload == "sequential":
                pipe.enable_sequential_cpu_offload(device=resolved_device)
            else:
                pipe = pipe.to(resolved_device)
            _quiet(pipe)
            return pipe

        editor = cls(
            name or (Path(where).name if local else str(source)),
            family=family,
            class_name=class_name,
            accepted=call_parameters(klass),
            loader=load,
            device=resolved_device,
            dtype=dtype_name(torch_dtype),
            version=version,
            settings=settings,
            tasks=tasks,
        )
        if not lazy:
            editor.load()
        return editor

    # -- running ----------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory."""
        return self._pipeline is not None

    def load(self) -> Any:
        """Load the pipeline if needed and return it."""
        if self._pipeline is None:
            self._pipeline = self._loader()
        return self._pipeline

    def unload(self) -> None:
        """Drop the pipeline (weights reload on the next edit)."""
        self._pipeline = None

    def edit(self, request: EditRequest) -> Image.Image:
        """Edit ``request.source`` following ``request.instruction``.

        Returns
        -------
        PIL.Image.Image
            RGB image the size of the source.

        Raises
        ------
        EditError
            If the pipeline needs a mask and the request has none, or the mask's size differs
            from the source's.
        """
        source = request.source.convert("RGB")
        mask = request.mask.convert("L") if request.mask is not None else None
        if mask is not None and mask.size != source.size:
            raise EditError(f"{self.name}: mask size {mask.size} differs from source {source.size}")
        if self.uses_mask and mask is None:
            raise EditError(f"{self.name}: this inpainting model needs a mask")
        import torch

        pipe = self.load()
        width, height = working_size(source.size, self.settings["size"], size_multiple(pipe))
        kwargs = self._request_arguments(request, source, mask, width, height)
        kwargs["generator"] = torch.Generator("cpu").manual_seed(int(request.seed))
        with torch.inference_mode():
            result = pipe(**kwargs).images[0]
        if not isinstance(result, Image.Image):
            raise EditError(f"{self.name}: pipeline returned {type(result).__name__}, not an image")
        result = result.convert("RGB")
        if result.size != source.size:
            result = result.resize(source.size, Image.Resampling.LANCZOS)
        if mask is not None and self.settings["composite"]:
            result = Image.composite(result, source, mask)
        return result

    def run_info(self, request: EditRequest) -> dict[str, Any]:
        """What an edit of ``request`` runs with: dtype, denoising steps, working size."""
        multiple = size_multiple(self._pipeline) if self._pipeline is not None else 8
        width, height = working_size(request.source.size, self.settings["size"], multiple)
        steps = self._call_settings.get("num_inference_steps")
        return {"dtype": self.settings["dtype"], "steps": int(steps) if steps is not None else None,
                "resolution": f"{width}x{height}"}

    def _request_arguments(
        self, request: EditRequest, source: Image.Image, mask: Image.Image | None,
        width: int, height: int,
    ) -> dict[str, Any]:
        accepted = self._accepted
        kwargs: dict[str, Any] = {"prompt": request.instruction, "output_type": "pil"}
        resized = source if source.size == (width, height) else source.resize(
            (width, height), Image.Resampling.LANCZOS
        )
        if "image" in accepted:
            kwargs["image"] = resized
        if self.uses_mask:
            kwargs["mask_image"] = mask.resize((width, height), Image.Resampling.BILINEAR)
        if "height" in accepted and "width" in accepted:
            kwargs["height"], kwargs["width"] = height, width
        if "max_area" in accepted:
            kwargs["max_area"] = width * height
        if "_auto_resize" in accepted:
            kwargs["_auto_resize"] = False
        kwargs.update(self._call_settings)
        return kwargs

    def __repr__(self) -> str:
        return (
            f"DiffusersEditor({self.name!r}, pipeline={self.settings['pipeline']!r}, "
            f"device={self.device!r}, loaded={self.loaded})"
        )


def _class_name_of(where: str, pipeline: str, local_only: bool) -> str:
    """Pipeline class to load: the declared one, or the one named in ``model_index.json``."""
    if pipeline != "auto":
        family = family_for(pipeline)
        return pipeline if family is GENERIC else family.class_name
    from diffusers import DiffusionPipeline

    try:
        config = DiffusionPipeline.load_config(where, local_files_only=local_only)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise ModelLoadError(
            f"cannot read model_index.json of {where!r}"
            + (" (not in the local Hugging Face cache)" if local_only else "")
            + f": {exc}"
        ) from exc
    class_name = config.get("_class_name")
    if not class_name:
        raise ModelLoadError(f"model_index.json of {where!r} names no pipeline class")
    return class_name


def _quiet(pipeline: Any) -> None:
    """Put every module in inference mode (no dropout) and hide the per-step progress bars."""
    for component in getattr(pipeline, "components", {}).values():
        if hasattr(component, "eval") and hasattr(component, "training"):
            component.eval()
    if hasattr(pipeline, "set_progress_bar_config"):
        pipeline.set_progress_bar_config(disable=True)
