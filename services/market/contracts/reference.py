"""Versioned reference data of technology contracts: kinds, subkinds, party entity types, ownerships, flows.

The national rules (技术合同认定规则) change the list of kinds and subkinds; they were revised in 2026 and will be
again. The tables therefore live in data files keyed by ``rules_version`` (``data/*.csv``), never in Python enums:
a contract is validated against the rules version in force on its signing date and keeps that version forever.

``reference_tables()`` returns every table in one JSON-ready shape, for the market reference registry
(GET /market/reference/{name}) to serve.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from services.market.reference.service import get_table, register_table

__all__ = [
    "ContractKind",
    "ContractSubkind",
    "EntityType",
    "RulesVersion",
    "entity_types",
    "flows",
    "kinds",
    "ownerships",
    "reference_tables",
    "register_contract_tables",
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


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def rules_versions() -> tuple[RulesVersion, ...]:
    """Every rules version, oldest first."""
    versions = [
        RulesVersion(r["rules_version"], dt.date.fromisoformat(r["effective_from"]), r["label_zh"], r["note"])
        for r in _rows("rules_versions.csv")
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
        for r in _rows("contract_kinds.csv")
        if r["rules_version"] == rules_version
    }


@cache
def subkinds(rules_version: str) -> dict[str, ContractSubkind]:
    """The subkinds of one rules version by code."""
    return {
        r["code"]: ContractSubkind(
            r["rules_version"], r["kind"], r["code"], r["label_zh"], r["label_en"], int(r["order"])
        )
        for r in _rows("contract_subkinds.csv")
        if r["rules_version"] == rules_version
    }


@cache
def entity_types(rules_version: str) -> dict[str, EntityType]:
    """The party entity types of one rules version by code."""
    return {
        r["code"]: EntityType(
            r["rules_version"], r["code"], r["label_zh"], r["label_en"], r["needs_ownership"] == "true", int(r["order"])
        )
        for r in _rows("entity_types.csv")
        if r["rules_version"] == rules_version
    }


@cache
def ownerships(rules_version: str) -> dict[str, str]:
    """Enterprise ownership codes of one rules version → Chinese label."""
    return {r["code"]: r["label_zh"] for r in _rows("ownerships.csv") if r["rules_version"] == rules_version}


@cache
def flows() -> dict[str, str]:
    """The flow codes of the statistics (local, to_chongqing, …) → Chinese label."""
    return {r["code"]: r["label_zh"] for r in _rows("flows.csv")}


@cache
def all_kind_labels() -> dict[str, str]:
    """Kind and subkind codes of every version → Chinese label (the newest version's label wins)."""
    labels: dict[str, str] = {}
    for version in rules_versions():
        labels.update({k.code: k.label_zh for k in kinds(version.code).values()})
        labels.update({s.code: s.label_zh for s in subkinds(version.code).values()})
    return labels


def reference_tables() -> dict[str, list[dict[str, Any]]]:
    """Every contract reference table, JSON-ready, for GET /market/reference/{name}."""
    return {
        "contract_rules_versions": [dict(r, code=r["rules_version"]) for r in _rows("rules_versions.csv")],
        "contract_kinds": [dict(r, order=int(r["order"])) for r in _rows("contract_kinds.csv")],
        "contract_subkinds": [dict(r, order=int(r["order"])) for r in _rows("contract_subkinds.csv")],
        "contract_entity_types": [
            dict(r, order=int(r["order"]), needs_ownership=r["needs_ownership"] == "true")
            for r in _rows("entity_types.csv")
        ],
        "contract_ownerships": [dict(r, order=int(r["order"])) for r in _rows("ownerships.csv")],
        "contract_flows": [dict(r, order=int(r["order"])) for r in _rows("flows.csv")],
    }


_DESCRIPTIONS = {
    "contract_rules_versions": "Editions of the contract registration rules (技术合同认定规则) and when each took effect.",
    "contract_kinds": "Technology contract kinds (民法典 Art. 843: 技术开发、转让、许可、咨询、服务), per rules version.",
    "contract_subkinds": "Contract subkinds (委托开发、专利权转让、技术秘密许可、技术培训、技术中介…), per rules version.",
    "contract_entity_types": "Entity types of contract parties (高校、科研机构、企业…).",
    "contract_ownerships": "Ownership of enterprise parties (国有、民营、外资、港澳台).",
    "contract_flows": "Flow of a contract between regions (本地、流向重庆/四川、外省、境外).",
}


def _loader(name: str) -> Callable[[], list[dict[str, Any]]]:
    def load() -> list[dict[str, Any]]:
        return reference_tables()[name]

    return load


def register_contract_tables() -> None:
    """Serve every contract table at GET /market/reference/{name} (idempotent)."""
    for name, description in _DESCRIPTIONS.items():
        if get_table(name) is None:
            register_table(name, _loader(name), description=description)
