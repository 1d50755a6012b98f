"""Every reference table the market serves (GET /market/reference/{name}), declared once, in one place.

Code lists come from ``codes`` (the enums the schemas validate with), the contract rules from their data files
(``contract_rules``), technical fields and regions from the kernel (``shared.reference``). To serve a new table, add
it to ``TABLES``; nothing registers tables at import time.
"""

from __future__ import annotations

from services.market.reference import codes
from services.market.reference.contract_rules import data_rows
from services.market.reference.registry import ReferenceTable, Rows, code_table
from shared.reference.regions import all_regions
from shared.reference.technical_fields import technical_fields

__all__ = ["TABLES"]


def _fields() -> Rows:
    return [
        {"code": f.code, "label_zh": f.label_zh, "label_en": f.label_en, "order": f.order} for f in technical_fields()
    ]


def _regions() -> Rows:
    return [
        {"code": r.code, "label_zh": r.name, "level": r.level, "parent_code": r.parent_code}
        for r in all_regions().values()
    ]


def _ordered(file: str) -> Rows:
    return [dict(row, order=int(row["order"])) for row in data_rows(file)]


def _rules_versions() -> Rows:
    return [dict(row, code=row["rules_version"]) for row in data_rows("rules_versions.csv")]


def _entity_types() -> Rows:
    return [dict(row, needs_ownership=row["needs_ownership"] == "true") for row in _ordered("entity_types.csv")]


TABLES: tuple[ReferenceTable, ...] = (
    ReferenceTable(
        "technical_fields",
        "The 11 technical fields of China's technology-contract statistics (技术领域).",
        _fields,
    ),
    ReferenceTable(
        "regions",
        "GB/T 2260 region codes (行政区划代码): every province; Sichuan and Chongqing to county level.",
        _regions,
    ),
    code_table(
        "ip_types", codes.IpType, description="Kinds of intellectual property of an achievement (知识产权类型)."
    ),
    code_table("transfer_modes", codes.TransferMode, description="How an achievement may be transferred (转化方式)."),
    code_table(
        "cooperation_modes",
        codes.CooperationMode,
        description="How an enterprise wants to cooperate on a demand (合作方式).",
    ),
    code_table("price_kinds", codes.PriceKind, description="How a price or budget is given (价格类型)."),
    code_table(
        "achievement_statuses", codes.AchievementStatus, description="Lifecycle states of an achievement listing."
    ),
    code_table("demand_statuses", codes.DemandStatus, description="Lifecycle states of a demand posting."),
    code_table(
        "trl_levels", codes.TrlLevel, description="Technology readiness levels 1–9 (技术就绪水平, GB/T 22900-2022)."
    ),
    code_table(
        "proposal_statuses",
        codes.ProposalStatus,
        description="Lifecycle states of a proposal (撮合) or a direct interest.",
    ),
    ReferenceTable(
        "contract_rules_versions",
        "Editions of the contract registration rules (技术合同认定规则) and when each took effect.",
        _rules_versions,
    ),
    ReferenceTable(
        "contract_kinds",
        "Technology contract kinds (民法典 Art. 843: 技术开发、转让、许可、咨询、服务), per rules version.",
        lambda: _ordered("contract_kinds.csv"),
    ),
    ReferenceTable(
        "contract_subkinds",
        "Contract subkinds (委托开发、专利权转让、技术秘密许可、技术培训、技术中介…), per rules version.",
        lambda: _ordered("contract_subkinds.csv"),
    ),
    ReferenceTable("contract_entity_types", "Entity types of contract parties (高校、科研机构、企业…).", _entity_types),
    ReferenceTable(
        "contract_ownerships",
        "Ownership of enterprise parties (国有、民营、外资、港澳台).",
        lambda: _ordered("ownerships.csv"),
    ),
    ReferenceTable(
        "contract_flows",
        "Flow of a contract between regions (本地、流向重庆/四川、外省、境外).",
        lambda: _ordered("flows.csv"),
    ),
)
