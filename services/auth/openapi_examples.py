"""Request-body examples of auth's OpenAPI document: the README walkthrough's bodies, by operation id."""

from __future__ import annotations

from typing import Any

__all__ = ["REQUEST_EXAMPLES"]

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "signup": {
        "university": {
            "organization": {
                "name": "四川大学",
                "kind": "university",
                "credit_code": "12510000450716000B",
                "region_code": "510107",
            },
            "user": {"email": "tto@scu.example.cn", "password": "correct horse battery", "name": "技术转移中心"},
        }
    },
}
