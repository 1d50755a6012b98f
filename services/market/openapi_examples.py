"""Request-body examples of market's OpenAPI document: the README walkthrough's bodies, by operation id."""

from __future__ import annotations

from typing import Any

__all__ = ["REQUEST_EXAMPLES"]

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "create_achievement": {
        "utility_model": {
            "title": "一种无人机机载多功能盒",
            "summary": "无人机挂载的多功能数据处理盒，支持4G/5G回传与扩展接口",
            "technical_field": "aerospace",
            "ipc_codes": ["B64U 20/80"],
            "patents": [{"application_no": "202223220665.2", "publication_no": "CN218751475U"}],
            "ip_type": "utility_model",
            "trl": 6,
            "transfer_modes": ["transfer", "ordinary_license"],
            "price": {"kind": "range", "min_fen": 5000000, "max_fen": 12000000},
            "contact": {"name": "王老师", "phone": "028-85400000"},
        }
    },
    "create_demand": {
        "inspection": {
            "title": "锂电池极片缺陷在线检测",
            "description": "需要一套在线视觉检测系统，识别涂布极片的划痕、气泡和漏箔，待处理数据量大。",
            "technical_field": "advanced_manufacturing",
            "desired_trl": 6,
            "cooperation_modes": ["commissioned_development"],
            "budget": {"kind": "fixed", "min_fen": 80000000},
            "deadline": "2027-06-30",
            "contact": {"name": "李工", "phone": "13800000000"},
        }
    },
    "submit_contract": {
        "patent_transfer": {
            "seller": {
                "name": "四川大学",
                "credit_code": "12510000450716000B",
                "region_code": "510107",
                "entity_type": "university",
            },
            "buyer": {
                "name": "重庆某某科技有限公司",
                "credit_code": "91500103MA5U7XY00F",
                "region_code": "500103",
                "entity_type": "enterprise",
                "ownership": "private",
            },
            "kind": "transfer",
            "subkind": "patent_right_transfer",
            "technical_field": "aerospace",
            "title": "一种无人机机载多功能盒专利权转让",
            "contract_no": "SCU-2026-0001",
            "signed_on": "2026-11-01",
            "contract_amount_fen": 123456789,
            "technology_amount_fen": 100000000,
        }
    },
    "create_proposal": {
        "license": {
            "demand_id": "01936d1e-5c4a-7b2e-9a51-3f0c2d1e4b6a",
            "achievement_id": "01936d1e-5c4a-7b2e-9a51-3f0c2d1e4b6b",
            "cooperation_mode": "license",
            "note": "该专利的视觉检测方法可直接用于极片缺陷在线检测",
            "price": {"kind": "range", "min_fen": 50000000, "max_fen": 80000000},
        }
    },
}
