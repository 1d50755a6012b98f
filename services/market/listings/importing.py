"""Parse a streamed bulk-import body (CSV or JSON lines) into rows for listings.service.import_achievements.

CSV: UTF-8 (a BOM is fine), a header row, one achievement per row. Columns (all optional except title,
technical_field and ip_type): title, summary, description, keywords, technical_field, ipc_codes,
application_nos, publication_nos, ip_type, trl, transfer_modes, price_kind, price_min_fen, price_max_fen,
inventors, region_code, contact_name, contact_phone, contact_email, valid_until, external_id. List cells separate
values with ``;`` (or the full-width ``；``); application_nos and publication_nos pair up by position. Empty cells
are absent.
JSON lines: one JSON object per line, exactly the body of POST /market/achievements; blank lines are skipped.

The body is read chunk by chunk and rows are yielded as soon as they are complete, so a 10,000-row file never
sits in memory whole.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator
from typing import Any

from shared.csvfile import aiter_records
from shared.errors import BadRequest, UnsupportedMediaType, ValidationFailed

__all__ = ["CSV_COLUMNS", "CSV_TYPES", "FILE_EXTENSIONS", "JSONL_TYPES", "parse_rows"]

CSV_TYPES = frozenset({"text/csv", "application/csv"})
JSONL_TYPES = frozenset(
    {"application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/json-lines"}
)
# A multipart upload whose part is labelled with none of the types above is read by its filename extension.
FILE_EXTENSIONS = {".csv": "text/csv", ".ndjson": "application/x-ndjson", ".jsonl": "application/x-ndjson"}
CSV_COLUMNS = (
    "title",
    "summary",
    "description",
    "keywords",
    "technical_field",
    "ipc_codes",
    "application_nos",
    "publication_nos",
    "ip_type",
    "trl",
    "transfer_modes",
    "price_kind",
    "price_min_fen",
    "price_max_fen",
    "inventors",
    "region_code",
    "contact_name",
    "contact_phone",
    "contact_email",
    "valid_until",
    "external_id",
)
_LISTS = ("keywords", "ipc_codes", "transfer_modes", "inventors")
_INTS = ("trl", "price_min_fen", "price_max_fen")

Row = tuple[int, dict[str, Any] | None, list[dict[str, Any]]]


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    try:
        async for chunk in chunks:
            pending += decoder.decode(chunk)
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line + "\n"
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise BadRequest("The import file is not UTF-8 text.", slug="not-utf8") from exc
    if pending:
        yield pending


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.replace("；", ";").split(";") if part.strip()]


def _csv_record(cells: dict[str, str]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    values = {k: v.strip() for k, v in cells.items() if v is not None and v.strip()}
    data: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for name in (
        "title",
        "summary",
        "description",
        "technical_field",
        "ip_type",
        "region_code",
        "valid_until",
        "external_id",
    ):
        if name in values:
            data[name] = values[name]
    for name in _LISTS:
        if name in values:
            data[name] = _split(values[name])
    for name in _INTS:
        if name in values:
            try:
                int(values[name])
            except ValueError:
                errors.append({"field": name, "message": "not a whole number", "type": "int_parsing"})
    if "trl" in values and not errors:
        data["trl"] = int(values["trl"])
    applications = _split(values.get("application_nos", ""))
    publications = _split(values.get("publication_nos", ""))
    if len(publications) > len(applications):
        errors.append(
            {"field": "publication_nos", "message": "more publication than application numbers", "type": "invalid"}
        )
    data_patents = [
        {"application_no": a, **({"publication_no": publications[i]} if i < len(publications) else {})}
        for i, a in enumerate(applications)
    ]
    if data_patents:
        data["patents"] = data_patents
    if any(k in values for k in ("price_kind", "price_min_fen", "price_max_fen")) and not errors:
        data["price"] = {
            "kind": values.get("price_kind") or ("range" if "price_max_fen" in values else "fixed"),
            **{k[len("price_") :]: int(values[k]) for k in ("price_min_fen", "price_max_fen") if k in values},
        }
    if any(k in values for k in ("contact_name", "contact_phone", "contact_email")):
        data["contact"] = {
            k[len("contact_") :]: values[k] for k in ("contact_name", "contact_phone", "contact_email") if k in values
        }
    return (None, errors) if errors else (data, [])


async def _csv_rows(lines: AsyncIterator[str]) -> AsyncIterator[Row]:
    header: list[str] | None = None
    number = 0
    async for record in aiter_records(lines):
        if record.blank:
            continue
        if header is None:
            if record.error is not None:
                raise ValidationFailed.field("header", record.error, type="csv_invalid")
            header = [normalize_header(c) for c in record.cells]
            unknown = [c for c in header if c not in CSV_COLUMNS]
            if unknown:
                raise ValidationFailed(
                    f"Unknown CSV columns: {', '.join(unknown)}. Known: {', '.join(CSV_COLUMNS)}.",
                    errors=[
                        {"field": "header", "message": f"unknown column {c!r}", "type": "unknown_column"}
                        for c in unknown
                    ],
                )
            if "title" not in header:
                raise ValidationFailed.field("header", "the title column is required", type="missing_column")
            continue
        number += 1
        if record.error is not None:
            yield number, None, [{"field": "row", "message": record.error, "type": "csv_invalid"}]
            continue
        cells = record.cells
        if len(cells) > len(header):
            yield (
                number,
                None,
                [
                    {
                        "field": "row",
                        "message": f"{len(cells)} cells for {len(header)} columns",
                        "type": "too_many_cells",
                    }
                ],
            )
            continue
        data, errors = _csv_record(dict(zip(header, cells, strict=False)))
        yield number, data, errors
    if header is None:
        raise ValidationFailed.field("header", "the file is empty: a header row is required", type="missing_column")


def normalize_header(cell: str) -> str:
    """Column names are compared trimmed and lower-case."""
    return cell.strip().lower()


async def _jsonl_rows(lines: AsyncIterator[str]) -> AsyncIterator[Row]:
    number = 0
    async for line in lines:
        number += 1
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            yield number, None, [{"field": "row", "message": "not valid JSON", "type": "json_invalid"}]
            continue
        if not isinstance(value, dict):
            yield (
                number,
                None,
                [{"field": "row", "message": "each line must be a JSON object", "type": "object_expected"}],
            )
            continue
        yield number, value, []


def parse_rows(content_type: str | None, chunks: AsyncIterator[bytes]) -> AsyncIterator[Row]:
    """Rows of a CSV or JSON-lines body, chosen by Content-Type (415 for anything else)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in CSV_TYPES:
        return _csv_rows(_lines(chunks))
    if media in JSONL_TYPES:
        return _jsonl_rows(_lines(chunks))
    raise UnsupportedMediaType(
        "Send the import as text/csv or application/x-ndjson (JSON lines).",
        errors=[
            {
                "field": "Content-Type",
                "in": "header",
                "message": f"unsupported: {media or 'none'}",
                "type": "unsupported",
            }
        ],
    )
