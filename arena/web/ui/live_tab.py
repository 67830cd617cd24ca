"""The Live tab: start a live session for a task and get its join code and links.

The session itself runs on plain pages (``/live/{code}`` and ``/live/{code}/present``), not in
Gradio: the audience's path never goes through a Gradio event.
"""
from __future__ import annotations

import html
from typing import Any

import gradio as gr

from arena.collect import live
from arena.collect.voting import VoteError
from arena.context import Arena
from arena.store.organiser import WHERE, is_organiser
from arena.web.qr import LOOPBACK_ADVICE, is_loopback, qr_data_uri
from arena.web.ui.organiser_field import given_key, key_field
from arena.web.ui.task_menus import TaskMenus


def request_base(request: gr.Request | None) -> str:
    """``scheme://host`` of the page the request came from (what a phone in the room can use)."""
    headers = {k.lower(): v for k, v in dict(getattr(request, "headers", None) or {}).items()}
    host = (headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1:7860").split(",")[0].strip()
    proto = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip()
    return f"{'https' if proto == 'https' else 'http'}://{host}"


def session_html(code: str, join_url: str, present_url: str) -> str:
    """The join code in large letters, a QR code of the join link, both links (every value
    escaped), and a warning when the link points at this computer only."""
    e = html.escape
    warning = (f"<p class='pa-live-warning' role='alert'><b>Warning:</b> {e(LOOPBACK_ADVICE)}</p>"
               if is_loopback(join_url) else "")
    return (
        "<div class='pa-live'>"
        f"<div class='pa-live-code' style='font:800 2.6rem/1.1 ui-monospace,monospace;"
        f"letter-spacing:0.12em'>{e(code)}</div>{warning}"
        f"<img class='pa-live-qr' id='live-qr' src='{qr_data_uri(join_url)}' width='220' height='220' "
        f"alt='QR code of the audience link {e(join_url)}'>"
        f"<p><b>Audience</b> (phones): <a href='{e(join_url)}' target='_blank' rel='noopener'>"
        f"{e(join_url)}</a></p>"
        f"<p><b>Presenter</b> (keep this link to yourself: it controls the session): "
        f"<a href='{e(present_url)}' target='_blank' rel='noopener'>{e(present_url)}</a></p>"
        "<p>Open the presenter link on the projected screen, then press <i>Next round</i>. "
        "The address comes from <code>ARENA_PUBLIC_URL</code> when it is set, else from the "
        "address this page was opened by.</p>"
        "</div>")


def start_session(arena: Arena, task: str | None, base: str, key: str | None) -> str:
    """Create a session and describe it as HTML (or say why it could not be made); only with
    the organiser ``key``."""
    if not is_organiser(arena.engine, key):
        return ("<p class='pa-live-error'>Starting a live session needs the organiser key "
                f"({html.escape(WHERE)}).</p>")
    try:
        made = live.create_session(arena, task or None)
    except VoteError as exc:
        return f"<p class='pa-live-error'>{html.escape(str(exc))}</p>"
    base = live.public_base(base)
    return session_html(made.code, base + live.join_path(made.code),
                        base + live.present_path(made.code, made.presenter_token))


def build_live_tab(arena: Arena, menus: TaskMenus | None = None) -> tuple[Any, Any, Any]:
    """Task dropdown, start button and result panel; returns ``(task, start, result)``.

    Call inside ``with gr.Tab("Live"):``; the button's event is wired here.
    """
    menus = menus or TaskMenus(arena)
    gr.Markdown("Run a vote with a room: the presenter shows one pair per round on the big screen, "
                "the audience votes from their phones, then the presenter reveals the models.")
    with gr.Row():
        task = menus.dropdown(["any"], with_pairs=True, value="any", label="Task",
                              elem_id="live-task", scale=3, min_width=0)
        key, saved = key_field(arena, scale=2, min_width=0, elem_id="live-key")
        start = gr.Button("Start a live session", variant="primary", elem_id="live-start",
                          scale=1, min_width=0)
    result = gr.HTML("", elem_id="live-result")

    def on_start(task_name: str, typed: str, remembered: str, request: gr.Request):
        given, keep = given_key(arena, typed, remembered)
        return start_session(arena, task_name, request_base(request), given), keep

    start.click(on_start, [task, key, saved], [result, saved], api_name=False)
    return task, start, result
