"""One error shape for every service: RFC 9457 ``application/problem+json``.

Exception hierarchy (raise these from services; handlers turn them into responses)::

    ProblemError                  any error a client should see, with status, type slug, title, detail
    ├── BadRequest                400  malformed input that is not a field validation error
    ├── Unauthorized              401  missing or invalid credentials (adds WWW-Authenticate)
    ├── Forbidden                 403  authenticated but not allowed, on an object the caller may know
    ├── NotFound                  404  absent, or hidden from this caller (deny by default)
    ├── MethodNotAllowed          405  with Allow listing every method the path answers
    ├── Conflict                  409  state or uniqueness conflict
    ├── PreconditionFailed        412  If-Match does not match the current ETag
    ├── PayloadTooLarge           413
    ├── UnsupportedMediaType      415
    ├── ValidationFailed          422  with ``errors``: [{field, message, type}]
    ├── PreconditionRequired      428  If-Match missing on an update
    └── TooManyRequests           429  with Retry-After

The OAuth2 token endpoint is the one exception: it answers RFC 6749 section 5.2 errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.requestid import current_request_id

__all__ = [
    "DATABASE_LOST_DETAIL",
    "PROBLEM_CONTENT_TYPE",
    "STATUS_DESCRIPTIONS",
    "BadRequest",
    "Conflict",
    "FieldError",
    "Forbidden",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreconditionRequired",
    "ProblemError",
    "ProblemResponse",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
    "database_connection_lost",
    "install_error_handlers",
    "problem_response",
    "problem_responses",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:techmarket:problem:"

logger = logging.getLogger("techmarket.errors")

FieldError = dict[str, Any]


class ProblemError(Exception):
    """An error with a problem+json representation."""

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        if slug is not None:
            self.slug = slug
        if title is not None:
            self.title = title
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(ProblemError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"

    def __init__(self, allowed: Sequence[str], **kwargs: Any) -> None:
        methods = ", ".join(sorted(set(allowed)))
        super().__init__(f"This path answers {methods}.", **kwargs)
        self.headers["Allow"] = methods


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(ProblemError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(ProblemError):
    status, slug, title = 422, "validation-failed", "Validation failed"

    @classmethod
    def field(cls, field: str, message: str, *, type: str = "invalid") -> ValidationFailed:
        """A validation error about one field, named by its dotted path."""
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message, "type": type}])


class PreconditionRequired(ProblemError):
    status, slug, title = 428, "precondition-required", "Precondition required"


class ServiceUnavailable(ProblemError):
    status, slug, title = 503, "not-ready", "Service not ready"


class TooManyRequests(ProblemError):
    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers["Retry-After"] = str(max(1, retry_after))


_STATUS_SLUGS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-failed", "Validation failed"),
    429: ("too-many-requests", "Too many requests"),
}


class ProblemResponse(JSONResponse):
    """A problem+json response that always renders.

    A problem may echo what the client sent (a field path, a value); a lone surrogate there cannot be encoded as
    UTF-8, so the body then falls back to ASCII-escaped JSON (still valid JSON, same content) instead of failing.
    """

    media_type = PROBLEM_CONTENT_TYPE

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except (UnicodeEncodeError, ValueError):
            return json.dumps(content, ensure_ascii=True, separators=(",", ":"), default=str).encode("ascii")


def problem_response(
    request: Request | None,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """Build the one problem+json response shape."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": request.url.path if request is not None else None,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_CONTENT_TYPE)


def _field_path(loc: Sequence[Any]) -> tuple[str, str]:
    """Split a pydantic location into (where, dotted field path): ('body', 'organization.credit_code')."""
    parts = list(loc)
    where = str(parts[0]) if parts and parts[0] in ("body", "query", "path", "header", "cookie") else "body"
    if parts and parts[0] == where:
        parts = parts[1:]
    path = ".".join(str(p) for p in parts)
    return where, path


def validation_errors(exc: RequestValidationError) -> list[FieldError]:
    """FastAPI's validation errors in our shape: field path, where, message, type."""
    out: list[FieldError] = []
    for err in exc.errors():
        where, path = _field_path(err.get("loc", ()))
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            message = "this field cannot be set here"
        out.append({"field": path or where, "in": where, "message": message, "type": err.get("type", "invalid")})
    return out


async def _handle_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        request,
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc)
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            request,
            status=400,
            slug="malformed-json",
            title="Malformed JSON",
            detail="The request body is not valid JSON.",
            errors=errors,
        )
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem_response(
        request, status=422, slug="validation-failed", title="Validation failed", detail=detail, errors=errors
    )


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug, title = _STATUS_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem_response(
        request, status=exc.status_code, slug=slug, title=title, detail=detail, headers=exc.headers or None
    )


def _lone_surrogate(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is text with a lone surrogate that could not be encoded."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UnicodeEncodeError) and "surrogate" in str(current.reason):
            return True
        current = current.__cause__ or current.__context__
    return False


def database_connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a lost or refused database connection, not a bug: PostgreSQL
    restarting or failing over. SQLAlchemy has already discarded the pool's older connections; a retry gets a new one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__module__.split(".")[0] in ("httpx", "httpcore"):
            return False  # a call to another service failed: not the database (its own handling says what to do)
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        # asyncpg's "connection was closed", "the database system is starting up / shutting down" (SQLSTATE 08xxx,
        # 57P0x) and a refused TCP connection while the server is down.
        if type(current).__name__ in _CONNECTION_LOST_ERRORS or isinstance(current, ConnectionError):
            return True
        # By SQLSTATE: class 08 (connection exception) and 57P01-57P03 (shutdown, cannot connect now). PgBouncer
        # answers 08P01 (asyncpg's ProtocolViolationError) while PostgreSQL behind it is down: "server login has been
        # failing, try again later (server_login_retry)", "pgbouncer cannot connect to server", "query_wait_timeout".
        sqlstate = getattr(current, "sqlstate", None)
        if (
            type(current).__module__.startswith("asyncpg")
            and isinstance(sqlstate, str)
            and (sqlstate.startswith("08") or sqlstate in _SHUTDOWN_SQLSTATES)
        ):
            return True
        # asyncpg noticed the server's goodbye while the connection sat in the pool: SQLAlchemy does not always flag
        # that one as a disconnect (connection_invalidated false), yet it is the same lost connection.
        if type(current).__module__.startswith("asyncpg") and "connection is closed" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


DATABASE_LOST_DETAIL = "The database connection was lost (the database restarted?): retry in a moment."
_SHUTDOWN_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
_CONNECTION_LOST_ERRORS = frozenset(
    {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "AdminShutdownError",
        "CrashShutdownError",
        "ConnectionFailureError",
    }
)


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    if database_connection_lost(exc):
        # The database went away under this request (a restart, a failover): nothing was committed, and the next
        # request gets a fresh connection. A 503 the client retries, not a 500 reported as a bug.
        logger.warning("database connection lost on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return problem_response(
            request,
            status=503,
            slug="not-ready",
            title="Service not ready",
            detail=DATABASE_LOST_DETAIL,
            headers={"Retry-After": "1"},
        )
    if _lone_surrogate(exc):
        # Last line of defence: a text field that is not a ShortText/LongText (shared.text) let a lone surrogate
        # through to the database. The client's input is at fault, so 422, not 500; the log says which path to fix.
        logger.warning("lone surrogate reached encoding on %s %s", request.method, request.url.path)
        return problem_response(
            request,
            status=422,
            slug="validation-failed",
            title="Validation failed",
            detail="The request contains text with a lone surrogate (U+D800–U+DFFF).",
            errors=[{"field": "body", "in": "body", "message": "contains a lone surrogate", "type": "text_invalid"}],
        )
    # Log the stack trace with the request id; the client gets neither internals nor the trace.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        status=500,
        slug="internal-error",
        title="Internal server error",
        detail="An unexpected error occurred. Quote the request id when reporting it.",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error of ``app`` through the problem+json shape."""
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(Exception, _handle_unexpected)


# One-line descriptions of error statuses in the OpenAPI documents (also used by shared/openapi.py).
STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request",
    401: "Missing or invalid access token",
    403: "Not allowed",
    404: "Not found, or not visible to the caller",
    405: "Method not allowed; see Allow",
    406: "Not acceptable",
    409: "Conflict with the current state",
    412: "If-Match does not match the current ETag",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Validation failed; `errors` names each field",
    428: "If-Match header required",
    429: "Too many requests; see Retry-After",
    500: "Internal error",
    502: "A backing engine refused the operation",
    503: "A backing service is unavailable; see Retry-After",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json errors of an endpoint."""
    return {
        s: {
            "description": STATUS_DESCRIPTIONS.get(s, "Error"),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }
