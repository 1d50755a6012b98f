"""Patent application numbers (check digit), publication numbers and IPC symbols."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.market.listings.codes import (
    application_check_char,
    normalize_application_no,
    normalize_ipc,
    normalize_publication_no,
)
from tests.conftest import SHARED_DATA

PATENTS = SHARED_DATA / "patents" / "patentsemantix_case_cn_patents.jsonl"


class TestApplicationNumber:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("202110123456.7", "202110123456.7"),  # the example of the issue
            ("CN202121635235.X", "202121635235.X"),  # check digit 10 is X
            ("cn202121635235.x", "202121635235.X"),
            ("２０２２２３２２０６６５．２", "202223220665.2"),
            ("2022232206652", "202223220665.2"),
        ],
    )
    def test_valid_numbers_are_normalized(self, raw: str, expected: str) -> None:
        assert normalize_application_no(raw) == expected

    @pytest.mark.parametrize(
        "raw",
        ["202223220665.3", "202243220665.2", "20222322066.2", "2022232206651.2", "CN218751475U", "", "abcd"],
    )
    def test_invalid_numbers_are_refused(self, raw: str) -> None:
        with pytest.raises(ValueError, match=r"."):
            normalize_application_no(raw)

    def test_real_numbers_of_the_shared_data_validate(self) -> None:
        if not PATENTS.exists():
            pytest.skip(f"shared patent data not present at {PATENTS} (see ../shared/data/SOURCES.md)")
        records = [json.loads(line) for line in PATENTS.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert len(records) == 10
        for record in records:
            assert normalize_application_no(record["id"]) == record["id"].removeprefix("CN")
            assert normalize_publication_no(record["pub_no"]) == record["pub_no"]
            for ipc in record["ipc"]:
                normalize_ipc(ipc)

    @given(st.text(alphabet="0123456789", min_size=12, max_size=12))
    def test_exactly_one_check_character_is_accepted(self, digits: str) -> None:
        number = f"2021{1}{digits[5:12]}"
        accepted = [c for c in "0123456789X" if _valid(f"{number}.{c}")]
        assert accepted == [application_check_char(number)]


def _valid(number: str) -> bool:
    try:
        normalize_application_no(number)
    except ValueError:
        return False
    return True


class TestPublicationNumber:
    @pytest.mark.parametrize("raw", ["CN218751475U", "cn116245100a", "ＣＮ１１５８８３３９７Ａ", "CN112345678B"])
    def test_valid(self, raw: str) -> None:
        assert normalize_publication_no(raw).startswith("CN")

    @pytest.mark.parametrize("raw", ["CN21875147U", "US218751475U", "CN218751475", "CN218751475Q"])
    def test_invalid(self, raw: str) -> None:
        with pytest.raises(ValueError, match="publication"):
            normalize_publication_no(raw)


class TestIpc:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("G06F 16/33", "G06F 16/33"),
            ("B64U20/80", "B64U 20/80"),  # a subclass newer than the 2006 list
            ("g06f18/2321", "G06F 18/2321"),
            ("H10K", "H10K"),
            ("Ｈ０４Ｌ ９/４０", "H04L 9/40"),
        ],
    )
    def test_valid_shapes(self, raw: str, expected: str) -> None:
        assert normalize_ipc(raw) == expected

    @pytest.mark.parametrize("raw", ["G06", "Z01A 1/00", "G06F 16", "G06F 16/3", "G06F/33", "1234"])
    def test_invalid_shapes(self, raw: str) -> None:
        with pytest.raises(ValueError, match="IPC"):
            normalize_ipc(raw)
