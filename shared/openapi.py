"""Post-process a service's generated OpenAPI document so that it describes what the server really does.

FastAPI's generator knows the routes' parameters and models but not the project's conventions, so one pass here
applies them to every operation of every service, instead of repeating them in each router:

    errors       every 4xx/5xx answer is ``Problem`` (application/problem+json); FastAPI's HTTPValidationError
                 is gone; 400 (malformed JSON) on every operation with a JSON body. A response a route declares
                 with its own model (the token endpoint's RFC 6749 ``OAuthError``) is kept.
    security     derived from each route's dependencies: a required principal → ``[{"OAuth2": [scopes]}]``, an
                 optional one → ``[{}, {"OAuth2": []}]``, none → ``[]``; one OAuth2 scheme (password and
                 client_credentials flows, token URL /auth/token).
    headers      If-Match is required where the server answers 428 without it; ETag, Location, Retry-After,
                 Idempotent-Replayed declared on the answers that carry them (rules in ``_declare_headers``).
    models       every ``technical_field`` is the one ``TechnicalField`` enum component; fields and parameters
                 without a description take the vocabulary's (shared/openapi_vocabulary.py).
    examples     request-body examples per operation id, given by the service (taken from the README).

``finalize_openapi`` is called once per app by shared/service.py; ``operation_id`` names operations after their
route functions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import fastapi.routing
import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from shared.errors import PROBLEM_CONTENT_TYPE, STATUS_DESCRIPTIONS
from shared.openapi_vocabulary import FIELD_DESCRIPTIONS
from shared.reference.technical_fields import technical_fields
from shared.security import principal_requirement

__all__ = [
    "OAUTH_ERROR_SCHEMA",
    "PROBLEM_SCHEMA",
    "TOKEN_URL",
    "finalize_openapi",
    "install_docs",
    "operation_id",
    "response_headers",
]

PROBLEM_REF = "#/components/schemas/Problem"
SECURITY_SCHEME = "OAuth2"
# Absolute path: resolved against the server's origin, it is the auth service's token endpoint behind the gateway
# (embedded default and production alike), whichever service's document it appears in.
TOKEN_URL = "/auth/token"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. `errors` lists field errors on 422 (field is a dotted path).",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {
            "type": "string",
            "description": "A URN naming the kind of problem; stable, safe to branch on.",
            "example": "urn:techmarket:problem:validation-failed",
        },
        "title": {"type": "string", "description": "A short human-readable summary of the kind of problem."},
        "status": {"type": "integer", "description": "The HTTP status code of this answer."},
        "detail": {"type": "string", "description": "What went wrong in this occurrence, for a person to read."},
        "instance": {"type": "string", "description": "The path of the request that failed."},
        "request_id": {
            "type": "string",
            "description": "The request id (X-Request-ID) to quote when asking the operators about this answer.",
        },
        "errors": {
            "type": "array",
            "description": "One entry per rejected field or header (422, and 412/428 for If-Match).",
            "items": {
                "type": "object",
                "properties": {
                    "field": {
                        "type": "string",
                        "description": "Dotted path of the field, or the parameter or header name.",
                        "example": "organization.credit_code",
                    },
                    "in": {
                        "type": "string",
                        "description": "Where the field is: body, query, path or header.",
                        "example": "body",
                    },
                    "message": {"type": "string", "description": "Why the value was refused."},
                    "type": {"type": "string", "description": "A machine-readable code of the error."},
                },
            },
        },
    },
    "additionalProperties": True,
}

OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "title": "OAuthError",
    "description": "An RFC 6749 §5.2 error answer of the token endpoint (not problem+json).",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "string",
            "description": "The RFC 6749 error code.",
            "enum": [
                "invalid_request",
                "invalid_client",
                "invalid_grant",
                "unauthorized_client",
                "unsupported_grant_type",
                "invalid_scope",
            ],
        },
        "error_description": {
            "type": ["string", "null"],
            "description": "What went wrong, for a person to read.",
        },
    },
}

_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The strong entity tag of the version returned, e.g. "v3"; send it back in If-Match.',
        "schema": {"type": "string", "example": '"v3"'},
    },
    "Location": {
        "description": "The path of the created resource.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this answer is the stored answer of an earlier request with the same "
        "Idempotency-Key (nothing was done again).",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

_MALFORMED = "Malformed request: the body is not valid JSON (or not of the declared media type)"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


# Swagger UI 5 and ReDoc 2, as shipped inside the fastapi-offline wheel (only its files are used).
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_PATH = "/docs-assets"


def install_docs(app: FastAPI) -> None:
    """Serve /docs (Swagger UI) and /redoc from the project's own assets: they work offline, load no CDN."""
    app.mount(DOCS_ASSETS_PATH, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    redirect = "/docs/oauth2-redirect"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=f"{root}{redirect}",
            # The default validator badge calls validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def oauth2_redirect(_: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route(redirect, oauth2_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


def response_headers(status: int, *names: str) -> dict[str, Any]:
    """``openapi_extra`` declaring response headers the rules of ``finalize_openapi`` cannot derive.

    E.g. ``openapi_extra=response_headers(409, "Retry-After")`` on an operation whose 409 says when to retry;
    ``names`` are keys of ``components/headers`` (ETag, Location, Retry-After, Idempotent-Replayed).
    """
    unknown = set(names) - set(_HEADERS)
    if unknown:
        raise ValueError(f"undeclared response headers: {sorted(unknown)}")
    return {"responses": {str(status): {"headers": {name: _header_ref(name) for name in names}}}}


def operation_id(route: APIRoute) -> str:
    """The operation id of a route: its function's name (``publish_achievement``), unique per service."""
    return route.name


def finalize_openapi(
    schema: dict[str, Any],
    app: FastAPI,
    *,
    request_examples: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return ``schema`` (FastAPI's generated document of ``app``) rewritten to the project's conventions."""
    doc = copy.deepcopy(schema)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    routes = {(route.path_format, method.lower()): route for route in _api_routes(app) for method in route.methods}
    scopes_seen: set[str] = set()
    uses_oauth_error = False
    for _, _, operation in _operations(doc):
        uses_oauth_error |= _problem_errors(operation)
    versioned = _versioned_schemas(doc)
    for path, method, operation in _operations(doc):
        route = routes.get((path, method))
        if route is not None:
            operation["security"] = _security(route.dependant, scopes_seen)
            if operation["security"]:
                # A token that is sent is verified, even where it is optional: a bad one answers 401, and one that
                # cannot be checked (auth's signing keys out of reach) 503 auth-unavailable with Retry-After.
                for status in (401, 503):
                    operation["responses"].setdefault(str(status), _problem(status))
                operation["responses"] = dict(sorted(operation["responses"].items()))
        _declare_headers(operation, versioned)
        examples = (request_examples or {}).get(operation.get("operationId", ""))
        if examples:
            _attach_examples(operation, examples)
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    if uses_oauth_error:
        schemas.pop("OAuthErrorBody", None)
        schemas["OAuthError"] = copy.deepcopy(OAUTH_ERROR_SCHEMA)
        _replace_refs(doc, "#/components/schemas/OAuthErrorBody", "#/components/schemas/OAuthError")
    components["securitySchemes"] = _security_schemes(scopes_seen)
    components["headers"] = copy.deepcopy(_HEADERS)
    _technical_field(doc)
    _describe(doc)
    return doc


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """The API routes of ``app`` as the OpenAPI generator sees them (path_format, methods, dependant)."""
    # FastAPI ≥ 0.16x keeps included routers as a tree of route contexts; older ones list APIRoutes.
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    candidates: Iterable[Any] = iter_contexts(app.routes) if iter_contexts is not None else app.routes
    for route in candidates:
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute) and route.include_in_schema:
            yield route


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}:
                yield path, method, operation


def _problem_errors(operation: dict[str, Any]) -> bool:
    """Make every error answer a Problem; returns whether the operation keeps an OAuth error body."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if _has_json_body(operation) and "400" not in responses:
        responses["400"] = {"description": _MALFORMED}
    if "requestBody" in operation and "413" not in responses:
        responses["413"] = {"description": STATUS_DESCRIPTIONS[413]}  # shared.middleware.BodyLimitMiddleware, any body
    oauth = False
    for code, response in list(responses.items()):
        if code[:1] not in {"4", "5"}:
            continue
        refs = [
            media.get("schema", {}).get("$ref", "")
            for media in response.get("content", {}).values()
            if isinstance(media, dict)
        ]
        if any(ref.endswith("/OAuthErrorBody") or ref.endswith("/OAuthError") for ref in refs):
            oauth = True
            continue  # RFC 6749 §5.2 body, declared by the route itself
        if response.get("description") in {None, "", "Validation Error"}:
            response["description"] = STATUS_DESCRIPTIONS.get(int(code), "Error")
        response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    operation["responses"] = dict(sorted(responses.items()))
    return oauth


def _problem(status: int) -> dict[str, Any]:
    return {
        "description": STATUS_DESCRIPTIONS.get(status, "Error"),
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
    }


def _has_json_body(operation: dict[str, Any]) -> bool:
    content = operation.get("requestBody", {}).get("content", {})
    return any(media == "application/json" or media.endswith("+json") for media in content)


def _security(dependant: Dependant, scopes_seen: set[str]) -> list[dict[str, list[str]]]:
    required, optional, scopes = False, False, set[str]()
    for call in _calls(dependant):
        requirement = principal_requirement(call)
        if requirement is None:
            continue
        kind, needed = requirement
        required |= kind == "required"
        optional |= kind == "optional"
        scopes |= needed
    scopes_seen |= scopes
    if required:
        return [{SECURITY_SCHEME: sorted(scopes)}]
    if optional:
        return [{}, {SECURITY_SCHEME: []}]
    return []


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _security_schemes(scopes: Iterable[str]) -> dict[str, Any]:
    scope_map = {scope: f"The `{scope}` scope of a service client." for scope in sorted(scopes)}
    return {
        SECURITY_SCHEME: {
            "type": "oauth2",
            "description": "Bearer access tokens (ES256 JWT, 15 minutes) from POST /auth/token: users with the "
            "password grant, service clients with client_credentials. Send `Authorization: Bearer <token>`.",
            "flows": {
                "password": {"tokenUrl": TOKEN_URL, "refreshUrl": TOKEN_URL, "scopes": {}},
                "clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": scope_map},
            },
        }
    }


def _header_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _declare_headers(operation: dict[str, Any], versioned: set[str]) -> None:
    """Declare request and response headers by the rules the server's code follows.

    - If-Match is required exactly where the operation answers 428 (shared.concurrency.require_if_match).
    - ETag: entities with a version (those some operation takes If-Match for) carry it on every success answer
      whose body is that entity, whichever operation returns it (read, write, transition, creation).
    - Location and ETag on 201 of operations taking Idempotency-Key (market's StoredResponse); every success
      of those may be a replay (Idempotent-Replayed).
    - Retry-After on every 429 and 503.
    """
    responses: dict[str, Any] = operation.get("responses", {})
    parameters = operation.get("parameters", [])
    names = {p.get("name") for p in parameters}
    for parameter in parameters:
        if parameter.get("name") == "If-Match" and "428" in responses:
            parameter["required"] = True
    for code, response in responses.items():
        headers: dict[str, Any] = {}
        if code.startswith("2"):
            refs = {m.get("schema", {}).get("$ref") for m in response.get("content", {}).values()}
            if "If-Match" in names or refs & versioned:
                headers["ETag"] = _header_ref("ETag")
            if "Idempotency-Key" in names:
                headers["Idempotent-Replayed"] = _header_ref("Idempotent-Replayed")
                if code == "201":
                    headers["Location"] = _header_ref("Location")
        if code in {"429", "503"}:
            headers["Retry-After"] = _header_ref("Retry-After")
        if headers:
            response.setdefault("headers", {}).update(headers)


def _versioned_schemas(doc: dict[str, Any]) -> set[str]:
    """Schemas of entities read with an ETag: the 200 body of a GET on a path whose writes take If-Match."""
    guarded = [
        path
        for path, method, operation in _operations(doc)
        if method != "get" and any(p.get("name") == "If-Match" for p in operation.get("parameters", []))
    ]
    versioned: set[str] = set()
    for path, method, operation in _operations(doc):
        if method != "get" or not path.endswith("}"):
            continue
        if any(g == path or g.startswith(path + "/") for g in guarded):
            content = operation.get("responses", {}).get("200", {}).get("content", {})
            versioned |= {m.get("schema", {}).get("$ref") for m in content.values()} - {None}
    return versioned


def _attach_examples(operation: dict[str, Any], examples: Mapping[str, Any]) -> None:
    content = operation.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    if media is not None:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}


def _replace_refs(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and value == old:
                node[key] = new
            else:
                _replace_refs(value, old, new)
    elif isinstance(node, list):
        for item in node:
            _replace_refs(item, old, new)


def _technical_field(doc: dict[str, Any]) -> None:
    """One ``TechnicalField`` component for every ``technical_field`` property and parameter."""
    codes = [field.code for field in technical_fields()]
    labels = "; ".join(f"{field.code} {field.label_zh}" for field in technical_fields())
    component = {
        "title": "TechnicalField",
        "type": "string",
        "enum": codes,
        "description": f"One of the 11 technical fields of contract statistics (技术领域): {labels}.",
    }
    ref = {"$ref": "#/components/schemas/TechnicalField"}
    used = False
    for schema in doc.get("components", {}).get("schemas", {}).values():
        prop = schema.get("properties", {}).get("technical_field")
        if prop is not None:
            schema["properties"]["technical_field"] = _with_ref(prop, ref)
            used = True
    for _, _, operation in _operations(doc):
        for parameter in operation.get("parameters", []):
            if parameter.get("name") == "technical_field":
                parameter["schema"] = _with_ref(parameter.get("schema", {}), ref)
                used = True
    if used:
        doc["components"]["schemas"]["TechnicalField"] = component


def _with_ref(schema: dict[str, Any], ref: dict[str, str]) -> dict[str, Any]:
    """``schema`` with its string type replaced by ``ref``, keeping nullability, title and description."""
    kept = {k: v for k, v in schema.items() if k in {"title", "description", "default"}}
    variants = schema.get("anyOf")
    if variants is not None and any(v.get("type") == "null" for v in variants):
        return {**kept, "anyOf": [ref, {"type": "null"}]}
    return {**kept, **ref}


def _describe(doc: dict[str, Any]) -> None:
    """Fill missing descriptions of schema properties and parameters from the shared vocabulary."""
    for schema in doc.get("components", {}).get("schemas", {}).values():
        _describe_properties(schema)
    for _, _, operation in _operations(doc):
        for parameter in operation.get("parameters", []):
            if not parameter.get("description"):
                text = FIELD_DESCRIPTIONS.get(parameter.get("name", ""))
                if text:
                    parameter["description"] = text
        for media in operation.get("requestBody", {}).get("content", {}).values():
            _describe_properties(media.get("schema", {}))


def _describe_properties(schema: dict[str, Any]) -> None:
    for name, prop in schema.get("properties", {}).items():
        if not isinstance(prop, dict):
            continue
        if not prop.get("description"):
            text = FIELD_DESCRIPTIONS.get(name)
            if text:
                prop["description"] = text
        _describe_properties(prop)
        items = prop.get("items")
        if isinstance(items, dict):
            _describe_properties(items)
