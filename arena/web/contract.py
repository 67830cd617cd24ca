"""The HTTP contract as the OpenAPI schema states it: bodies, statuses and media types of every
route, one error shape (``{"detail": "..."}``), 405 for a known path with the wrong method,
and 404 (never the pages) for an unknown path under ``/api/``.

Routes read their bodies themselves (see :mod:`arena.web.guards`), so the body schemas here
document them for clients and schema-based fuzzers; they are not a second validator.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

ERROR = {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
WHY = {400: "Bad request", 403: "Forbidden: bad token or key", 404: "Not found",
       405: "Method not allowed", 409: "Conflict: the pair or round is no longer open",
       413: "Body too large", 415: "Body is not JSON", 422: "Malformed request",
       429: "Too many requests (see Retry-After)"}
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, all with the one error shape."""
    return {s: {"description": WHY[s], "content": {"application/json": {"schema": ERROR_REF}}}
            for s in statuses}


def json_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body of ``schema``."""
    return {"requestBody": {"required": required,
                            "content": {"application/json": {"schema": schema}}}}


VOTE_BODY = {
    "type": "object", "required": ["impression_id", "token", "choice"],
    "properties": {
        "impression_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "token": {"type": "string", "minLength": 1, "maxLength": 200},
        "choice": {"type": "string", "enum": ["left", "right", "tie", "both_bad", "skip"]},
        "duration_ms": {"type": ["number", "null"], "minimum": 0, "maximum": 86_399_999},
    },
}
LIVE_BODY = {"type": "object", "properties": {"task": {"type": ["string", "null"]}}}
PNG = {200: {"description": "The image", "content": {"image/png": {}}}}


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("query", "header", "path"))
    return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}".strip(": ")},
                        status_code=422)


def _not_allowed(allowed: list[str]):
    async def route() -> JSONResponse:
        return JSONResponse({"detail": "method not allowed"}, status_code=405,
                            headers={"Allow": ", ".join(allowed)})
    return route


def method_guards(*routers: APIRouter) -> APIRouter:
    """Routes to include after ``routers``: a 405 (with ``Allow``) for every standard method a
    path of theirs does not serve, then a 404 for any other path under ``/api/`` (instead of
    the pages mounted at /)."""
    router = APIRouter()
    served: dict[str, set[str]] = {}
    for source in routers:
        for route in source.routes:
            if isinstance(route, APIRoute):
                served.setdefault(route.path, set()).update(route.methods)
    for path, methods in served.items():
        allowed = sorted(methods | ({"HEAD"} if "GET" in methods else set()))
        others = [m for m in METHODS if m not in allowed]
        router.add_api_route(path, _not_allowed(allowed), methods=others, include_in_schema=False)

    async def unknown(rest: str) -> JSONResponse:
        return JSONResponse({"detail": f"no API route /api/{rest}"}, status_code=404)

    router.add_api_route("/api/{rest:path}", unknown, methods=list(METHODS), include_in_schema=False)
    return router


async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """503 with ``Retry-After`` when the database cannot answer (a PostgreSQL restart or a
    dropped connection, a SQLite file locked past its busy timeout): nothing was acknowledged,
    and a retry of a vote is safe (one vote per impression)."""
    return JSONResponse({"detail": "the database is unavailable for a moment: try again"},
                        status_code=503, headers={"Retry-After": "1"})


def database_errors() -> tuple[type[Exception], ...]:
    import sqlite3

    from sqlalchemy.exc import InterfaceError, OperationalError

    found: list[type[Exception]] = [OperationalError, InterfaceError, sqlite3.OperationalError]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a requirement
        return tuple(found)
    return (*found, psycopg.OperationalError, psycopg.InterfaceError)


def install(app: FastAPI) -> None:
    """One error shape for malformed parameters and for a database that cannot answer, and a
    schema that says so everywhere."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    for kind in database_errors():
        app.add_exception_handler(kind, database_unavailable)

    def schema() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version="1", routes=app.routes)
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["Error"] = ERROR
        for operations in doc.get("paths", {}).values():
            for op in operations.values():
                answer = op.get("responses", {}).get("422")
                if answer is not None:
                    answer["content"] = {"application/json": {"schema": ERROR_REF}}
                    answer["description"] = WHY[422]
        app.openapi_schema = doc
        return doc

    app.openapi = schema
