"""Small kernel pieces: money formatting, Beijing dates, cursors, ids, text normalization, settings."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.search.settings import SearchSettings
from shared.clock import china_date
from shared.csvfile import iter_records, split_lf
from shared.errors import ValidationFailed
from shared.ids import new_id
from shared.money import fen_to_wan_yuan, fen_to_yi_yuan, fen_to_yuan
from shared.pagination import cursor_id, decode_cursor, encode_cursor
from shared.settings import DEV_SECRET_PREFIX
from shared.text import LongText, ShortText, check_text, normalize_code, normalize_text


class TestMoney:
    def test_exact_decimal_strings(self) -> None:
        assert fen_to_yuan(12345) == "123.45"
        assert fen_to_wan_yuan(1_000_000) == "1"
        assert fen_to_wan_yuan(123_456_789) == "123.456789"
        # 6000亿元 = 6e11 yuan = 6e13 fen
        assert fen_to_yi_yuan(60_000_000_000_000) == "6000"
        assert fen_to_yi_yuan(1) == "0.0000000001"
        assert fen_to_yi_yuan(-25_000_000_000) == "-2.5"

    def test_huge_values_stay_exact(self) -> None:
        fen = 10**20 + 7
        assert fen_to_yuan(fen) == "1000000000000000000.07"

    @given(st.integers(-(10**22), 10**22))
    def test_equals_decimal_division(self, fen: int) -> None:
        for render, divisor in ((fen_to_yuan, 100), (fen_to_wan_yuan, 10**6), (fen_to_yi_yuan, 10**10)):
            assert render(fen) == format((Decimal(fen) / divisor).normalize(), "f")


class TestChinaDate:
    def test_new_year_in_beijing_while_still_old_year_in_utc(self) -> None:
        instant = dt.datetime(2025, 12, 31, 16, 30, tzinfo=dt.UTC)  # 00:30 on 1 January in Beijing
        assert china_date(instant) == dt.date(2026, 1, 1)

    def test_naive_datetime_refused(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            china_date(dt.datetime(2026, 1, 1))  # noqa: DTZ001


class TestCursor:
    def test_round_trip_with_types(self) -> None:
        some_id = new_id()
        assert decode_cursor(encode_cursor(str(some_id))) == (some_id,)
        assert decode_cursor(encode_cursor(40, "-contract_amount_fen"), types=(int, str)) == (
            40,
            "-contract_amount_fen",
        )
        assert cursor_id(None) is None
        assert cursor_id(encode_cursor(str(some_id))) == some_id

    @pytest.mark.parametrize(
        ("bad", "types"),
        [
            ("!!!", (uuid.UUID,)),
            ("bm90IGpzb24", (uuid.UUID,)),
            ("w6k", (uuid.UUID,)),  # base64 of bytes that are not UTF-8
            (encode_cursor(1, 2, 3), (int, int)),  # arity
            (encode_cursor("x"), (uuid.UUID,)),  # right arity, not an id (the forged cursor)
            (encode_cursor(1), (uuid.UUID,)),
            (encode_cursor(True, "x"), (int, str)),  # a bool is not an int
            (encode_cursor("1", "x"), (int, str)),
            (encode_cursor(1, None), (int, str)),
            (base64.urlsafe_b64encode(b'{"a": 1}').decode(), (uuid.UUID,)),
            (base64.urlsafe_b64encode(b"[" * 300 + b"]" * 300).decode(), (uuid.UUID,)),
        ],
    )
    def test_forged_cursor_is_a_field_error(self, bad: str, types: tuple[type, ...]) -> None:
        with pytest.raises(ValidationFailed) as caught:
            decode_cursor(bad, types=types)
        assert caught.value.errors == [
            {"field": "cursor", "message": "not a cursor returned by this list", "type": "cursor_invalid"}
        ]


class TestTextRule:
    @pytest.mark.parametrize("char", ["\ud800", "\x00", "\x01", "\t", "\n", "\r", "\x1f", "\x7f", "\x80", "\x9f"])
    def test_short_text_refuses_surrogates_and_controls(self, char: str) -> None:
        with pytest.raises(ValidationError) as caught:
            TypeAdapter(ShortText).validate_python(f"a{char}b")
        assert caught.value.errors()[0]["type"] == "text_invalid"

    @pytest.mark.parametrize("char", ["\ud800", "\x00", "\x0b", "\r", "\x7f", "\x85"])
    def test_long_text_refuses_the_same_but_tab_and_newline(self, char: str) -> None:
        with pytest.raises(ValidationError) as caught:
            TypeAdapter(LongText).validate_python(f"a{char}b")
        assert caught.value.errors()[0]["type"] == "text_invalid"

    def test_accepted_text_is_nfc_and_trimmed(self) -> None:
        assert TypeAdapter(ShortText).validate_python("  Cafe\u0301 ") == "Café"
        assert TypeAdapter(LongText).validate_python(" 一\t二\r\n三\n") == "一\t二\n三"
        assert TypeAdapter(ShortText).validate_python("\u00a0全角\u3000空格 ok") == "全角\u3000空格 ok"

    def test_check_text_names_the_character(self) -> None:
        assert check_text("ok") is None
        problem = check_text("ab\x00")
        assert problem is not None
        assert "U+0000" in problem
        assert "position 2" in problem


class TestCsvRecords:
    def test_a_broken_record_is_its_own_error_and_reading_goes_on(self) -> None:
        text = 'a,b\r\n1,"x\ny"\n2,bad\rcell\n\n3,"quoted\rcr"\n4,"open\n'
        records = list(iter_records(split_lf([text[:7], text[7:]])))
        assert [(r.cells, r.error is not None, r.blank) for r in records] == [
            (["a", "b"], False, False),
            (["1", "x\ny"], False, False),
            ([], True, False),
            ([], False, True),
            (["3", "quoted\rcr"], False, False),
            ([], True, False),
        ]
        assert "CR" in (records[2].error or "")
        assert "unbalanced" in (records[5].error or "")


def test_ids_are_time_ordered_uuid7() -> None:
    ids = [new_id() for _ in range(50)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)


class TestText:
    def test_full_width_codes(self) -> None:
        assert normalize_code("ＣＮ１１２３４５６７８Ａ") == "CN112345678A"
        assert normalize_code(" 91510100ｍａ61ｒ０ｘ８Ｘ ") == "91510100MA61R0X8X"

    def test_nfc_and_trim(self) -> None:
        decomposed = "e\u0301"
        assert normalize_text(f"  {decomposed}  ") == "\u00e9"


class TestSettings:
    def test_plain_variable_is_a_fallback(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://plain/db")
        assert SearchSettings().database_url == "postgresql+asyncpg://plain/db"
        monkeypatch.setenv("SEARCH_DATABASE_URL", "postgresql+asyncpg://prefixed/db")
        assert SearchSettings().database_url == "postgresql+asyncpg://prefixed/db"

    def test_default_database_is_a_sqlite_file_in_data_dir(self, tmp_path: object) -> None:
        settings = SearchSettings(data_dir=tmp_path)  # type: ignore[arg-type]
        assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path}/search.db"

    def test_production_refuses_development_secrets(self) -> None:
        class Secretive(SearchSettings):
            secret_fields = ("jwt_issuer",)

        with pytest.raises(ValidationError, match="real secret"):
            Secretive(environment="production", jwt_issuer=DEV_SECRET_PREFIX + "x")
        assert Secretive(environment="production", jwt_issuer="real").jwt_issuer == "real"
