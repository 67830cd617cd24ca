"""The Pareto tab: preference score against latency or cost per task, with the front drawn."""
from __future__ import annotations

from typing import Any

import gradio as gr
import plotly.graph_objects as go

from arena.context import Arena
from arena.views.cached import pareto_of
from arena.views.leaderboard import OVERALL
from arena.web.ui.task_menus import TaskMenus

AXIS_LABELS = {"latency_s": "Median latency per image (s, log scale)",
               "cost_usd": "Cost per image (USD, log scale)"}
HEADERS = ["Model", "Score", "95% CI", "Latency (s)", "Time for the run", "Cost (USD)", "Cost of the run",
           "On front", "P(front)", "Dominated by"]
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
    return [_fmt(latency), "" if latency is None else human_duration(images * latency),
            _fmt(cost), "" if cost is None else dollars(images * cost)]


def dollars(x: float) -> str:
    """Dollars to the cent, or to two significant digits below a cent."""
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else f"${x:.2g}"


def pareto_view(arena: Arena, task: str, axis: str, images: int | float | None = RUN_IMAGES
                ) -> tuple[go.Figure, list[list[Any]], str]:
    """The figure, table rows and a summary line for one task and axis; the last two columns
    project the time and cost of running each model over ``images`` images."""
    images = max(int(images or 0), 0)
    fronts = {f["axis"]: f for f in pareto_of(arena, task)["fronts"] if f["task"] == task}
    front = fronts.get(axis)
    if front is None:
        return go.Figure(), [], f"No votes or no measured {axis.split('_')[0]} on {task} yet."
    return pareto_figure(front), [
        [p["model"], round(p["score"], 1), f"{p['ci_low']:.0f} – {p['ci_high']:.0f}",
         *_run_cells(p["latency_s"], p["cost_usd"], images), "yes" if p["on_front"] else "",
         "" if p["p_front"] is None else f"{p['p_front']:.2f}", ", ".join(p["dominated_by"])]
        for p in front["points"]], (
        f"**{len(front['front'])} of {len(front['points'])} models on the front** of {task} "
        f"({front['votes']} votes): {', '.join(front['front'])}.")


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def pareto_figure(front: dict[str, Any]) -> go.Figure:
    """Scatter of score (with 95% intervals) against the axis; the front joined by a line."""
    axis = front["axis"]
    pts = [p for p in front["points"] if p[axis] is not None]
    floor = min((p[axis] for p in pts if p[axis] > 0), default=1e-6) / 2
    x = [max(p[axis], floor) for p in pts]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=x, y=[p["score"] for p in pts], mode="markers+text", text=[p["model"] for p in pts],
        textposition="top center", name="models",
        marker={"size": 11, "color": ["#e4572e" if p["on_front"] else "#8d99ae" for p in pts]},
        error_y={"type": "data", "symmetric": False, "array": [p["ci_high"] - p["score"] for p in pts],
                 "arrayminus": [p["score"] - p["ci_low"] for p in pts]},
        customdata=[[p["p_front"] if p["p_front"] is not None else float("nan")] for p in pts],
        hovertemplate="%{text}<br>score %{y:.0f}<br>%{x:.3g}<br>P(front) %{customdata[0]:.2f}<extra></extra>"))
    on = sorted((xv, p["score"]) for xv, p in zip(x, pts) if p["on_front"])
    fig.add_trace(go.Scatter(x=[a for a, _ in on], y=[b for _, b in on], mode="lines",
                             line={"shape": "hv", "color": "#e4572e", "dash": "dot"}, name="Pareto front"))
    fig.update_layout(xaxis={"type": "log", "title": AXIS_LABELS[axis]},
                      yaxis={"title": "Preference score (Bradley-Terry, 95% CI)"},
                      margin={"l": 60, "r": 20, "t": 30, "b": 60}, height=480, showlegend=False,
                      template="plotly_white")
    return fig


def build_pareto_tab(arena: Arena, menus: TaskMenus):
    """Lay out the Pareto tab; returns (inputs, show callback, outputs)."""
    with gr.Row():
        task = menus.dropdown([OVERALL], value=OVERALL, label="Task", elem_id="pareto-task")
        axis = gr.Radio(choices=[("Latency", "latency_s"), ("Cost", "cost_usd")], value="latency_s",
                        label="Against")
        images = gr.Number(value=RUN_IMAGES, precision=0, minimum=0, label="Images in a benchmark run",
                           info="for the projected time (one device) and cost columns",
                           elem_id="pareto-images")
    summary = gr.Markdown("")
    plot = gr.Plot(elem_id="pareto-plot")
    table = gr.Dataframe(headers=HEADERS, interactive=False)

    def show(task_name: str, axis_name: str, n_images: float | None):
        return pareto_view(arena, task_name, axis_name, n_images)

    inputs, outputs = [task, axis, images], [plot, table, summary]
    task.change(show, inputs, outputs, api_name="pareto")
    for trigger in (axis.change, images.submit, images.blur):
        trigger(show, inputs, outputs, api_name=False)
    return inputs, show, outputs
