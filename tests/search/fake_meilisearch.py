"""FakeMeilisearch: a transport-level fake of the Meilisearch HTTP API (no server), for adapter tests.

It answers the routes the adapter uses with the documented shapes (tasks enqueued then "succeeded", indexes,
settings, documents, search, swap) and records every request, so tests can check what the adapter sends. It does
not search: /search answers with the hits a test sets. Nothing here is a live Meilisearch run.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2

__all__ = ["FakeMeilisearch"]

ENQUEUED_AT = "2026-11-26T08:00:00.000000Z"


class FakeMeilisearch:
    """Records requests; keeps indexes and their documents by uid; answers tasks as succeeded."""

    def __init__(self, api_key: str = "fake-master-key") -> None:
        self.api_key = api_key
        self.requests: list[tuple[str, str, Any]] = []
        self.indexes: dict[str, dict[str, dict[str, Any]]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.search_response: dict[str, Any] = {"hits": [], "estimatedTotalHits": 0, "facetDistribution": {}}
        self.fail_task_types: set[str] = set()

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)

    def calls(self, method: str | None = None, path_suffix: str | None = None) -> list[tuple[str, str, Any]]:
        return [
            call
            for call in self.requests
            if (method is None or call[0] == method) and (path_suffix is None or call[1].endswith(path_suffix))
        ]

    def _task(self, kind: str, index_uid: str | None) -> httpx2.Response:
        uid = len(self.tasks)
        status = "failed" if kind in self.fail_task_types else "succeeded"
        self.tasks[uid] = {
            "uid": uid,
            "indexUid": index_uid,
            "status": status,
            "type": kind,
            "enqueuedAt": ENQUEUED_AT,
            "error": {"message": "fake failure", "code": "internal", "type": "internal", "link": ""}
            if status == "failed"
            else None,
        }
        return httpx2.Response(
            202,
            json={"taskUid": uid, "indexUid": index_uid, "status": "enqueued", "type": kind, "enqueuedAt": ENQUEUED_AT},
        )

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path
        self.requests.append((request.method, path, body))
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return httpx2.Response(401, json={"message": "missing key", "code": "missing_authorization_header"})
        parts = [p for p in path.split("/") if p]
        if parts[0] == "tasks":
            return httpx2.Response(200, json=self.tasks[int(parts[1])])
        if parts == ["indexes"] and request.method == "POST":
            self.indexes[body["uid"]] = {}
            return self._task("indexCreation", body["uid"])
        if parts == ["swap-indexes"]:
            for pair in body:
                a, b = pair["indexes"]
                self.indexes[a], self.indexes[b] = self.indexes[b], self.indexes[a]
            return self._task("indexSwap", None)
        uid = parts[1]
        rest = parts[2:]
        if not rest:
            if request.method == "GET":
                if uid not in self.indexes:
                    return httpx2.Response(404, json={"message": "not found", "code": "index_not_found"})
                return httpx2.Response(
                    200, json={"uid": uid, "primaryKey": "id", "createdAt": ENQUEUED_AT, "updatedAt": ENQUEUED_AT}
                )
            if request.method == "DELETE":
                self.indexes.pop(uid, None)
                return self._task("indexDeletion", uid)
        if rest == ["settings"]:
            return self._task("settingsUpdate", uid)
        if rest == ["documents"] and request.method == "POST":
            for document in body:
                self.indexes[uid][document["id"]] = document
            return self._task("documentAdditionOrUpdate", uid)
        if rest == ["documents", "delete-batch"]:
            for doc_id in body:
                self.indexes[uid].pop(doc_id, None)
            return self._task("documentDeletion", uid)
        if rest == ["documents", "fetch"] or (rest == ["documents"] and request.method == "GET"):
            documents = list(self.indexes[uid].values())
            return httpx2.Response(
                200,
                json={
                    "results": [{"id": d["id"], "version": d["version"]} for d in documents],
                    "offset": 0,
                    "limit": 1000,
                    "total": len(documents),
                },
            )
        if rest == ["search"]:
            return httpx2.Response(
                200, json={"processingTimeMs": 1, "query": body.get("q") or "", **self.search_response}
            )
        return httpx2.Response(404, json={"message": f"fake has no route {request.method} {path}"})
