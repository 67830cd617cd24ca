"""The practical ceiling for bench_serve.py: a bare FastAPI app whose pair route answers a fixed
pair and whose vote route does one SQLite insert, served by the same uvicorn (httptools, uvloop).

    uvicorn benchmarks.bare_vote_app:app  (with BARE_DB=/path/to/file.db)
"""
from __future__ import annotations

import os
import sqlite3
import threading

import orjson
from fastapi import FastAPI, Response

app = FastAPI()
_db = sqlite3.connect(os.environ.get("BARE_DB", "bare.db"), check_same_thread=False)
_db.execute("PRAGMA journal_mode=WAL")
_db.execute("PRAGMA synchronous=NORMAL")        # as the arena runs SQLite
_db.execute("CREATE TABLE IF NOT EXISTS vote (id INTEGER PRIMARY KEY, impression INTEGER UNIQUE, choice TEXT)")
_lock = threading.Lock()
_next = [0]


@app.get("/api/pair")
def pair() -> Response:
    with _lock:
        _next[0] += 1
        n = _next[0]
    return Response(orjson.dumps({"impression_id": n, "token": "t", "task": "recolor"}),
                    media_type="application/json")


@app.post("/api/votes")
def vote(body: dict) -> Response:
    with _lock:
        _db.execute("INSERT OR IGNORE INTO vote (impression, choice) VALUES (?, ?)",
                    (body["impression_id"], body["choice"]))
        _db.commit()
    return Response(orjson.dumps({"vote_id": body["impression_id"]}), status_code=201,
                    media_type="application/json")
