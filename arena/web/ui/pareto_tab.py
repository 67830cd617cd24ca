"""The Pareto tab: preference score against latency or cost per task, with the front drawn."""
from __future__ import annotations

import math
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from arena.context import Arena
from arena.views.cached import pareto_of, stats_of
from arena.views.leaderboard import OVERALL
from arena.web.ui.plots import control_models, pareto_figure
from arena.web.ui.task_menus import TaskMenus

HEADERS = ["Model", "Score", "95% CI", "Latency", "Time for the run", "Cost per 1,000 images",
           "Cost of the run", "On front", "P(front)", "Dominated by"]
RUN_IMAGES = 26_000     # a benchmark run, for the projected time and cost columns


def human_duration(seconds: float) -> str:
    """A duration as a person says it: ``45 s``, ``12 min``, ``7.2 h``, ``18.7 days``."""
    if seconds < 90:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _run_cells(latency: float | None, cost: float | None, images: int) -> list[str]:
    """Latency, projected time (one device, one image at a time), cost per image and cost of
    editing ``images`` images."""
    return [latency_words(latency), "" if latency is None else human_duration(images * latency),
            "" if cost is None else dollars(1000 * cost), "" if cost is None else dollars(images * cost)]


def latency_words(seconds: float | None) -> str:
    """A latency in ms below a second, else in s, to three digits: ``2.05 ms``, ``1.5 s``."""
    if seconds is None:
        return ""
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def dollars(x: float) -> str:
    """Dollars to the cent, or to two significant digits below a cent (never in e-notation)."""
    if x >= 0.01 or x <= 0:
        return f"${x:,.2f}"
    return f"${x:.{1 - math.floor(math.log10(x))}f}"


def pareto_view(arena: Arena, task: str, axis: str, images: int | float | None = RUN_IMAGES,
                position_bias: str = "fit") -> tuple[go.Figure, list[list[Any]], str]:
    """The figure, table rows and a summary line for one task and axis; the last two columns
    project the time and cost of running each model over ``images`` images. ``position_bias``
    ``"none"`` scores without the left/right term."""
    images = max(int(images or 0), 0)
    fronts = {f["axis"]: f for f in pareto_of(arena, task, position_bias)["fronts"]
              if f["task"] == task}
    front = fronts.get(axis)
    if front is None:
        return go.Figure(), [], f"No votes or no measured {axis.split('_')[0]} on {task} yet."
    controls = control_models(stats_of(arena))
    return pareto_figure(front, controls), [
        [p["model"] + (" (control)" if p["model"] in controls else ""), round(p["score"], 1),
         f"{p['ci_low']:.0f} – {p['ci_high']:.0f}",
         *_run_cells(p["latency_s"], p["cost_usd"], images), "yes" if p["on_front"] else "",
         "" if p["p_front"] is None else f"{p['p_front']:.2f}", ", ".join(p["dominated_by"])]
        for p in front["points"]], (
        f"**{len(front['front'])} of {len(front['points'])} models on the front** of {task} "
        f"({front['votes']} votes): {', '.join(front['front'])}." + _control_note(front, controls))


def _control_note(front: dict[str, Any], controls: set[str]) -> str:
    shown = sorted(controls & {p["model"] for p in front["points"]})
    if not shown:
        return ""
    return (f" *{', '.join(shown)}* is a control (the source unchanged): it takes next to no time "
            "and money, so it sits at the cheap end of every front; read the front from it "
            "upwards: a model is worth its cost when it scores above the control.")


def build_pareto_tab(arena: Arena, menus: TaskMenus):
    """Lay out the Pareto tab; returns (inputs, show callback, outputs)."""
    with gr.Row():
        task = menus.dropdown([OVERALL], value=OVERALL, label="Task", elem_id="pareto-task")
        axis = gr.Radio(choices=[("Latency", "latency_s"), ("Cost", "cost_usd"),
                                 ("Energy", "energy_wh")], value="latency_s",
                        label="Against")
        images = gr.Number(value=RUN_IMAGES, precision=0, minimum=0, label="Images in a benchmark run",
                           info="for the projected time (one device) and cost columns",
                           elem_id="pareto-images")
    bias = gr.Checkbox(value=True, label="Correct for the left/right position bias",
                       elem_id="pareto-bias")
    summary = gr.Markdown("")
    plot = gr.Plot(elem_id="pareto-plot", show_label=False)
    table = gr.Dataframe(headers=HEADERS, interactive=False)

    def show(task_name: str, axis_name: str, n_images: float | None, corrected: bool = True):
        return pareto_view(arena, task_name, axis_name, n_images, "fit" if corrected else "none")

    inputs, outputs = [task, axis, images, bias], [plot, table, summary]
    task.change(show, inputs, outputs, api_name="pareto")
    for trigger in (axis.change, images.submit, images.blur, bias.change):
        trigger(show, inputs, outputs, api_name=False)
    return inputs, show, outputs
