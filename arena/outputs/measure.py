"""One edit measured, as the Output fields it yields: no database, so Ray replicas use it too.

Per DESIGN.md §5: a model run here is warmed up, then timed over the repeats (median and p90,
device, threads, peak memory, energy; :func:`models.timing.measure`); a hosted API is called
once (each call is paid for), its latency the wall time of the call with the queue and run time
it reports; imported outputs carry the latency their maker reported. Every output also records
what its latency was measured with (dtype, steps, working resolution) and the calls it took.
"""
from __future__ import annotations

from typing import Any

from models.base import Editor, EditRequest
from models.config import ModelSpec
from models.energy import estimated
from models.imported import ITEM_PARAM
from models.timing import measure


def edit_request(item: Any, images: Any, seed: int) -> EditRequest:
    """The request for one stored item (``images``: :func:`arena.outputs.metrics.load_item_images`)."""
    return EditRequest(task=item.task, instruction=item.instruction, source=images.source,
                       mask=images.mask, target_text=item.target_text,
                       params={**(item.params or {}), ITEM_PARAM: item.key}, seed=seed)


def is_imported(editor: Editor) -> bool:
    """Outputs made elsewhere, served with their reported latency (not timed here)."""
    return hasattr(editor, "output_for")


def is_hosted(editor: Editor) -> bool:
    """A hosted API: called once per item, never warmed up or repeated."""
    return hasattr(editor, "call") and getattr(editor, "kind", "") == "api"


def run_info(editor: Editor, request: EditRequest) -> dict[str, Any]:
    """dtype, steps and resolution behind a latency (the editor's own ``run_info`` if it has
    one, else the source's size)."""
    if hasattr(editor, "run_info"):
        return dict(editor.run_info(request))
    width, height = request.source.size
    return {"dtype": None, "steps": None, "resolution": f"{width}x{height}"}


def _energy_fields(energy: Any) -> dict[str, Any]:
    return {"energy_wh": energy.wh if energy else None,
            "energy_source": energy.source if energy else None}


def edit_and_measure(spec: ModelSpec, editor: Editor, request: EditRequest, *, warmup: int,
                     repeats: int, track_memory: bool) -> tuple[Any, dict[str, Any]]:
    """Run one edit; return the image and the Output fields of its measurement."""
    if is_imported(editor):
        image = editor.edit(request)
        reported = editor.output_for(request)
        cost = reported.cost_usd if reported.cost_usd is not None else spec.cost_usd(reported.latency_s)
        return image, {"latency_s": reported.latency_s, "cost_usd": cost, "calls": 0,
                       **_energy_fields(estimated(reported.latency_s, spec.power_w))}
    if is_hosted(editor):
        result = editor.call(request)
        return result.image, {
            "latency_s": result.latency_s, "queue_s": result.queue_s, "run_s": result.run_s,
            "device": "api", "cost_usd": spec.cost_usd(result.latency_s), "calls": 1,
            "warmup_calls": 0, **run_info(editor, request),
            **_energy_fields(estimated(result.latency_s, spec.power_w))}
    device = str(getattr(editor, "device", "cpu"))
    memory = "process" if editor.kind == "diffusers" else "python"
    image, timing = measure(lambda: editor.edit(request), warmup=warmup, repeats=repeats,
                            device=device, track_memory=track_memory, memory=memory,
                            power_w=spec.power_w)
    return image, {"latency_s": timing.median_s, "latency_p90_s": timing.p90_s,
                   "peak_memory_mb": timing.peak_memory_mb, "device": timing.device,
                   "threads": timing.threads, "cost_usd": spec.cost_usd(timing.median_s),
                   "calls": timing.calls, "warmup_calls": warmup,
                   "energy_wh": timing.energy_wh, "energy_source": timing.energy_source,
                   **run_info(editor, request)}
