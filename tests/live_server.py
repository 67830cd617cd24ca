"""Start the real app in a subprocess on a free port, on its own database and media folder."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(workdir: Path, database_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url or f"sqlite:///{workdir / 'arena.db'}"
    env["ARENA_MEDIA"] = str(workdir / "media")
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    env.setdefault("ARENA_LIMITS_DIR", str(workdir))     # its rate-limit table goes with it
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "arena", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


class LiveServer:
    """``python app.py`` running on a free port until :meth:`stop`."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.port, self.env, self.workdir = free_port(), env, workdir
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (workdir / "server.log").open("w")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(self.port)],
                                     cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(workdir / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/tasks", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("server did not start within 120 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def fresh_postgres(server_url: str, prefix: str = "arena_bench") -> str:
    """A new empty database on the server of ``server_url``; returns its URL."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_postgres(server_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()
