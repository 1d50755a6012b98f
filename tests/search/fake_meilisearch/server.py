"""FakeMeilisearch: an in-memory model of the Meilisearch v1.50.0 HTTP API, served through ``httpx.MockTransport``.

It is a fake, not a server: no Meilisearch runs here. What it models, from the server's source at v1.50.0:

- Routes the adapter uses: ``/health``, ``/version``, ``/indexes`` (list, create, get, delete),
  ``/indexes/{uid}/settings`` (PATCH, GET), ``/indexes/{uid}/documents`` (add, ``delete-batch``, ``delete`` by
  filter, ``fetch``, GET), ``/indexes/{uid}/search``, ``/swap-indexes``, ``/tasks/{uid}``.
- Authentication: ``Authorization: Bearer <master key>``; missing → 401 ``missing_authorization_header``, wrong →
  403 ``invalid_api_key``; ``/health`` is public.
- Request validation when the request is received (400 with the server's codes): settings
  (settings.py), search bodies (unknown fields, types, ``matchingStrategy``, sort, filters, facets, hybrid),
  document fetch bodies, delete-by-filter syntax, index uids, swap bodies.
- The task queue (index-scheduler): every write answers 202 ``enqueued`` with a task uid; tasks run one at a time
  in enqueue order, ``enqueued → processing → succeeded | failed | canceled``; failures are reported on the task
  (``index_not_found``, ``index_already_exists``, ``missing_document_id``, ``invalid_document_id``,
  ``vector_embedding_error``, ``invalid_document_filter``, ...). Settings and document additions create a missing
  index, as the server does. A task advances when it is polled (tasks enqueued before it finish first), so a
  client that does not wait sees stale data; :meth:`FakeMeilisearch.pause` stops that and :meth:`step` /
  :meth:`process` run tasks explicitly (for interleaving tests).
- Search semantics: index.py. Tokenization: tokenize.py.

Not modelled: batches (``/batches``) and autobatching, task filtering routes, API keys other than the master key,
tenant tokens, multi-search and federation, facet search, similar documents, dumps, snapshots, experimental
features, ``PUT`` partial document updates, CSV/NDJSON payloads, payload size limits, the search cutoff.
Faults can be injected: :meth:`inject` answers the next requests with an HTTP status or raises a transport error;
:meth:`fail_next_task` fails the next task of a type; :meth:`cancel` cancels an enqueued task.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.search.fake_meilisearch import filters, settings
from tests.search.fake_meilisearch.errors import ApiError, kind_of
from tests.search.fake_meilisearch.index import Index, Searcher, SearchRequest

__all__ = ["FakeMeilisearch"]

VERSION = "1.50.0"
_INDEX_UID = re.compile(r"[A-Za-z0-9_-]{1,400}")
_DOCUMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,511}")
_SEARCH_FIELDS = [
    "q",
    "offset",
    "limit",
    "page",
    "hitsPerPage",
    "attributesToRetrieve",
    "retrieveVectors",
    "attributesToCrop",
    "cropLength",
    "cropMarker",
    "attributesToHighlight",
    "showMatchesPosition",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
    "highlightPreTag",
    "highlightPostTag",
    "filter",
    "sort",
    "distinct",
    "facets",
    "matchingStrategy",
    "attributesToSearchOn",
    "rankingScoreThreshold",
    "locales",
    "hybrid",
    "vector",
    "media",
    "personalize",
    "useNetwork",
]
_FETCH_FIELDS = ["offset", "limit", "fields", "retrieveVectors", "ids", "filter", "sort"]


@dataclass
class _Fault:
    status: int | None
    exception: type[Exception] | None
    method: str | None
    path: str | None
    times: int


@dataclass
class _Pending:
    run: Callable[[], dict[str, Any] | None]


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _type_error(code: str, location: str, expected: str, value: Any) -> ApiError:
    found = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return ApiError(
        400, code, f"Invalid value type at `{location}`: expected {expected}, but found {kind_of(value)}: `{found}`"
    )


def _unknown_field(code: str, key: str, accepted: list[str]) -> ApiError:
    return ApiError(400, code, f"Unknown field `{key}`: expected one of {', '.join(f'`{a}`' for a in accepted)}")


class FakeMeilisearch:
    """The whole fake server: indexes by uid, the task queue, recorded requests and injected faults."""

    def __init__(self, master_key: str | None = "fake-master-key") -> None:
        self.master_key = master_key
        self.api_key = master_key  # what a client should send
        self.indexes: dict[str, Index] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self._queue: list[int] = []
        self._pending: dict[int, _Pending] = {}
        self._faults: list[_Fault] = []
        self._task_failures: list[tuple[str, ApiError]] = []
        self._enqueued = asyncio.Event()
        self.paused = False

    # -- test controls --------------------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """The transport to give an ``httpx.AsyncClient`` in place of the network."""
        return httpx.MockTransport(self.handle)

    def pause(self) -> None:
        """Stop running tasks on polls; :meth:`step` and :meth:`process` run them."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def step(self) -> int | None:
        """Run the next queued task to its end; its uid, or None when the queue is empty."""
        if not self._queue:
            return None
        uid = self._queue[0]
        self._finish(uid)
        return uid

    def process(self) -> None:
        """Run every queued task."""
        while self._queue:
            self._finish(self._queue[0])

    async def until_queued(self, count: int) -> None:
        """Wait until at least ``count`` tasks are queued (clients running concurrently enqueue them)."""
        while len(self._queue) < count:
            self._enqueued.clear()
            await self._enqueued.wait()

    def queued(self) -> list[dict[str, Any]]:
        """The tasks not finished yet, in order."""
        return [self.tasks[uid] for uid in self._queue]

    def inject(
        self,
        *,
        status: int | None = None,
        exception: type[Exception] | None = None,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (a server error body) or raise
        ``exception`` (an httpx transport error) instead of handling them."""
        self._faults.append(_Fault(status, exception, method, path, times))

    def fail_next_task(self, task_type: str, code: str = "internal", message: str = "injected failure") -> None:
        """The next task of ``task_type`` fails with ``code`` when it is processed."""
        self._task_failures.append((task_type, ApiError(500 if code == "internal" else 400, code, message)))

    def cancel(self, uid: int) -> None:
        """Cancel an enqueued task (as ``POST /tasks/cancel?uids=`` would)."""
        task = self.tasks[uid]
        if task["status"] in ("enqueued", "processing"):
            task.update(status="canceled", canceledBy=max(self.tasks) + 1, finishedAt=_now(), duration="PT0S")
            self._queue.remove(uid)
            self._pending.pop(uid, None)

    def calls(self, method: str | None = None, path_suffix: str | None = None) -> list[tuple[str, str, Any]]:
        """Recorded requests (method, path, decoded body), filtered."""
        return [
            call
            for call in self.requests
            if (method is None or call[0] == method) and (path_suffix is None or call[1].endswith(path_suffix))
        ]

    def documents(self, uid: str) -> list[dict[str, Any]]:
        """The stored documents of an index, in internal id order."""
        return [copy.deepcopy(doc.body) for doc in self.indexes[uid].ordered()]

    # -- tasks ----------------------------------------------------------------------------------------------

    def _enqueue(
        self,
        task_type: str,
        index_uid: str | None,
        run: Callable[[], dict[str, Any] | None],
        details: dict[str, Any] | None = None,
    ) -> httpx.Response:
        uid = len(self.tasks)
        enqueued_at = _now()
        self.tasks[uid] = {
            "uid": uid,
            "batchUid": None,
            "indexUid": index_uid,
            "status": "enqueued",
            "type": task_type,
            "canceledBy": None,
            "details": details,
            "error": None,
            "duration": None,
            "enqueuedAt": enqueued_at,
            "startedAt": None,
            "finishedAt": None,
        }
        self._queue.append(uid)
        self._pending[uid] = _Pending(run)
        self._enqueued.set()
        body = {
            "taskUid": uid,
            "indexUid": index_uid,
            "status": "enqueued",
            "type": task_type,
            "enqueuedAt": enqueued_at,
        }
        return httpx.Response(202, json=body)

    def _finish(self, uid: int) -> None:
        task = self.tasks[uid]
        pending = self._pending.pop(uid)
        self._queue.remove(uid)
        task.update(status="processing", startedAt=task["startedAt"] or _now(), batchUid=uid)
        failure = next((f for f in self._task_failures if f[0] == task["type"]), None)
        try:
            if failure is not None:
                self._task_failures.remove(failure)
                raise failure[1]
            details = pending.run()
        except ApiError as exc:
            task.update(status="failed", error=exc.body())
        else:
            task["status"] = "succeeded"
            if details is not None:
                task["details"] = details
        task.update(finishedAt=_now(), duration="PT0.001S")

    def _advance(self, uid: int) -> None:
        """A poll of ``uid``: tasks before it finish; it moves one step (enqueued → processing → done)."""
        if self.paused or uid not in self._queue:
            return
        while self._queue[0] != uid:
            self._finish(self._queue[0])
        task = self.tasks[uid]
        if task["status"] == "enqueued":
            task.update(status="processing", startedAt=_now(), batchUid=uid)
        else:
            self._finish(uid)

    # -- HTTP -----------------------------------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        try:
            body = json.loads(request.content) if request.content else None
        except ValueError:
            body = ValueError
        self.requests.append((request.method, path, None if body is ValueError else body))
        for fault in self._faults:
            if (fault.method in (None, request.method)) and (fault.path is None or path.endswith(fault.path)):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                if fault.exception is not None:
                    raise fault.exception("injected fault", request=request)
                status = fault.status or 503
                return httpx.Response(status, json=ApiError(status, "internal", "injected fault").body())
        try:
            if body is ValueError:
                raise ApiError(
                    400, "bad_request", "The json payload provided is malformed. `expected value at line 1 column 1`."
                )
            if path == "/health":
                return httpx.Response(200, json={"status": "available"})
            self._authenticate(request)
            return self._route(request.method, [p for p in path.split("/") if p], body, dict(request.url.params))
        except ApiError as exc:
            return httpx.Response(exc.status, json=exc.body())

    def _authenticate(self, request: httpx.Request) -> None:
        if self.master_key is None:
            return
        header = request.headers.get("authorization")
        if not header:
            raise ApiError(
                401,
                "missing_authorization_header",
                "The Authorization header is missing. It must use the bearer authorization method.",
            )
        if header != f"Bearer {self.master_key}":
            raise ApiError(403, "invalid_api_key", "The provided API key is invalid.")

    def _index(self, uid: str) -> Index:
        index = self.indexes.get(uid)
        if index is None:
            raise ApiError(404, "index_not_found", f"Index `{uid}` not found.")
        return index

    @staticmethod
    def _info(index: Index) -> dict[str, Any]:
        return {
            "uid": index.uid,
            "createdAt": index.created_at,
            "updatedAt": index.updated_at,
            "primaryKey": index.primary_key,
        }

    def _route(self, method: str, parts: list[str], body: Any, params: dict[str, str]) -> httpx.Response:
        match (method, parts):
            case ("GET", ["version"]):
                return httpx.Response(200, json={"commitSha": "fake", "commitDate": "fake", "pkgVersion": VERSION})
            case ("GET", ["tasks", uid]):
                if not uid.isdigit() or int(uid) not in self.tasks:
                    raise ApiError(404, "task_not_found", f"Task `{uid}` not found.")
                self._advance(int(uid))
                return httpx.Response(200, json=self.tasks[int(uid)])
            case ("GET", ["indexes"]):
                offset, limit = int(params.get("offset", 0)), int(params.get("limit", 20))
                listed = [self._info(self.indexes[uid]) for uid in sorted(self.indexes)]
                return httpx.Response(
                    200,
                    json={
                        "results": listed[offset : offset + limit],
                        "offset": offset,
                        "limit": limit,
                        "total": len(listed),
                    },
                )
            case ("POST", ["indexes"]):
                return self._create_index(body)
            case ("GET", ["indexes", uid]):
                return httpx.Response(200, json=self._info(self._index(uid)))
            case ("DELETE", ["indexes", uid]):
                return self._enqueue("indexDeletion", uid, lambda: self._delete_index(uid), {"deletedDocuments": None})
            case ("GET", ["indexes", uid, "settings"]):
                return httpx.Response(200, json=self._index(uid).settings)
            case ("PATCH", ["indexes", uid, "settings"]):
                update = settings.validate(body)
                return self._enqueue("settingsUpdate", uid, lambda: self._apply_settings(uid, update), update)
            case ("POST", ["indexes", uid, "documents"]):
                return self._add_documents(uid, body, params.get("primaryKey"))
            case ("POST", ["indexes", uid, "documents", "delete-batch"]):
                if not isinstance(body, list):
                    raise _type_error("bad_request", "", "an array", body)
                ids = [str(i) for i in body]
                return self._enqueue(
                    "documentDeletion",
                    uid,
                    lambda: self._delete_ids(uid, ids),
                    {"providedIds": len(ids), "deletedDocuments": None, "originalFilter": None},
                )
            case ("POST", ["indexes", uid, "documents", "delete"]):
                return self._delete_by_filter(uid, body)
            case ("POST", ["indexes", uid, "documents", "fetch"]):
                return self._fetch(uid, body or {})
            case ("GET", ["indexes", uid, "documents"]):
                query = {
                    k: int(v) if k in ("offset", "limit") else v.split(",") if k == "fields" else v
                    for k, v in params.items()
                }
                return self._fetch(uid, query)
            case ("POST", ["indexes", uid, "search"]):
                return httpx.Response(200, json=self._search(uid, body or {}))
            case ("POST", ["swap-indexes"]):
                return self._swap(body)
        raise ApiError(404, "not_found", f"FakeMeilisearch has no route {method} /{'/'.join(parts)}")

    # -- indexes --------------------------------------------------------------------------------------------

    def _check_uid(self, uid: Any) -> str:
        if not isinstance(uid, str) or not _INDEX_UID.fullmatch(uid):
            raise ApiError(
                400,
                "invalid_index_uid",
                f"`{uid}` is not a valid index uid. Index uid can be an integer or a string containing only "
                "alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes.",
            )
        return uid

    def _create_index(self, body: Any) -> httpx.Response:
        if not isinstance(body, dict):
            raise _type_error("bad_request", "", "an object", body)
        for key in body:
            if key not in ("uid", "primaryKey"):
                raise _unknown_field("bad_request", key, ["uid", "primaryKey"])
        if "uid" not in body:
            raise ApiError(400, "missing_index_uid", "Missing field `uid`")
        uid = self._check_uid(body["uid"])
        primary_key = body.get("primaryKey")

        def run() -> dict[str, Any]:
            if uid in self.indexes:
                raise ApiError(409, "index_already_exists", f"Index `{uid}` already exists.")
            self.indexes[uid] = Index(uid, primary_key, _now())
            return {"primaryKey": primary_key}

        return self._enqueue("indexCreation", uid, run, {"primaryKey": primary_key})

    def _delete_index(self, uid: str) -> dict[str, Any]:
        index = self._index(uid)
        del self.indexes[uid]
        return {"deletedDocuments": len(index.docs)}

    def _implicit(self, uid: str) -> Index:
        if uid not in self.indexes:
            self.indexes[uid] = Index(uid, None, _now())
        return self.indexes[uid]

    def _apply_settings(self, uid: str, update: dict[str, Any]) -> dict[str, Any]:
        index = self._implicit(uid)
        index.settings = settings.merge(index.settings, update)
        index.reanalyse()
        index.updated_at = _now()
        return update

    def _swap(self, body: Any) -> httpx.Response:
        if not isinstance(body, list):
            raise _type_error("bad_request", "", "an array", body)
        pairs: list[tuple[str, str]] = []
        for position, item in enumerate(body):
            if not isinstance(item, dict):
                raise _type_error("invalid_swap_indexes", f"[{position}]", "an object", item)
            for key in item:
                if key not in ("indexes", "rename"):
                    raise _unknown_field("bad_request", key, ["indexes", "rename"])
            names = item.get("indexes")
            if names is None:
                raise ApiError(400, "missing_swap_indexes", f"Missing field `indexes` inside `[{position}]`")
            if not isinstance(names, list) or len(names) != 2:
                shown = json.dumps(names)
                raise ApiError(
                    400,
                    "invalid_swap_indexes",
                    f"Two indexes must be given for each swap. The list `{shown}` contains {len(names) if isinstance(names, list) else 0} indexes.",
                )
            if item.get("rename"):
                raise ApiError(400, "invalid_swap_rename", "FakeMeilisearch does not model `rename: true`.")
            pairs.append((self._check_uid(names[0]), self._check_uid(names[1])))
        seen: list[str] = [uid for pair in pairs for uid in pair]
        duplicates = sorted({uid for uid in seen if seen.count(uid) > 1})
        if duplicates:
            raise ApiError(
                400,
                "invalid_swap_duplicate_index_found",
                f"Indexes must be declared only once during a swap. `{duplicates[0]}` was specified several times.",
            )

        def run() -> dict[str, Any]:
            missing = [uid for uid in dict.fromkeys(seen) if uid not in self.indexes]
            if len(missing) == 1:
                raise ApiError(404, "index_not_found", f"Index `{missing[0]}` not found.")
            if missing:
                raise ApiError(404, "index_not_found", f"Indexes {', '.join(f'`{m}`' for m in missing)} not found.")
            for a, b in pairs:
                self.indexes[a], self.indexes[b] = self.indexes[b], self.indexes[a]
                self.indexes[a].uid, self.indexes[b].uid = a, b
            return {"swaps": body}

        return self._enqueue("indexSwap", None, run, {"swaps": body})

    # -- documents ------------------------------------------------------------------------------------------

    def _add_documents(self, uid: str, body: Any, primary_key: str | None) -> httpx.Response:
        self._check_uid(uid)
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or not all(isinstance(d, dict) for d in body):
            raise ApiError(
                400,
                "malformed_payload",
                "The `json` payload provided is malformed. `Couldn't serialize document value: data are neither an object nor a list of objects`.",
            )
        documents = copy.deepcopy(body)

        def run() -> dict[str, Any]:
            index = self._implicit(uid)
            key = index.primary_key
            if primary_key is not None:
                if key is not None and key != primary_key:
                    raise ApiError(
                        400,
                        "index_primary_key_already_exists",
                        f"Index `{uid}`: Index already has a primary key: `{key}`.",
                    )
                key = primary_key
            if key is None:
                candidates = [k for k in (documents[0] if documents else {}) if k.lower().endswith("id")]
                if not candidates:
                    raise ApiError(
                        400,
                        "index_primary_key_no_candidate_found",
                        "The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.",
                    )
                if len(candidates) > 1:
                    raise ApiError(
                        400,
                        "index_primary_key_multiple_candidates_found",
                        f"The primary key inference failed as the engine found {len(candidates)} fields ending with `id` in their names: '{candidates[0]}' and '{candidates[1]}'. Please specify the primary key manually using the `primaryKey` query parameter.",
                    )
                key = candidates[0]
            prepared = []
            for document in documents:
                if key not in document:
                    shown = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
                    raise ApiError(400, "missing_document_id", f"Document doesn't have a `{key}` attribute: `{shown}`.")
                value = document[key]
                if isinstance(value, bool) or not (
                    (isinstance(value, int) and value >= 0)
                    or (isinstance(value, str) and _DOCUMENT_ID.fullmatch(value))
                ):
                    raise ApiError(
                        400,
                        "invalid_document_id",
                        f"Document identifier `{json.dumps(value, ensure_ascii=False)}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.",
                    )
                self._check_vectors(index, str(value), document)
                prepared.append((str(value), document))
            index.primary_key = key
            for external, document in prepared:
                index.put(external, document)
            index.updated_at = _now()
            return {"receivedDocuments": len(documents), "indexedDocuments": len(documents)}

        return self._enqueue(
            "documentAdditionOrUpdate", uid, run, {"receivedDocuments": len(documents), "indexedDocuments": None}
        )

    @staticmethod
    def _check_vectors(index: Index, external: str, document: dict[str, Any]) -> None:
        vectors = document.get("_vectors")
        for name, config in index.settings["embedders"].items():
            if config.get("source") != "userProvided":
                continue
            if not isinstance(vectors, dict) or name not in vectors:
                raise ApiError(
                    400,
                    "vector_embedding_error",
                    f"Error while generating embeddings: user error: attempt to embed the following text in a "
                    f"configuration where embeddings must be user provided (document `{external}`, embedder `{name}`)",
                )
            embedding = vectors[name]
            if embedding is None:
                continue
            if isinstance(embedding, dict):
                embedding = embedding.get("embeddings")
                if embedding is None:
                    continue
            if not isinstance(embedding, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in embedding
            ):
                raise ApiError(
                    400,
                    "invalid_vectors_type",
                    f"Bad embedder configuration in the document with id: `{external}`. Invalid value type at `._vectors.{name}`",
                )
            if len(embedding) != config["dimensions"]:
                raise ApiError(
                    400,
                    "invalid_vector_dimensions",
                    f"Invalid vector dimensions: expected: `{config['dimensions']}`, found: `{len(embedding)}`.",
                )

    def _delete_ids(self, uid: str, ids: list[str]) -> dict[str, Any]:
        index = self._index(uid)
        deleted = sum(1 for external in ids if index.remove(external))
        return {"providedIds": len(ids), "deletedDocuments": deleted, "originalFilter": None}

    def _delete_by_filter(self, uid: str, body: Any) -> httpx.Response:
        if not isinstance(body, dict):
            raise _type_error("bad_request", "", "an object", body)
        for key in body:
            if key != "filter":
                raise _unknown_field("bad_request", key, ["filter"])
        if "filter" not in body:
            raise ApiError(400, "missing_document_filter", "Missing field `filter`")
        expression = body["filter"]
        try:
            parsed = filters.parse(expression, lambda name: True, [])
        except filters.FilterError as exc:
            raise ApiError(400, "invalid_document_filter", str(exc)) from exc
        if parsed is None:
            raise ApiError(400, "invalid_document_filter", "Sending an empty filter is forbidden.")

        def run() -> dict[str, Any]:
            index = self._index(uid)
            node = index.parse_filter(expression, "invalid_document_filter")
            doomed = [
                external for external, docid in index.external.items() if filters.evaluate(node, index.docs[docid].body)
            ]
            for external in doomed:
                index.remove(external)
            return {"providedIds": 0, "deletedDocuments": len(doomed), "originalFilter": json.dumps(expression)}

        return self._enqueue(
            "documentDeletion",
            uid,
            run,
            {"providedIds": 0, "deletedDocuments": None, "originalFilter": json.dumps(expression)},
        )

    def _fetch(self, uid: str, body: dict[str, Any]) -> httpx.Response:
        for key in body:
            if key not in _FETCH_FIELDS:
                raise _unknown_field("bad_request", key, _FETCH_FIELDS)
        index = self._index(uid)
        offset, limit = body.get("offset", 0), body.get("limit", 20)
        for name, value in (("offset", offset), ("limit", limit)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _type_error(f"invalid_document_{name}", f".{name}", "a positive integer", value)
        fields = body.get("fields")
        node = index.parse_filter(body.get("filter"), "invalid_document_filter")
        ids = body.get("ids")
        selected = [
            doc
            for doc in index.ordered()
            if filters.evaluate(node, doc.body)
            and (ids is None or str(doc.body.get(index.primary_key or "")) in map(str, ids))
        ]
        results = []
        for doc in selected[offset : offset + limit]:
            shown = {k: v for k, v in doc.body.items() if k != "_vectors" or body.get("retrieveVectors")}
            if fields is not None and "*" not in fields:
                shown = {k: v for k, v in shown.items() if k in fields}
            results.append(copy.deepcopy(shown))
        return httpx.Response(200, json={"results": results, "offset": offset, "limit": limit, "total": len(selected)})

    # -- search ---------------------------------------------------------------------------------------------

    def _search(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _type_error("bad_request", "", "an object", body)
        for key in body:
            if key not in _SEARCH_FIELDS:
                raise _unknown_field("bad_request", key, _SEARCH_FIELDS)
        index = self._index(uid)
        q = body.get("q")
        if q is not None and not isinstance(q, str):
            raise _type_error("invalid_search_q", ".q", "a string", q)
        for name, code in (
            ("offset", "invalid_search_offset"),
            ("limit", "invalid_search_limit"),
            ("page", "invalid_search_page"),
            ("hitsPerPage", "invalid_search_hits_per_page"),
        ):
            value = body.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise _type_error(code, f".{name}", "a positive integer", value)
        strategy = body.get("matchingStrategy", "last")
        if not isinstance(strategy, str):
            raise _type_error("invalid_search_matching_strategy", ".matchingStrategy", "a string", strategy)
        if strategy not in ("last", "all", "frequency"):
            raise ApiError(
                400,
                "invalid_search_matching_strategy",
                f"Unknown value `{strategy}` at `.matchingStrategy`: expected one of `last`, `all`, `frequency`",
            )
        sort = body.get("sort")
        if sort is not None:
            if not isinstance(sort, list) or not all(isinstance(s, str) for s in sort):
                raise _type_error("invalid_search_sort", ".sort", "an array", sort)
            for item in sort:
                name, _, order = item.rpartition(":")
                if order not in ("asc", "desc") or not name:
                    raise ApiError(
                        400,
                        "invalid_search_sort",
                        f"Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `{item}`.",
                    )
        facets = body.get("facets")
        if facets is not None and (not isinstance(facets, list) or not all(isinstance(f, str) for f in facets)):
            raise _type_error("invalid_search_facets", ".facets", "an array", facets)
        for name, code in (
            ("showRankingScore", "invalid_search_show_ranking_score"),
            ("retrieveVectors", "invalid_search_retrieve_vectors"),
        ):
            value = body.get(name)
            if value is not None and not isinstance(value, bool):
                raise _type_error(code, f".{name}", "a boolean", value)
        locales = body.get("locales")
        if locales is not None:
            if not isinstance(locales, list):
                raise _type_error("invalid_search_locales", ".locales", "an array", locales)
            for position, locale in enumerate(locales):
                if locale not in settings.LOCALES:
                    valid = ", ".join(sorted(settings.LOCALES, key=lambda c: (len(c), c)))
                    raise ApiError(
                        400,
                        "invalid_search_locales",
                        f"Invalid value at `.locales[{position}]`: Unsupported locale `{locale}`, expected one of {valid}",
                    )
        hybrid = body.get("hybrid")
        vector = body.get("vector")
        if hybrid is not None:
            if not isinstance(hybrid, dict):
                raise _type_error("invalid_search_hybrid_query", ".hybrid", "an object", hybrid)
            for key in hybrid:
                if key not in ("semanticRatio", "embedder"):
                    raise ApiError(
                        400,
                        "invalid_search_hybrid_query",
                        f"Unknown field `{key}` inside `.hybrid`: expected one of `semanticRatio`, `embedder`",
                    )
            if "embedder" not in hybrid:
                raise ApiError(400, "invalid_search_hybrid_query", "Missing field `embedder` inside `.hybrid`")
            ratio = hybrid.get("semanticRatio", 0.5)
            if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
                raise ApiError(
                    400,
                    "invalid_search_semantic_ratio",
                    "Invalid value at `.hybrid.semanticRatio`: the value of `semanticRatio` is invalid, expected a float between `0.0` and `1.0`.",
                )
            embedder = index.settings["embedders"].get(hybrid["embedder"])
            if embedder is None:
                raise ApiError(
                    400, "invalid_search_embedder", f"Cannot find embedder with name `{hybrid['embedder']}`."
                )
            if vector is not None and len(vector) != embedder.get("dimensions"):
                raise ApiError(
                    400,
                    "invalid_vector_dimensions",
                    f"Invalid vector dimensions: expected: `{embedder.get('dimensions')}`, found: `{len(vector)}`.",
                )
        if vector is not None and (
            not isinstance(vector, list)
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector)
        ):
            raise _type_error("invalid_search_vector", ".vector", "an array", vector)
        request = SearchRequest(
            q=q,
            offset=body.get("offset") or 0,
            limit=body["limit"] if body.get("limit") is not None else 20,
            page=body.get("page"),
            hits_per_page=body.get("hitsPerPage"),
            filter=body.get("filter"),
            sort=sort,
            facets=facets,
            attributes_to_retrieve=body.get("attributesToRetrieve"),
            matching_strategy=strategy,
            show_ranking_score=bool(body.get("showRankingScore")),
            hybrid=hybrid,
            vector=vector,
        )
        return Searcher(index, request).run()
