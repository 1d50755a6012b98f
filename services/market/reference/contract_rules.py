"""Versioned reference data of technology contracts: kinds, subkinds, party entity types, ownerships, flows.

The national rules (技术合同认定规则) change the list of kinds and subkinds; they were revised in 2026 and will be
again. The tables therefore live in data files keyed by ``rules_version`` (``data/*.csv``), never in Python enums:
a contract is validated against the rules version in force on its signing date and keeps that version forever.

The typed accessors below are what contracts, proposals' drafts and the statistics validate with; ``data_rows``
gives the files' rows as they are, which ``tables.py`` serves at GET /market/reference/contract_*.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = [
    "ContractKind",
    "ContractSubkind",
    "EntityType",
    "RulesVersion",
    "all_kind_labels",
    "data_rows",
    "entity_types",
    "flows",
    "kinds",
    "ownerships",
    "rules_version_for",
    "rules_versions",
    "subkinds",
]

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True, slots=True)
class RulesVersion:
    """One edition of the rules, in force from ``effective_from``."""

    code: str
    effective_from: dt.date
    label_zh: str
    note: str


@dataclass(frozen=True, slots=True)
class ContractKind:
    """A contract kind (技术开发 …) of one rules version."""

    rules_version: str
    code: str
    label_zh: str
    label_en: str
    order: int


@dataclass(frozen=True, slots=True)
class ContractSubkind:
    """A subkind, belonging to one kind, of one rules version."""

    rules_version: str
    kind: str
    code: str
    label_zh: str
    label_en: str
    order: int


@dataclass(frozen=True, slots=True)
class EntityType:
    """A party's entity type (高等院校 …); enterprises also state an ownership."""

    rules_version: str
    code: str
    label_zh: str
    label_en: str
    needs_ownership: bool
    order: int


def data_rows(name: str) -> list[dict[str, str]]:
    """The rows of ``data/<name>`` as strings, in file order."""
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def rules_versions() -> tuple[RulesVersion, ...]:
    """Every rules version, oldest first."""
    versions = [
        RulesVersion(r["rules_version"], dt.date.fromisoformat(r["effective_from"]), r["label_zh"], r["note"])
        for r in data_rows("rules_versions.csv")
    ]
    return tuple(sorted(versions, key=lambda v: v.effective_from))


def rules_version_for(day: dt.date) -> str:
    """The rules version in force on ``day`` (the oldest one for days before every version)."""
    versions = rules_versions()
    chosen = versions[0].code
    for version in versions:
        if version.effective_from <= day:
            chosen = version.code
    return chosen


@cache
def kinds(rules_version: str) -> dict[str, ContractKind]:
    """The kinds of one rules version by code."""
    return {
        r["code"]: ContractKind(r["rules_version"], r["code"], r["label_zh"], r["label_en"], int(r["order"]))
        for r in data_rows("contract_kinds.csv")
        if r["rules_version"] == rules_version
    }


@cache
def subkinds(rules_version: str) -> dict[str, ContractSubkind]:
    """The subkinds of one rules version by code."""
    return {
        r["code"]: ContractSubkind(
            r["rules_version"], r["kind"], r["code"], r["label_zh"], r["label_en"], int(r["order"])
        )
        for r in data_rows("contract_subkinds.csv")
        if r["rules_version"] == rules_version
    }


@cache
def entity_types(rules_version: str) -> dict[str, EntityType]:
    """The party entity types of one rules version by code."""
    return {
        r["code"]: EntityType(
            r["rules_version"], r["code"], r["label_zh"], r["label_en"], r["needs_ownership"] == "true", int(r["order"])
        )
        for r in data_rows("entity_types.csv")
        if r["rules_version"] == rules_version
    }


@cache
def ownerships(rules_version: str) -> dict[str, str]:
    """Enterprise ownership codes of one rules version → Chinese label."""
    return {r["code"]: r["label_zh"] for r in data_rows("ownerships.csv") if r["rules_version"] == rules_version}


@cache
def flows() -> dict[str, str]:
    """The flow codes of the statistics (local, to_chongqing, …) → Chinese label."""
    return {r["code"]: r["label_zh"] for r in data_rows("flows.csv")}


@cache
def all_kind_labels() -> dict[str, str]:
    """Kind and subkind codes of every version → Chinese label (the newest version's label wins)."""
    labels: dict[str, str] = {}
    for version in rules_versions():
        labels.update({k.code: k.label_zh for k in kinds(version.code).values()})
        labels.update({s.code: s.label_zh for s in subkinds(version.code).values()})
    return labels
