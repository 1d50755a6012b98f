"""The authorization matrix: every endpoint of the three services × ten callers → the expected status.

The rows are checked against the route table of the embedded app: an endpoint without a row fails
``test_every_endpoint_has_exactly_one_row``, a row without an endpoint (stale) fails it too. The cells run in
``test_authorization_matrix`` on each backend against one world (tests/authz/world.py).

Reading a row: ten statuses in the order of ``ACTORS`` —

    anonymous, other_member, owner_member, owner_admin, broker, registrar_other, registrar, stat_in, stat_out,
    platform_admin

Writes are probed without changing the world: a stale ``If-Match`` (412), a transition the object's status does
not allow (409), or an invalid body caught after the authorization check (422) all mean **"got past
authorization"**; the row's ``allowed`` note says which. Writes whose allowed outcome changes state act on fresh
objects made per cell (``fresh``), or on an object no other row uses. 401 = needs a token, 403 = may see the object
but not do this, 404 = may not know the object exists (deny by default).

``known`` marks cells where the server today answers something else than the product needs (listed in
docs/security.md with the branch that fixes them): the cell must still answer the ``known`` status, so the row
fails — and asks for the marker to be removed — as soon as the fix lands.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from services.embedded import create_app as create_embedded_app
from tests.authz.world import ACTORS, World, build_world
from tests.conftest import Stack
from tests.market.contracts.factories import payload
from tests.market.helpers import achievement_body, demand_body
from tests.support.actors import Actors

STALE = {"If-Match": '"stale-etag"'}
# Routes every service gets from the kernel and FastAPI, outside the matrix: health probes and the API docs.
NOT_IN_MATRIX = frozenset(
    (method, f"/{service}{path}")
    for service in ("auth", "market", "search")
    for method, path in (
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
    )
) | {("GET", "/")}

Body = dict[str, Any] | Callable[[World], dict[str, Any]] | None


@dataclass(frozen=True)
class Row:
    """One endpoint: its expected status per caller, and how a cell calls it."""

    method: str
    path: str
    expect: str  # ten statuses, space-separated, in ACTORS order
    allowed: str = ""  # what the status of an allowed caller means, when it is not a 2xx
    json: Body = None
    form: dict[str, str] | None = None
    content: tuple[str, bytes] | None = None  # (content type, body)
    query: dict[str, str] = field(default_factory=dict)  # values may name path parameters: "{office_id}"
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)  # path parameter → world key, when not the same name
    fresh: Callable[[World], Awaitable[dict[str, str]]] | None = None  # per-cell objects
    phase: int = 1  # 1: contract submitted; 2: after office A registered it; 3: last (key rotation)
    known: dict[str, int] = field(default_factory=dict)  # caller → status the server answers today (a finding)
    # A list: (world key, "METHOD path" of the item's row) — the object must not be in a 200 answer to a caller
    # the item's row does not answer 2xx (a list shows no more than the item endpoint; it may show less, e.g.
    # GET /market/proposals lists the caller's own organization's proposals only).
    contains: tuple[str, str] | None = None
    # (world key, field, "METHOD path"): in a 200 answer the object's field is null or absent unless that row
    # answers the caller 2xx (private fields of a public object: API3, object property level).
    private: tuple[str, str, str] | None = None
    # Contract statistics: the number of registered contracts a 200 answer counts, per caller (its scope).
    counts: dict[str, int] | None = None

    @property
    def statuses(self) -> dict[str, int]:
        values = [int(v) for v in self.expect.split()]
        assert len(values) == len(ACTORS), f"{self.method} {self.path}: {len(values)} statuses"
        return dict(zip(ACTORS, values, strict=True))


def _unique_achievement(_: World) -> dict[str, Any]:
    n = secrets.randbelow(10**7)
    return achievement_body(title=f"矩阵测试成果 {n}", patents=[], ip_type="technical_secret")


def _unique_demand(_: World) -> dict[str, Any]:
    return demand_body(title=f"矩阵测试需求 {secrets.token_hex(3)}")


def _new_member(_: World) -> dict[str, Any]:
    return {
        "email": f"new-{secrets.token_hex(4)}@authz.test",
        "name": "new member",
        "password": f"new-member-{secrets.token_hex(6)}",
        "roles": ["member"],
    }


def _new_client(_: World) -> dict[str, Any]:
    return {"client_id": f"authz-new-{secrets.token_hex(4)}", "name": "new client"}


def _new_webhook(_: World) -> dict[str, Any]:
    return {"url": "http://127.0.0.1:9/authz-new", "event_types": ["contract.registered"]}


def _contract_as_owner(world: World) -> dict[str, Any]:
    """A contract naming the owner university as seller (submitted_as=seller): only its members may submit it."""
    owner = world.callers["owner_member"]
    assert owner is not None
    return payload(owner, contract_no=f"MX-{secrets.token_hex(4)}", submitted_as="seller")


# Who counts the world's registered contract in its statistics (the 1+4+N subtree of the broker, the office).
def _file(name: str) -> Callable[[World], Awaitable[dict[str, str]]]:
    async def fresh(_: World) -> dict[str, str]:
        return {"name": name}

    return fresh


STATS_SCOPE = {"anonymous": 1, "registrar_other": 0, "registrar": 1, "stat_in": 1, "stat_out": 0, "platform_admin": 1}
_PAST = "past authorization"
_ST = "412 = stale If-Match, " + _PAST

# fmt: off
#                                                                   anon oth  o_m  o_a  brk  rgB  rgA  s_in s_out adm
ROWS: tuple[Row, ...] = (
    # ---- auth ------------------------------------------------------------------------------------------------------
    Row("POST", "/auth/token", "400 401 401 401 401 401 401 401 401 401",
        "public; 400 = a bogus refresh token; a Bearer header is not client authentication (401 invalid_client)",
        form={"grant_type": "refresh_token", "refresh_token": "bogus"}),
    Row("POST", "/auth/revoke", "200 401 401 401 401 401 401 401 401 401",
        "public (RFC 7009: an unknown token is 200); a Bearer header is not client authentication",
        form={"token": "bogus"}),
    Row("GET", "/auth/.well-known/jwks.json", "200 200 200 200 200 200 200 200 200 200"),
    Row("GET", "/auth/keys", "401 403 403 403 403 403 403 403 403 200"),
    Row("POST", "/auth/keys/rotate", "401 403 403 403 403 403 403 403 403 409",
        "409 = rotation-too-soon (the startup key is younger than a token lifetime), " + _PAST, phase=3),
    Row("POST", "/auth/signup", "422 422 422 422 422 422 422 422 422 422", "public; 422 = empty body", json={}),
    Row("GET", "/auth/organizations", "401 200 200 200 200 200 200 200 200 200", query={"limit": "100"},
        contains=("organization_id", "GET /auth/organizations/{organization_id}")),
    Row("GET", "/auth/organizations/{organization_id}", "401 200 200 200 200 200 200 200 200 200"),
    Row("PATCH", "/auth/organizations/{organization_id}", "401 403 403 200 403 403 403 403 403 200",
        json={"name": "四川大学"}),
    Row("GET", "/auth/organizations/{organization_id}/descendants", "401 200 200 200 200 200 200 200 200 200"),
    Row("POST", "/auth/organizations/{organization_id}/verify", "401 403 403 403 403 403 403 403 403 409",
        "409 = already verified, " + _PAST),
    Row("POST", "/auth/organizations/{organization_id}/reject", "401 403 403 403 403 403 403 403 403 409",
        "409 = not pending, " + _PAST, json={"reason": "矩阵测试"}),
    Row("POST", "/auth/organizations/{organization_id}/suspend", "401 403 403 403 403 403 403 403 403 200",
        "acts on a bystander organization", json={"reason": "矩阵测试"},
        params={"organization_id": "bystander_org_id"}),
    Row("POST", "/auth/organizations/{organization_id}/reinstate", "401 403 403 403 403 403 403 403 403 409",
        "409 = not suspended, " + _PAST),
    Row("PUT", "/auth/organizations/{organization_id}/designation", "401 403 403 403 403 403 403 403 403 422",
        "platform admins and center admins; 422 = the owner university is no transfer_institution, " + _PAST,
        json={"level": "provincial", "year": 2024}),
    Row("DELETE", "/auth/organizations/{organization_id}/designation", "401 403 403 403 403 403 403 403 403 422",
        "platform admins and center admins; 422 = the owner university is no transfer_institution, " + _PAST),
    Row("POST", "/auth/organizations/{organization_id}/members", "401 403 403 201 403 403 403 403 403 201",
        json=_new_member),
    Row("GET", "/auth/organizations/{organization_id}/members", "401 404 200 200 404 404 404 404 404 200",
        "members are listed to the organization's own users"),
    Row("PATCH", "/auth/organizations/{organization_id}/members/{user_id}", "401 403 403 200 403 403 403 403 403 200",
        "the owner member's roles, unchanged", json={"roles": ["member"]}),
    Row("DELETE", "/auth/organizations/{organization_id}/members/{user_id}",
        "401 403 403 204 403 403 403 403 403 204", "a fresh member per cell", fresh=World.fresh_member),
    Row("GET", "/auth/me", "401 200 200 200 200 200 200 200 200 200"),
    Row("POST", "/auth/clients", "401 403 403 201 403 403 403 403 403 201",
        "org admins create clients of their own organization", json=_new_client),
    Row("GET", "/auth/clients", "401 403 403 200 403 403 403 403 403 200", "org admins see their organization's",
        query={"limit": "100"}, contains=("client_id", "PATCH /auth/clients/{client_id}")),
    Row("PATCH", "/auth/clients/{client_id}", "401 404 404 404 404 404 404 404 404 200",
        "a platform client: hidden from org admins", json={"name": "authz client"}),
    Row("DELETE", "/auth/clients/{client_id}", "401 404 404 404 404 404 404 404 404 204",
        "a fresh platform client per cell",
        fresh=World.fresh_client),
    # ---- search ----------------------------------------------------------------------------------------------------
    Row("GET", "/search/achievements", "200 200 200 200 200 200 200 200 200 200", query={"q": "无人机"}),
    Row("GET", "/search/demands", "200 200 200 200 200 200 200 200 200 200", query={"q": "检测"}),
    Row("POST", "/search/achievements/similar", "200 200 200 200 200 200 200 200 200 200",
        json={"text": "无人机机载数据处理"}),
    Row("POST", "/search/demands/similar", "200 200 200 200 200 200 200 200 200 200", json={"text": "极片缺陷检测"}),
    Row("POST", "/search/documents", "401 403 403 403 403 403 403 403 403 403", "needs the search:ingest scope",
        json={}),
    Row("POST", "/search/{kind}/percolate", "401 403 403 403 403 403 403 403 403 403",
        "needs the search:ingest scope (market's relay token)", json={}),
    Row("GET", "/search/status", "401 403 403 403 403 403 403 403 403 200"),
    # ---- market: reference, listings -------------------------------------------------------------------------------
    Row("GET", "/market/reference", "200 200 200 200 200 200 200 200 200 200"),
    Row("GET", "/market/reference/{name}", "200 200 200 200 200 200 200 200 200 200"),
    Row("POST", "/market/achievements", "401 201 201 201 403 403 403 403 403 403",
        "universities and research institutes list achievements", json=_unique_achievement),
    Row("GET", "/market/achievements", "200 200 200 200 200 200 200 200 200 200", query={"limit": "100"},
        contains=("achievement", "GET /market/achievements/{listing_id}"),
        private=("achievement", "contact", "GET /market/achievements/{listing_id}/events")),
    Row("GET", "/market/achievements/{listing_id}", "200 200 200 200 200 200 200 200 200 200",
        params={"listing_id": "achievement"}, private=("achievement", "contact", "GET /market/achievements/{listing_id}/events")),
    Row("PATCH", "/market/achievements/{listing_id}", "401 403 412 412 403 403 403 403 403 403", _ST,
        json={"title": "一种无人机机载多功能盒"}, headers=STALE, params={"listing_id": "achievement"}),
    *(
        Row("POST", f"/market/achievements/{{listing_id}}/{action}", "401 403 412 412 403 403 403 403 403 403", _ST,
            headers=STALE, params={"listing_id": "achievement"})
        for action in ("publish", "negotiate", "transfer", "withdraw")
    ),
    Row("GET", "/market/achievements/{listing_id}/events", "401 403 200 200 403 403 403 403 403 200",
        params={"listing_id": "achievement"}),
    # The deprecated alias of /events: the same handler.
    Row("GET", "/market/achievements/{listing_id}/history", "401 403 200 200 403 403 403 403 403 200",
        params={"listing_id": "achievement"}),
    Row("POST", "/market/achievements/import", "401 200 200 200 403 403 403 403 403 403",
        "an empty file: an empty report", content=("application/x-ndjson", b"")),
    Row("POST", "/market/demands", "401 201 201 201 403 403 403 403 403 403",
        "enterprises, research institutes and universities post demands", json=_unique_demand),
    Row("GET", "/market/demands", "200 200 200 200 200 200 200 200 200 200", query={"limit": "100"},
        contains=("demand", "GET /market/demands/{listing_id}"),
        private=("demand", "contact", "GET /market/demands/{listing_id}/events")),
    Row("GET", "/market/demands/{listing_id}", "200 200 200 200 200 200 200 200 200 200",
        params={"listing_id": "demand"}, private=("demand", "contact", "GET /market/demands/{listing_id}/events")),
    Row("PATCH", "/market/demands/{listing_id}", "401 403 412 412 403 403 403 403 403 403", _ST,
        json={"title": "高温合金叶片检测"}, headers=STALE, params={"listing_id": "demand"}),
    *(
        Row("POST", f"/market/demands/{{listing_id}}/{action}", "401 403 412 412 403 403 403 403 403 403", _ST,
            headers=STALE, params={"listing_id": "demand"})
        for action in ("publish", "match", "close", "fulfill", "withdraw")
    ),
    Row("GET", "/market/demands/{listing_id}/events", "401 403 200 200 403 403 403 403 403 200",
        params={"listing_id": "demand"}),
    # The deprecated alias of /events: the same handler.
    Row("GET", "/market/demands/{listing_id}/history", "401 403 200 200 403 403 403 403 403 200",
        params={"listing_id": "demand"}),
    Row("GET", "/market/achievements/{listing_id}/suggestions", "401 403 200 200 200 403 403 403 403 200",
        params={"listing_id": "achievement"}),
    Row("GET", "/market/demands/{listing_id}/suggestions", "401 403 200 200 200 403 403 403 403 200",
        params={"listing_id": "demand"}),
    # ---- market: brokerage -----------------------------------------------------------------------------------------
    Row("POST", "/market/achievements/{achievement_id}/interest", "401 403 403 403 403 403 403 403 403 403",
        "only enterprises express interest", json={"note": "我们想了解授权条件。",
                                                    "contact": {"name": "张工", "phone": "13800000001"}}),
    Row("POST", "/market/proposals", "401 403 403 403 201 403 403 403 403 403", "brokers propose",
        json=lambda w: {"demand_id": w.params["deal_demand"], "achievement_id": w.params["achievement"],
                        "cooperation_mode": "transfer", "note": "矩阵测试"}),
    Row("GET", "/market/proposals", "401 200 200 200 200 200 200 200 200 200", query={"limit": "100"},
        contains=("proposal_id", "GET /market/proposals/{proposal_id}")),
    Row("GET", "/market/proposals/{proposal_id}", "401 404 200 200 200 404 404 404 404 200"),
    *(
        Row("POST", f"/market/proposals/{{proposal_id}}/{action}", expect, _ST, headers=STALE, json=body)
        for action, expect, body in (
            ("accept", "401 404 412 412 403 404 404 404 404 403", None),
            ("decline", "401 404 412 412 403 404 404 404 404 403", {"reason": "矩阵测试"}),
            ("withdraw", "401 404 403 403 412 404 404 404 404 403", None),
        )
    ),
    Row("GET", "/market/proposals/{proposal_id}/events", "401 404 200 200 200 404 404 404 404 200"),
    # The deprecated alias of /events: the same handler.
    Row("GET", "/market/proposals/{proposal_id}/history", "401 404 200 200 200 404 404 404 404 200"),
    Row("GET", "/market/proposals/{proposal_id}/contract-draft", "401 404 200 200 200 404 404 404 404 403",
        "the seller side or the broker drafts the contract"),
    Row("GET", "/market/brokers/{org_id}/performance", "401 403 403 403 200 403 403 200 403 200"),
    Row("GET", "/market/brokers/{org_id}/institutions", "401 403 403 403 200 403 403 200 403 200"),
    # ---- market: the inbox (the world's notification is the deal buyer's: nobody here sees it) ------------------------
    Row("GET", "/market/notifications", "401 200 200 200 200 200 200 200 200 200", query={"limit": "100"},
        contains=("notification_id", "POST /market/notifications/{notification_id}/read")),
    Row("GET", "/market/notifications/unread-count", "401 200 200 200 200 200 200 200 200 200"),
    Row("POST", "/market/notifications/read-all", "401 200 200 200 200 200 200 200 200 200"),
    Row("POST", "/market/notifications/{notification_id}/read", "401 404 404 404 404 404 404 404 404 404",
        "404 = another's notification"),
    # The stream never ends, so a cell resumes after another's notification: 422 (as for an id that does not exist)
    # = past authorization, and the stream neither opens nor tells that the notification exists.
    Row("GET", "/market/notifications/stream", "401 422 422 422 422 422 422 422 422 422",
        "422 = Last-Event-ID of another's notification, " + _PAST, query={"last_event_id": "{notification_id}"}),
    # ---- market: webhooks (the owner university's endpoint; org_admin manages, platform admin reads) -----------
    Row("POST", "/market/webhooks", "401 403 403 201 403 403 403 403 403 201",
        "201 = an endpoint of the caller's own organization", json=_new_webhook),
    Row("GET", "/market/webhooks", "401 403 403 200 403 403 403 403 403 200", query={"limit": "100"},
        contains=("webhook_id", "GET /market/webhooks/{webhook_id}")),
    Row("GET", "/market/webhooks/{webhook_id}", "401 404 403 200 404 404 404 404 404 200"),
    Row("PATCH", "/market/webhooks/{webhook_id}", "401 404 403 412 404 404 404 404 404 403", _ST,
        json={"description": "x"}, headers=STALE),
    Row("DELETE", "/market/webhooks/{webhook_id}", "401 404 403 204 404 404 404 404 404 403",
        "204 = a fresh endpoint deleted", fresh=lambda w: w.fresh_webhook()),
    Row("POST", "/market/webhooks/{webhook_id}/rotate-secret", "401 404 403 200 404 404 404 404 404 403"),
    Row("POST", "/market/webhooks/{webhook_id}/test", "401 404 403 202 404 404 404 404 404 403"),
    Row("GET", "/market/webhooks/{webhook_id}/deliveries", "401 404 403 200 404 404 404 404 404 200",
        query={"limit": "100"}),
    # ---- market: saved searches (the world's search is the owner member's own: 404 to everyone else) -----------------
    Row("POST", "/market/saved-searches", "401 201 201 201 201 201 201 201 201 201",
        json={"name": "锂电池", "q": "锂电池"}),
    Row("GET", "/market/saved-searches", "401 200 200 200 200 200 200 200 200 200", query={"limit": "100"},
        contains=("search_id", "GET /market/saved-searches/{search_id}")),
    Row("GET", "/market/saved-searches/{search_id}", "401 404 200 404 404 404 404 404 404 404",
        "404 = another user's search"),
    Row("PATCH", "/market/saved-searches/{search_id}", "401 404 412 404 404 404 404 404 404 404", _ST,
        json={"name": "新名"}, headers=STALE),
    Row("DELETE", "/market/saved-searches/{search_id}", "401 404 412 404 404 404 404 404 404 404", _ST,
        headers=STALE),
    # ---- market: contracts, offices --------------------------------------------------------------------------------
    Row("POST", "/market/contracts", "401 403 201 201 403 403 403 403 403 403",
        "a contract naming the owner university as seller, submitted as seller", json=_contract_as_owner),
    Row("GET", "/market/contracts", "401 200 200 200 200 200 200 200 200 200", query={"limit": "100"},
        contains=("contract_id", "GET /market/contracts/{contract_id}")),
    Row("POST", "/market/contracts/import", "401 403 403 403 403 422 422 403 403 422",
        "422 = an empty CSV, " + _PAST, content=("text/csv", b"")),
    Row("GET", "/market/contracts/{contract_id}", "401 404 200 200 200 404 200 200 404 200"),
    Row("PATCH", "/market/contracts/{contract_id}", "401 404 412 412 412 404 403 403 404 403", _ST,
        json={"title": "一种无人机机载多功能盒"}, headers=STALE),
    Row("POST", "/market/contracts/{contract_id}/resubmit", "401 404 409 409 409 404 403 403 404 403",
        "409 = not rejected, " + _PAST),
    Row("POST", "/market/contracts/{contract_id}/amend", "401 404 403 403 403 404 409 403 404 403",
        "409 = not registered yet, " + _PAST,
        json={"effective_on": "2026-01-01", "contract_amount_fen": 2, "technology_amount_fen": 1}),
    Row("POST", "/market/contracts/{contract_id}/revoke", "401 404 403 403 403 404 409 403 404 403",
        "409 = not registered yet, " + _PAST, json={"reason": "矩阵测试"}),
    Row("GET", "/market/contracts/{contract_id}/events", "401 404 200 200 200 404 200 200 404 200"),
    Row("POST", "/market/contracts/{contract_id}/register", "401 404 403 403 403 404 409 403 404 403",
        "409 = already registered (phase 2), " + _PAST, json={}, phase=2),
    Row("POST", "/market/contracts/{contract_id}/reject", "401 404 403 403 403 404 409 403 404 403",
        "409 = already registered (phase 2), " + _PAST, json={"reason": "矩阵测试"}, phase=2),
    Row("GET", "/market/offices", "401 200 200 200 200 200 200 200 200 200", query={"limit": "100"},
        contains=("office_id", "GET /market/offices/{office_id}")),
    Row("POST", "/market/offices", "401 403 403 403 403 403 403 403 403 422", "422 = empty body, " + _PAST, json={}),
    Row("GET", "/market/offices/{office_id}", "401 200 200 200 200 200 200 200 200 200"),
    Row("GET", "/market/offices/{office_id}/events", "401 403 403 403 403 403 403 403 403 200"),
    # The deprecated alias of /events: the same handler.
    Row("GET", "/market/offices/{office_id}/history", "401 403 403 403 403 403 403 403 403 200"),
    Row("PATCH", "/market/offices/{office_id}", "401 403 403 403 403 403 403 403 403 200", "no change",
        json={"active": True}),
    Row("POST", "/market/directory/organizations", "401 403 403 403 403 403 403 403 403 403",
        "needs the auth:directory scope (auth's relay)", json={}),
    Row("GET", "/market/directory/organizations/{organization_id}", "200 200 200 200 200 200 200 200 200 200"),
    # After office A registered the contract: counted in office A's, sub-center A's and the platform's scope only,
    # even when a caller asks for the broker's subtree and office A by name. Anonymous callers see every
    # registered contract (the public scope) but may not name an office (403); the cumulative row counts theirs.
    Row("GET", "/market/stats/contracts", "403 403 403 403 403 200 200 200 200 200", phase=2, counts=STATS_SCOPE,
        query={"broker_org": "{org_id}", "office": "{office_id}"}),
    Row("GET", "/market/stats/cumulative", "200 403 403 403 403 200 200 200 200 200", phase=2, counts=STATS_SCOPE),
    Row("GET", "/market/stats/public", "200 200 200 200 200 200 200 200 200 200"),
    # Targets: anyone reads; platform admins and the center's statisticians write (stat_in/stat_out: sub-centers).
    Row("GET", "/market/stats/targets", "200 200 200 200 200 200 200 200 200 200", query={"limit": "100"},
        contains=("target_id", "GET /market/stats/targets/{target_id}")),
    Row("GET", "/market/stats/targets/{target_id}", "200 200 200 200 200 200 200 200 200 200"),
    Row("POST", "/market/stats/targets", "401 403 403 403 403 403 403 403 403 422", "422 = empty body, " + _PAST,
        json={}),
    Row("PATCH", "/market/stats/targets/{target_id}", "401 403 403 403 403 403 403 403 403 412", _ST,
        json={"value": 1}, headers=STALE),
    Row("GET", "/market/stats/institutions", "200 200 200 200 200 200 200 200 200 200"),
    # ---- the public dashboard page (market serves it; the embedded app at the top level too) --------------------
    *(
        row
        for prefix in ("", "/market")
        for row in (
            Row("GET", f"{prefix}/dashboard", "200 200 200 200 200 200 200 200 200 200"),
            Row("GET", f"{prefix}/dashboard/static/{{name}}", "200 200 200 200 200 200 200 200 200 200",
                fresh=_file("dashboard.js")),
            Row("GET", f"{prefix}/dashboard/vendor/{{name}}", "200 200 200 200 200 200 200 200 200 200",
                "the vendored ECharts (make install)", fresh=_file("echarts.min.js")),
        )
    ),
)
# fmt: on


def route_table(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every operation of the embedded app's services, paths as FastAPI formats them."""
    for route in app.routes:
        if isinstance(route, Mount):
            for context in iter_route_contexts(route.routes):
                for method in sorted(context.methods or ()):
                    if method != "HEAD":
                        yield method, f"{route.path}{context.path_format}"
        else:
            # The embedded app's own routes: its index, and the dashboard router it includes.
            for context in iter_route_contexts([route]):
                for method in sorted(context.methods or ()):
                    if method != "HEAD":
                        yield method, str(context.path_format)


def test_every_endpoint_has_exactly_one_row(tmp_path: Path) -> None:
    """A new endpoint without a row fails here, and so does a row whose endpoint is gone."""
    routes = set(route_table(create_embedded_app(data_dir=tmp_path))) - NOT_IN_MATRIX
    keys = [(row.method, row.path) for row in ROWS]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicates, f"more than one row for {duplicates}"
    assert sorted(routes - set(keys)) == [], "endpoints without a row in tests/authz/test_matrix.py"
    assert sorted(set(keys) - routes) == [], "rows of endpoints that do not exist (stale)"
    for row in ROWS:
        assert row.statuses  # ten statuses each
        assert set(row.known) <= set(ACTORS)
        if row.contains is not None:
            assert row.contains[1] in {f"{r.method} {r.path}" for r in ROWS}, row.contains
        if row.private is not None:
            assert row.private[2] in {f"{r.method} {r.path}" for r in ROWS}, row.private


async def _call(world: World, row: Row, actor: str) -> tuple[int, str]:
    params = {name: world.params[name] for name in world.params}
    params.update({name: world.params[key] for name, key in row.params.items()})
    if row.fresh is not None:
        params.update(await row.fresh(world))
    caller = world.callers[actor]
    headers = {**(caller.headers if caller is not None else {}), **row.headers}
    query = {name: value.format(**params) for name, value in row.query.items()}
    kwargs: dict[str, Any] = {"params": query, "headers": headers}
    if row.json is not None:
        kwargs["json"] = row.json(world) if callable(row.json) else row.json
    elif row.form is not None:
        kwargs["data"] = row.form
    elif row.content is not None:
        kwargs["content"] = row.content[1]
        headers["Content-Type"] = row.content[0]
    response = await world.stack.client.request(row.method, row.path.format(**params), **kwargs)
    return response.status_code, response.text


def _private_leaks(world: World, row: Row, actor: str, text: str, by_key: dict[str, Row]) -> list[str]:
    assert row.private is not None
    key, name, reference = row.private
    body = json.loads(text)
    objects = body["items"] if isinstance(body, dict) and "items" in body else [body]
    mine = [o for o in objects if isinstance(o, dict) and o.get("id") == world.params[key]]
    allowed = 200 <= by_key[reference].statuses[actor] < 300
    assert mine, f"{row.method} {row.path}: {key} not in the answer to {actor}"
    return [
        f"{row.method} {row.path} as {actor}: shows {key}'s private {name}, but {reference} answers it "
        f"{by_key[reference].statuses[actor]}"
        for o in mine
        if o.get(name) is not None and not allowed
    ]


async def test_authorization_matrix(stack: Stack, actors: Actors) -> None:
    """Every cell answers its expected status; a known finding must still answer its known status."""
    started = time.monotonic()
    world = await build_world(stack, actors)
    built = time.monotonic() - started
    failures: list[str] = []
    by_key = {f"{row.method} {row.path}": row for row in ROWS}
    for phase in (1, 2, 3):
        if phase == 2:
            await world.register_contract()
        for row in (r for r in ROWS if r.phase == phase):
            for actor, expected in row.statuses.items():
                got, text = await _call(world, row, actor)
                wanted = row.known.get(actor, expected)
                if row.counts is not None and got == 200:
                    body = json.loads(text)
                    counted = body["total"]["count"] if "total" in body else body["count"]
                    if counted != row.counts[actor]:
                        failures.append(
                            f"{row.method} {row.path} as {actor}: counts {counted} contracts, its scope has "
                            f"{row.counts[actor]}"
                        )
                if row.private is not None and got == 200:
                    failures += _private_leaks(world, row, actor, text, by_key)
                if row.contains is not None and got == 200:
                    key, item_row = row.contains
                    shown = world.params[key] in text
                    should = 200 <= by_key[item_row].statuses[actor] < 300
                    if shown and not should:
                        failures.append(
                            f"{row.method} {row.path} as {actor}: lists {key}, "
                            f"but {item_row} answers it {by_key[item_row].statuses[actor]}"
                        )
                if got != wanted:
                    note = (
                        f" (known finding: today {row.known[actor]}, product needs {expected}; fixed? drop `known`)"
                        if actor in row.known
                        else ""
                    )
                    failures.append(
                        f"{row.method} {row.path} as {actor}: expected {wanted}, got {got}{note} {text[:160]}"
                    )
    cells = sum(len(ACTORS) for _ in ROWS)
    elapsed = time.monotonic() - started
    print(f"authorization matrix: {cells} cells, world {built:.1f}s, total {elapsed:.1f}s ({stack.backend})")
    assert not failures, f"{len(failures)} of {cells} cells differ:\n" + "\n".join(failures)
