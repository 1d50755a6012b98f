"""POST /market/achievements/import and `techmarket market import`: streamed CSV / JSON lines, per-row report,
bad rows skipped, re-import creates no duplicates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from services.market.cli import import_file
from services.market.listings.models import Achievement
from services.market.outbox.models import OutboxEvent
from tests.conftest import SHARED_DATA, Stack
from tests.market.helpers import achievement_body
from tests.support.problems import assert_problem, error_fields

URL = "/market/achievements/import"
CSV_HEADERS = {"content-type": "text/csv"}
JSONL_HEADERS = {"content-type": "application/x-ndjson"}

GOOD_CSV = (
    "title,technical_field,ip_type,application_nos,publication_nos,ipc_codes,keywords,trl,price_min_fen,price_max_fen,"
    "contact_name,contact_phone\n"
    "一种无人机机载多功能盒,aerospace,utility_model,202223220665.2,CN218751475U,B64U20/80;B64U101/30,无人机；载荷,6,"
    "1000000,2000000,王老师,028-85400000\n"
    '"一种可拍照便携式实时语音播报端测摄像头",electronic_information,utility_model,CN202122975192.6,CN216774847U,'
    'H04N5/225,"摄像头;\n语音",,,,,\n'
    "坏的一行,aerospace,utility_model,202223220665.3,,,,,,,,\n"
    "没有专利的技术秘密,new_materials,technical_secret,,,,,12,,,,\n"
)


BDCI_PATENTS = SHARED_DATA / "patents" / "bdci2022_cn_patents.jsonl"
# Rows 1–3 are created (row 3 shares title and summary with row 2 but has its own reference); rows 4–6 are errors.
KEYED_CSV = (
    "title,summary,technical_field,ip_type,application_nos,external_id\n"
    "一种无人机机载多功能盒,,aerospace,utility_model,202223220665.2,SCU-TT-2024-017\n"
    "复合吸附材料制备工艺,以改性沸石为载体,new_materials,technical_secret,,SCU-TT-2024-018\n"
    "复合吸附材料制备工艺,以改性沸石为载体,new_materials,technical_secret,,SCU-TT-2024-019\n"
    "一种可拍照便携式实时语音播报端测摄像头,,electronic_information,utility_model,202122975192.6,SCU-TT-2024-017\n"
    f"太长的编号,,new_materials,technical_secret,,{'X' * 101}\n"
    "带控制字符的编号,,new_materials,technical_secret,,SCU\x07TT\n"
)


async def count(stack: Stack, model: Any) -> int:
    async with stack.service_app("market").state.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def outbox_events(stack: Stack) -> list[OutboxEvent]:
    async with stack.service_app("market").state.sessionmaker() as session:
        return list((await session.execute(select(OutboxEvent))).scalars())


def jsonl(*rows: Any) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows).encode()


class TestImportAchievements:
    async def test_csv_report_per_row_and_bad_rows_store_nothing(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        response = await stack.client.post(URL, content=GOOD_CSV.encode(), headers={**uni.headers, **CSV_HEADERS})
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["total_rows"], report["created"], report["existing"], report["failed"]) == (4, 2, 0, 2)
        rows = report["rows"]
        assert [r["status"] for r in rows] == ["created", "created", "error", "error"]
        assert [r["row"] for r in rows] == [1, 2, 3, 4]
        assert error_fields(rows[2]) == ["patents.0.application_no"]
        assert error_fields(rows[3]) == ["trl"]
        assert await count(stack, Achievement) == 2
        assert await count(stack, OutboxEvent) == 2
        first = (await stack.client.get(f"/market/achievements/{rows[0]['id']}", headers=uni.headers)).json()
        assert first["status"] == "draft"
        assert first["ipc_codes"] == ["B64U 20/80", "B64U 101/30"]
        assert first["keywords"] == ["无人机", "载荷"]
        assert first["price"] == {"kind": "range", "min_fen": 1000000, "max_fen": 2000000}
        assert first["contact"] == {"name": "王老师", "phone": "028-85400000", "email": None}
        second = (await stack.client.get(f"/market/achievements/{rows[1]['id']}", headers=uni.headers)).json()
        assert second["keywords"] == ["摄像头", "语音"]  # a quoted cell spanning two lines
        assert second["patents"][0]["application_no"] == "202122975192.6"

    async def test_reimport_creates_no_duplicates(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        first = (await stack.client.post(URL, content=GOOD_CSV.encode(), headers={**uni.headers, **CSV_HEADERS})).json()
        again = (await stack.client.post(URL, content=GOOD_CSV.encode(), headers={**uni.headers, **CSV_HEADERS})).json()
        assert (again["created"], again["existing"], again["failed"]) == (0, 2, 2)
        assert [r["id"] for r in again["rows"][:2]] == [r["id"] for r in first["rows"][:2]]
        assert await count(stack, Achievement) == 2
        # The natural key is per owner: another university importing the same file gets its own drafts.
        other = await actors.org_member(kind="university")
        theirs = (
            await stack.client.post(URL, content=GOOD_CSV.encode(), headers={**other.headers, **CSV_HEADERS})
        ).json()
        assert theirs["created"] == 2

    async def test_jsonl_rows_are_full_bodies(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        body = jsonl(
            achievement_body(),
            "",
            "{not json",
            "[1, 2]",
            achievement_body(patents=[], title="有状态的", status="published"),
            achievement_body(patents=[], title="一种无人机机载多功能盒 "),
            achievement_body(title="同一专利换个标题"),
        )
        report = (await stack.client.post(URL, content=body, headers={**uni.headers, **JSONL_HEADERS})).json()
        assert [(r["row"], r["status"]) for r in report["rows"]] == [
            (1, "created"),
            (3, "error"),
            (4, "error"),
            (5, "error"),
            (6, "created"),
            (7, "existing"),
        ]
        assert error_fields(report["rows"][3]) == ["status"]
        assert report["rows"][5]["id"] == report["rows"][0]["id"]
        assert await count(stack, Achievement) == 2

    async def test_row_limit_is_10000(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        body = b"\n".join([json.dumps(achievement_body()).encode()] + [b"{}"] * 10_000)
        response = await stack.client.post(URL, content=body, headers={**uni.headers, **JSONL_HEADERS})
        assert_problem(response, 413)
        assert await count(stack, Achievement) == 0

    @pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/vnd.ms-excel"])
    async def test_other_media_types_are_415(self, stack: Stack, actors: Any, content_type: str) -> None:
        uni = await actors.org_member(kind="university")
        response = await stack.client.post(
            URL, content=GOOD_CSV.encode(), headers={**uni.headers, "content-type": content_type}
        )
        assert_problem(response, 415)
        assert await count(stack, Achievement) == 0

    @pytest.mark.parametrize(
        ("content", "status", "field"),
        [
            (b"title,colour\nx,red\n", 422, "header"),
            (b"summary\nx\n", 422, "header"),
            (b"", 422, "header"),
            ("title,technical_field,ip_type\n坏,aerospace,design\n".encode("gb18030"), 400, None),
        ],
    )
    async def test_bad_files_are_refused_whole(
        self, stack: Stack, actors: Any, content: bytes, status: int, field: str | None
    ) -> None:
        uni = await actors.org_member(kind="university")
        response = await stack.client.post(URL, content=content, headers={**uni.headers, **CSV_HEADERS})
        body = assert_problem(response, status)
        if field is not None:
            assert field in error_fields(body)
        assert await count(stack, Achievement) == 0

    async def test_bare_cr_in_an_unquoted_cell_is_that_rows_error(self, stack: Stack, actors: Any) -> None:
        # Issue 13: a bare CR inside an unquoted cell answered 500 (_csv.Error: new-line character seen...).
        uni = await actors.org_member(kind="university")
        content = (
            "title,technical_field,ip_type\n"
            "没有专利的技术秘密,new_materials,technical_secret\n"
            "坏\r的一行,new_materials,technical_secret\n"
            '"引号里的\r可以",new_materials,technical_secret\n'
        ).encode()
        response = await stack.client.post(URL, content=content, headers={**uni.headers, **CSV_HEADERS})
        assert response.status_code == 200, response.text
        rows = response.json()["rows"]
        assert [(r["row"], r["status"]) for r in rows] == [(1, "created"), (2, "error"), (3, "error")]
        assert [e["type"] for e in rows[1]["errors"]] == ["csv_invalid"]
        # Quoted, the CR is read as part of the title, which the text rule then refuses (a one-line field).
        assert [(e["field"], e["type"]) for e in rows[2]["errors"]] == [("title", "text_invalid")]
        assert await count(stack, Achievement) == 1

    async def test_bare_cr_in_the_header_is_422_naming_the_header(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        content = b"title,techni\rcal_field,ip_type\n\xe5\x9d\x8f,aerospace,design\n"
        response = await stack.client.post(URL, content=content, headers={**uni.headers, **CSV_HEADERS})
        body = assert_problem(response, 422)
        assert error_fields(body) == ["header"]
        assert await count(stack, Achievement) == 0

    async def test_jsonl_rows_follow_the_text_rule(self, stack: Stack, actors: Any) -> None:
        # Issue 13: a lone surrogate in a JSON line answered 500; a NUL was stored as is.
        uni = await actors.org_member(kind="university")
        good = json.dumps(achievement_body(patents=[], title="好的"), ensure_ascii=False)
        surrogate = json.dumps(achievement_body(patents=[], title="x")).replace('"title": "x"', '"title": "\\ud800"')
        nul = json.dumps(achievement_body(patents=[], description="a\u0000b"))
        body = "\n".join([good, surrogate, nul]).encode()
        response = await stack.client.post(URL, content=body, headers={**uni.headers, **JSONL_HEADERS})
        assert response.status_code == 200, response.text
        rows = response.json()["rows"]
        assert [r["status"] for r in rows] == ["created", "error", "error"]
        assert [(e["field"], e["type"]) for e in rows[1]["errors"]] == [("title", "text_invalid")]
        assert [(e["field"], e["type"]) for e in rows[2]["errors"]] == [("description", "text_invalid")]
        assert await count(stack, Achievement) == 1

    async def test_only_universities_and_institutes_import(self, stack: Stack, actors: Any) -> None:
        company = await actors.org_member(kind="enterprise")
        assert_problem(
            await stack.client.post(URL, content=GOOD_CSV.encode(), headers={**company.headers, **CSV_HEADERS}), 403
        )
        assert_problem(await stack.client.post(URL, content=GOOD_CSV.encode(), headers=CSV_HEADERS), 401)
        assert await count(stack, Achievement) == 0

    async def test_cli_streams_the_file_with_a_progress_bar(self, stack: Stack, actors: Any, tmp_path: Path) -> None:
        uni = await actors.org_member(kind="university")
        path = tmp_path / "achievements.csv"
        path.write_text(GOOD_CSV, encoding="utf-8")
        status, report = await import_file(path, client=stack.client, token=uni.token, show_progress=False)
        assert status == 200
        assert (report["created"], report["failed"]) == (2, 2)
        status, again = await import_file(path, client=stack.client, token=uni.token, show_progress=False)
        assert (again["created"], again["existing"]) == (0, 2)


class TestImportKeys:
    """The natural key: owner + first application number, else owner + external_id, else owner + title + summary."""

    async def test_same_title_with_other_summaries_are_other_achievements(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        body = jsonl(
            achievement_body(patents=[], title="一种复合吸附材料", summary="以改性沸石为载体的重金属吸附材料。"),
            achievement_body(patents=[], title="一种复合吸附材料", summary="以生物炭为骨架的有机污染物吸附材料。"),
            # The same title and summary again, case and surrounding spaces aside: the same achievement.
            achievement_body(patents=[], title="一种复合吸附材料 ", summary=" 以改性沸石为载体的重金属吸附材料。"),
            achievement_body(patents=[], title="Know-How A", summary="Zeolite"),
            achievement_body(patents=[], title="know-how a", summary="ZEOLITE"),
        )
        report = (await stack.client.post(URL, content=body, headers={**uni.headers, **JSONL_HEADERS})).json()
        assert [r["status"] for r in report["rows"]] == ["created", "created", "existing", "created", "existing"]
        ids = [r["id"] for r in report["rows"]]
        assert (ids[2], ids[4]) == (ids[0], ids[3])
        again = (await stack.client.post(URL, content=body, headers={**uni.headers, **JSONL_HEADERS})).json()
        assert (again["created"], again["existing"]) == (0, 5)
        assert [r["id"] for r in again["rows"]] == ids
        assert await count(stack, Achievement) == 3

    async def test_real_patents_titled_alike_from_one_university(self, stack: Stack, actors: Any) -> None:
        if not BDCI_PATENTS.exists():
            pytest.skip(f"shared patent data not present at {BDCI_PATENTS} (see ../shared/data/SOURCES.md)")
        records = [
            record
            for line in BDCI_PATENTS.read_text(encoding="utf-8").splitlines()
            if line.strip() and (record := json.loads(line))["title"] == "吸收性物品"
        ]
        assert len(records) >= 2  # two different patents (different abstracts), no numbers in the source
        uni = await actors.org_member(kind="university")
        body = jsonl(
            *(
                {"title": r["title"], "summary": r["abstract"], "technical_field": "new_materials", "ip_type": "other"}
                for r in records
            )
        )
        report = (await stack.client.post(URL, content=body, headers={**uni.headers, **JSONL_HEADERS})).json()
        assert (report["created"], report["failed"]) == (len(records), 0), report
        again = (await stack.client.post(URL, content=body, headers={**uni.headers, **JSONL_HEADERS})).json()
        assert (again["created"], again["existing"]) == (0, len(records))
        assert await count(stack, Achievement) == len(records)

    async def test_external_id_column_keys_rows_without_numbers(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        response = await stack.client.post(URL, content=KEYED_CSV.encode(), headers={**uni.headers, **CSV_HEADERS})
        report = response.json()
        rows = report["rows"]
        assert [r["status"] for r in rows] == ["created", "created", "created", "error", "error", "error"]
        # Row 4 reuses row 1's reference for another patent: an error naming external_id, nothing stored.
        assert error_fields(rows[3]) == ["external_id"]
        assert rows[0]["id"] in rows[3]["errors"][0]["message"]
        assert error_fields(rows[4]) == ["external_id"]  # 101 characters
        assert error_fields(rows[5]) == ["external_id"]  # a control character
        assert await count(stack, Achievement) == 3
        assert await count(stack, OutboxEvent) == 3
        owner_view = (await stack.client.get(f"/market/achievements/{rows[1]['id']}", headers=uni.headers)).json()
        assert owner_view["external_id"] == "SCU-TT-2024-018"
        assert all("external_id" not in event.payload for event in await outbox_events(stack))

        again = (
            await stack.client.post(URL, content=KEYED_CSV.encode(), headers={**uni.headers, **CSV_HEADERS})
        ).json()
        assert (again["created"], again["existing"], again["failed"]) == (0, 3, 3)
        assert [r["id"] for r in again["rows"][:3]] == [r["id"] for r in rows[:3]]

        # A new patent under a reference the organization already uses elsewhere: a row error, as on create.
        clash = "title,technical_field,ip_type,application_nos,external_id\n新的一项,aerospace,utility_model,202122975192.6,SCU-TT-2024-018\n"
        report = (await stack.client.post(URL, content=clash.encode(), headers={**uni.headers, **CSV_HEADERS})).json()
        assert report["rows"][0]["status"] == "error"
        assert error_fields(report["rows"][0]) == ["external_id"]
        assert await count(stack, Achievement) == 3
        # Another organization has its own references.
        other = await actors.org_member(kind="university")
        theirs = (await stack.client.post(URL, content=clash.encode(), headers={**other.headers, **CSV_HEADERS})).json()
        assert theirs["created"] == 1

    async def test_an_existing_row_is_not_updated(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        first = (
            await stack.client.post(URL, content=jsonl(achievement_body()), headers={**uni.headers, **JSONL_HEADERS})
        ).json()
        # The same patent with a reference now: `existing`, the listing keeps what it had (PATCH sets a reference).
        body = jsonl(achievement_body(external_id="SCU-TT-2024-017", trl=9))
        report = (await stack.client.post(URL, content=body, headers={**uni.headers, **JSONL_HEADERS})).json()
        assert report["rows"][0] == {"row": 1, "status": "existing", "id": first["rows"][0]["id"], "errors": []}
        listing = (await stack.client.get(f"/market/achievements/{first['rows'][0]['id']}", headers=uni.headers)).json()
        assert (listing["external_id"], listing["trl"], listing["version"]) == (None, 6, 1)


def without_ids(report: dict[str, Any]) -> dict[str, Any]:
    """A report with the ids of the rows left out (two importers get their own drafts)."""
    return {**report, "rows": [{k: v for k, v in row.items() if k != "id"} for row in report["rows"]]}


class TestMultipartUpload:
    """Issue 13: browsers and generated clients send the file as the multipart part `file`."""

    async def test_csv_part_gives_the_report_of_the_raw_body(self, stack: Stack, actors: Any) -> None:
        raw_uni, form_uni = await actors.org_member(kind="university"), await actors.org_member(kind="university")
        raw = await stack.client.post(URL, content=GOOD_CSV.encode(), headers={**raw_uni.headers, **CSV_HEADERS})
        form = await stack.client.post(
            URL, files={"file": ("achievements.csv", GOOD_CSV.encode(), "text/csv")}, headers=form_uni.headers
        )
        assert form.status_code == 200, form.text
        assert without_ids(form.json()) == without_ids(raw.json())
        assert form.json()["created"] == 2
        assert await count(stack, Achievement) == 4

    @pytest.mark.parametrize(
        ("filename", "part_type"),
        [
            ("achievements.ndjson", "application/x-ndjson"),
            ("achievements.jsonl", "application/octet-stream"),  # what a browser labels an unknown extension
            ("export", "application/x-ndjson"),
        ],
    )
    async def test_ndjson_part_by_type_or_extension(
        self, stack: Stack, actors: Any, filename: str, part_type: str
    ) -> None:
        uni = await actors.org_member(kind="university")
        body = jsonl(achievement_body(), achievement_body(patents=[], title="没有专利的成果"))
        response = await stack.client.post(URL, files={"file": (filename, body, part_type)}, headers=uni.headers)
        assert response.status_code == 200, response.text
        assert [r["status"] for r in response.json()["rows"]] == ["created", "created"]
        assert await count(stack, Achievement) == 2

    @pytest.mark.parametrize(
        ("filename", "part_type"),
        [("achievements.xlsx", "application/octet-stream"), ("achievements.txt", "text/plain"), ("data", None)],
    )
    async def test_unknown_file_type_is_415_naming_file(
        self, stack: Stack, actors: Any, filename: str, part_type: str | None
    ) -> None:
        uni = await actors.org_member(kind="university")
        part = (filename, GOOD_CSV.encode()) if part_type is None else (filename, GOOD_CSV.encode(), part_type)
        response = await stack.client.post(URL, files={"file": part}, headers=uni.headers)
        assert error_fields(assert_problem(response, 415)) == ["file"]
        assert await count(stack, Achievement) == 0

    async def test_missing_file_part_is_422_naming_file(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        other_part = await stack.client.post(
            URL, files={"upload": ("a.csv", GOOD_CSV.encode(), "text/csv")}, headers=uni.headers
        )
        assert error_fields(assert_problem(other_part, 422)) == ["file"]
        not_a_file = await stack.client.post(URL, data={"file": GOOD_CSV}, files={"x": ("x", b"")}, headers=uni.headers)
        assert error_fields(assert_problem(not_a_file, 422)) == ["file"]
        assert await count(stack, Achievement) == 0

    @pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary=xyz"])
    async def test_a_broken_multipart_body_is_400(self, stack: Stack, actors: Any, content_type: str) -> None:
        uni = await actors.org_member(kind="university")
        response = await stack.client.post(
            URL, content=b"--abc\r\nnot a part", headers={**uni.headers, "content-type": content_type}
        )
        assert_problem(response, 400)
        assert await count(stack, Achievement) == 0
