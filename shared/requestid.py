"""The request id: accepted from X-Request-ID or generated, echoed, logged and put in problem responses."""

from __future__ import annotations

import re
from contextvars import ContextVar

from shared.ids import new_id

__all__ = ["REQUEST_ID_HEADER", "accept_or_generate", "current_request_id", "request_id_var"]

REQUEST_ID_HEADER = "X-Request-ID"
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Accept a caller's id only if it is short and harmless in logs and headers.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def accept_or_generate(incoming: str | None) -> str:
    """The caller's request id if it is safe, else a new one."""
    if incoming and _SAFE_ID.match(incoming):
        return incoming
    return str(new_id())


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return request_id_var.get()
