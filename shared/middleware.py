"""ASGI middleware shared by every service: request id, body size limit, access log, 405 with a true Allow."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence

from fastapi.routing import iter_route_contexts
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import (
    DATABASE_LOST_DETAIL,
    PROBLEM_CONTENT_TYPE,
    PROBLEM_TYPE_BASE,
    MethodNotAllowed,
    PayloadTooLarge,
    database_connection_lost,
    problem_response,
)
from shared.requestid import REQUEST_ID_HEADER, accept_or_generate, current_request_id, request_id_var

__all__ = ["BodyLimitMiddleware", "MethodGuardMiddleware", "RequestContextMiddleware"]

access_logger = logging.getLogger("techmarket.access")
error_logger = logging.getLogger("techmarket.errors")


class RequestContextMiddleware:
    """Give every request an id (X-Request-ID in, echoed out) and write one access-log line for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or request_id_var.get() is not None:
            # Not HTTP, or a mounted app inside the embedded gateway that already gave the request its id.
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = accept_or_generate(incoming)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder: dict[str, int] = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = 1
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Unhandled errors are answered here, inside the request-id scope, so the 500 carries the id too. When a
            # mounted app's own error handler already answered (and logged), the re-raised error is not logged twice.
            if not status_holder.get("started") and database_connection_lost(exc):
                # The database went away under this request (restart, failover): nothing was committed, SQLAlchemy
                # has dropped the dead connections, and a retry gets a fresh one — a 503 to retry, not a bug's 500.
                error_logger.warning(
                    "database connection lost on %s %s: %s", scope.get("method"), scope.get("path"), exc
                )
                await _send_problem(
                    scope,
                    send_with_id,
                    status=503,
                    slug="not-ready",
                    title="Service not ready",
                    detail=DATABASE_LOST_DETAIL,
                    headers=[(b"retry-after", b"1")],
                )
            elif not status_holder.get("started"):
                error_logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
                await _send_problem(
                    scope,
                    send_with_id,
                    status=500,
                    slug="internal-error",
                    title="Internal server error",
                    detail="An unexpected error occurred. Quote the request id when reporting it.",
                )
        finally:
            access_logger.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status_holder["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Refuse request bodies over a limit with 413, by Content-Length up front or while streaming.

    ``limit_for_path`` lets bulk-import endpoints accept larger bodies than ordinary JSON writes.
    """

    def __init__(self, app: ASGIApp, *, limit_for_path: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for_path = limit_for_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for_path(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _send_413(scope, send, limit)
                    return
        received = 0
        exceeded = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app made of the interrupted body (frameworks may report a parse error), the client
            # is told the truth: 413.
            nonlocal response_started
            if exceeded:
                if not response_started:
                    response_started = True
                    await _send_413(scope, send, limit)
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except PayloadTooLarge:
            if not response_started:
                await _send_413(scope, send, limit)


async def _send_413(scope: Scope, send: Send, limit: int) -> None:
    await _send_problem(
        scope,
        send,
        status=413,
        slug="payload-too-large",
        title="Payload too large",
        detail=f"The request body exceeds {limit} bytes.",
    )


async def _send_problem(
    scope: Scope,
    send: Send,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer with a problem+json body straight from ASGI middleware (outside FastAPI's handlers)."""
    body = json.dumps(
        {
            "type": PROBLEM_TYPE_BASE + slug,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope.get("path"),
            "request_id": current_request_id(),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class MethodGuardMiddleware:
    """Answer 405 problem+json with an ``Allow`` header that lists every method the path answers.

    Two things the router gets wrong on its own: a static path shadowed by a parameter route with other methods
    (``PATCH /market/achievements/import`` would reach ``PATCH /{listing_id}`` and fail there as a 422 on the
    id), and a 405 whose ``Allow`` names only the methods of the first route that matched the path. So the route
    table is read once (at the first request, when every router is included): a static path answers only its own
    methods, any other path the union of the methods of every route whose pattern matches it.
    """

    def __init__(self, app: ASGIApp, *, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self._routes = routes
        self._static: dict[str, set[str]] | None = None
        self._patterns: list[tuple[re.Pattern[str], set[str]]] = []

    def _build(self) -> dict[str, set[str]]:
        static: dict[str, set[str]] = {}
        for context in iter_route_contexts(self._routes()):
            path, methods = context.path, context.methods
            if not path or not methods:
                continue
            if "{" in path:
                self._patterns.append((context.path_regex, set(methods)))
            else:
                static.setdefault(path, set()).update(methods)
        return static

    def allowed(self, path: str) -> set[str]:
        """Every method some route answers on ``path`` (empty when no route has the path)."""
        if self._static is None:
            self._static = self._build()
        if path in self._static:
            return self._static[path]
        allowed: set[str] = set()
        for pattern, methods in self._patterns:
            if pattern.match(path):
                allowed |= methods
        return allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self.allowed(get_route_path(scope))
            if allowed and scope["method"] not in allowed:
                error = MethodNotAllowed(sorted(allowed))
                response = problem_response(
                    Request(scope),
                    status=error.status,
                    slug=error.slug,
                    title=error.title,
                    detail=error.detail,
                    headers=error.headers,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
