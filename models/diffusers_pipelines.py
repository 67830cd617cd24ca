"""Known diffusers editing pipelines and how to call them.

A :class:`PipelineFamily` records the defaults of one pipeline class (steps, guidance, working
size, preferred half-precision dtype). Pipelines not listed here take the generic path: their
``__call__`` signature decides which arguments are passed, and whether a mask is used
(``mask_image`` accepted).
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

#: Settings handled by the adapter itself rather than passed to the pipeline.
ADAPTER_SETTINGS = ("size", "composite")

#: Settings renamed on the way to the pipeline.
SETTING_ALIASES = {"steps": "num_inference_steps"}

#: Pipeline arguments the adapter fills from the request; never settable.
REQUEST_ARGUMENTS = frozenset({
    "prompt", "image", "mask_image", "height", "width", "generator", "output_type",
    "return_dict", "max_area", "_auto_resize", "num_images_per_prompt", "latents",
    "prompt_embeds", "negative_prompt_embeds", "callback_on_step_end",
})


@dataclass(frozen=True)
class PipelineFamily:
    """Defaults for one diffusers pipeline class.

    Attributes
    ----------
    key : str
        Short name usable in a models file instead of the class name.
    class_name : str
        Name of the class in the ``diffusers`` namespace.
    defaults : Mapping[str, Any]
        Settings used unless the model declares its own (``steps``, ``guidance_scale``, ...).
    size : int or None
        Default working size: the longer side, in pixels, the source is resized to before the
        edit. ``None`` keeps the source size (rounded down to the size multiple).
    prefer_dtype : {"float16", "bfloat16"}
        Half-precision type used on a GPU when the dtype is ``"auto"``.
    """

    key: str
    class_name: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    size: int | None = None
    prefer_dtype: str = "float16"


FAMILIES = (
    PipelineFamily(
        "instruct_pix2pix", "StableDiffusionInstructPix2PixPipeline",
        {"steps": 20, "guidance_scale": 7.5, "image_guidance_scale": 1.5}, 512, "float16",
    ),
    PipelineFamily(
        "inpaint", "StableDiffusionInpaintPipeline",
        {"steps": 30, "guidance_scale": 7.5, "strength": 1.0}, 512, "float16",
    ),
    PipelineFamily(
        "flux_kontext", "FluxKontextPipeline", {"steps": 28, "guidance_scale": 2.5}, 1024, "bfloat16",
    ),
    PipelineFamily(
        "qwen_image_edit", "QwenImageEditPipeline",
        {"steps": 50, "true_cfg_scale": 4.0, "negative_prompt": " "}, 1024, "bfloat16",
    ),
)

#: Any other pipeline: source size, diffusers' own defaults except the step count.
GENERIC = PipelineFamily("generic", "DiffusionPipeline", {"steps": 30}, None, "float16")


def family_for(name: str) -> PipelineFamily:
    """Family of a pipeline class name or family key; :data:`GENERIC` when unknown."""
    for family in FAMILIES:
        if name in (family.key, family.class_name):
            return family
    return GENERIC


def pipeline_class(class_name: str) -> type:
    """Import ``diffusers`` and return the pipeline class called ``class_name``.

    Raises
    ------
    LookupError
        If the installed diffusers has no such class.
    """
    import diffusers

    try:
        return getattr(diffusers, class_name)
    except (AttributeError, ImportError, RuntimeError) as exc:
        raise LookupError(
            f"diffusers {diffusers.__version__} has no pipeline class {class_name!r}"
        ) from exc


def call_parameters(pipeline: Any) -> frozenset[str]:
    """Named parameters of a pipeline's ``__call__`` (``**kwargs`` excluded)."""
    call = pipeline.__call__
    params = inspect.signature(call).parameters.values()
    skip = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    return frozenset(p.name for p in params if p.kind not in skip and p.name != "self")


def resolve_settings(
    family: PipelineFamily, accepted: frozenset[str], settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge the family defaults with declared settings and check them against the pipeline.

    Parameters
    ----------
    family : PipelineFamily
    accepted : frozenset of str
        Parameters the pipeline's ``__call__`` accepts (:func:`call_parameters`).
    settings : Mapping, optional
        Declared settings; they win over the defaults.

    Returns
    -------
    dict
        Settings, including ``size`` and ``composite`` (paste the result back through the mask,
        the default for pipelines that take a mask). Defaults the pipeline does not accept are
        dropped.

    Raises
    ------
    ValueError
        If a declared setting is neither an adapter setting nor a pipeline argument.
    """
    declared = dict(settings or {})
    for key in declared:
        target = SETTING_ALIASES.get(key, key)
        if key in ADAPTER_SETTINGS:
            continue
        if target in REQUEST_ARGUMENTS or target not in accepted:
            raise ValueError(f"setting {key!r} is not a settable argument of this pipeline")
    merged = {
        k: v for k, v in family.defaults.items() if SETTING_ALIASES.get(k, k) in accepted
    }
    merged.setdefault("size", family.size)
    merged.setdefault("composite", "mask_image" in accepted)
    merged.update(declared)
    size = merged["size"]
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise ValueError(f"setting 'size' must be a positive integer or absent, not {size!r}")
    if not isinstance(merged["composite"], bool):
        raise ValueError("setting 'composite' must be true or false")
    return merged


def pipeline_arguments(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as pipeline keyword arguments (adapter settings removed, aliases applied)."""
    return {
        SETTING_ALIASES.get(k, k): v for k, v in settings.items() if k not in ADAPTER_SETTINGS
    }


def working_size(size: tuple[int, int], long_side: int | None, multiple: int) -> tuple[int, int]:
    """Size the source is resized to before the edit.

    Parameters
    ----------
    size : (width, height)
        Source size.
    long_side : int or None
        Target length of the longer side; ``None`` keeps the source size.
    multiple : int
        Both sides are rounded down to a multiple of this (at least one multiple).

    Returns
    -------
    (width, height)
    """
    width, height = size
    if long_side is not None:
        scale = long_side / max(width, height)
        width, height = round(width * scale), round(height * scale)
    return (
        max(multiple, int(math.floor(width / multiple)) * multiple),
        max(multiple, int(math.floor(height / multiple)) * multiple),
    )


def size_multiple(pipeline: Any) -> int:
    """Pixel multiple the pipeline needs for its input (its image processor's scale factor)."""
    processor = getattr(pipeline, "image_processor", None)
    config = getattr(processor, "config", None)
    factor = getattr(config, "vae_scale_factor", None)
    if factor is None:
        factor = getattr(pipeline, "vae_scale_factor", 8)
    return int(factor)
