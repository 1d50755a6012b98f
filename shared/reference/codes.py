"""The shapes of the registration codes, as JSON Schema patterns for the OpenAPI documents.

The servers check more than a pattern can say (GB 32100's mod-31 check character, regions the table knows) and accept
full-width or lower-case input that they normalize; a pattern states the canonical form, so a client that sends a
value matching it and passing those checks is accepted. Declared with ``documented_pattern`` (``json_schema_extra``):
it appears in the document without replacing the server's own check and its error messages.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CREDIT_CODE_DESCRIPTION",
    "CREDIT_CODE_PATTERN",
    "CURSOR_PATTERN",
    "PARTY_REGION_PATTERN",
    "REGION_CODE_PATTERN",
    "documented_pattern",
]

# GB 32100 统一社会信用代码: the alphabet is 0-9 and A-Z without I, O, S, V, Z; characters 3-8 are the region code.
# The standard lets the first two (registering authority, kind) be letters too, but the servers (python-stdnum's
# cn.uscc and market's bulk-import twin) take only digits there, so the document says digits.
CREDIT_CODE_PATTERN = r"^\d{8}[0-9A-HJ-NPQRTUWXY]{10}$"
CREDIT_CODE_DESCRIPTION = (
    "Shape: 18 characters, 8 digits then 10 of the GB 32100 alphabet 0123456789ABCDEFGHJKLMNPQRTUWXY (no I, O, S, "
    "V, Z). Check character: the 18th is the alphabet's character at (31 - Σ value(cᵢ)·wᵢ mod 31) mod 31, value "
    "being a character's index in the alphabet, over the first 17 with weights 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, "
    "25, 13, 8, 24, 10, 30, 28 (3^(i-1) mod 31)."
)
# GB/T 2260: six digits (province PP0000, prefecture PPCC00, county PPCCDD).
REGION_CODE_PATTERN = r"^\d{6}$"
# A contract party: a GB/T 2260 code inside China, an ISO 3166-1 alpha-2 country code abroad.
PARTY_REGION_PATTERN = r"^(\d{6}|[A-Z]{2})$"
# shared.pagination.encode_cursor: url-safe base64 without padding.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"


def documented_pattern(pattern: str) -> dict[str, Any]:
    """``json_schema_extra`` stating ``pattern`` in the schema (the validators enforce it and more)."""
    return {"pattern": pattern}
