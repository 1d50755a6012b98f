"""Ingestion rules: whitelist the fields, order versions, keep tombstones, and write the engine.

Order of a batch: (1) validate every operation (one 422 naming each bad field, nothing written); (2) for each
document keep the newest operation of the batch; (3) record it in the version table when it is newer than the
stored version (a single conditional upsert, safe under concurrency), with the hash of its embedding text; (4) give
each searchable document the stored vector of its text, if the current embedder made one (one SELECT per kind,
after the upserts: under their row locks, so the embedding job and ingestion never miss each other's work —
see embeddings/job.py); (5) write what won to the engine before the request's transaction commits. Should the
commit then fail, the relay redelivers and the engine, which keeps versions too, ends up identical.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.documents.models import IndexedDocument
from services.search.documents.repository import DocumentRepository
from services.search.documents.schemas import (
    AchievementFields,
    AmountRange,
    DemandFields,
    DocumentOperation,
    IngestPublic,
    IngestRequest,
)
from services.search.embeddings import service as embeddings_service
from services.search.engines.base import KINDS, IndexDocument, Kind, SearchEngine
from shared.clock import utcnow
from shared.errors import ValidationFailed
from shared.reference.regions import city_code, province_code
from shared.reference.technical_fields import technical_fields

__all__ = [
    "SEARCHABLE_STATUSES",
    "field_errors",
    "indexed_documents",
    "ingest",
    "is_searchable",
    "parse_fields",
    "to_index_document",
]

# Only these statuses are searchable; any other status removes the document from the index.
SEARCHABLE_STATUSES: dict[Kind, frozenset[str]] = {
    "achievement": frozenset({"published", "negotiating"}),
    "demand": frozenset({"published"}),
}
FIELD_MODELS: dict[Kind, type[AchievementFields] | type[DemandFields]] = {
    "achievement": AchievementFields,
    "demand": DemandFields,
}
# Long text stays out of the result card (the snippet shows the relevant part).
CARD_EXCLUDED = frozenset({"description"})
SNIPPET_SOURCE_CHARS = 4000


@dataclass(frozen=True, slots=True)
class _Decision:
    operation: DocumentOperation
    fields: AchievementFields | DemandFields | None


def parse_fields(kind: Kind, fields: dict[str, Any]) -> AchievementFields | DemandFields:
    """Validate a producer's fields against the whitelist of ``kind``, dropping every other key."""
    return FIELD_MODELS[kind].model_validate(fields)


def field_errors(exc: PydanticValidationError, prefix: str) -> list[dict[str, Any]]:
    """The errors of a producer's fields (parse_fields) in the problem shape, each field path under ``prefix``."""
    return [
        {
            "field": f"{prefix}." + ".".join(str(part) for part in error["loc"]),
            "in": "body",
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()
    ]


def is_searchable(kind: Kind, fields: AchievementFields | DemandFields) -> bool:
    """Whether a document with these fields may be found by search."""
    return fields.status in SEARCHABLE_STATUSES[kind]


def _label(code: str | None) -> str:
    if code is None:
        return ""
    return next((f.label_zh for f in technical_fields() if f.code == code), "")


def _amounts(value: AmountRange | None) -> tuple[int | None, int | None]:
    if value is None or (value.min_fen is None and value.max_fen is None):
        return None, None
    low = value.min_fen if value.min_fen is not None else value.max_fen
    high = value.max_fen if value.max_fen is not None else value.min_fen
    return low, high


def to_index_document(kind: Kind, doc_id: str, version: int, fields: BaseModel) -> IndexDocument:
    """The engine document of whitelisted fields: text to search, filter values, and the result card."""
    card = fields.model_dump(mode="json", exclude=set(CARD_EXCLUDED))
    region = getattr(fields, "region_code", None)
    published = getattr(fields, "published_at", None)
    common_keywords = [
        *getattr(fields, "keywords", []),
        _label(getattr(fields, "technical_field", None)),
        getattr(fields, "owner_org_name", None) or "",
    ]
    if isinstance(fields, AchievementFields):
        keywords = " ".join([*common_keywords, *fields.ipc_codes])
        texts = [fields.summary or "", fields.description or ""]
        trl, modes, amounts, ip_type = fields.trl, fields.transfer_modes, _amounts(fields.price), fields.ip_type
    elif isinstance(fields, DemandFields):
        keywords = " ".join(common_keywords)
        texts = [fields.description or ""]
        trl, modes, amounts, ip_type = fields.desired_trl, fields.cooperation_modes, _amounts(fields.budget), None
    else:  # pragma: no cover - the two models above are the only whitelists
        raise TypeError(type(fields).__name__)
    body = "\n".join(t for t in texts if t)
    return IndexDocument(
        kind=kind,
        id=doc_id,
        version=version,
        title=str(getattr(fields, "title", "")),
        keywords=keywords.strip(),
        body=body,
        snippet_source=body[:SNIPPET_SOURCE_CHARS],
        technical_field=getattr(fields, "technical_field", None),
        region_code=region,
        region_city=city_code(region) if region else None,
        region_province=province_code(region) if region else None,
        trl=trl,
        ip_type=ip_type,
        modes=tuple(modes),
        amount_min_fen=amounts[0],
        amount_max_fen=amounts[1],
        owner_org_id=str(fields.owner_org_id) if getattr(fields, "owner_org_id", None) else None,
        published_ts=published.timestamp() if published is not None else None,
        card=card,
    )


def _validate(batch: IngestRequest) -> list[_Decision]:
    decisions: list[_Decision] = []
    errors: list[dict[str, Any]] = []
    for position, operation in enumerate(batch.documents):
        if operation.op == "delete":
            decisions.append(_Decision(operation, None))
            continue
        if operation.fields is None:
            errors.append(
                {
                    "field": f"documents.{position}.fields",
                    "in": "body",
                    "message": "an upsert needs its fields",
                    "type": "missing",
                }
            )
            continue
        try:
            decisions.append(_Decision(operation, parse_fields(operation.kind, operation.fields)))
        except PydanticValidationError as exc:
            errors += field_errors(exc, f"documents.{position}.fields")
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ValidationFailed(detail, errors=errors)
    return decisions


async def ingest(
    *, session: AsyncSession, engine: SearchEngine, batch: IngestRequest, embedding_model: str | None = None
) -> IngestPublic:
    """Apply a batch of upserts and deletes: newest version wins, tombstones kept, private fields dropped.

    ``embedding_model``: the current embedder's name; a document whose text has a vector of it keeps its vector.
    """
    decisions = _validate(batch)
    report = IngestPublic(received=len(decisions), indexed=0, removed=0, stale=0, duplicate=0)
    # Within the batch, only the newest operation per document matters; the others are stale or duplicates.
    newest: dict[tuple[str, uuid.UUID], _Decision] = {}
    for decision in decisions:
        key = (decision.operation.kind, decision.operation.id)
        held = newest.get(key)
        if held is None or decision.operation.version > held.operation.version:
            if held is not None:
                report.stale += 1
            newest[key] = decision
        elif decision.operation.version == held.operation.version:
            report.duplicate += 1
        else:
            report.stale += 1

    repository = DocumentRepository.from_session(session)
    now = utcnow()
    for kind in KINDS:
        chosen = [d for (k, _), d in newest.items() if k == kind]
        if not chosen:
            continue
        stored = await repository.current(kind, [d.operation.id for d in chosen])
        upserts: list[IndexDocument] = []
        deletes: list[tuple[str, int]] = []
        hashes: dict[str, str | None] = {}
        for decision in chosen:
            operation = decision.operation
            existing: IndexedDocument | None = stored.get(operation.id)
            if existing is not None and existing.version > operation.version:
                report.stale += 1
                continue
            if existing is not None and existing.version == operation.version:
                report.duplicate += 1
                continue
            fields = decision.fields
            searchable = fields is not None and is_searchable(kind, fields)
            hashes[str(operation.id)] = embeddings_service.document_text_hash(fields) if fields is not None else None
            written = await repository.record_if_newer(
                kind=kind,
                id=operation.id,
                version=operation.version,
                deleted=operation.op == "delete",
                searchable=searchable,
                fields=fields.model_dump(mode="json") if fields is not None else None,
                now=now,
                text_hash=hashes[str(operation.id)],
            )
            if not written:  # a concurrent batch recorded a newer version meanwhile
                report.stale += 1
                continue
            if searchable and fields is not None:
                upserts.append(to_index_document(kind, str(operation.id), operation.version, fields))
                report.indexed += 1
            else:
                deletes.append((str(operation.id), operation.version))
                report.removed += 1
        upserts = await embeddings_service.attach_stored_vectors(
            session=session, model=embedding_model, kind=kind, documents=upserts, text_hashes=hashes
        )
        await engine.apply(kind, upserts, deletes)
    return report


async def indexed_documents(*, engine: SearchEngine, kind: Kind) -> dict[str, int]:
    """Every document id in the live index of ``kind`` with its version (for consistency checks)."""
    return await engine.indexed_versions(kind)


def documents_from_rows(
    kind: Kind, rows: Sequence[IndexedDocument]
) -> tuple[list[IndexDocument], list[tuple[str, int]]]:
    """Engine upserts and deletes that bring an index in line with version-table rows."""
    upserts: list[IndexDocument] = []
    deletes: list[tuple[str, int]] = []
    for row in rows:
        if row.kind != kind:
            continue
        if row.searchable and not row.deleted and row.fields is not None:
            upserts.append(to_index_document(kind, str(row.id), row.version, parse_fields(kind, row.fields)))
        else:
            deletes.append((str(row.id), row.version))
    return upserts, deletes
