"""Percolation agrees with search: a listing matches a query iff a search with that query returns the listing.

Real patent records (../shared/data/patents) become achievements (then demands) with random filter values (a few unpublished);
the published ones are indexed on each engine of the behavioral suite (embedded, the Meilisearch adapter against
FakeMeilisearch, a live Meilisearch when MEILI_URL is set). Queries take their words from the corpus (whole
words, words glued together, a half-typed last word, a word from another patent), with random filters and both
strategies. For every (listing, query): percolate says match ⇔ the listing is among the search's results (the
corpus is smaller than a page, so "at any page" is the one page).
"""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.search.documents.schemas import DocumentOperation
from services.search.documents.service import is_searchable, parse_fields, to_index_document
from services.search.engines.base import Kind, SearchEngine
from services.search.percolate import service
from services.search.percolate.schemas import PercolateQuery
from services.search.segment import segmenter
from tests.search.factories import achievement_fields, demand_fields

PATENTS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "patents" / "bdci2022_cn_patents.jsonl"
LISTINGS = 100
QUERIES = 140
FIELDS = ["electronic_information", "advanced_manufacturing", "new_energy", "new_materials"]
REGIONS = ["510104", "510107", "510700", "510722", "500112", "500103"]
REGION_FILTERS = ["510000", "500000", "510100", "510700", "510104", "500112"]
MODES = ["transfer", "license", "equity", "joint_development"]


def listings(rng: random.Random, kind: Kind) -> list[DocumentOperation]:
    """Achievements or demands made of real patents, with random filter values; about one in ten unpublished."""
    with PATENTS.open(encoding="utf-8") as lines:
        patents = [json.loads(line) for line in lines][:LISTINGS]
    out = []
    for patent in patents:
        low = rng.choice([None, rng.randrange(0, 100) * 1_000_000])
        amount = (
            {"kind": "negotiable"}
            if low is None
            else {"kind": "range", "min_fen": low, "max_fen": low + rng.randrange(0, 50) * 1_000_000}
        )
        common = {
            "title": patent["title"],
            "description": patent["abstract"],
            "keywords": [],
            "owner_org_name": patent.get("applicant"),
            "technical_field": rng.choice(FIELDS),
            "region_code": rng.choice(REGIONS),
            "status": "published" if rng.random() < 0.9 else "draft",
        }
        trl = rng.choice([None, *range(1, 10)])
        modes = rng.sample(MODES, rng.randint(0, 2))
        if kind == "achievement":
            fields = achievement_fields(
                **common,
                summary=patent["abstract"][:300],
                trl=trl,
                ip_type=rng.choice(["invention_patent", "utility_model"]),
                transfer_modes=modes,
                price=amount,
            )
        else:
            fields = demand_fields(**common, desired_trl=trl, cooperation_modes=modes, budget=amount)
        out.append(DocumentOperation(op="upsert", kind=kind, id=uuid.uuid4(), version=1, fields=fields))
    return out


def queries(rng: random.Random, docs: list[DocumentOperation], kind: Kind) -> list[PercolateQuery]:
    words = segmenter().query_terms
    out = []
    for i in range(QUERIES):
        own = [t.word for t in words(str(rng.choice(docs).fields["title"]))]  # type: ignore[index]
        other = [t.word for t in words(str(rng.choice(docs).fields["title"]))]  # type: ignore[index]
        picked = rng.sample(own, min(len(own), rng.randint(1, 3))) if own else []
        if other and rng.random() < 0.4:
            picked.insert(rng.randrange(len(picked) + 1), rng.choice(other))
        text = " ".join(picked) if rng.random() < 0.7 else "".join(picked)
        if rng.random() < 0.25 and len(text) > 2:
            text = text[:-1]  # half-typed
        filters: dict[str, Any] = {}
        if rng.random() < 0.25:
            filters["technical_field"] = rng.choice(FIELDS)
        if rng.random() < 0.25:
            filters["region"] = rng.choice(REGION_FILTERS)
        if rng.random() < 0.2:
            filters["trl_min"] = rng.randint(1, 6)
        if rng.random() < 0.2:
            filters["trl_max"] = rng.randint(filters.get("trl_min", 1), 9)
        if rng.random() < 0.2:
            filters["amount_min"] = rng.randrange(0, 100) * 1_000_000
        if rng.random() < 0.2:
            filters["amount_max"] = filters.get("amount_min", 0) + rng.randrange(0, 80) * 1_000_000
        if kind == "achievement" and rng.random() < 0.15:
            filters["ip_type"] = rng.choice(["invention_patent", "utility_model"])
        if rng.random() < 0.2:
            filters["transfer_mode" if kind == "achievement" else "cooperation_mode"] = rng.choice(MODES)
        if rng.random() < 0.05:
            text = ""  # filters alone
        out.append(
            PercolateQuery(key=str(i), q=text, matching=rng.choice(["last", "all"]), **filters)  # type: ignore[arg-type]
        )
    return out


@pytest.mark.parametrize("kind", ["achievement", "demand"])
async def test_percolation_matches_exactly_what_search_returns(engine: SearchEngine, kind: Kind) -> None:
    rng = random.Random(14)
    docs = listings(rng, kind)
    published = []
    for doc in docs:
        fields = parse_fields(kind, doc.fields or {})
        if is_searchable(kind, fields):
            published.append(to_index_document(kind, str(doc.id), doc.version, fields))
    await engine.apply(kind, published, [])
    asked = queries(rng, docs, kind)
    searches = service.search_queries(kind, asked)
    found: dict[str, set[str]] = {}  # query key → ids of the listings the search returns
    for item, search in zip(asked, searches, strict=True):
        if search.q and not segmenter().query_terms(search.q):
            found[item.key] = set()  # the search API refuses a q without words: nothing is found
            continue
        result = await engine.search(dataclasses.replace(search, limit=LISTINGS + 1), highlight=[])
        assert result.total <= LISTINGS
        found[item.key] = {hit.id for hit in result.hits}
    matched_pairs = partial = 0
    for doc in docs:
        matches = service.percolate(segmenter=segmenter(), kind=kind, document=doc, queries=asked)
        keys = {m.key for m in matches}
        expected = {item.key for item in asked if str(doc.id) in found[item.key]}
        assert keys == expected, (doc.fields["title"], sorted(keys ^ expected))  # type: ignore[index]
        matched_pairs += len(keys)
        partial += sum(1 for m in matches if m.score is not None and m.score < 1)
    # Not degenerate: many pairs match (some on part of the words, by `last`), most do not.
    assert 200 < matched_pairs < LISTINGS * QUERIES // 4, matched_pairs
    assert partial > 20, partial
