"""Bulk import of historical registrations: CSV and XLSX, per-row report, idempotent re-import, authorization."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import Workbook

from services.market.contracts import importing
from services.market.contracts.importing import COLUMNS, XLSX_MEDIA_TYPE
from services.market.contracts.repository import ContractRepository
from tests.conftest import Stack
from tests.market.contracts.factories import ensure_office, registrar, seller
from tests.market.contracts.test_contracts import count_contracts
from tests.support.actors import Actor, Actors
from tests.support.codes import credit_code
from tests.support.problems import assert_problem


def import_row(**overrides: Any) -> dict[str, str]:
    """One valid historical registration."""
    row = {
        "registration_no": "",
        "registered_on": "2023-06-15",
        "office_id": "",
        "contract_no": f"HIST-{credit_code()[-8:]}",
        "title": "一种锂电池隔膜的技术开发",
        "signed_on": "2023-06-01",
        "valid_from": "2023-06-01",
        "valid_to": "2024-05-31",
        "kind": "development",
        "subkind": "commissioned_development",
        "technical_field": "new_energy",
        "contract_amount_fen": "500000000",
        "technology_amount_fen": "450000000",
        "seller_name": "电子科技大学",
        "seller_credit_code": credit_code(),
        "seller_region_code": "510107",
        "seller_entity_type": "university",
        "seller_ownership": "",
        "buyer_name": "宁德某某新能源有限公司",
        "buyer_credit_code": credit_code(),
        "buyer_region_code": "350900",
        "buyer_entity_type": "enterprise",
        "buyer_ownership": "private",
        # Historical parties are rarely platform members: declared unverified, the registrar checks them.
        "seller_unverified": "true",
        "buyer_unverified": "true",
    }
    row.update(overrides)
    return row


def to_csv(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def to_xlsx(rows: list[dict[str, str]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([int(row[c]) if c.endswith("_fen") else row[c] for c in COLUMNS])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


async def post_import(stack: Stack, by: Actor, body: bytes, media: str = "text/csv", query: str = "") -> Any:
    return await stack.client.post(
        f"/market/contracts/import{query}", content=body, headers={**by.headers, "Content-Type": media}
    )


class TestImport:
    async def test_good_rows_are_stored_bad_rows_reported_reimport_is_idempotent(
        self, stack: Stack, actors: Actors, office: Actor
    ) -> None:
        rows = [
            import_row(),
            import_row(registration_no="2023510100000007"),
            import_row(technology_amount_fen="600000000"),
            import_row(seller_credit_code="91510100MA6CA1234X", kind="barter"),
            import_row(registered_on="yesterday"),
            import_row(registration_no="2023500000000001"),
            import_row(buyer_region_code="US", buyer_credit_code="", buyer_ownership="foreign_invested"),
        ]
        rows.append(dict(rows[0]))  # the same contract twice in one file
        response = await post_import(stack, office, to_csv(rows))
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["total_rows"], report["imported"], report["duplicates"], report["failed"]) == (8, 3, 1, 4)
        by_row = {r["row"]: r for r in report["rows"]}
        assert by_row[2]["status"] == "imported"
        assert by_row[2]["registration_no"] == "2023510100000008"  # after the explicit serial 7 of the same file
        assert by_row[3]["registration_no"] == "2023510100000007"
        assert [e["field"] for e in by_row[4]["errors"]] == ["technology_amount_fen"]
        assert {e["field"] for e in by_row[5]["errors"]} == {"kind", "seller.credit_code"}
        assert [e["field"] for e in by_row[6]["errors"]] == ["registered_on"]
        assert [e["field"] for e in by_row[7]["errors"]] == ["registration_no"]
        assert by_row[8]["status"] == "imported"
        assert by_row[9] == {**by_row[9], "status": "duplicate", "contract_id": by_row[2]["contract_id"]}
        contract = (
            await stack.client.get(f"/market/contracts/{by_row[2]['contract_id']}", headers=office.headers)
        ).json()
        assert contract["status"] == "registered"
        assert contract["registered_on"] == "2023-06-15"
        assert contract["current_contract_amount_fen"] == 500_000_000
        stats = (await stack.client.get("/market/stats/contracts?group_by=year,flow", headers=office.headers)).json()
        assert [(r["key"], r["count"], r["contract_amount_fen"]) for r in stats["rows"]] == [
            ({"year": 2023, "flow": "abroad"}, 1, 500_000_000),
            ({"year": 2023, "flow": "other_province"}, 2, 1_000_000_000),
        ]
        again = (await post_import(stack, office, to_csv(rows))).json()
        assert (again["imported"], again["duplicates"], again["failed"]) == (0, 4, 4)
        assert await count_contracts(stack) == 3
        stats_again = (
            await stack.client.get("/market/stats/contracts?group_by=year,flow", headers=office.headers)
        ).json()
        assert stats_again["rows"] == stats["rows"]
        new = (
            await stack.client.post(
                "/market/contracts/import?report=problems",
                content=to_csv([import_row()]),
                headers={**office.headers, "Content-Type": "text/csv"},
            )
        ).json()
        assert new["rows"] == []
        assert new["imported"] == 1

    async def test_xlsx_import(self, stack: Stack, actors: Actors, office: Actor) -> None:
        response = await post_import(stack, office, to_xlsx([import_row(), import_row()]), XLSX_MEDIA_TYPE)
        assert response.status_code == 200, response.text
        assert response.json()["imported"] == 2

    async def test_platform_admin_imports_for_any_office_registrar_only_its_own(
        self, stack: Stack, actors: Actors, office: Actor
    ) -> None:
        admin = await actors.platform_admin()
        other = await registrar(actors, region_code="500000")
        await ensure_office(stack, other)
        no_office = (await post_import(stack, admin, to_csv([import_row()]))).json()
        assert no_office["failed"] == 1
        assert no_office["rows"][0]["errors"][0]["field"] == "office_id"
        for_other = (await post_import(stack, admin, to_csv([import_row()]), query=f"?office_id={other.org_id}")).json()
        assert for_other["imported"] == 1
        foreign = (await post_import(stack, office, to_csv([import_row(office_id=str(other.org_id))]))).json()
        assert foreign["failed"] == 1
        assert foreign["rows"][0]["errors"][0]["field"] == "office_id"
        assert_problem(
            await post_import(stack, office, to_csv([import_row()]), query=f"?office_id={other.org_id}"), 403
        )
        s = await seller(actors)
        assert_problem(await post_import(stack, s, to_csv([import_row()])), 403)
        assert_problem(await stack.client.post("/market/contracts/import", content=to_csv([import_row()])), 401)

    async def test_bad_files(self, stack: Stack, actors: Actors, office: Actor) -> None:
        assert_problem(await post_import(stack, office, b"{}", "application/json"), 415)
        assert_problem(await post_import(stack, office, b"", "text/csv"), 422, "file")
        body = assert_problem(await post_import(stack, office, to_csv([import_row()], ("contract_no", "colour"))), 422)
        fields = {e["field"] for e in body["errors"]}
        assert "file.colour" in fields
        assert "file.registered_on" in fields
        assert_problem(await post_import(stack, office, "合同".encode("gbk") + b"\n", "text/csv"), 400)
        assert_problem(await post_import(stack, office, b"not a zip", XLSX_MEDIA_TYPE), 400)
        assert_problem(await post_import(stack, office, to_csv([import_row()]), query="?report=some"), 422, "report")
        assert await count_contracts(stack) == 0

    async def test_a_bare_cr_is_a_row_error_or_a_header_error(
        self, stack: Stack, actors: Actors, office: Actor
    ) -> None:
        # Issue 13: one CSV rule for both imports — an unreadable record is that row's error, not the file's.
        good = to_csv([import_row(), import_row(), import_row(title="带\x00的标题")]).decode().split("\r\n")
        header, first, second, with_nul = good[0], good[1], good[2], good[3]
        broken = second.replace("一种锂电池隔膜", "一种锂电池\r隔膜", 1)
        body = "\n".join([header, first, broken, with_nul, ""]).encode()
        response = await post_import(stack, office, body)
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["imported"], report["failed"]) == (1, 2)
        by_row = {r["row"]: r for r in report["rows"]}
        assert by_row[2]["status"] == "imported"
        assert [(e["field"], e["type"]) for e in by_row[3]["errors"]] == [("row", "csv_invalid")]
        assert [(e["field"], e["type"]) for e in by_row[4]["errors"]] == [("title", "text_invalid")]
        assert await count_contracts(stack) == 1
        bad_header = header.replace("contract_no", "contract\rno", 1)
        problem = assert_problem(await post_import(stack, office, f"{bad_header}\n{first}\n".encode()), 422)
        assert [e["field"] for e in problem["errors"]] == ["header"]
        assert await count_contracts(stack) == 1


class TestImportWrites:
    """The bulk write path: COPY on PostgreSQL, one driver-level executemany on SQLite."""

    async def test_an_imported_contract_reads_back_as_stored(self, stack: Stack, actors: Actors, office: Actor) -> None:
        row = import_row(contract_no="HIST-READBACK", seller_ownership="", buyer_ownership="foreign_invested")
        report = (await post_import(stack, office, to_csv([row]))).json()
        contract = (
            await stack.client.get(f"/market/contracts/{report['rows'][0]['contract_id']}", headers=office.headers)
        ).json()
        assert {k: contract[k] for k in ("status", "rules_version", "kind", "subkind", "technical_field")} == {
            "status": "registered",
            "rules_version": "2021",
            "kind": "development",
            "subkind": "commissioned_development",
            "technical_field": "new_energy",
        }
        assert (contract["contract_no"], contract["title"]) == ("HIST-READBACK", row["title"])
        assert (contract["signed_on"], contract["valid_from"], contract["valid_to"]) == (
            "2023-06-01",
            "2023-06-01",
            "2024-05-31",
        )
        assert (contract["registered_on"], contract["registration_no"]) == ("2023-06-15", "2023510100000001")
        assert contract["seller"] == {
            "name": "电子科技大学",
            "credit_code": row["seller_credit_code"],
            "region_code": "510107",
            "entity_type": "university",
            "ownership": None,
            "org_id": None,
            "verification": "unverified",
        }
        assert contract["buyer"]["ownership"] == "foreign_invested"
        assert contract["flow"] == "other_province"
        assert (contract["contract_amount_fen"], contract["technology_amount_fen"]) == (500_000_000, 450_000_000)
        assert (contract["current_contract_amount_fen"], contract["current_technology_amount_fen"]) == (
            500_000_000,
            450_000_000,
        )
        assert (contract["attachments"], contract["version"], contract["overdue"]) == ([], 1, False)
        assert contract["office_id"] == str(office.org_id)
        assert contract["created_at"].endswith("Z") or contract["created_at"].endswith("+00:00")

    async def test_good_and_bad_rows_over_several_batches(
        self, stack: Stack, actors: Actors, office: Actor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(importing, "BATCH", 3)
        first = (await post_import(stack, office, to_csv([import_row(registration_no="2023510100000005")]))).json()
        assert first["imported"] == 1
        good = [import_row(contract_amount_fen=str(100 * i), technology_amount_fen=str(10 * i)) for i in range(1, 8)]
        rows = [
            good[0],
            import_row(signed_on="2023-13-01"),
            good[1],
            good[2],
            dict(good[0]),  # the same contract again, in a later batch
            import_row(registration_no="2023510100000005"),  # taken by the first import
            good[3],
            import_row(seller_credit_code="91510100MA6CA1234X"),
            good[4],
            good[5],
            good[6],
        ]
        report = (await post_import(stack, office, to_csv(rows), query="?report=problems")).json()
        assert (report["total_rows"], report["imported"], report["duplicates"], report["failed"]) == (11, 7, 1, 3)
        assert [(r["row"], r["status"]) for r in report["rows"]] == [
            (3, "failed"),
            (6, "duplicate"),
            (7, "failed"),
            (9, "failed"),
        ]
        assert report["rows"][0]["errors"][0]["field"] == "signed_on"
        assert report["rows"][2]["errors"] == [
            {"field": "registration_no", "message": "already used by another contract", "type": "duplicate"}
        ]
        assert report["rows"][3]["errors"][0]["field"] == "seller.credit_code"
        assert await count_contracts(stack) == 8
        stats = (await stack.client.get("/market/stats/contracts?group_by=year", headers=office.headers)).json()
        assert [(r["count"], r["contract_amount_fen"], r["technology_amount_fen"]) for r in stats["rows"]] == [
            (8, 500_000_000 + 100 * 28, 450_000_000 + 10 * 28)
        ]
        again = (await post_import(stack, office, to_csv(rows), query="?report=problems")).json()
        assert (again["imported"], again["duplicates"], again["failed"]) == (0, 8, 3)
        assert await count_contracts(stack) == 8

    async def test_rows_stored_meanwhile_answer_409_and_store_nothing(
        self, stack: Stack, actors: Actors, office: Actor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        row = import_row()
        assert (await post_import(stack, office, to_csv([row]))).json()["imported"] == 1

        async def nothing_yet(self: ContractRepository, keys: Any) -> dict[str, Any]:
            return {}  # as if another import stored the row after this one looked

        monkeypatch.setattr(ContractRepository, "ids_by_dedupe_keys", nothing_yet)
        assert_problem(await post_import(stack, office, to_csv([import_row(), row])), 409)
        assert await count_contracts(stack) == 1


def report_shape(report: dict[str, Any]) -> tuple[Any, ...]:
    """A report without its ids and numbers: counts and each row's status and error fields."""
    return (
        report["total_rows"],
        report["imported"],
        report["duplicates"],
        report["failed"],
        [(r["row"], r["status"], [e["field"] for e in r["errors"]]) for r in report["rows"]],
    )


def mixed_rows() -> list[dict[str, str]]:
    """Two good rows, a bad one and a duplicate within the file."""
    rows = [import_row(), import_row(technology_amount_fen="600000000"), import_row()]
    return [*rows, dict(rows[0])]


async def post_upload(stack: Stack, by: Actor, part: tuple[Any, ...] | None, field: str = "file") -> Any:
    files = {field: part} if part is not None else {"other": ("x.csv", b"", "text/csv")}
    return await stack.client.post("/market/contracts/import", files=files, headers=by.headers)


class TestMultipartUpload:
    """Issue 13: browsers and generated clients send the file as the multipart part `file`."""

    async def test_csv_part_gives_the_report_of_the_raw_body(self, stack: Stack, actors: Actors, office: Actor) -> None:
        raw = await post_import(stack, office, to_csv(mixed_rows()))
        uploaded = mixed_rows()
        form = await post_upload(stack, office, ("history.csv", to_csv(uploaded), "text/csv"))
        assert form.status_code == 200, form.text
        assert report_shape(form.json()) == report_shape(raw.json())
        assert form.json()["imported"] == 2
        # The same file sent raw finds what the upload stored.
        again = (await post_import(stack, office, to_csv(uploaded))).json()
        assert (again["imported"], again["duplicates"], again["failed"]) == (0, 3, 1)
        assert await count_contracts(stack) == 4

    @pytest.mark.parametrize(
        ("filename", "part_type"),
        [("history.xlsx", XLSX_MEDIA_TYPE), ("history.xlsx", "application/octet-stream"), ("export", XLSX_MEDIA_TYPE)],
    )
    async def test_xlsx_part_by_type_or_extension(
        self, stack: Stack, actors: Actors, office: Actor, filename: str, part_type: str
    ) -> None:
        response = await post_upload(stack, office, (filename, to_xlsx([import_row(), import_row()]), part_type))
        assert response.status_code == 200, response.text
        assert response.json()["imported"] == 2

    @pytest.mark.parametrize(
        ("filename", "part_type"),
        [("history.xls", "application/vnd.ms-excel"), ("history.txt", "text/plain"), ("history", None)],
    )
    async def test_unknown_file_type_is_415_naming_file(
        self, stack: Stack, actors: Actors, office: Actor, filename: str, part_type: str | None
    ) -> None:
        body = to_csv([import_row()])
        part = (filename, body) if part_type is None else (filename, body, part_type)
        assert_problem(await post_upload(stack, office, part), 415, "file")
        assert await count_contracts(stack) == 0

    async def test_missing_file_part_is_422_naming_file(self, stack: Stack, actors: Actors, office: Actor) -> None:
        assert_problem(await post_upload(stack, office, None), 422, "file")
        assert await count_contracts(stack) == 0
