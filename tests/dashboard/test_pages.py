"""The /dashboard files as served: content types, cache headers, CSP, revalidation, and a missing ECharts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.embedded import create_app as create_embedded_app
from services.market.dashboard import router as dashboard


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # The page and its files need no database: the app is called without its lifespan.
    app = create_embedded_app(data_dir=tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.mark.parametrize("prefix", ["", "/market"])
async def test_page_and_files(client: httpx.AsyncClient, prefix: str) -> None:
    page = await client.get(f"{prefix}/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # no inline script: every script is a file of this origin
    assert 'src="dashboard/vendor/echarts.min.js"' in page.text
    assert 'src="dashboard/static/dashboard.js"' in page.text
    for name, media, cache in (
        ("static/dashboard.js", "text/javascript; charset=utf-8", "no-cache"),
        ("static/dashboard.css", "text/css; charset=utf-8", "no-cache"),
        ("vendor/echarts.min.js", "text/javascript; charset=utf-8", "public, max-age=86400"),
    ):
        response = await client.get(f"{prefix}/dashboard/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == media
        assert response.headers["cache-control"] == cache
        again = await client.get(f"{prefix}/dashboard/{name}", headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""


@pytest.mark.parametrize(
    "path", ["/dashboard/static/secret.py", "/dashboard/static/..%2Frouter.py", "/dashboard/vendor/x.js"]
)
async def test_other_files_are_404_problems(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_without_echarts_the_page_says_so(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard, "VENDOR_DIR", tmp_path / "no-vendor")
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert "echarts.min.js" not in page.text  # no request that would fail; the script shows the notice
    script = (dashboard.STATIC_DIR / "dashboard.js").read_text(encoding="utf-8")
    assert "ECharts 未安装" in script
    response = await client.get("/dashboard/vendor/echarts.min.js")
    assert response.status_code == 404
    assert "make install" in response.json()["detail"]


async def test_optional_sections_are_announced_only_when_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard")
    served = "/stats/institutions" in (await client.get("/market/openapi.json")).text
    assert ('data-features="institutions"' in page.text) is served
