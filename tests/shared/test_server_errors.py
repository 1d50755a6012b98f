"""Issue 13, "Server errors": no input answers 500 — forged cursors, text outside the kernel's rule, methods a path
does not answer. Checked across the three services of the embedded app, on both database backends."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from shared.errors import problem_response
from tests.conftest import Stack
from tests.market.contracts.factories import ensure_office, registrar, submit
from tests.market.helpers import achievement_body, create_listing, demand_body
from tests.market.proposals.world import World, make_world
from tests.support.actors import Actors
from tests.support.problems import assert_problem, error_fields


def forged(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED_CURSORS = [
    forged(b'["x"]'),  # the one of the issue: right arity, not an id
    forged(b"[1]"),
    forged(b'[null, "x"]'),
    forged(b'{"after": "x"}'),
    forged(
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
    ),
    forged(b"\xff\xfe"),
    "!!!",
]


class TestForgedCursors:
    async def test_every_list_answers_422_cursor_invalid(self, stack: Stack, actors: Actors) -> None:
        world: World = await make_world(stack, actors)
        admin = world.admin
        proposal = await world.propose()
        office = await registrar(actors)
        await ensure_office(stack, office)
        contract = await submit(stack, world.seller)
        achievement, demand = world.achievement["id"], world.demand["id"]
        lists = [
            ("/auth/organizations", admin),
            (f"/auth/organizations/{admin.org_id}/members", admin),
            (f"/auth/organizations/{admin.org_id}/descendants", admin),
            ("/auth/clients", admin),
            ("/market/offices", admin),
            ("/market/contracts", admin),
            (f"/market/contracts/{contract['id']}/events", admin),
            ("/market/achievements", admin),
            ("/market/demands", admin),
            (f"/market/achievements/{achievement}/history", admin),
            (f"/market/demands/{demand}/history", admin),
            (f"/market/achievements/{achievement}/suggestions", world.seller),
            (f"/market/demands/{demand}/suggestions", world.buyer),
            ("/market/proposals", world.broker),
            (f"/market/proposals/{proposal['id']}/history", world.broker),
            (f"/market/brokers/{world.sub_center.org_id}/institutions", world.sub_center),
        ]
        for path, actor in lists:
            first = await stack.client.get(path, headers=actor.headers)
            assert first.status_code == 200, (path, first.text)
            for cursor in FORGED_CURSORS:
                response = await stack.client.get(path, params={"cursor": cursor}, headers=actor.headers)
                assert response.status_code == 422, (path, cursor, response.text)
                errors = response.json()["errors"]
                assert [(e["field"], e["type"]) for e in errors] == [("cursor", "cursor_invalid")], (path, cursor)


def _filled(path: str) -> str:
    """A concrete path of a route template: every parameter an id."""
    parts = [str(uuid.uuid4()) if p.startswith("{") else p for p in path.split("/")]
    return "/".join(parts)


class TestMethodNotAllowed:
    @pytest.mark.parametrize(
        ("method", "path", "allow"),
        [
            ("PATCH", "/market/achievements/import", "POST"),  # the issue's: was routed to /{listing_id}, 422
            ("GET", "/market/achievements/import", "POST"),
            ("PUT", "/market/contracts/import", "POST"),
            ("DELETE", "/search/achievements/similar", "POST"),
            ("DELETE", "/market/achievements", "GET, POST"),  # Allow listed only the first route's methods
            ("DELETE", f"/market/achievements/{uuid.uuid4()}", "GET, PATCH"),
            ("PUT", f"/auth/clients/{uuid.uuid4()}", "DELETE, PATCH"),
        ],
    )
    async def test_405_with_every_allowed_method(
        self, stack: Stack, actors: Actors, method: str, path: str, allow: str
    ) -> None:
        member = await actors.org_member(kind="university")
        response = await stack.client.request(method, path, json={}, headers=member.headers)
        body = assert_problem(response, 405)
        assert response.headers["allow"] == allow
        assert body["type"] == "urn:techmarket:problem:method-not-allowed"

    async def test_every_route_of_every_service(self, stack: Stack) -> None:
        # Generated from the route table, so a new route is covered without a new row.
        checked = 0
        for service in ("auth", "market", "search"):
            methods_by_path: dict[str, set[str]] = {}
            for context in iter_route_contexts(stack.service_app(service).router.routes):
                if context.path and context.methods:
                    methods_by_path.setdefault(context.path, set()).update(context.methods)
            for path, methods in methods_by_path.items():
                other = next(m for m in ("PUT", "DELETE", "PATCH", "POST", "GET") if m not in methods)
                response = await stack.client.request(other, f"/{service}{_filled(path)}")
                assert response.status_code == 405, (service, path, other, response.text)
                assert set(response.headers["allow"].split(", ")) == methods, (service, path)
                checked += 1
        assert checked > 80


def _raw(body: dict[str, Any], field: str, escaped: str) -> bytes:
    """``body`` as JSON with ``field`` set to the JSON escape ``escaped`` (e.g. a lone surrogate \\ud800)."""
    text = json.dumps({**body, field: "__PLACEHOLDER__"}, ensure_ascii=False)
    return text.replace('"__PLACEHOLDER__"', f'"{escaped}"').encode()


BAD_TEXT = [
    ("\\ud800", "lone high surrogate"),
    ("a\\udc00b", "lone low surrogate"),
    ("a\\u0000b", "NUL"),
    ("a\\u001bb", "ESC"),
    ("a\\u007fb", "DEL"),
    ("a\\u0085b", "C1 NEL"),
]


class TestTextRule:
    @pytest.mark.parametrize(("escaped", "what"), BAD_TEXT)
    @pytest.mark.parametrize(
        ("path", "field"),
        [
            ("/market/achievements", "title"),
            ("/market/achievements", "description"),
            ("/market/demands", "title"),
        ],
    )
    async def test_listing_text_outside_the_rule_is_422_naming_the_field(
        self, stack: Stack, actors: Actors, path: str, field: str, escaped: str, what: str
    ) -> None:
        uni = await actors.org_member(kind="enterprise" if "demands" in path else "university")
        body = demand_body() if "demands" in path else achievement_body()
        response = await stack.client.post(
            path, content=_raw(body, field, escaped), headers={**uni.headers, "content-type": "application/json"}
        )
        problem = assert_problem(response, 422)
        assert [(e["field"], e["type"]) for e in problem["errors"]] == [(field, "text_invalid")], what
        listed = (await stack.client.get(path, headers=uni.headers)).json()["items"]
        assert listed == []  # nothing stored

    async def test_patch_with_a_lone_surrogate_is_422_and_changes_nothing(self, stack: Stack, actors: Actors) -> None:
        uni = await actors.org_member(kind="university")
        created = await create_listing(stack, uni)
        url = f"/market/achievements/{created['id']}"
        response = await stack.client.patch(
            url,
            content=b'{"title": "\\ud800"}',
            headers={**uni.headers, "content-type": "application/json", "If-Match": '"v1"'},
        )
        assert error_fields(assert_problem(response, 422)) == ["title"]
        assert (await stack.client.get(url, headers=uni.headers)).json()["title"] == created["title"]

    async def test_long_text_keeps_tab_and_newline_and_turns_crlf_into_lf(self, stack: Stack, actors: Actors) -> None:
        uni = await actors.org_member(kind="university")
        created = await create_listing(stack, uni, description="第一段\t说明\r\n第二段\n第三段")
        assert created["description"] == "第一段\t说明\n第二段\n第三段"
        response = await stack.client.post(
            "/market/achievements", json=achievement_body(title="标题\t带制表符"), headers=uni.headers
        )
        assert [(e["field"], e["type"]) for e in assert_problem(response, 422)["errors"]] == [("title", "text_invalid")]

    async def test_other_services_follow_the_same_rule(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        signup = {
            "organization": {
                "name": "__PLACEHOLDER__",
                "kind": "enterprise",
                "credit_code": "91510100MA61R8XU4T",
                "region_code": "510107",
            },
            "user": {"email": "x@example.com", "password": "correct horse battery", "name": "张三"},
        }
        raw = json.dumps(signup, ensure_ascii=False).replace('"__PLACEHOLDER__"', '"a\\u0000b"').encode()
        response = await stack.client.post("/auth/signup", content=raw, headers={"content-type": "application/json"})
        problem = assert_problem(response, 422)
        assert ("organization.name", "text_invalid") in [(e["field"], e["type"]) for e in problem["errors"]]
        response = await stack.client.post(
            "/market/offices",
            content=_raw({"id": str(uuid.uuid4()), "region_code": "510100"}, "name", "\\ud800"),
            headers={**admin.headers, "content-type": "application/json"},
        )
        assert [(e["field"], e["type"]) for e in assert_problem(response, 422)["errors"]] == [("name", "text_invalid")]

    async def test_a_lone_surrogate_in_a_key_is_422(self, stack: Stack, actors: Actors) -> None:
        uni = await actors.org_member(kind="university")
        raw = json.dumps(achievement_body(), ensure_ascii=False)[:-1] + ', "\\ud800": 1}'
        response = await stack.client.post(
            "/market/achievements", content=raw.encode(), headers={**uni.headers, "content-type": "application/json"}
        )
        assert error_fields(assert_problem(response, 422)) == ["body"]


def test_a_problem_echoing_a_lone_surrogate_still_renders() -> None:
    # UTF-8 cannot encode a lone surrogate; the problem body falls back to ASCII-escaped JSON instead of failing.
    response = problem_response(
        None,
        status=422,
        slug="validation-failed",
        title="Validation failed",
        errors=[{"field": "\ud800", "message": "unknown", "type": "extra_forbidden"}],
    )
    assert response.media_type == "application/problem+json"
    assert json.loads(response.body)["errors"][0]["field"] == "\ud800"
    ordinary = problem_response(None, status=404, slug="not-found", title="未找到")
    assert "未找到".encode() in ordinary.body  # the usual rendering stays UTF-8
