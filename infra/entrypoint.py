"""Container entry point: run one service (SERVICE=auth|market|search), the market relay (SERVICE=relay) or the
auth relay that feeds market's organization directory (SERVICE=auth-relay).

HTTP services also read HOST (default 0.0.0.0, inside a container), PORT (8000) and WORKERS (1; uvicorn's own
supervisor runs that many processes on one socket and replaces a worker that dies). A service answers under its
public prefix — ``/market/...``, the URLs of the embedded default — so the gateway passes paths through unchanged and
the OpenAPI ``servers`` and docs links are true; it also answers at its own root (``:8002/healthz``) for a caller
that reaches it directly.
"""

from __future__ import annotations

import importlib
import os

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.serving import server_choices

SERVICE_APPS = {
    "auth": "services.auth.app:create_app",
    "market": "services.market.app:create_app",
    "search": "services.search.app:create_app",
}
# Background processes (no HTTP server): SERVICE name → the settings service whose variables they read.
RELAYS = {"relay": "market", "auth-relay": "auth"}
# Variables this entry point reads itself (the settings classes read the rest).
ENTRYPOINT_VARIABLES = ("SERVICE", "HOST", "PORT", "WORKERS")


class PrefixedApp:
    """Serve ``app`` under ``prefix`` as a Starlette Mount would (root_path grows by the prefix, the path stays
    whole), and at the root too. Unlike a Mount, the wrapped app's lifespan runs."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if path == self.prefix or path.startswith(self.prefix + "/"):
                scope = {**scope, "root_path": scope.get("root_path", "") + self.prefix}
        await self.app(scope, receive, send)


def create_service_app() -> ASGIApp:
    """The app of SERVICE, answering under /SERVICE (uvicorn factory; every worker process calls it)."""
    service = os.environ.get("SERVICE", "market")
    module_name, _, factory = SERVICE_APPS[service].partition(":")
    app: ASGIApp = getattr(importlib.import_module(module_name), factory)()
    return PrefixedApp(app, f"/{service}")


def main() -> None:
    """Start what SERVICE names."""
    service = os.environ.get("SERVICE", "market")
    if service == "relay":
        from services.market.cli import run_relay_forever

        run_relay_forever()
        return
    if service == "auth-relay":
        from services.auth.cli import run_relay_forever as run_auth_relay_forever

        run_auth_relay_forever()
        return
    if service not in SERVICE_APPS:
        raise SystemExit(f"SERVICE must be one of {', '.join([*SERVICE_APPS, *RELAYS])}, not {service!r}")
    loop, http = server_choices()
    uvicorn.run(
        "infra.entrypoint:create_service_app",
        factory=True,
        host=os.environ.get("HOST", "0.0.0.0"),  # noqa: S104  (inside a container, behind the load balancer)
        port=int(os.environ.get("PORT", "8000")),
        loop=loop,
        http=http,
        workers=int(os.environ.get("WORKERS", "1")),
        # Never "*": anyone could then name their own IP. The app reads X-Forwarded-For itself, only from the
        # gateways listed in TRUSTED_PROXIES (shared.clientaddress).
        proxy_headers=False,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
