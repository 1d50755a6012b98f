"""The contract kind and subkind a deal's draft infers from its cooperation mode and the achievement's rights."""

from __future__ import annotations

import pytest

from services.market.listings.models import Achievement
from services.market.proposals.draft import infer_kind
from services.market.reference import contract_rules

UTILITY_GRANTED = [{"application_no": "202223220665.2", "publication_no": "CN218751475U"}]
INVENTION_PUBLISHED = [{"application_no": "202110123456.7", "publication_no": "CN112345678A"}]
INVENTION_GRANTED = [
    {"application_no": "202110123456.7", "publication_no": "CN112345678A"},
    {"application_no": "202110123456.7", "publication_no": "CN112345678B"},
]
NO_PUBLICATION = [{"application_no": "202110123456.7"}]


def achievement(ip_type: str, patents: list[dict[str, str]]) -> Achievement:
    return Achievement(ip_type=ip_type, patents=patents, title="t", technical_field="aerospace")


@pytest.mark.parametrize(
    ("mode", "ip_type", "patents", "expected"),
    [
        ("transfer", "utility_model", UTILITY_GRANTED, ("transfer", "patent_right_transfer")),
        ("transfer", "invention_patent", INVENTION_GRANTED, ("transfer", "patent_right_transfer")),
        ("transfer", "invention_patent", INVENTION_PUBLISHED, ("transfer", "patent_application_right_transfer")),
        ("transfer", "invention_patent", NO_PUBLICATION, ("transfer", "patent_right_transfer")),
        ("transfer", "invention_patent", [], ("transfer", "other_transfer")),
        ("transfer", "technical_secret", [], ("transfer", "technical_secret_transfer")),
        ("transfer", "software_copyright", [], ("transfer", "other_transfer")),
        ("equity", "utility_model", UTILITY_GRANTED, ("transfer", "patent_right_transfer")),
        ("license", "invention_patent", INVENTION_PUBLISHED, ("license", "patent_license")),
        ("license", "technical_secret", [], ("license", "technical_secret_license")),
        ("license", "plant_variety", [], ("license", "other_license")),
        ("co_development", "other", [], ("development", "cooperative_development")),
        ("commissioned_development", "other", [], ("development", "commissioned_development")),
        ("consulting", "other", [], ("consulting", "technical_consulting")),
        ("service", "other", [], ("service", "technical_service")),
        ("other", "utility_model", UTILITY_GRANTED, ("transfer", "other_transfer")),
        (None, "utility_model", UTILITY_GRANTED, ("transfer", "other_transfer")),
    ],
)
def test_mapping(mode: str | None, ip_type: str, patents: list[dict[str, str]], expected: tuple[str, str]) -> None:
    for version in contract_rules.rules_versions():
        kind, subkind, _ = infer_kind(mode, achievement(ip_type, patents), rules_version=version.code)
        assert (kind, subkind) == expected, version.code


def test_unknown_codes_in_a_rules_version_leave_the_choice_to_the_submitter() -> None:
    kind, subkind, notes = infer_kind("transfer", achievement("other", []), rules_version="1999")
    assert (kind, subkind) == (None, None)
    assert "choose the kind and subkind" in notes[-1]


def test_equity_and_unspecified_modes_explain_the_choice() -> None:
    _, _, equity = infer_kind("equity", achievement("technical_secret", []), rules_version="2026")
    assert any("作价入股" in note for note in equity)
    _, _, unspecified = infer_kind(None, achievement("other", []), rules_version="2026")
    assert any("其他技术转让" in note for note in unspecified)
