"""A local server that speaks the hosted editing APIs the arena calls, for tests only.

* OpenAI Images: ``POST /v1/images/edits`` (multipart: image, mask, prompt, model, ...) answers
  ``{"data": [{"b64_json": PNG}]}``;
* Replicate: ``POST /v1/models/OWNER/NAME/predictions`` starts a prediction, ``GET
  /v1/predictions/ID`` reports it succeeded (created 1.5 s before it started, 0.25 s of predict
  time), ``GET /files/ID.png`` serves its output.

``script`` holds answers to give first, one per request, as ``(status, headers, body)``;
``delay_s`` slows every answer; ``requests`` records what the default answers saw, ``paths`` every request; ``max_active`` the most
requests served at once.
"""
from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

CREATED, STARTED = "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.500Z"


def png(color="red", size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def multipart(headers, body: bytes) -> dict:
    """Fields of a multipart/form-data body (file fields as bytes)."""
    raw = b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.iter_parts()}


class ApiServer:
    def __init__(self):
        self.script: list[tuple[int, dict, object]] = []
        self.delay_s = 0.0
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.active = self.max_active = 0
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                api.serve(self, None)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                api.serve(self, self.rfile.read(length))

        return Handler

    def serve(self, handler, body):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.paths.append(handler.path)
            scripted = self.script.pop(0) if self.script and not handler.path.startswith("/files") else None
        try:
            time.sleep(self.delay_s)
            status, headers, answer = scripted or self.answer(handler, body)
            self.reply(handler, status, headers, answer)
        finally:
            with self.lock:
                self.active -= 1

    def answer(self, handler, body):
        path, headers = handler.path, handler.headers
        record = {"method": handler.command, "path": path, "auth": headers.get("Authorization")}
        if path.endswith("/images/edits"):
            fields = multipart(headers, body)
            record.update({k: (v.decode() if k in ("prompt", "model", "n", "size") else v)
                           for k, v in fields.items()})
            self.requests.append(record)
            return 200, {}, {"created": 0, "data": [{"b64_json": base64.b64encode(png()).decode()}]}
        if "/predictions" in path and handler.command == "POST":
            record["json"] = json.loads(body)
            self.requests.append(record)
            pid = next(self.ids)
            return 201, {}, {"id": str(pid), "status": "starting", "created_at": CREATED,
                             "urls": {"get": f"{self.url}/v1/predictions/{pid}"}}
        if path.startswith("/v1/predictions/"):
            self.requests.append(record)
            pid = path.rsplit("/", 1)[1]
            return 200, {}, {"id": pid, "status": "succeeded", "created_at": CREATED,
                             "started_at": STARTED, "metrics": {"predict_time": 0.25},
                             "output": [f"{self.url}/files/{pid}.png"]}
        if path.startswith("/files/"):
            return 200, {"Content-Type": "image/png"}, png("blue")
        return 404, {}, {"error": {"message": "no such route"}}

    @staticmethod
    def reply(handler, status, headers, answer):
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        try:
            handler.send_response(status)
        except (BrokenPipeError, ConnectionResetError):
            return
        headers = {"Content-Type": "application/json", **headers}
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        try:
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass
