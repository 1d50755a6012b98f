"""The ``techmarket`` command: serve the embedded app, migrate databases, and each service's own commands."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

__all__ = ["app", "main"]

app = typer.Typer(help="techmarket: the 1+4+N technology transfer API.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder of the SQLite files (default: DATA_DIR or ./var).")
    ] = None,
) -> None:
    """Serve auth, market and search in one process (the embedded default)."""
    from services.embedded import create_app
    from shared.serving import server_choices

    loop, http = server_choices()
    typer.echo(
        f"techmarket serving on http://{host}:{port}/ ({loop}, {http})  —  API docs: http://{host}:{port}/auth/docs, "
        f"http://{host}:{port}/market/docs, http://{host}:{port}/search/docs"
    )
    # proxy_headers off: uvicorn would believe X-Forwarded-For from loopback; ClientAddressMiddleware reads it, and
    # only from TRUSTED_PROXIES.
    uvicorn.run(
        create_app(data_dir=data_dir),
        host=host,
        port=port,
        loop=loop,
        http=http,
        proxy_headers=False,
        log_config=None,
        access_log=False,
    )


@app.command()
def migrate(
    service: Annotated[str, typer.Argument(help="auth, market, search or all")] = "all",
) -> None:
    """Apply the migrations of one service (or all) to its configured database."""
    from services.auth.app import SPEC as AUTH
    from services.auth.settings import AuthSettings
    from services.market.app import SPEC as MARKET
    from services.market.settings import MarketSettings
    from services.search.app import SPEC as SEARCH
    from services.search.settings import SearchSettings
    from shared.db import create_engine, is_sqlite
    from shared.migrations import upgrade_to_head
    from shared.settings import ServiceSettings

    targets: dict[str, tuple[object, ServiceSettings]] = {
        "auth": (AUTH, AuthSettings()),
        "market": (MARKET, MarketSettings()),
        "search": (SEARCH, SearchSettings()),
    }
    names = list(targets) if service == "all" else [service]
    for name in names:
        if name not in targets:
            raise typer.BadParameter(f"unknown service {name!r}")
        spec, settings = targets[name]
        url = settings.resolved_database_url
        if is_sqlite(url):
            settings.data_dir.mkdir(parents=True, exist_ok=True)

        async def run(url: str = url, spec: object = spec, name: str = name) -> None:
            engine = create_engine(url)
            try:
                await upgrade_to_head(engine, spec.migrations, f"alembic_version_{name}")  # type: ignore[attr-defined]
            finally:
                await engine.dispose()

        asyncio.run(run())
        typer.echo(f"{name}: migrated")


def _register_service_commands() -> None:
    from services.auth.cli import app as auth_app
    from services.market.cli import app as market_app
    from services.market.contracts.cli import app as contracts_app
    from services.search.cli import app as search_app

    app.add_typer(auth_app, name="auth")
    app.add_typer(market_app, name="market")
    app.add_typer(contracts_app, name="contracts")
    app.add_typer(search_app, name="search")
    # `techmarket prod up|down|status`: the production topology on this machine (infra/prod.py).
    from infra.prod import app as prod_app

    app.add_typer(prod_app, name="prod")


_register_service_commands()


def main() -> None:
    """Entry point of the ``techmarket`` console script."""
    app()
