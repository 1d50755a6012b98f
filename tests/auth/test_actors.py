"""tests.support.actors goes through the real auth service: the tokens it hands out are real and verifiable."""

from __future__ import annotations

from typing import Any

from shared.service_token import ServiceTokenProvider
from tests.conftest import Stack
from tests.support.actors import Actors


async def _verify(stack: Stack, token: str) -> Any:
    return await stack.service_app("market").state.token_verifier.verify(token)


class TestActors:
    async def test_org_member_token_verifies_in_market(self, stack: Stack, actors: Actors) -> None:
        member = await actors.org_member(kind="university", roles=("org_admin", "member"), region_code="510107")
        principal = await _verify(stack, member.token)
        assert principal.org_id == member.org_id
        assert principal.org_kind == "university"
        assert principal.org_verified is True
        assert principal.org_region == "510107"
        assert principal.roles == frozenset({"org_admin", "member"})
        assert principal.org_path == member.org_path == f"/{member.org_id}/"
        assert principal.subject == member.subject

    async def test_broker_below_a_sub_center(self, stack: Stack, actors: Actors) -> None:
        sub_center = await actors.org_member(kind="sub_center", roles=("org_admin",))
        broker = await actors.org_member(kind="transfer_institution", roles=("broker",), parent=sub_center)
        assert broker.org_path is not None
        assert sub_center.org_path is not None
        assert broker.org_path.startswith(sub_center.org_path)
        principal = await _verify(stack, broker.token)
        assert principal.roles == frozenset({"broker"})
        assert principal.in_subtree_of(sub_center.org_path)

    async def test_registrar_and_unverified(self, stack: Stack, actors: Actors) -> None:
        registrar = await actors.org_member(kind="registration_office", roles=("registrar",), verified=False)
        principal = await _verify(stack, registrar.token)
        assert principal.roles == frozenset({"registrar"})
        assert principal.org_verified is False

    async def test_colleague_and_platform_admin(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        assert admin is await actors.platform_admin()
        assert (await _verify(stack, admin.token)).org_kind == "center"
        member = await actors.org_member()
        colleague = await actors.colleague(member, roles=("statistician",))
        principal = await _verify(stack, colleague.token)
        assert principal.org_id == member.org_id
        assert principal.subject != member.subject
        assert principal.roles == frozenset({"statistician"})

    async def test_service_client(self, stack: Stack, actors: Actors) -> None:
        client = await actors.service_client(scopes=["search:ingest"])
        principal = await _verify(stack, client.token)
        assert principal.is_service
        assert principal.scopes == frozenset({"search:ingest"})
        again = await actors.service_client(scopes=["market:read"])
        assert (await _verify(stack, again.token)).scopes == frozenset({"market:read"})


class TestServiceTokenProvider:
    async def test_configured_service_clients_get_tokens_with_the_shared_provider(self, stack: Stack) -> None:
        import httpx

        for client_id, scope in (("market-relay", "search:ingest"), ("search-indexer", "market:read")):
            provider = ServiceTokenProvider(
                token_url="http://techmarket.internal/auth/token",
                client_id=client_id,
                client_secret=f"dev-insecure-{client_id}",
                scope=scope,
                transport=httpx.ASGITransport(app=stack.app),
            )
            try:
                token = await provider.access_token()
                assert await provider.access_token() == token  # cached until shortly before expiry
                principal = await _verify(stack, token)
                assert principal.client_id == client_id
                assert principal.scopes == frozenset({scope})
                provider.invalidate()
                assert await provider.access_token() != token
            finally:
                await provider.aclose()
