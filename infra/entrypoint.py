"""Container entry point: run one service (SERVICE=auth|market|search), the market relay (SERVICE=relay) or the
auth relay that feeds market's organization directory (SERVICE=auth-relay)."""

from __future__ import annotations

import os

import uvicorn

from shared.serving import server_choices

SERVICE_APPS = {
    "auth": "services.auth.app:create_app",
    "market": "services.market.app:create_app",
    "search": "services.search.app:create_app",
}
# Background processes (no HTTP server): SERVICE name → the settings service whose variables they read.
RELAYS = {"relay": "market", "auth-relay": "auth"}


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
        SERVICE_APPS[service],
        factory=True,
        host="0.0.0.0",  # noqa: S104  (inside a container, behind the load balancer)
        port=int(os.environ.get("PORT", "8000")),
        loop=loop,
        http=http,
        # Never "*": anyone could then name their own IP. The app reads X-Forwarded-For itself, only from the
        # gateways listed in TRUSTED_PROXIES (shared.clientaddress).
        proxy_headers=False,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
