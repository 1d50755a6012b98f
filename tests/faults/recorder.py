"""A stand-in for auth's token endpoint and search's ingestion endpoint that records every delivery, in a thread.

Real relay processes deliver to it over a socket; a test then checks each outbox event arrived exactly once. The
token a relay receives is its client id, so each recorded POST says which relay process sent it.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Delivery", "Recorder", "recording_search"]

GATE_SECONDS = 8.0


@dataclass(frozen=True)
class Delivery:
    relay: str
    op: str
    kind: str
    id: str
    version: int


@dataclass
class Recorder:
    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Hold every delivery until this many different relays have sent one (or GATE_SECONDS passed): the first relay
    # up cannot drain everything alone, so the test really has two relays delivering side by side.
    hold_until_senders: int = 0
    senders: set[str] = field(default_factory=set)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def snapshot(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)


@contextmanager
def recording_search(*, hold_until_senders: int = 0) -> Iterator[Recorder]:
    recorder = Recorder(url="", hold_until_senders=hold_until_senders)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.endswith("/token"):
                # client_secret_basic: the client id is the user part of the Basic credentials.
                basic = (self.headers.get("Authorization") or "").removeprefix("Basic ")
                client_id = base64.b64decode(basic).decode().split(":", 1)[0] if basic else "anonymous"
                self._answer(200, {"access_token": client_id, "token_type": "bearer", "expires_in": 3600})
                return
            if self.path.endswith("/documents"):
                relay = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                documents = json.loads(raw)["documents"]
                with recorder.arrived:
                    recorder.senders.add(relay)
                    recorder.arrived.notify_all()
                    # Below the relay's 10 s client timeout: a held POST must never time out (it would be resent).
                    recorder.arrived.wait_for(
                        lambda: len(recorder.senders) >= recorder.hold_until_senders, timeout=GATE_SECONDS
                    )
                with recorder.lock:
                    recorder.deliveries.extend(
                        Delivery(relay=relay, op=d["op"], kind=d["kind"], id=d["id"], version=int(d["version"]))
                        for d in documents
                    )
                self._answer(200, {"applied": len(documents)})
                return
            # Anything else search would answer (percolation for the match alerts) is "unavailable": those jobs
            # back off, which is not what this test is about.
            self._answer(503, {"title": "not served by the recorder"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
