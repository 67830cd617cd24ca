"""A small HTTP/1.1 client on asyncio streams for bench_live.py: one phone, its own connections.

A thousand phones on one general-purpose client share one connection pool that is searched on
every request; here each phone keeps its own keep-alive connection (and one more for its event
stream), as a browser does, and costs the load generator little. A connection idle for nearly as long
as the server keeps it (``arena.web.workers.KEEP_ALIVE_S``, 65 s) is replaced before the next
request, as browsers do.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator

IDLE_S = 60.0


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status_code, self.headers, self.content = status, headers, body

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Connection:
    """One keep-alive connection to ``host:port``."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def _open(self) -> None:
        if self.writer is not None and time.monotonic() - self.used < IDLE_S \
                and not self.reader.at_eof():
            return
        self.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def _send(self, method: str, path: str, headers: dict[str, str] | None,
                    body: bytes | None) -> None:
        await self._open()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}")
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        await self.writer.drain()

    async def _head(self) -> tuple[int, dict[str, str]]:
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("closed before answering")
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            key = key.strip().lower()
            headers[key] = value.strip() if key not in headers else headers[key] + ", " + value.strip()
        return int(status_line.split()[1]), headers

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      json_body: Any = None) -> Answer:
        body = None if json_body is None else json.dumps(json_body).encode()
        for attempt in (0, 1):
            try:
                await self._send(method, path, headers, body)
                status, head = await self._head()
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()            # a keep-alive connection the server had closed
                if attempt:
                    raise
        if "chunked" in head.get("transfer-encoding", ""):
            data = b"".join([chunk async for chunk in self._chunks()])
        else:
            data = await self.reader.readexactly(int(head.get("content-length", "0")))
        self.used = time.monotonic()
        if head.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, head, data)

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            size = int((await self.reader.readline()).split(b";")[0], 16)
            if size == 0:
                await self.reader.readline()
                return
            yield await self.reader.readexactly(size)
            await self.reader.readline()

    async def stream_lines(self, path: str) -> AsyncIterator[tuple[int, str]]:
        """``(status, line)`` for each line of a chunked answer (an event stream)."""
        self.close()
        await self._send("GET", path, {"Accept": "text/event-stream"}, None)
        status, head = await self._head()
        buffer = b""
        async for chunk in self._chunks():
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield status, line.decode("utf-8", "replace")
        self.close()
