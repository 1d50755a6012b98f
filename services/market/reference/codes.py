"""The market's fixed code lists, each code written once with its labels: listings', proposals' and TRL levels.

A ``CodeEnum`` member is its code (a ``str``: what requests, responses and the database hold) and carries its
Chinese and English labels, so the enums the schemas validate with and the reference tables served at
GET /market/reference/{name} (``tables.py``) are one declaration. Member order is the tables' ``order``.

Versioned lists (contract kinds and the rest of the contract rules) are data files, not enums: ``contract_rules``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Self

__all__ = [
    "AchievementStatus",
    "CodeEnum",
    "CooperationMode",
    "DemandStatus",
    "IpType",
    "PriceKind",
    "ProposalStatus",
    "TransferMode",
    "TrlLevel",
    "labels_zh",
]


class CodeEnum(enum.StrEnum):
    """A code list: ``NAME = code, label_zh, label_en``; the member equals its code."""

    _value_: str
    label_zh: str
    label_en: str

    # Labels are optional in the signature only so that ``IpType("design")`` (a lookup by code, which never reaches
    # this method at run time) type-checks; every member declares both.
    def __new__(cls, code: str, *labels: str) -> Self:
        member = str.__new__(cls, code)
        member._value_ = code
        member.label_zh, member.label_en = labels
        return member


def labels_zh(codes: Iterable[str], table: type[CodeEnum]) -> str:
    """The Chinese labels of ``codes`` joined with 、 (a code the list does not know stands for itself)."""
    known = {member.value: member.label_zh for member in table}
    return "、".join(known.get(code, code) for code in codes)


class IpType(CodeEnum):
    """Kind of intellectual property of an achievement."""

    INVENTION_PATENT = "invention_patent", "发明专利", "Invention patent"
    UTILITY_MODEL = "utility_model", "实用新型专利", "Utility model patent"
    DESIGN = "design", "外观设计专利", "Design patent"
    SOFTWARE_COPYRIGHT = "software_copyright", "计算机软件著作权", "Software copyright"
    TECHNICAL_SECRET = "technical_secret", "技术秘密", "Technical secret (know-how)"
    PLANT_VARIETY = "plant_variety", "植物新品种权", "Plant variety right"
    OTHER = "other", "其他", "Other"


class TransferMode(CodeEnum):
    """How an achievement may be transferred."""

    TRANSFER = "transfer", "转让", "Assignment"
    EXCLUSIVE_LICENSE = "exclusive_license", "独占许可", "Exclusive license"
    SOLE_LICENSE = "sole_license", "排他许可", "Sole license"
    ORDINARY_LICENSE = "ordinary_license", "普通许可", "Ordinary (non-exclusive) license"
    EQUITY = "equity", "作价入股", "Contribution as equity"
    CO_DEVELOPMENT = "co_development", "合作开发", "Co-development"
    OTHER = "other", "其他", "Other"


class CooperationMode(CodeEnum):
    """How an enterprise wants to work with a supplier of technology."""

    TRANSFER = "transfer", "技术转让", "Technology transfer"
    LICENSE = "license", "技术许可", "Licensing"
    CO_DEVELOPMENT = "co_development", "合作开发", "Cooperative development"
    COMMISSIONED_DEVELOPMENT = "commissioned_development", "委托开发", "Commissioned development"
    CONSULTING = "consulting", "技术咨询", "Technical consulting"
    SERVICE = "service", "技术服务", "Technical service"
    EQUITY = "equity", "作价入股", "Equity cooperation"
    OTHER = "other", "其他", "Other"


class PriceKind(CodeEnum):
    """How a price or budget is given."""

    FIXED = "fixed", "一口价", "Fixed price"
    RANGE = "range", "区间价", "Price range"
    NEGOTIABLE = "negotiable", "面议", "Negotiable"


class AchievementStatus(CodeEnum):
    """Lifecycle of an achievement listing."""

    DRAFT = "draft", "草稿", "Draft"
    PUBLISHED = "published", "已发布", "Published"
    NEGOTIATING = "negotiating", "洽谈中", "In negotiation"
    TRANSFERRED = "transferred", "已转化", "Transferred"
    WITHDRAWN = "withdrawn", "已撤回", "Withdrawn"
    EXPIRED = "expired", "已过期", "Expired"


class DemandStatus(CodeEnum):
    """Lifecycle of a demand posting."""

    DRAFT = "draft", "草稿", "Draft"
    PUBLISHED = "published", "已发布", "Published"
    MATCHED = "matched", "已对接", "Matched"
    CLOSED = "closed", "已关闭", "Closed"
    FULFILLED = "fulfilled", "已满足", "Fulfilled"
    WITHDRAWN = "withdrawn", "已撤回", "Withdrawn"
    EXPIRED = "expired", "已过期", "Expired"


class ProposalStatus(CodeEnum):
    """Lifecycle of a proposal."""

    PROPOSED = "proposed", "待双方确认", "Proposed"
    SELLER_ACCEPTED = "seller_accepted", "供方已接受", "Accepted by the seller"
    BUYER_ACCEPTED = "buyer_accepted", "需方已接受", "Accepted by the buyer"
    AGREED = "agreed", "双方已达成", "Agreed"
    DECLINED = "declined", "已拒绝", "Declined"
    WITHDRAWN = "withdrawn", "已撤回", "Withdrawn"
    EXPIRED = "expired", "已过期", "Expired"


class TrlLevel(CodeEnum):
    """GB/T 22900-2022 technology readiness levels (short Chinese descriptions); listings store the level as an int."""

    LEVEL_1 = "1", "发现基本原理或看到基本原理的报道", "Basic principles observed"
    LEVEL_2 = "2", "形成技术概念或开发方案", "Technology concept formulated"
    LEVEL_3 = "3", "关键功能分析和实验结论成立", "Key function proven analytically and experimentally"
    LEVEL_4 = "4", "研究室环境中关键功能仿真结论成立", "Key function validated in the laboratory"
    LEVEL_5 = "5", "相关环境中关键功能仿真结论成立", "Key function validated in a relevant environment"
    LEVEL_6 = "6", "相关环境中系统样机演示", "System prototype demonstrated in a relevant environment"
    LEVEL_7 = "7", "典型使用环境中系统样机试验", "System prototype tested in an operational environment"
    LEVEL_8 = "8", "实际系统完成并通过试验验证", "Actual system completed and qualified"
    LEVEL_9 = "9", "实际系统通过任务运行的成功考验", "Actual system proven in operation"
