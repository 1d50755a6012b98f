"""Percolation never fails on input the schema admits: any q and filters either match, do not, or are a 422."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.search.documents.schemas import DocumentOperation
from services.search.percolate import service
from services.search.percolate.schemas import PercolateQuery
from services.search.segment import segmenter
from shared.errors import ValidationFailed
from tests.search.factories import upsert_op

DOCUMENT = DocumentOperation.model_validate(
    upsert_op(title="无人机电力巡检图像处理方法 C++ 5G-NR", summary='“深度学习”对巡检图像(1.5mm)进行处理 AND "NEAR"')
)
# Text mixing the document's words, FTS5 syntax and arbitrary characters.
WORDS = st.sampled_from(
    ["无人机", "巡检", "图像", "处理", "AND", "OR", "NOT", "NEAR(", '"', "*", "^", ":", "c++", "5g"]
)
Q = st.one_of(st.lists(WORDS, max_size=6).map(" ".join), st.lists(WORDS, max_size=6).map("".join), st.text(max_size=60))
OPTIONAL_INT = st.one_of(st.none(), st.integers(min_value=-2, max_value=12))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    q=Q,
    matching=st.sampled_from(["last", "all"]),
    trl=st.tuples(OPTIONAL_INT, OPTIONAL_INT),
    amounts=st.tuples(st.one_of(st.none(), st.integers(-1, 10**9)), st.one_of(st.none(), st.integers(-1, 10**9))),
    region=st.one_of(st.none(), st.sampled_from(["510000", "510100", "510104", "500000", "999999", "abc"])),
    field=st.one_of(st.none(), st.sampled_from(["environment", "electronic_information", "nope"])),
    mode=st.one_of(st.none(), st.sampled_from(["license", "transfer", "equity", "Bad Code"])),
)
def test_any_admitted_query_matches_or_is_refused_by_field(
    q: str,
    matching: str,
    trl: tuple[int | None, int | None],
    amounts: tuple[int | None, int | None],
    region: str | None,
    field: str | None,
    mode: str | None,
) -> None:
    raw: dict[str, Any] = {
        "key": "k",
        "q": q,
        "matching": matching,
        "trl_min": trl[0],
        "trl_max": trl[1],
        "amount_min": amounts[0],
        "amount_max": amounts[1],
        "region": region,
        "technical_field": field,
        "transfer_mode": mode,
    }
    try:
        query = PercolateQuery.model_validate(raw)
    except ValidationError:
        return  # a 422 from the request model (FastAPI names the field)
    refused: list[Any] | None = None
    try:
        matches = service.percolate(segmenter=segmenter(), kind="achievement", document=DOCUMENT, queries=[query])
    except ValidationFailed as exc:  # a 422 naming the query's field, with its index
        refused, matches = list(exc.errors or []), []
    if refused is not None:
        assert refused
        assert all(e["field"].startswith("queries.0.") for e in refused)
    assert len(matches) <= 1
    for match in matches:
        assert match.key == "k"
        assert match.score is None if not segmenter().query_terms(query.q) else 0 < match.score <= 1
