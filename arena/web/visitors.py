"""Voters as the web side sees them: the signed identity cookie, issued by the server with the
first pair (pages and HTTP API alike), each new identity rate-limited per client address.

The cookie only carries an id the server made (:mod:`arena.collect.identity`); the database
row, with the keyed hash of the address, is written when the identity first asks for a pair,
and that is when the per-address limit on new identities is spent. :class:`PageCookie` sets the
cookie on the page load, so the Gradio pages (whose events cannot set cookies) have one too.
"""
from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from fastapi import Request, Response
from sqlalchemy import select

from arena.collect.identity import (COOKIE, COOKIE_MAX_AGE, address_hash, cookie_value, new_id,
                                    read_cookie, register_within)
from arena.context import Arena
from arena.store.schema import Voter
from arena.web.client import Limits, client_address


class Visitors:
    """Identities and limits of one running arena."""

    def __init__(self, arena: Arena):
        self.arena = arena
        self.limits = Limits(lambda: arena.secret)
        self._known: set[str] = set()      # identities stored already (this process saw them)

    def address(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The keyed hash of the client's address."""
        return address_hash(self.arena.secret, client_address(peer, forwarded_for))

    def address_of(self, request: Request) -> str | None:
        peer = request.client.host if request.client else None
        return self.address(peer, request.headers.get("x-forwarded-for"))

    def throttle(self, address: str | None) -> None:
        """429 when this address sends vote-route requests faster than its limit."""
        self.limits.check(self.limits.requests, address, "requests")

    def voter(self, cookie: str | None, address: str | None) -> tuple[str, bool]:
        """The identity a cookie carries, registered if new; a fresh one when the cookie is
        missing or forged. Returns (voter id, whether the cookie must be (re)set); a new row
        spends the address's identity budget (429 past it)."""
        voter_id = read_cookie(self.arena.secret, cookie)
        fresh = voter_id is None
        if fresh:
            voter_id = new_id()
        if fresh or not self._stored(voter_id):
            self.limits.refuse(register_within(self.arena.engine, voter_id, address,
                                               self.limits.identities_per_hour), "new voters")
            self._remember(voter_id)
        return voter_id, fresh

    def _stored(self, voter_id: str) -> bool:
        if voter_id in self._known:
            return True
        with self.arena.engine.connect() as conn:
            found = conn.execute(select(Voter.__table__.c.id)
                                 .where(Voter.__table__.c.id == voter_id)).first() is not None
        if found:
            self._remember(voter_id)
        return found

    def _remember(self, voter_id: str) -> None:
        if len(self._known) >= 1_000_000:
            self._known.clear()
        self._known.add(voter_id)

    def set_cookie(self, response: Response, voter_id: str, secure: bool) -> None:
        response.set_cookie(COOKIE, cookie_value(self.arena.secret, voter_id),
                            max_age=COOKIE_MAX_AGE, httponly=True, samesite="lax",
                            secure=secure, path="/")


class PageCookie:
    """ASGI middleware: a page load (``GET /``) without a valid identity cookie gets one.

    Only the id is minted here; its row and the address's identity budget wait for the
    first pair (:meth:`Visitors.voter`).
    """

    def __init__(self, app: Any, arena: Arena):
        self.app, self.arena = app, arena

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/" or scope["method"] != "GET" \
                or self._has_cookie(scope):
            await self.app(scope, receive, send)
            return
        morsel = SimpleCookie()
        morsel[COOKIE] = cookie_value(self.arena.secret, new_id())
        morsel[COOKIE].update({"max-age": COOKIE_MAX_AGE, "path": "/", "httponly": True,
                               "samesite": "Lax"})
        if scope.get("scheme") == "https":
            morsel[COOKIE]["secure"] = True
        header = (b"set-cookie", morsel[COOKIE].OutputString().encode())

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _has_cookie(self, scope: dict) -> bool:
        for name, value in scope["headers"]:
            if name == b"cookie":
                jar = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except Exception:  # noqa: BLE001 - a malformed header is no cookie
                    return False
                if COOKIE in jar and read_cookie(self.arena.secret, jar[COOKIE].value):
                    return True
        return False
