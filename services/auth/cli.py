"""`techmarket auth …`: create a platform admin, rotate the signing key, list keys, print the messages sent to an
address, run the organization feed's relay (on AUTH_* settings).

``run_relay_forever()`` is what the container entry point runs for SERVICE=auth-relay (infra/entrypoint.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import httpx
import typer
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.app import SPEC
from services.auth.bootstrap import BootstrapError, create_platform_admin
from services.auth.keys import service as keys_service
from services.auth.messages import service as messages_service
from services.auth.outbox.relay import build_relay
from services.auth.passwords import PasswordHasher
from services.auth.settings import AuthSettings
from shared.db import create_engine, create_sessionmaker, is_sqlite
from shared.logs import configure_logging
from shared.migrations import upgrade_to_head
from shared.outbox.relay import build_token_provider, run_until_signalled

__all__ = ["app", "run_relay_forever"]

app = typer.Typer(help="Auth service administration (uses the AUTH_* settings).", no_args_is_help=True)

T = TypeVar("T")


def _run(settings: AuthSettings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate the auth database, run ``work`` in one transaction, commit."""

    async def main() -> T:
        url = settings.resolved_database_url
        if is_sqlite(url):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        try:
            await upgrade_to_head(engine, SPEC.migrations, "alembic_version_auth")
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="Login email of the platform admin.")],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters."),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "Platform administrator",
) -> None:
    """Create a platform admin in the center (creating the center, named AUTH_CENTER_NAME, if needed)."""
    settings = AuthSettings()
    hasher = PasswordHasher(
        memory_kib=settings.password_hash_memory_kib,
        time_cost=settings.password_hash_time_cost,
        parallelism=settings.password_hash_parallelism,
    )

    async def work(session: AsyncSession) -> bool:
        await keys_service.ensure_signing_key(session=session)
        _, created = await create_platform_admin(
            session=session,
            email=email,
            password=password,
            name=name,
            center_name=settings.center_name,
            center_region_code=settings.center_region_code,
            hasher=hasher,
        )
        return created

    try:
        created = _run(settings, work)
    except BootstrapError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"{email}: platform admin {'created' if created else 'granted to the existing user'}")


@app.command("rotate-key")
def rotate_key(
    publish_ahead: Annotated[
        int | None,
        typer.Option(help="Seconds the new key is published before it signs (default AUTH_KEY_PUBLISH_AHEAD_SECONDS)."),
    ] = None,
) -> None:
    """Add a new signing key; the previous one stays in the JWKS until its tokens have expired."""
    settings = AuthSettings()

    async def work(session: AsyncSession) -> keys_service.KeyStatus:
        await keys_service.ensure_signing_key(session=session)
        return await keys_service.rotate(
            session=session,
            token_ttl_seconds=settings.access_token_ttl_seconds,
            publish_ahead_seconds=settings.key_publish_ahead_seconds if publish_ahead is None else publish_ahead,
        )

    status = _run(settings, work)
    typer.echo(f"new key {status.kid}: signs from {status.activates_at.isoformat()}")


@app.command("keys")
def list_keys() -> None:
    """List the signing keys and their state (next, active, retired)."""
    settings = AuthSettings()

    async def work(session: AsyncSession) -> list[keys_service.KeyStatus]:
        return await keys_service.key_statuses(session=session, token_ttl_seconds=settings.access_token_ttl_seconds)

    for status in _run(settings, work):
        until = status.published_until.isoformat() if status.published_until else "-"
        typer.echo(
            f"{status.kid}\t{status.state}\tactivates {status.activates_at.isoformat()}\tpublished until {until}"
        )


@app.command("messages")
def messages(email: Annotated[str, typer.Argument(help="The address whose messages to print.")]) -> None:
    """Print the messages sent to an address, oldest first (the delivery channel of embedded and development
    deployments: e.g. the outcome of a signup)."""
    settings = AuthSettings()

    async def work(session: AsyncSession) -> list[tuple[str, str, str, str, str]]:
        return [
            (m.created_at.isoformat(), m.kind, m.to, m.subject, m.body)
            for m in await messages_service.messages_to(session=session, to=email)
        ]

    sent = _run(settings, work)
    if not sent:
        typer.echo(f"no messages to {email.strip().lower()}")
    for created_at, kind, to, subject, body in sent:
        typer.echo(f"--- {created_at}  {kind}\nTo: {to}\nSubject: {subject}\n\n{body}\n")


async def _relay_main(*, once: bool) -> int:
    settings = AuthSettings()
    configure_logging(settings.log_level)
    engine = create_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    # The auth API process holds the token endpoint; this process asks it over the network ({auth_url}/token).
    tokens = build_token_provider(settings)
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
            relay = build_relay(settings, sessionmaker=create_sessionmaker(engine), client=client, tokens=tokens)
            if once:
                return await relay.drain()
            await run_until_signalled(
                lambda stop: [relay.run_forever(interval=settings.relay_interval_seconds, stop=stop)]
            )
    finally:
        await tokens.aclose()
        await engine.dispose()
    return 0


def run_relay_forever() -> None:
    """Deliver organization events to market until SIGTERM/SIGINT (SERVICE=auth-relay)."""
    asyncio.run(_relay_main(once=False))


@app.command("relay")
def relay(
    once: Annotated[bool, typer.Option(help="Deliver what is due, then exit.")] = False,
) -> None:
    """Deliver organization events (auth_outbox) to market's directory; safe to run as several replicas on
    PostgreSQL."""
    if once:
        typer.echo(f"delivered {asyncio.run(_relay_main(once=True))} events")
    else:
        run_relay_forever()
