"""A small Meilisearch HTTP client: JSON requests with retries, errors mapped to the engine's, task waiting.

Why not the SDK's calls: the adapter needs exact request bodies (what the pinned server accepts), every task's
final status (``canceled`` included — the SDK's ``wait_for_task`` only stops on succeeded/failed and waits out
its timeout otherwise), retries with backoff, and the engine interface's exceptions (the SDK's
``get_raw_index`` parses a 401 body as index info and fails in pydantic; a refused connection surfaces as a raw
transport error). So requests go through ``httpx`` here, over one pooled client opened by the engine.

Retries (with exponential backoff and full jitter): a connection that was never made (connect error or connect
timeout) and a 429 or 503 answer (the server refused before doing anything) are retried for every request; a read
timeout, a broken connection and 500/502/504 only for requests that are safe to send twice (``idempotent``) — a
swap sent twice would swap back.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from services.search.engines.errors import EngineAuthFailed, EngineError, EngineRejected, EngineUnavailable

__all__ = ["MeiliClient", "RetryPolicy", "Task", "make_http_client"]

logger = logging.getLogger("techmarket.search.meilisearch")

# Statuses a task can end in (index-scheduler's Status: enqueued, processing, succeeded, failed, canceled).
FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})
_ALWAYS_RETRIED_STATUS = frozenset({429, 503})
_RETRIED_IF_IDEMPOTENT_STATUS = frozenset({500, 502, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry: ``attempts`` in all, sleeping up to base·2ⁿ (capped), fully jittered."""

    attempts: int = 5
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to sleep before retry number ``attempt`` (1-based): uniform in [0, min(cap, base·2^(n-1))]."""
        return random.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))  # noqa: S311


@dataclass(frozen=True, slots=True)
class Task:
    """A finished task as ``GET /tasks/{uid}`` reports it."""

    uid: int
    status: str
    type: str
    error: Mapping[str, Any] | None


def make_http_client(
    url: str, api_key: str | None, *, transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 10.0
) -> httpx.AsyncClient:
    """The pooled HTTP client of one Meilisearch server; ``transport`` replaces the network (tests: a fake)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport)


def _error_of(response: httpx.Response) -> tuple[str | None, str]:
    """Meilisearch's error ``code`` and ``message`` from an error response (any body)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body.get("code"), str(body.get("message") or response.reason_phrase)
    return None, f"HTTP {response.status_code} {response.reason_phrase}".strip()


class MeiliClient:
    """JSON over HTTP to one Meilisearch server, with retries; every failure is an :class:`EngineError`."""

    def __init__(self, http: httpx.AsyncClient, *, retry: RetryPolicy | None = None, poll_max_s: float = 0.25) -> None:
        self.http = http
        self.retry = retry or RetryPolicy()
        # Task polling starts at 5 ms and doubles up to this pause.
        self.poll_max_s = poll_max_s

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool,
        not_found_ok: bool = False,
    ) -> Any:
        """The decoded JSON answer (None for a 404 when ``not_found_ok``); retries what is safe to retry.
        ``content`` is a body already encoded as JSON (large bodies are encoded off the event loop)."""
        headers = {"Content-Type": "application/json"} if content is not None else None
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            try:
                response = await self.http.request(
                    method, path, json=json, content=content, params=params, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached the server: always safe to send again.
                if last:
                    raise EngineUnavailable(f"Meilisearch unreachable ({method} {path}): {exc!r}") from exc
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if last or not idempotent:
                    raise EngineUnavailable(f"Meilisearch did not answer ({method} {path}): {exc!r}") from exc
            else:
                status = response.status_code
                if status < 300:
                    return response.json() if response.content else None
                code, message = _error_of(response)
                if status == 404 and not_found_ok:
                    return None
                retried = status in _ALWAYS_RETRIED_STATUS or (idempotent and status in _RETRIED_IF_IDEMPOTENT_STATUS)
                if not retried or last:
                    raise self._mapped(status, code, f"{method} {path}: {message}")
            delay = self.retry.delay(attempt)
            logger.warning("Meilisearch %s %s: retry %d in %.2f s", method, path, attempt, delay)
            await asyncio.sleep(delay)

    @staticmethod
    def _mapped(status: int, code: str | None, message: str) -> EngineError:
        if status in (401, 403):
            return EngineAuthFailed(f"Meilisearch refused the API key: {message}", code=code)
        if status >= 500 or status == 429:
            return EngineUnavailable(f"Meilisearch failed: {message}", code=code)
        return EngineRejected(f"Meilisearch rejected the request: {message}", code=code)

    async def enqueue(
        self, method: str, path: str, *, json: Any = None, content: bytes | None = None, idempotent: bool, **params: str
    ) -> int:
        """Send a request that enqueues a task (202) and return the task's uid."""
        answer = await self.request(
            method, path, json=json, content=content, params=params or None, idempotent=idempotent
        )
        return int(answer["taskUid"])

    async def wait(self, task_uid: int, *, timeout_ms: int) -> Task:
        """Poll a task until it is final (succeeded, failed or canceled); raise if it did not succeed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        pause = 0.005
        while True:
            answer = await self.request("GET", f"/tasks/{task_uid}", idempotent=True)
            status = str(answer["status"])
            if status in FINAL_STATUSES:
                task = Task(uid=task_uid, status=status, type=str(answer.get("type")), error=answer.get("error"))
                break
            if loop.time() >= deadline:
                raise EngineUnavailable(f"Meilisearch task {task_uid} still {status} after {timeout_ms} ms")
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.poll_max_s)
        if task.status == "succeeded":
            return task
        if task.status == "canceled":
            raise EngineUnavailable(f"Meilisearch task {task_uid} ({task.type}) was canceled", code="task_canceled")
        error = task.error or {}
        code = error.get("code")
        raise EngineRejected(f"Meilisearch task {task_uid} ({task.type}) failed: {error.get('message')}", code=code)

    async def wait_all(self, task_uids: list[int], *, timeout_ms: int) -> None:
        """Wait for every task (each one checked: a failed first task is not hidden by a later success)."""
        for uid in task_uids:
            await self.wait(uid, timeout_ms=timeout_ms)
