"""A real HTTP/1.1 server on 127.0.0.1 that records the requests it gets and answers from a script.

Deliberately not built on the code under test nor on a mock transport: the webhook client connects over TCP, and
every answer (status, delay, endless body, redirect) is what a misbehaving receiver would really send.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Received", "Receiver", "Reply"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    delay: float = 0.0  # seconds before answering
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    endless: bool = False  # a chunked body that never ends (until the client hangs up or 64 MiB)


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """``async with Receiver() as r``: ``r.url``, ``r.script`` (answers in order, then 200), ``r.requests``."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: deque[Reply] = deque()
        self.endless_bytes_sent = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/techmarket"

    def answer(self, *replies: Reply) -> None:
        self.script.extend(replies)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        line = await reader.readline()
        if not line:
            return False
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, value = raw.decode("latin-1").split(":", 1)
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Received(method, target, headers, body))
        reply = self.script.popleft() if self.script else Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        head = f"HTTP/1.1 {reply.status} Scripted\r\n"
        extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
        if reply.endless:
            writer.write(f"{head}{extra}transfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n".encode())
            chunk = b"x" * 16384
            framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            while self.endless_bytes_sent < 64 * 1024 * 1024:
                writer.write(framed)
                self.endless_bytes_sent += len(chunk)
                await writer.drain()
            return False
        writer.write(f"{head}{extra}content-length: {len(reply.body)}\r\n\r\n".encode() + reply.body)
        await writer.drain()
        return True
