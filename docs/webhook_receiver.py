"""A webhook receiver to try techmarket's webhooks with: verifies each delivery as the Standard Webhooks spec says.

    python3 docs/webhook_receiver.py 9009 secret.txt      # listens on 127.0.0.1:9009; the secret (whsec_…) in secret.txt

Only Python's standard library. For every POST it prints one JSON line — the webhook id, the event type, whether the
signature verified, and the event's data — and answers 204 when the signature verifies, 401 otherwise (techmarket
then retries, as it would for any failure). The secret file is read at each request, so the receiver can be started
before the webhook is created and keeps working across a secret rotation (put the new secret in the file).

Verification (https://www.standardwebhooks.com, "Verifying webhook authenticity"):
- signed content = f"{webhook-id}.{webhook-timestamp}.{raw body}";
- key = base64-decode of the secret after its ``whsec_`` prefix;
- expected = "v1," + base64(HMAC-SHA256(key, signed content));
- ``webhook-signature`` holds one or more space-separated signatures (several while an old secret is still valid):
  the delivery is authentic when any of them equals the expected one (constant-time comparison);
- the timestamp must be within 5 minutes of now, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

TOLERANCE_SECONDS = 5 * 60


def expected_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = webhook_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verified(secret: str, webhook_id: str, timestamp: str, signatures: str, body: bytes) -> bool:
    try:
        if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
            return False
        expected = expected_signature(secret, webhook_id, timestamp, body)
    except ValueError:  # a timestamp that is not a number, a secret that is not base64
        return False
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures.split())


def handler_for(secret_file: Path) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            secret = secret_file.read_text(encoding="utf-8").strip() if secret_file.exists() else ""
            ok = bool(secret) and verified(
                secret,
                self.headers.get("webhook-id", ""),
                self.headers.get("webhook-timestamp", ""),
                self.headers.get("webhook-signature", ""),
                body,
            )
            try:
                event = json.loads(body)
            except ValueError:
                event = {}
            line = {
                "webhook_id": self.headers.get("webhook-id"),
                "type": event.get("type"),
                "verified": ok,
                "data": event.get("data"),
            }
            print(json.dumps(line, ensure_ascii=False), flush=True)
            self.send_response(204 if ok else 401)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # the one JSON line is the log
            return

    return Receiver


def main() -> None:
    port, secret_file = int(sys.argv[1]), Path(sys.argv[2])
    HTTPServer(("127.0.0.1", port), handler_for(secret_file)).serve_forever()


if __name__ == "__main__":
    main()
