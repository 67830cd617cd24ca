"""``python app.py --workers N``: N worker processes for the HTTP API and live rooms.

The Gradio pages keep each browser's session in the memory of the process that serves it, so
they stay in one process (on ``--port``, with the whole API too). The routes that carry the
load, the vote path, image links and live rooms (:mod:`arena.web.api_app`), are stateless
between requests, so uvicorn's own process manager runs ``N`` of them on ``--api-port``,
sharing one listening socket. Behind a reverse proxy, send ``/api/``, ``/media/`` and
``/live`` to the workers and everything else to the pages (README, Operations).
"""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

#: Seconds an idle keep-alive connection is kept: longer than the pause between two rounds of a
#: live room, so a hall of phones does not reconnect all at once when a round opens (uvicorn's
#: default is 5 s; nginx keeps 75 s).
KEEP_ALIVE_S = 65


def _parent_death_signal() -> None:  # pragma: no cover - runs in the child before exec
    """On Linux, the workers stop when the process that started them dies (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def uvicorn_options() -> dict[str, Any]:
    """uvicorn's settings for every serving process: its httptools parser and uvloop event
    loop where installed (they are in requirements.txt), else its pure-Python defaults; its own
    proxy-header rewriting off (the client address is read by :mod:`arena.web.client`,
    trusting only ``ARENA_TRUSTED_PROXIES``); no access log (its line is built for every
    request even when the log level drops it); idle connections kept :data:`KEEP_ALIVE_S`."""
    options: dict[str, Any] = {"proxy_headers": False, "access_log": False,
                               "timeout_keep_alive": KEEP_ALIVE_S}
    if importlib.util.find_spec("httptools"):
        options["http"] = "httptools"
    if importlib.util.find_spec("uvloop"):
        options["loop"] = "uvloop"
    return options


def worker_command(host: str, port: int, workers: int) -> list[str]:
    """The uvicorn command line that runs ``workers`` API processes on ``host:port``, with
    :func:`uvicorn_options`."""
    root = Path(__file__).resolve().parents[2]        # the folder that holds ``arena``
    options = uvicorn_options()
    command = [sys.executable, "-m", "uvicorn", "--factory", "arena.web.api_app:make",
               "--app-dir", str(root), "--host", host, "--port", str(port), "--workers", str(workers),
               "--log-level", "warning", "--timeout-keep-alive", str(options["timeout_keep_alive"])]
    command += ["--no-proxy-headers"] if not options["proxy_headers"] else []
    command += ["--no-access-log"] if not options["access_log"] else []
    for name in ("http", "loop"):
        if name in options:
            command += [f"--{name}", options[name]]
    return command


class Workers:
    """The API worker processes, started by :meth:`start`, stopped by :meth:`stop`."""

    def __init__(self, host: str, port: int, workers: int):
        self.host, self.port, self.workers = host, port, workers
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 120.0) -> None:
        """Start them and wait until they answer (``SystemExit`` with the reason if not)."""
        preexec = _parent_death_signal if sys.platform.startswith("linux") else None
        self.proc = subprocess.Popen(worker_command(self.host, self.port, self.workers),
                                     env=dict(os.environ), preexec_fn=preexec)
        url = f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.port}/api/tasks"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the API workers exited (status {self.proc.returncode}); is port "
                                 f"{self.port} free?")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise SystemExit(f"the API workers did not answer on port {self.port} within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
