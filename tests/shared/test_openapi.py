"""The three OpenAPI documents tell the truth: errors, security, headers, models, operation ids, descriptions, docs.

The documents are read the way a client reads them: GET /<service>/openapi.json through the embedded app. They
do not depend on the database, so they are built once per module; the interactive docs are checked on the running
stack (both backends).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from services.embedded import create_app as create_embedded_app
from shared.concurrency import IfMatchHeader
from shared.errors import problem_responses
from shared.openapi import finalize_openapi, operation_id, response_headers
from shared.reference.technical_fields import technical_fields
from shared.security import CurrentPrincipal, OptionalPrincipal, Principal, require_roles, require_scopes
from tests.conftest import Stack

SERVICES = ("auth", "market", "search")
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
OAUTH = {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
METHODS = {"get", "put", "post", "delete", "patch"}

Document = dict[str, Any]


@pytest.fixture(scope="module")
async def documents(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Document]]:
    # No lifespan: serving the documents needs no database.
    app = create_embedded_app(data_dir=tmp_path_factory.mktemp("openapi"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        docs = {}
        for service in SERVICES:
            response = await client.get(f"/{service}/openapi.json")
            assert response.status_code == 200
            docs[service] = response.json()
        yield docs


def operations(doc: Document) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def operation(doc: Document, method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = doc["paths"][path][method]
    return found


def each_property(schema: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, prop in schema.get("properties", {}).items():
        yield f"{where}.{name}", prop
        yield from each_property(prop, f"{where}.{name}")
        if isinstance(prop.get("items"), dict):
            yield from each_property(prop["items"], f"{where}.{name}[]")


class TestDocuments:
    @pytest.mark.parametrize("service", SERVICES)
    def test_valid_openapi(self, documents: dict[str, Document], service: str) -> None:
        validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator not installed")
        validator.validate(documents[service])

    @pytest.mark.parametrize("service", SERVICES)
    def test_servers_say_where_the_paths_are_mounted(self, documents: dict[str, Document], service: str) -> None:
        assert documents[service]["servers"] == [{"url": f"/{service}"}]


class TestErrors:
    @pytest.mark.parametrize("service", SERVICES)
    def test_no_fastapi_validation_error_schema(self, documents: dict[str, Document], service: str) -> None:
        text = json.dumps(documents[service])
        assert "HTTPValidationError" not in text
        assert "#/components/schemas/ValidationError" not in text

    @pytest.mark.parametrize("service", SERVICES)
    def test_every_error_is_a_problem_but_the_token_endpoints(
        self, documents: dict[str, Document], service: str
    ) -> None:
        for path, method, op in operations(documents[service]):
            for code, response in op["responses"].items():
                if int(code) < 400:
                    continue
                if (service, path) == ("auth", "/token") and code in {"400", "401", "429"}:
                    assert response["content"] == OAUTH, (path, code)
                else:
                    assert response["content"] == PROBLEM, (service, method, path, code)

    def test_listing_transitions_declare_422_as_problem(self, documents: dict[str, Document]) -> None:
        # The issue's finding: these declared FastAPI's HTTPValidationError while the server sends a Problem.
        publish = operation(documents["market"], "post", "/achievements/{listing_id}/publish")
        assert publish["responses"]["422"]["content"] == PROBLEM
        disable = operation(documents["auth"], "delete", "/clients/{client_id}")
        assert disable["responses"]["422"]["content"] == PROBLEM

    @pytest.mark.parametrize("service", SERVICES)
    def test_malformed_json_is_documented_on_every_json_body(
        self, documents: dict[str, Document], service: str
    ) -> None:
        bodies = 0
        for path, method, op in operations(documents[service]):
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                bodies += 1
                assert "400" in op["responses"], (method, path)
        assert bodies > 0

    @pytest.mark.parametrize("service", SERVICES)
    def test_body_limit_and_bad_tokens_are_documented(self, documents: dict[str, Document], service: str) -> None:
        for path, method, op in operations(documents[service]):
            if "requestBody" in op:
                assert "413" in op["responses"], (method, path)
            if op["security"]:
                assert "401" in op["responses"], (method, path)
                # shared.security.SigningKeysUnavailable: a token that cannot be checked now, with Retry-After
                assert "Retry-After" in op["responses"]["503"]["headers"], (method, path)

    def test_token_endpoint_keeps_rfc6749_errors(self, documents: dict[str, Document]) -> None:
        schema = documents["auth"]["components"]["schemas"]["OAuthError"]
        assert "invalid_grant" in schema["properties"]["error"]["enum"]
        assert "OAuthErrorBody" not in documents["auth"]["components"]["schemas"]


class TestSecurity:
    @pytest.mark.parametrize("service", SERVICES)
    def test_one_oauth2_scheme_with_the_token_url(self, documents: dict[str, Document], service: str) -> None:
        schemes = documents[service]["components"]["securitySchemes"]
        assert set(schemes) == {"OAuth2"}
        flows = schemes["OAuth2"]["flows"]
        assert flows["password"]["tokenUrl"] == "/auth/token"
        assert flows["clientCredentials"]["tokenUrl"] == "/auth/token"

    @pytest.mark.parametrize(
        ("service", "method", "path", "expected"),
        [
            ("market", "get", "/achievements", [{}, {"OAuth2": []}]),
            ("market", "get", "/achievements/{listing_id}", [{}, {"OAuth2": []}]),
            ("market", "get", "/demands", [{}, {"OAuth2": []}]),
            ("market", "post", "/achievements", [{"OAuth2": []}]),
            ("market", "patch", "/achievements/{listing_id}", [{"OAuth2": []}]),
            ("market", "get", "/stats/public", []),
            ("market", "post", "/directory/organizations", [{"OAuth2": ["market:directory"]}]),
            ("auth", "post", "/token", []),
            ("auth", "post", "/signup", []),
            ("auth", "get", "/.well-known/jwks.json", []),
            ("auth", "get", "/me", [{"OAuth2": []}]),
            ("search", "get", "/achievements", []),
            ("search", "post", "/documents", [{"OAuth2": ["search:ingest"]}]),
        ],
    )
    def test_security_as_the_server_does_it(
        self, documents: dict[str, Document], service: str, method: str, path: str, expected: list[Any]
    ) -> None:
        assert operation(documents[service], method, path)["security"] == expected

    @pytest.mark.parametrize("service", SERVICES)
    def test_every_operation_states_its_security(self, documents: dict[str, Document], service: str) -> None:
        for path, method, op in operations(documents[service]):
            assert "security" in op, (method, path)
            # /token and /revoke answer 401 for a bad client (HTTP Basic client authentication, RFC 6749 §2.3).
            if "401" in op["responses"] and op["security"] == [] and path not in {"/token", "/revoke"}:
                pytest.fail(f"{method} {path} answers 401 but documents no security")


class TestHeaders:
    @pytest.mark.parametrize("service", SERVICES)
    def test_if_match_required_exactly_where_428_is_answered(
        self, documents: dict[str, Document], service: str
    ) -> None:
        for path, method, op in operations(documents[service]):
            for parameter in op.get("parameters", []):
                if parameter["name"] == "If-Match":
                    assert parameter["required"] is ("428" in op["responses"]), (method, path)

    def test_if_match_required_on_patch(self, documents: dict[str, Document]) -> None:
        patch = operation(documents["market"], "patch", "/achievements/{listing_id}")
        if_match = next(p for p in patch["parameters"] if p["name"] == "If-Match")
        assert if_match["required"] is True
        # auth's organizations take an optional If-Match (no 428): it stays optional.
        org = operation(documents["auth"], "patch", "/organizations/{organization_id}")
        assert next(p for p in org["parameters"] if p["name"] == "If-Match")["required"] is False

    @pytest.mark.parametrize(
        ("service", "method", "path", "code"),
        [
            ("market", "get", "/achievements/{listing_id}", "200"),
            ("market", "post", "/achievements/{listing_id}/publish", "200"),
            ("market", "get", "/contracts/{contract_id}", "200"),
            ("market", "post", "/contracts/{contract_id}/register", "200"),
            ("market", "get", "/proposals/{proposal_id}", "200"),
            ("auth", "get", "/organizations/{organization_id}", "200"),
            ("auth", "post", "/organizations/{organization_id}/verify", "200"),
        ],
    )
    def test_etag_declared(
        self, documents: dict[str, Document], service: str, method: str, path: str, code: str
    ) -> None:
        headers = operation(documents[service], method, path)["responses"][code]["headers"]
        assert headers["ETag"] == {"$ref": "#/components/headers/ETag"}

    @pytest.mark.parametrize("path", ["/achievements", "/demands", "/contracts", "/proposals"])
    def test_creations_declare_location_and_replays(self, documents: dict[str, Document], path: str) -> None:
        headers = operation(documents["market"], "post", path)["responses"]["201"]["headers"]
        assert {"Location", "ETag", "Idempotent-Replayed"} <= set(headers)

    @pytest.mark.parametrize("service", SERVICES)
    def test_retry_after_on_429_and_503(self, documents: dict[str, Document], service: str) -> None:
        seen = 0
        for path, method, op in operations(documents[service]):
            for code in ("429", "503"):
                if code in op["responses"]:
                    seen += 1
                    assert "Retry-After" in op["responses"][code]["headers"], (method, path, code)
        assert seen > 0
        assert "Retry-After" in documents[service]["components"]["headers"]

    def test_lists_of_entities_carry_no_etag(self, documents: dict[str, Document]) -> None:
        assert "headers" not in operation(documents["market"], "get", "/achievements")["responses"]["200"]


class TestModels:
    @pytest.mark.parametrize(
        ("path", "types"),
        [
            ("/contracts/import", ["text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]),
            ("/achievements/import", ["text/csv", "application/x-ndjson"]),
        ],
    )
    def test_imports_declare_one_multipart_file_part(
        self, documents: dict[str, Document], path: str, types: list[str]
    ) -> None:
        # Issue 13: one upload type per body, so generated clients build it without warnings (the raw body is
        # accepted too and said so in the description).
        op = operation(documents["market"], "post", path)
        body = op["requestBody"]
        assert body["required"] is True
        assert list(body["content"]) == ["multipart/form-data"]
        form = body["content"]["multipart/form-data"]
        assert form["schema"]["required"] == ["file"]
        assert form["schema"]["properties"]["file"]["type"] == "string"
        assert form["schema"]["properties"]["file"]["format"] == "binary"
        assert form["schema"]["properties"]["file"]["description"]
        assert form["encoding"]["file"]["contentType"].split(", ") == types
        assert all(t in op["description"] for t in types)
        assert {"400", "413", "415", "422"} <= set(op["responses"])

    def test_import_reports_have_distinct_names(self, documents: dict[str, Document]) -> None:
        schemas = documents["market"]["components"]["schemas"]
        assert {"AchievementImportReport", "ContractImportReport"} <= set(schemas)
        assert not [name for name in schemas if name.endswith("ImportReport") and "__" in name]
        assert "ImportReport" not in schemas
        report = operation(documents["market"], "post", "/contracts/import")["responses"]["200"]
        assert report["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ContractImportReport"}

    def test_one_technical_field_enum(self, documents: dict[str, Document]) -> None:
        codes = [field.code for field in technical_fields()]
        for service in SERVICES:
            doc = documents[service]
            text = json.dumps(doc)
            # the 11 codes appear once, in the component (the only list of them in the document)
            assert text.count(json.dumps(codes)) == (1 if "TechnicalField" in doc["components"]["schemas"] else 0)
        market = documents["market"]["components"]["schemas"]
        assert market["TechnicalField"]["enum"] == codes
        create = market["AchievementCreate"]["properties"]["technical_field"]
        assert create["$ref"] == "#/components/schemas/TechnicalField"
        update = market["AchievementUpdate"]["properties"]["technical_field"]
        assert {"$ref": "#/components/schemas/TechnicalField"} in update["anyOf"]

    @pytest.mark.parametrize(
        ("service", "method", "path", "schema"),
        [
            ("auth", "get", "/readyz", "Readiness"),
            ("market", "get", "/readyz", "Readiness"),
            ("auth", "get", "/.well-known/jwks.json", "JWKSet"),
        ],
    )
    def test_real_response_schemas(
        self, documents: dict[str, Document], service: str, method: str, path: str, schema: str
    ) -> None:
        content = operation(documents[service], method, path)["responses"]["200"]["content"]
        assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{schema}"}

    def test_revoke_answers_an_empty_body(self, documents: dict[str, Document]) -> None:
        assert "content" not in operation(documents["auth"], "post", "/revoke")["responses"]["200"]

    @pytest.mark.parametrize(
        ("service", "path", "expected_id"),
        [
            ("auth", "/signup", "signup"),
            ("market", "/achievements", "create_achievement"),
            ("market", "/demands", "create_demand"),
            ("market", "/contracts", "submit_contract"),
            ("market", "/proposals", "create_proposal"),
        ],
    )
    def test_readme_bodies_are_valid_examples(
        self, documents: dict[str, Document], service: str, path: str, expected_id: str
    ) -> None:
        validators = pytest.importorskip("openapi_schema_validator", reason="openapi-schema-validator not installed")
        doc = documents[service]
        op = operation(doc, "post", path)
        assert op["operationId"] == expected_id
        media = op["requestBody"]["content"]["application/json"]
        assert media["examples"]
        for example in media["examples"].values():
            schema = {**media["schema"], "components": doc["components"]}
            validators.OAS31Validator(schema).validate(example["value"])


def _string_branch(schema: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional schema (or the schema itself)."""
    for variant in schema.get("anyOf", [schema]):
        if variant.get("type") != "null":
            return variant
    raise AssertionError(schema)


def _parameter(doc: Document, method: str, path: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in operation(doc, method, path)["parameters"] if p["name"] == name)
    return found


class TestRulesInTheSchema:
    """Issue 13: enums, patterns and cross-field rules the server enforces are in the documents."""

    @pytest.mark.parametrize(
        ("path", "statuses"),
        [
            ("/achievements", ["draft", "expired", "negotiating", "published", "transferred", "withdrawn"]),
            ("/demands", ["closed", "draft", "expired", "fulfilled", "matched", "published", "withdrawn"]),
        ],
    )
    def test_listing_status_is_an_enum(self, documents: dict[str, Document], path: str, statuses: list[str]) -> None:
        schema = _parameter(documents["market"], "get", path, "status")["schema"]
        assert _string_branch(schema)["enum"] == statuses

    @pytest.mark.parametrize("path", ["/stats/contracts", "/stats/cumulative"])
    def test_stats_format_is_an_enum(self, documents: dict[str, Document], path: str) -> None:
        schema = _parameter(documents["market"], "get", path, "format")["schema"]
        assert _string_branch(schema)["enum"] == ["json", "csv", "xlsx"]

    @pytest.mark.parametrize("path", ["/achievements", "/demands"])
    def test_search_technical_field_is_the_component(self, documents: dict[str, Document], path: str) -> None:
        schema = _parameter(documents["search"], "get", path, "technical_field")["schema"]
        assert _string_branch(schema) == {"$ref": "#/components/schemas/TechnicalField"}
        codes = documents["search"]["components"]["schemas"]["TechnicalField"]["enum"]
        assert codes == [field.code for field in technical_fields()]
        assert len(codes) == 11

    def test_member_roles_are_a_nonempty_list_of_the_role_enum(self, documents: dict[str, Document]) -> None:
        schemas = documents["auth"]["components"]["schemas"]
        roles = {"org_admin", "member", "broker", "registrar", "statistician", "platform_admin"}
        create = schemas["MemberCreate"]["properties"]["roles"]
        assert create["minItems"] == 1
        assert create["items"] == {"$ref": "#/components/schemas/Role"}
        assert set(schemas["Role"]["enum"]) == roles
        assert _string_branch(schemas["MemberUpdate"]["properties"]["roles"])["minItems"] == 1
        for answer in ("MemberPublic", "MePublic", "MembershipPublic"):
            assert set(schemas[answer]["properties"]["roles"]["items"]["enum"]) == roles, answer

    def test_credit_and_region_code_patterns(self, documents: dict[str, Document]) -> None:
        credit = r"^\d{8}[0-9A-HJ-NPQRTUWXY]{10}$"
        auth = documents["auth"]["components"]["schemas"]
        for model in ("OrganizationCreate", "OrganizationUpdate"):
            props = auth[model]["properties"]
            assert _string_branch(props["credit_code"])["pattern"] == credit, model
            assert _string_branch(props["region_code"])["pattern"] == r"^\d{6}$", model
            assert "Check character" in props["credit_code"]["description"], model
        market = documents["market"]["components"]["schemas"]
        party = market["PartyCreate"]["properties"]
        assert _string_branch(party["credit_code"])["pattern"] == credit
        assert party["region_code"]["pattern"] == r"^(\d{6}|[A-Z]{2})$"
        for model in ("OfficeCreate", "OfficeUpdate"):
            assert _string_branch(market[model]["properties"]["region_code"])["pattern"] == r"^\d{6}$", model

    def test_credit_code_pattern_admits_what_the_server_admits(self) -> None:
        from stdnum.cn import uscc

        from shared.reference.codes import CREDIT_CODE_PATTERN

        for code in ("12510000450716000B", "91500103MA5U7XY00F", "91510100MA61RKXG0Y"):
            if uscc.is_valid(code):
                assert re.fullmatch(CREDIT_CODE_PATTERN, code), code
        # The servers take digits only in the first 8 places: so does the pattern.
        assert not re.fullmatch(CREDIT_CODE_PATTERN, "N2510000450716000B")
        assert not re.fullmatch(CREDIT_CODE_PATTERN, "12510000450716000I")

    def test_patent_and_ipc_patterns(self, documents: dict[str, Document]) -> None:
        schemas = documents["market"]["components"]["schemas"]
        patent = schemas["PatentRef"]["properties"]
        assert re.fullmatch(patent["application_no"]["pattern"], "202110123456.7")
        assert re.fullmatch(_string_branch(patent["publication_no"])["pattern"], "CN218751475U")
        ipc = schemas["AchievementCreate"]["properties"]["ipc_codes"]["items"]["pattern"]
        assert re.fullmatch(ipc, "G06F 16/33")
        assert not re.fullmatch(ipc, "Z99Z")

    @pytest.mark.parametrize(
        "path", ["/achievements", "/demands", "/contracts", "/proposals", "/achievements/{achievement_id}/interest"]
    )
    def test_idempotency_key_pattern(self, documents: dict[str, Document], path: str) -> None:
        schema = _parameter(documents["market"], "post", path, "Idempotency-Key")["schema"]
        assert _string_branch(schema)["pattern"] == r"^[\x21-\x7e]{1,255}$"

    @pytest.mark.parametrize("service", SERVICES)
    def test_every_cursor_has_the_codec_alphabet(self, documents: dict[str, Document], service: str) -> None:
        from shared.pagination import encode_cursor

        cursors = [
            _string_branch(p["schema"])
            for _, _, op in operations(documents[service])
            for p in op.get("parameters", [])
            if p["name"] == "cursor"
        ]
        if service != "search":
            assert cursors
        for schema in cursors:
            assert schema["maxLength"] == 512
            assert schema["pattern"] == "^[A-Za-z0-9_-]+$"
            assert re.fullmatch(schema["pattern"], encode_cursor("2026-01-01T00:00:00+00:00", "ÿ" * 40))

    @pytest.mark.parametrize(
        ("service", "method", "path", "name", "words"),
        [
            ("market", "get", "/stats/cumulative", "until", "not before `since`"),
            ("market", "get", "/stats/contracts", "to", "not before `from`"),
            ("market", "get", "/brokers/{org_id}/institutions", "from", "at most ten years"),
            ("market", "get", "/brokers/{org_id}/performance", "from", "at most ten years"),
            ("search", "get", "/achievements", "trl_min", "at most trl_max"),
        ],
    )
    def test_cross_field_rules_of_parameters_are_described(
        self, documents: dict[str, Document], service: str, method: str, path: str, name: str, words: str
    ) -> None:
        assert words in _parameter(documents[service], method, path, name)["description"]

    def test_cross_field_rules_of_bodies_are_described(self, documents: dict[str, Document]) -> None:
        schemas = documents["market"]["components"]["schemas"]
        assert "at least one of them" in schemas["Contact"]["description"]
        assert "negotiable (min_fen and max_fen empty)" in schemas["Money"]["description"]
        assert (
            "at most the contract amount"
            in schemas["ContractCreate"]["properties"]["technology_amount_fen"]["description"]
        )


class TestOperationIds:
    @pytest.mark.parametrize("service", SERVICES)
    def test_unique_and_readable(self, documents: dict[str, Document], service: str) -> None:
        ids = [op["operationId"] for _, _, op in operations(documents[service])]
        assert len(ids) == len(set(ids))
        for name in ids:
            assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name), name
            assert not name.endswith(("_get", "_post", "_patch", "_delete")), name

    def test_known_names(self, documents: dict[str, Document]) -> None:
        market = documents["market"]
        assert operation(market, "post", "/achievements/{listing_id}/publish")["operationId"] == "publish_achievement"
        assert operation(market, "get", "/achievements")["operationId"] == "list_achievements"
        auth = documents["auth"]
        assert operation(auth, "post", "/token")["operationId"] == "issue_token"
        assert operation(auth, "post", "/organizations/{organization_id}/verify")["operationId"] == (
            "verify_organization"
        )


class TestDescriptions:
    @pytest.mark.parametrize("service", SERVICES)
    def test_every_field_and_parameter_is_described(self, documents: dict[str, Document], service: str) -> None:
        doc = documents[service]
        missing = []
        for name, schema in doc["components"]["schemas"].items():
            missing += [where for where, prop in each_property(schema, name) if not prop.get("description")]
        for path, method, op in operations(doc):
            missing += [f"{method} {path} {p['name']}" for p in op.get("parameters", []) if not p.get("description")]
            for media in op.get("requestBody", {}).get("content", {}).values():
                missing += [
                    where
                    for where, prop in each_property(media.get("schema", {}), f"{path} body")
                    if not prop.get("description")
                ]
        assert missing == []


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


class TestInteractiveDocs:
    @pytest.mark.parametrize("service", SERVICES)
    async def test_docs_load_no_cdn(self, stack: Stack, service: str) -> None:
        for page in ("docs", "redoc"):
            response = await stack.client.get(f"/{service}/{page}")
            assert response.status_code == 200
            assert not re.search(r"https?://", response.text), page
            parser = _Assets()
            parser.feed(response.text)
            assert parser.urls, page
            for url in parser.urls:
                assert url.startswith(f"/{service}/"), url
                asset = await stack.client.get(url)
                assert asset.status_code == 200, url
                assert asset.content
            assert f"/{service}/openapi.json" in response.text

    async def test_oauth2_redirect_page(self, stack: Stack) -> None:
        response = await stack.client.get("/market/docs/oauth2-redirect")
        assert response.status_code == 200


def test_assets_ship_swagger_ui_5() -> None:
    # Swagger UI 4 cannot render OpenAPI 3.1 documents ("does not specify a valid version field").
    from shared.openapi import DOCS_ASSETS

    bundle = Path(DOCS_ASSETS, "swagger-ui-bundle.js").read_text(encoding="utf-8", errors="replace")
    assert "isOAS31" in bundle


class Thing(BaseModel):
    technical_field: str | None = None


kernel_router = APIRouter()


@kernel_router.get("/open")
async def open_thing() -> Thing:
    return Thing()


@kernel_router.get("/maybe")
async def maybe_thing(principal: OptionalPrincipal) -> Thing:
    return Thing()


@kernel_router.post("/mine", responses=problem_responses(409), openapi_extra=response_headers(409, "Retry-After"))
async def make_thing(principal: CurrentPrincipal, thing: Thing) -> Thing:
    return thing


@kernel_router.patch("/mine", responses=problem_responses(412, 428))
async def change_thing(
    principal: Annotated[Principal, Depends(require_roles("org_admin"))], if_match: IfMatchHeader = None
) -> Thing:
    return Thing()


@kernel_router.post("/feed")
async def feed_thing(principal: Annotated[Principal, Depends(require_scopes("x:feed"))]) -> None:
    return None


class TestKernel:
    """shared/openapi.py on a small app of its own: the rules do not depend on the services' routers."""

    @staticmethod
    def document() -> Document:
        app = FastAPI(generate_unique_id_function=operation_id)
        app.include_router(kernel_router)
        schema = get_openapi(title="t", version="1", routes=app.routes)
        return finalize_openapi(schema, app)

    def test_security_follows_the_dependencies(self) -> None:
        doc = self.document()
        assert doc["paths"]["/open"]["get"]["security"] == []
        assert doc["paths"]["/maybe"]["get"]["security"] == [{}, {"OAuth2": []}]
        assert doc["paths"]["/mine"]["post"]["security"] == [{"OAuth2": []}]
        assert doc["paths"]["/mine"]["patch"]["security"] == [{"OAuth2": []}]
        assert doc["paths"]["/feed"]["post"]["security"] == [{"OAuth2": ["x:feed"]}]
        assert doc["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"]["scopes"].keys() == {
            "x:feed"
        }

    def test_errors_headers_and_ids(self) -> None:
        doc = self.document()
        make = doc["paths"]["/mine"]["post"]
        assert make["operationId"] == "make_thing"
        assert make["responses"]["409"]["content"] == PROBLEM
        assert make["responses"]["409"]["headers"]["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}
        assert make["responses"]["422"]["content"] == PROBLEM
        assert "400" in make["responses"]
        change = doc["paths"]["/mine"]["patch"]
        assert next(p for p in change["parameters"] if p["name"] == "If-Match")["required"] is True
        assert "ETag" in change["responses"]["200"]["headers"]
        thing = doc["components"]["schemas"]["Thing"]["properties"]["technical_field"]
        assert thing["anyOf"] == [{"$ref": "#/components/schemas/TechnicalField"}, {"type": "null"}]
        assert thing["description"]

    def test_unknown_header_names_are_refused(self) -> None:
        with pytest.raises(ValueError, match="X-Nope"):
            response_headers(200, "X-Nope")
