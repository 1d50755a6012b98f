"""ASGI middleware shared by every service: request id, body size limit, access log."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, PayloadTooLarge
from shared.requestid import REQUEST_ID_HEADER, accept_or_generate, current_request_id, request_id_var

__all__ = ["BodyLimitMiddleware", "RequestContextMiddleware"]

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
        except Exception:
            # Unhandled errors are answered here, inside the request-id scope, so the 500 carries the id too. When a
            # mounted app's own error handler already answered (and logged), the re-raised error is not logged twice.
            if not status_holder.get("started"):
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


async def _send_problem(scope: Scope, send: Send, *, status: int, slug: str, title: str, detail: str) -> None:
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
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
