"""Serve the /dashboard page and its static files (no API: the page reads /market/stats/* and /auth/token).

The market service includes this router, so the page answers at /market/dashboard (embedded), at /dashboard on the
market container's root (the production gateway's ``location /dashboard``) and, through the embedded app's own
copy of the router, at /dashboard under `make run`. The page links its files relatively (``dashboard/static/…``),
so it works under either prefix. Content types are explicit; our own files are revalidated (ETag), the pinned
ECharts is cached for a day.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Mount

from shared.errors import NotFound

__all__ = ["STATIC_DIR", "VENDOR_DIR", "router"]

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
ECHARTS_TAG = '<script src="dashboard/vendor/echarts.min.js" defer></script>'
OWN_FILES = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
VENDOR_FILES = {"echarts.min.js": "text/javascript; charset=utf-8", "ECHARTS-LICENSE.txt": "text/plain; charset=utf-8"}
# Scripts from this origin only (no inline script); ECharts writes style attributes (tooltips), hence 'unsafe-inline'
# for styles alone. connect-src 'self': the page calls the statistics and token endpoints of the same origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
# Statistics endpoints the page uses when the running market has them (others' work lands later; the page shows
# 暂无数据 without asking an endpoint that is not there).
OPTIONAL_ENDPOINTS = {"institutions": "/stats/institutions"}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class _File:
    body: bytes
    etag: str


@cache
def _read(path: Path) -> _File:
    body = path.read_bytes()
    return _File(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _paths(routes: list[BaseRoute], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, Mount):
            out |= _paths(list(route.routes), prefix + route.path)
        elif path := getattr(context, "path_format", None):
            out.add(prefix + str(path))
    return out


def _features(request: Request) -> str:
    paths = _paths(list(request.app.routes))
    found = [name for name, tail in OPTIONAL_ENDPOINTS.items() if any(p.endswith(tail) for p in paths)]
    return " ".join(found)


def _target_since(request: Request) -> str:
    """The start of the configured target (the page's default period), from market's settings wherever it runs."""
    apps = [request.app, *(r.app for r in request.app.routes if isinstance(r, Mount))]
    for app in apps:
        since = getattr(getattr(getattr(app, "state", None), "settings", None), "stats_target_since", None)
        if since is not None:
            return str(since.isoformat())
    return ""


def _answer(request: Request, file: _File, media_type: str, cache_control: str) -> Response:
    headers = {"ETag": file.etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == file.etag:
        return Response(status_code=304, headers=headers)
    return Response(file.body, media_type=media_type, headers=headers)


@router.get("/dashboard", response_model=None)
async def dashboard_page(request: Request) -> Response:
    """The page: ECharts' tag is left out when the library was not vendored (the script then says so)."""
    html = _read(STATIC_DIR / "dashboard.html").body.decode()
    if not (VENDOR_DIR / "echarts.min.js").is_file():
        html = html.replace(ECHARTS_TAG, "")
    html = html.replace('data-features=""', f'data-features="{_features(request)}"')
    html = html.replace('data-since=""', f'data-since="{_target_since(request)}"')
    body = html.encode()
    page = _File(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    response = _answer(request, page, "text/html; charset=utf-8", "no-cache")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/dashboard/static/{name}", response_model=None)
async def dashboard_static(request: Request, name: str) -> Response:
    """The page's own script and style sheet (revalidated with their ETag)."""
    if name not in OWN_FILES:
        raise NotFound(f"No dashboard file {name!r}.")
    return _answer(request, _read(STATIC_DIR / name), OWN_FILES[name], "no-cache")


@router.get("/dashboard/vendor/{name}", response_model=None)
async def dashboard_vendor(request: Request, name: str) -> Response:
    """The vendored ECharts (pinned version: cached for a day); 404 when it was not vendored."""
    path = VENDOR_DIR / name
    if name not in VENDOR_FILES or not path.is_file():
        raise NotFound(f"No vendored file {name!r} (run `make install` or `python infra/vendor_assets.py`).")
    return _answer(request, _read(path), VENDOR_FILES[name], "public, max-age=86400")
