"""Bulk import of historical registrations (CSV or XLSX) as already-registered contracts.

Built for volume: rows are validated in Python (plain dicts and dataclasses, no pydantic per row; "today" taken once),
then written in batches of 2,000 as value tuples: COPY on PostgreSQL, one driver-level executemany on SQLite, the
columns every row shares bound once (ContractRepository.bulk_insert). The import's deltas are stored folded and
handed once at the end to the statistics' fold (``ImportFold``: grouped INSERT … SELECT upserts over them), all in
the request's one transaction. Contracts do not import the statistics: the fold is wired by the composition root
(the app's lifespan puts it on ``app.state.contract_import_fold``; the CLI passes it). The audit record of an import
is its contract_imports row (actor, office, counts); each imported contract and delta carries its import_id (no
per-contract history row, for volume). Re-importing a file finds every row by its duplicate key and stores nothing.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import operator
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any, Protocol

from fastapi import Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.contracts import service as contracts_service
from services.market.contracts.models import contracts_table, deltas_table, effective_period
from services.market.contracts.repository import ContractRepository
from services.market.contracts.schemas import MAX_AMOUNT_FEN, ContractImportReport, ImportRowReport
from services.market.directory import service as directory
from services.market.offices import service as offices_service
from shared import uploads
from shared.clock import today_in_china, utcnow
from shared.csvfile import iter_records, split_lf
from shared.errors import BadRequest, Conflict, Forbidden, UnsupportedMediaType, ValidationFailed
from shared.ids import new_id
from shared.security import Principal
from shared.text import TEXT_INVALID, check_text

__all__ = [
    "COLUMNS",
    "REQUIRED",
    "XLSX_MEDIA_TYPE",
    "ImportFold",
    "ImportResult",
    "import_request",
    "import_rows",
    "read_rows",
]

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPES = ("text/csv", "application/csv", "text/plain")
# A multipart part's own type counts when it names CSV or XLSX (text/plain is too vague there); else its extension.
UPLOAD_MEDIA_TYPES = frozenset({XLSX_MEDIA_TYPE, "text/csv", "application/csv"})
FILE_EXTENSIONS = {".csv": "text/csv", ".xlsx": XLSX_MEDIA_TYPE}
BATCH = 2000
COLUMNS = (
    "registration_no",
    "registered_on",
    "office_id",
    "contract_no",
    "title",
    "signed_on",
    "valid_from",
    "valid_to",
    "kind",
    "subkind",
    "technical_field",
    "contract_amount_fen",
    "technology_amount_fen",
    "seller_name",
    "seller_credit_code",
    "seller_region_code",
    "seller_entity_type",
    "seller_ownership",
    "buyer_name",
    "buyer_credit_code",
    "buyer_region_code",
    "buyer_entity_type",
    "buyer_ownership",
    # Optional: true declares a party that is no verified organization of the directory (the registrar checks it);
    # without it such a row fails, as a broker's submission would (docs/contracts.md).
    "seller_unverified",
    "buyer_unverified",
)
REQUIRED = frozenset(
    {
        "registered_on",
        "contract_no",
        "title",
        "signed_on",
        "kind",
        "subkind",
        "technical_field",
        "contract_amount_fen",
        "technology_amount_fen",
        "seller_name",
        "seller_region_code",
        "seller_entity_type",
        "buyer_name",
        "buyer_region_code",
        "buyer_entity_type",
    }
)
_MAX_LENGTH = {"contract_no": 100, "title": 300, "seller_name": 200, "buyer_name": 200, "kind": 60, "subkind": 60}
_REGISTRATION_NO = re.compile(r"^\d{16}$")
# Columns every contract (and delta) of one import shares; the others come from its row, in table order.
_SAME_CONTRACT = (
    "status",
    "broker_org_id",
    "broker_org_path",
    "achievement_id",
    "demand_id",
    "proposal_id",
    "attachments",
    "submitter_subject",
    "submitter_org_id",
    "submitted_at",
    "registered_at",
    "registrar_subject",
    "rejection_reason",
    "import_id",
    "version",
    "created_at",
    "updated_at",
)
_ROW_CONTRACT = tuple(c.name for c in contracts_table.columns if c.name not in _SAME_CONTRACT)
_contract_row = operator.itemgetter(*_ROW_CONTRACT)
_ROW_DELTA = (  # in the order _store_batch builds them
    "id",
    "contract_id",
    "effective_on",
    "effective_period",
    "contract_amount_delta_fen",
    "technology_amount_delta_fen",
)


class ImportFold(Protocol):
    """Adds an import's (folded) deltas to the statistics rollup in the import's transaction."""

    async def __call__(self, *, session: AsyncSession, import_id: uuid.UUID) -> None: ...


# A row's cells by column, or (a CSV record that could not be read) its errors.
RawRow = tuple[int, dict[str, str] | list[dict[str, str]]]


# -- reading files ------------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_header(header: list[str]) -> list[str]:
    names = [h.strip() for h in header]
    unknown = [n for n in names if n and n not in COLUMNS]
    missing = sorted(REQUIRED - set(names))
    if unknown or missing:
        errors = [{"field": f"file.{n}", "message": "unknown column", "type": "unknown_column"} for n in unknown]
        errors += [
            {"field": f"file.{n}", "message": "required column missing", "type": "missing_column"} for n in missing
        ]
        raise ValidationFailed("The header row does not match the import columns.", errors=errors)
    return names


def read_rows(handle: IO[bytes], media_type: str) -> Iterator[RawRow]:
    """Rows of a CSV (UTF-8, optional BOM) or XLSX file as (row number, {column: text}); row 1 is the header."""
    if media_type == XLSX_MEDIA_TYPE:
        yield from _xlsx_rows(handle)
        return
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    records = iter_records(split_lf(iter(lambda: text.read(1 << 16), "")))
    try:
        header = next((r for r in records if not r.blank), None)
        if header is None:
            raise ValidationFailed.field("file", "the file is empty", type="empty_file")
        if header.error is not None:
            raise ValidationFailed.field("header", header.error, type="csv_invalid")
        names = _check_header(header.cells)
        blank = [""] * len(names)  # pads short rows
        for number, record in enumerate(records, start=2):
            if record.error is not None:
                yield number, [{"field": "row", "message": record.error, "type": "csv_invalid"}]
                continue
            cells = [*map(str.strip, record.cells), *blank]
            if not any(cells):
                continue
            row = dict(zip(names, cells, strict=False))
            row.pop("", None)  # a blank header cell names no column
            yield number, row
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The CSV file cannot be read: {exc}") from exc
    finally:
        text.detach()


def _xlsx_rows(handle: IO[bytes]) -> Iterator[RawRow]:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise BadRequest("The XLSX file cannot be read.") from exc
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise ValidationFailed.field("file", "the file is empty", type="empty_file")
        names = _check_header([_cell(h) for h in header])
        for number, values in enumerate(rows, start=2):
            cells = [_cell(v) for v in values]
            if not any(cells):
                continue
            yield number, {n: (cells[i] if i < len(cells) else "") for i, n in enumerate(names) if n}
    finally:
        workbook.close()


# -- validating rows ----------------------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    row: int
    values: dict[str, Any]
    registration_no: str | None
    office: Mapping[str, Any]
    claims: list[contracts_service._Claim] = field(default_factory=list)


@dataclass
class ImportResult:
    """Counts and per-row outcomes of an import."""

    import_id: uuid.UUID
    rows: list[ImportRowReport] = field(default_factory=list)
    total_rows: int = 0
    imported: int = 0
    duplicates: int = 0
    failed: int = 0

    def count_imported(self) -> None:
        """An imported row that the report leaves out."""
        self.total_rows += 1
        self.imported += 1

    def add(self, report: ImportRowReport, *, keep: bool) -> None:
        self.total_rows += 1
        if report.status == "imported":
            self.imported += 1
        elif report.status == "duplicate":
            self.duplicates += 1
        else:
            self.failed += 1
        if keep:
            self.rows.append(report)


def _date(raw: dict[str, str], name: str, errors: contracts_service._Errors) -> dt.date | None:
    text = raw.get(name, "")
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        errors.add(name, "not a date (YYYY-MM-DD)", "date_invalid")
        return None


def _money(raw: dict[str, str], name: str, errors: contracts_service._Errors) -> int:
    text = raw.get(name, "").replace(",", "")
    try:
        value = int(text)
    except ValueError:
        errors.add(name, "not a whole number of fen", "integer_invalid")
        return 0
    if not 0 <= value <= MAX_AMOUNT_FEN:
        errors.add(name, f"must be between 0 and {MAX_AMOUNT_FEN}", "out_of_range")
    return value


def _flag(raw: dict[str, str], name: str, errors: contracts_service._Errors) -> bool:
    text = raw.get(name, "").strip().lower()
    if text in ("", "false", "0", "no"):
        return False
    if text in ("true", "1", "yes"):
        return True
    errors.add(name, "true or false (empty: false)", "boolean_invalid")
    return False


@lru_cache(maxsize=1024)
def _office_uuid(text: str) -> uuid.UUID | None:
    """An office_id cell as a UUID (None if it is not one); files repeat a few offices on every row."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _check_cells(raw: dict[str, str], errors: contracts_service._Errors) -> None:
    """What holds for the cells before they are read: the required ones given, lengths, the kernel's text rule."""
    for name in REQUIRED:
        if not raw.get(name):
            errors.add(name, "required", "missing")
    for name, limit in _MAX_LENGTH.items():
        if len(raw.get(name, "")) > limit:
            errors.add(name, f"at most {limit} characters", "too_long")
    for name, value in raw.items():
        # The kernel's text rule, as in every request schema (no pydantic per row here, for volume).
        problem = check_text(value)
        if problem is not None:
            errors.add(name, problem, TEXT_INVALID)


def _office(raw: dict[str, str], context: _Import, errors: contracts_service._Errors) -> Mapping[str, Any] | None:
    """The row's registration office: its office_id cell, else the import's default; within a registrar's own."""
    office_id: uuid.UUID | None = context.default_office
    if raw.get("office_id"):
        office_id = _office_uuid(raw["office_id"])
        if office_id is None:
            errors.add("office_id", "not a UUID", "uuid_invalid")
    if office_id is not None and context.restrict_office is not None and office_id != context.restrict_office:
        errors.add("office_id", "registrars import their own office's contracts only", "not_allowed")
    office = context.offices.get(office_id) if office_id is not None else None
    if office is None and not errors.items:
        errors.add("office_id", "no such registration office (give office_id)", "office_unknown")
    return office


def _parties(
    raw: dict[str, str], rules_version: str, errors: contracts_service._Errors
) -> tuple[dict[str, dict[str, Any]], dict[str, bool]]:
    """The seller and buyer checked as a submission's, and whether each is declared unverified."""
    declared = {prefix: _flag(raw, f"{prefix}_unverified", errors) for prefix in ("seller", "buyer")}
    parties = {}
    for prefix in ("seller", "buyer"):
        party = contracts_service.PartyData(
            name=raw[f"{prefix}_name"],
            credit_code=raw.get(f"{prefix}_credit_code") or None,
            region_code=raw[f"{prefix}_region_code"],
            entity_type=raw[f"{prefix}_entity_type"],
            ownership=raw.get(f"{prefix}_ownership") or None,
        )
        parties[prefix] = contracts_service._party(party, prefix, rules_version, errors, seller=prefix == "seller")
    return parties, declared


def _check_registration_no(
    number_text: str, registered_on: dt.date, office: Mapping[str, Any], errors: contracts_service._Errors
) -> None:
    """A given registration number has the shape the office would give it: year, region code, a serial."""
    if not _REGISTRATION_NO.match(number_text):
        errors.add("registration_no", "16 digits: year, office region code, serial", "registration_no_invalid")
    elif int(number_text[:4]) != registered_on.year or number_text[4:10] != office["region_code"]:
        errors.add(
            "registration_no",
            "must start with the registration year and the office's region code",
            "registration_no_invalid",
        )
    elif int(number_text[10:]) == 0:
        errors.add("registration_no", "serial 000000 is not used", "registration_no_invalid")


def _validate(number: int, raw: dict[str, str], context: _Import) -> _Candidate | list[dict[str, str]]:
    """A row as a contract to store, or its errors."""
    errors = contracts_service._Errors()
    _check_cells(raw, errors)
    if errors.items:
        return errors.items
    office = _office(raw, context, errors)
    signed_on = _date(raw, "signed_on", errors)
    registered_on = _date(raw, "registered_on", errors)
    valid_from = _date(raw, "valid_from", errors)
    valid_to = _date(raw, "valid_to", errors)
    contract_fen = _money(raw, "contract_amount_fen", errors)
    technology_fen = _money(raw, "technology_amount_fen", errors)
    if errors.items or signed_on is None or registered_on is None or office is None:
        return errors.items
    fields = contracts_service._contract_fields(
        {
            "signed_on": signed_on,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "kind": raw["kind"],
            "subkind": raw["subkind"],
            "technical_field": raw["technical_field"],
            "title": raw["title"],
            "contract_no": raw["contract_no"],
            "contract_amount_fen": contract_fen,
            "technology_amount_fen": technology_fen,
        },
        errors,
        today=context.today,
    )
    if registered_on < signed_on:
        errors.add("registered_on", "cannot be before signed_on", "date_order")
    if registered_on > context.today:
        errors.add("registered_on", "cannot be in the future", "date_in_future")
    parties, declared = _parties(raw, fields["rules_version"], errors)
    number_text = raw.get("registration_no") or None
    if number_text is not None:
        _check_registration_no(number_text, registered_on, office, errors)
    if errors.items:
        return [{k: str(v) for k, v in e.items()} for e in errors.items]
    seller, buyer = parties["seller"], parties["buyer"]
    values = {
        **contracts_service.contract_columns(fields, seller, buyer),
        "technology_amount_fen": fields["claimed_technology_amount_fen"],
        "office_id": office["id"],
        "registered_on": registered_on,
    }
    claims = [contracts_service._Claim(prefix, parties[prefix], declared[prefix]) for prefix in ("seller", "buyer")]
    return _Candidate(number, values, number_text, office, claims)


async def _verify_candidates(session: AsyncSession, candidates: list[_Candidate]) -> dict[int, ImportRowReport]:
    """The rule of a broker's submission, per row: each party a verified organization of the directory or declared
    unverified (the importing registrar is no party). One directory query per batch; the failed rows, by number."""
    codes = [cl.party["credit_code"] for c in candidates for cl in c.claims if cl.party["credit_code"]]
    verified = await directory.verified_by_credit_code(session=session, codes=codes)
    failed: dict[int, ImportRowReport] = {}
    for c in candidates:
        errors = contracts_service._Errors()
        refused = contracts_service._verify_parties(
            c.claims, submitted_as="import", own=None, verified=verified, errors=errors
        )
        if refused or errors.items:
            problems = [*errors.items, *refused]
            failed[c.row] = ImportRowReport(
                row=c.row, status="failed", errors=[{k: str(v) for k, v in e.items()} for e in problems]
            )
            continue
        for claim in c.claims:
            c.values[f"{claim.prefix}_org_id"] = claim.party["org_id"]
            c.values[f"{claim.prefix}_verification"] = claim.party["verification"]
    return failed


# -- writing ----------------------------------------------------------------------------------------------------------


class _Counters:
    """Registration counters of the offices an import touches: read (and locked) once, written back once."""

    def __init__(self, repo: ContractRepository) -> None:
        self.repo = repo
        self.values: dict[tuple[uuid.UUID, int], int] = {}
        self._read: dict[tuple[uuid.UUID, int], int] = {}

    async def current(self, key: tuple[uuid.UUID, int]) -> int:
        if key not in self.values:
            # Reserving zero serials returns the current value and takes the row lock until the commit.
            self.values[key] = self._read[key] = await self.repo.next_serials(key[0], key[1], 0)
        return self.values[key]

    async def write_back(self) -> None:
        changed = {k: v for k, v in self.values.items() if v != self._read.get(k)}
        await self.repo.set_counters(changed)


@dataclass
class _Import:
    """One import across its batches: what each row is checked against, the columns its rows share, what the
    earlier batches stored (duplicate keys and registration numbers) and the offices' counters."""

    session: AsyncSession
    repo: ContractRepository
    result: ImportResult
    offices: Mapping[uuid.UUID, Mapping[str, Any]]
    default_office: uuid.UUID | None
    restrict_office: uuid.UUID | None
    # One "today" for the whole import, so that every row is judged against the same date.
    today: dt.date
    keep: str
    same_contract: Mapping[str, Any]
    same_delta: Mapping[str, Any]
    counters: _Counters
    seen_keys: dict[str, uuid.UUID] = field(default_factory=dict)
    seen_numbers: set[str] = field(default_factory=set)


def _same_contract(
    actor_subject: str, actor_org_id: uuid.UUID | None, import_id: uuid.UUID, now: dt.datetime
) -> dict[str, Any]:
    """The columns of _SAME_CONTRACT, as every contract of the import has them."""
    return {
        "status": "registered",
        "broker_org_id": None,
        "broker_org_path": None,
        "achievement_id": None,
        "demand_id": None,
        # Historical registrations predate the platform's deals.
        "proposal_id": None,
        "attachments": [],
        "submitter_subject": actor_subject,
        "submitter_org_id": actor_org_id,
        "submitted_at": now,
        "registered_at": now,
        "registrar_subject": actor_subject,
        "rejection_reason": None,
        "import_id": import_id,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def _same_delta(actor_subject: str, import_id: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    """The columns every delta of the import shares (the others are _ROW_DELTA)."""
    return {
        "action": "import",
        "count_delta": 1,
        "reason": None,
        "actor_subject": actor_subject,
        "import_id": import_id,
        "created_at": now,
    }


async def _start(
    session: AsyncSession,
    *,
    actor_subject: str,
    actor_org_id: uuid.UUID | None,
    default_office: uuid.UUID | None,
    restrict_office: uuid.UUID | None,
    media_type: str,
    keep: str,
) -> _Import:
    """The import's contract_imports row (its audit record) and what its batches share."""
    repo = ContractRepository.from_session(session)
    import_id = new_id()
    now = utcnow()
    await repo.insert_import(
        {
            "id": import_id,
            "actor_subject": actor_subject,
            "office_id": restrict_office or default_office,
            "media_type": media_type,
            "created_at": now,
        }
    )
    offices = {
        o["id"]: o
        for o in await offices_service.list_offices(session=session, after_id=None, limit=100_000)
        if o["active"]
    }
    return _Import(
        session=session,
        repo=repo,
        result=ImportResult(import_id=import_id),
        offices=offices,
        default_office=default_office,
        restrict_office=restrict_office,
        today=today_in_china(),
        keep=keep,
        same_contract=_same_contract(actor_subject, actor_org_id, import_id, now),
        same_delta=_same_delta(actor_subject, import_id, now),
        counters=_Counters(repo),
    )


async def import_rows(
    *,
    session: AsyncSession,
    actor_subject: str,
    actor_org_id: uuid.UUID | None,
    rows: Iterable[RawRow],
    default_office: uuid.UUID | None,
    restrict_office: uuid.UUID | None,
    media_type: str,
    fold: ImportFold,
    keep: str = "all",
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate and store rows as registered contracts in batches; ``fold`` adds them to the statistics at the end."""
    context = await _start(
        session,
        actor_subject=actor_subject,
        actor_org_id=actor_org_id,
        default_office=default_office,
        restrict_office=restrict_office,
        media_type=media_type,
        keep=keep,
    )
    for batch in _batches(rows):
        await _store_batch(context, batch)
        if progress is not None:
            progress(len(batch))
    await context.counters.write_back()
    result = context.result
    if result.imported:
        await fold(session=session, import_id=result.import_id)
    await context.repo.finish_import(
        result.import_id,
        {
            "total_rows": result.total_rows,
            "imported": result.imported,
            "duplicates": result.duplicates,
            "failed": result.failed,
        },
    )
    return result


def _batches(rows: Iterable[RawRow]) -> Iterator[list[RawRow]]:
    """The rows BATCH at a time (read when called, so tests may lower it)."""
    batch: list[RawRow] = []
    for item in rows:
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def _store_batch(context: _Import, batch: list[RawRow]) -> None:
    """Check a batch's rows, store the good ones that are new, count every row in the import's result."""
    outcomes: list[ImportRowReport | _Candidate] = []
    for number, raw in batch:
        checked = raw if isinstance(raw, list) else _validate(number, raw, context)
        outcomes.append(
            ImportRowReport(row=number, status="failed", errors=checked) if isinstance(checked, list) else checked
        )
    candidates = [o for o in outcomes if isinstance(o, _Candidate)]
    reports = await _verify_candidates(context.session, candidates)
    accepted = await _new_rows(context, [c for c in candidates if c.row not in reports], reports)
    await _number(context, accepted)
    await _write(context, accepted, reports)
    keep_all = context.keep == "all"
    for outcome in outcomes:
        if isinstance(outcome, ImportRowReport):
            context.result.add(outcome, keep=True)
        elif outcome.row in reports:
            report = reports[outcome.row]
            context.result.add(report, keep=keep_all or report.status != "imported")
        else:
            context.result.count_imported()


async def _new_rows(
    context: _Import, candidates: list[_Candidate], reports: dict[int, ImportRowReport]
) -> list[_Candidate]:
    """The candidates to store, each given its id: not stored before nor earlier in the file (a duplicate), no
    registration number taken (a failure). The others are reported in ``reports``."""
    existing = await context.repo.ids_by_dedupe_keys([c.values["dedupe_key"] for c in candidates])
    taken = await context.repo.existing_registration_nos([c.registration_no for c in candidates if c.registration_no])
    accepted: list[_Candidate] = []
    for c in candidates:
        key = c.values["dedupe_key"]
        earlier = existing.get(key) or context.seen_keys.get(key)
        if earlier is not None:
            reports[c.row] = ImportRowReport(row=c.row, status="duplicate", contract_id=earlier)
            continue
        if c.registration_no and (c.registration_no in taken or c.registration_no in context.seen_numbers):
            reports[c.row] = ImportRowReport(
                row=c.row,
                status="failed",
                errors=[
                    {"field": "registration_no", "message": "already used by another contract", "type": "duplicate"}
                ],
            )
            continue
        c.values["id"] = new_id()
        context.seen_keys[key] = c.values["id"]
        if c.registration_no:
            context.seen_numbers.add(c.registration_no)
        accepted.append(c)
    return accepted


async def _number(context: _Import, accepted: list[_Candidate]) -> None:
    """Registration numbers: explicit numbers first raise each office's counter; then rows without one get the
    next serials. Counters live in memory for the import (their rows are locked by the first touch) and are
    written back at the end."""
    counters = context.counters
    for c in accepted:
        if c.registration_no:
            key = (c.office["id"], c.values["registered_on"].year)
            current = await counters.current(key)
            counters.values[key] = max(current, int(c.registration_no[10:]))
    for c in accepted:
        if not c.registration_no:
            year = c.values["registered_on"].year
            key = (c.office["id"], year)
            serial = await counters.current(key) + 1
            if serial > 999_999:
                raise Conflict(f"Office {key[0]} ran out of serial numbers for {year}.", slug="serials-exhausted")
            counters.values[key] = serial
            c.registration_no = contracts_service.registration_no(year, c.office["region_code"], serial)
            context.seen_numbers.add(c.registration_no)
        c.values["registration_no"] = c.registration_no


async def _write(context: _Import, accepted: list[_Candidate], reports: dict[int, ImportRowReport]) -> None:
    """Store the accepted rows as contracts and their deltas (the import's only writes per row: no history row
    per contract), and report them when the whole report is kept."""
    contracts, deltas = [], []
    for c in accepted:
        v = c.values
        contracts.append(_contract_row(v))
        day = v["registered_on"]
        deltas.append(
            (
                new_id(),
                v["id"],
                day,
                effective_period(day),
                v["contract_amount_fen"],
                v["technology_amount_fen"],
            )
        )
        if context.keep == "all":
            reports[c.row] = ImportRowReport(
                row=c.row, status="imported", contract_id=v["id"], registration_no=c.registration_no
            )
    try:
        await context.repo.bulk_insert(contracts_table, _ROW_CONTRACT, contracts, same=context.same_contract)
        await context.repo.bulk_insert(deltas_table, _ROW_DELTA, deltas, same=context.same_delta)
    except IntegrityError as exc:
        raise Conflict("Another import stored some of these contracts meanwhile; import the file again.") from exc


async def import_request(
    *,
    session: AsyncSession,
    principal: Principal,
    request: Request,
    office_id: uuid.UUID | None,
    report: str,
) -> ContractImportReport:
    """The HTTP import: authorize, then import the multipart part ``file`` or the raw body (spooled to a temporary
    file as it streams in)."""
    restrict: uuid.UUID | None = None
    if principal.has_role("platform_admin"):
        default = office_id
    else:
        office = await offices_service.require_registrar_office(session=session, principal=principal)
        restrict = default = office["id"]
        if office_id is not None and office_id != restrict:
            raise Forbidden("Registrars import their own office's contracts only.")

    async def run(handle: IO[bytes], media_type: str) -> ImportResult:
        if media_type != XLSX_MEDIA_TYPE:
            _check_utf8_start(handle)
        return await import_rows(
            session=session,
            actor_subject=principal.subject,
            actor_org_id=principal.org_id,
            rows=read_rows(handle, media_type),
            default_office=default,
            restrict_office=restrict,
            media_type=media_type,
            fold=request.app.state.contract_import_fold,
            keep=report,
        )

    if uploads.is_multipart(request):
        # The parser has already spooled the part to a temporary file: read it there, no second copy.
        async with uploads.uploaded_file(request) as upload:
            media_type = uploads.file_media_type(upload, UPLOAD_MEDIA_TYPES, FILE_EXTENSIONS)
            upload.file.seek(0)
            result = await run(upload.file, media_type)
    else:
        media_type = uploads.media_type(request.headers.get("content-type"))
        if media_type != XLSX_MEDIA_TYPE and media_type not in CSV_MEDIA_TYPES:
            raise UnsupportedMediaType(f"Send the file as text/csv or {XLSX_MEDIA_TYPE}.")
        with tempfile.SpooledTemporaryFile(max_size=8 * 1_048_576) as spool:
            async for chunk in request.stream():
                spool.write(chunk)
            spool.seek(0)
            result = await run(spool, media_type)
    return ContractImportReport(
        import_id=result.import_id,
        total_rows=result.total_rows,
        imported=result.imported,
        duplicates=result.duplicates,
        failed=result.failed,
        rows=result.rows,
    )


def _check_utf8_start(handle: IO[bytes]) -> None:
    # Fail fast on a GBK export (common from Excel in China) instead of half-reading it.
    head = handle.read(4096)
    handle.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise BadRequest("The CSV file must be UTF-8 (save it as 'CSV UTF-8').") from exc
