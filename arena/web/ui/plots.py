"""Figures of the Leaderboard and Pareto tabs (plotly), and the units people read on their axes.

No model name is written on a plotted point (names collide on a phone): each model is a trace
of its own, named in the legend and on hover. Controls (models of kind ``baseline``, such as
``no-edit``, which returns the source unchanged) are drawn as hollow grey marks and labelled
as controls.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import plotly.graph_objects as go

PALETTE = ("#1f5fa8", "#c2410c", "#1d7a3a", "#7b3fa0", "#a12c2c", "#0f766e", "#8a6d00",
           "#c0267a", "#3f5f8a", "#5b6b2f", "#6b4f3a", "#2d6a8f", "#8f3b55")
CONTROL_COLOUR = "#6b7280"
CONTROL_WORDS = "control: the source unchanged"


def control_models(stats: Iterable[dict[str, Any]]) -> set[str]:
    """Names of the models of kind ``baseline`` (from :func:`arena.views.cached.stats_of`)."""
    return {m["model"] for m in stats if m.get("kind") == "baseline"}


def seconds_label(s: float) -> str:
    """A duration for an axis tick: ``0.01 ms``, ``5 ms``, ``2 s``, ``3 min``."""
    if s < 1:
        ms = s * 1000
        return f"{ms:g} ms" if ms >= 0.001 else f"{ms:.0e} ms"
    return f"{s:g} s" if s < 120 else f"{s / 60:g} min"


def dollars_label(x: float) -> str:
    """Dollars for an axis tick, with as many decimals as the value needs: ``$0.0001``, ``$10``."""
    if x >= 1:
        return f"${x:,.0f}"
    decimals = max(0, -math.floor(math.log10(x)))
    return f"${x:.{decimals}f}"


def watt_hours_label(wh: float) -> str:
    """Energy for an axis tick: ``0.5 mWh``, ``12 Wh``, ``3 kWh``."""
    if wh < 1:
        return f"{wh * 1000:g} mWh"
    return f"{wh:g} Wh" if wh < 1000 else f"{wh / 1000:g} kWh"


def _decades(values: list[float]) -> list[float]:
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    if hi == lo:
        hi += 1
    return [10.0 ** k for k in range(lo, hi + 1)]


AXES = {  # axis -> (title, value per point from the front's field, tick label)
    "latency_s": ("Median latency per image (log scale)", lambda v: v, seconds_label),
    "cost_usd": ("Cost per 1,000 images in dollars (log scale)", lambda v: v * 1000, dollars_label),
    "energy_wh": ("Energy per image (log scale)", lambda v: v, lambda v: watt_hours_label(v)),
}


def _layout(fig: go.Figure, height: int, legend: bool) -> go.Figure:
    fig.update_layout(template="plotly_white", height=height, autosize=True,
                      margin={"l": 10, "r": 10, "t": 36, "b": 10},
                      font={"family": "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif",
                            "size": 13},
                      showlegend=legend, hovermode="closest",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0,
                              "font": {"size": 12}})
    return fig


def pareto_figure(front: dict[str, Any], controls: set[str] = frozenset()) -> go.Figure:
    """Score (with 95% intervals) against latency or cost, one trace per model (legend and
    hover, no labels on the points), the front joined by a dotted step line."""
    axis = front["axis"]
    title, value, label = AXES[axis]
    pts = [p for p in front["points"] if p[axis] is not None]
    positive = [value(p[axis]) for p in pts if p[axis] > 0]
    floor = min(positive, default=1e-6) / 2
    xs = [max(value(p[axis]), floor) for p in pts]
    fig = go.Figure()
    for i, (x, p) in enumerate(zip(xs, pts)):
        control = p["model"] in controls
        colour = CONTROL_COLOUR if control else PALETTE[i % len(PALETTE)]
        name = p["model"] + (f" ({CONTROL_WORDS})" if control else "")
        where = label(x) + (" per 1,000 images" if axis == "cost_usd" else "")
        fig.add_trace(go.Scatter(
            x=[x], y=[p["score"]], mode="markers", name=name,
            marker={"size": 13 if p["on_front"] else 10, "color": colour,
                    "symbol": "diamond-open" if control else ("circle" if p["on_front"] else "circle-open"),
                    "line": {"width": 2, "color": colour}},
            error_y={"type": "data", "symmetric": False, "array": [p["ci_high"] - p["score"]],
                     "arrayminus": [p["score"] - p["ci_low"]], "color": colour, "thickness": 1.5},
            hovertemplate=(f"<b>{name}</b><br>score %{{y:.0f}} ({p['ci_low']:.0f}–{p['ci_high']:.0f})"
                           f"<br>{where}<br>"
                           + ("on the front" if p["on_front"] else "not on the front")
                           + ("" if p["p_front"] is None else f" (P {p['p_front']:.2f})")
                           + "<extra></extra>")))
    on = sorted((x, p["score"]) for x, p in zip(xs, pts) if p["on_front"])
    fig.add_trace(go.Scatter(x=[a for a, _ in on], y=[b for _, b in on], mode="lines",
                             line={"shape": "hv", "color": "#111827", "dash": "dot", "width": 1.5},
                             name="Pareto front", hoverinfo="skip"))
    ticks = _decades(xs) if xs else [1]
    fig.update_xaxes(type="log", title=title, tickvals=ticks, ticktext=[label(t) for t in ticks],
                     automargin=True)
    fig.update_yaxes(title="Score (95% interval)", automargin=True)
    return _layout(fig, 430 + 20 * len(pts), True)


def forest_figure(rows: list[dict[str, Any]], controls: set[str] = frozenset()) -> go.Figure:
    """Each model's score with its 95% interval, best at the top (a forest plot); the
    average model (1000) marked by a line."""
    fig = go.Figure()
    if not rows:
        fig.add_annotation(text="No scores yet", showarrow=False, font={"size": 16})
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return _layout(fig, 160, False)
    names = [r["model"] + (" (control)" if r["model"] in controls else "") for r in rows]
    colours = [CONTROL_COLOUR if r["model"] in controls else "#1f5fa8" for r in rows]
    fig.add_trace(go.Scatter(
        x=[r["score"] for r in rows], y=names, mode="markers", showlegend=False,
        marker={"size": 10, "color": colours,
                "symbol": ["diamond-open" if r["model"] in controls else "circle" for r in rows]},
        error_x={"type": "data", "symmetric": False, "color": "#374151", "thickness": 1.5,
                 "array": [r["ci_high"] - r["score"] for r in rows],
                 "arrayminus": [r["score"] - r["ci_low"] for r in rows]},
        customdata=[[r["ci_low"], r["ci_high"], r["rank"]] for r in rows],
        hovertemplate="<b>%{y}</b><br>rank %{customdata[2]}<br>score %{x:.0f} "
                      "(%{customdata[0]:.0f}–%{customdata[1]:.0f})<extra></extra>"))
    fig.add_vline(x=1000, line={"color": "#9ca3af", "dash": "dot", "width": 1})
    fig.update_yaxes(autorange="reversed", automargin=True, tickfont={"size": 12})
    fig.update_xaxes(title="Score (95% interval)", automargin=True)
    return _layout(fig, 80 + 30 * max(len(rows), 1), False)
