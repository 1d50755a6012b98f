"""The natural key of an achievement: the same key of the same owner is the same achievement.

It makes re-importing a file a no-op and a second create of the same achievement a 409. In order of precedence:

- ``patent:<application number>`` — the first patent's application number, when the achievement has patents;
- ``external:<external_id>`` — the transfer office's own reference, when given;
- ``text:<sha256 hex>`` — of the case-folded title and summary (a JSON pair), when there is neither: two patents
  of one owner that share a title ("吸收性物品") but not a summary stay two listings. Hashed because a summary
  holds up to 1000 characters and the column 255.

Titles and summaries are stored NFC-normalized and trimmed; the key normalizes them the same way again and only
case-folds them further, as the earlier title-only rule did, so recomputing the keys of existing rows
(migration market_0004) can never merge two listings.
"""

from __future__ import annotations

import hashlib
import json

from shared.text import normalize_text

__all__ = ["key_fields", "natural_key"]

# The request fields that make each kind of key: what a 409 on a duplicate key names.
_FIELDS = {
    "patent": ("patents.0.application_no",),
    "external": ("external_id",),
    "text": ("title", "summary"),
}


def natural_key(*, application_no: str | None, external_id: str | None, title: str, summary: str | None) -> str:
    """The natural key (without the owner) of an achievement with these values."""
    if application_no:
        return f"patent:{application_no}"
    if external_id:
        return f"external:{external_id}"
    pair = [normalize_text(title).casefold(), normalize_text(summary or "").casefold()]
    return "text:" + hashlib.sha256(json.dumps(pair, ensure_ascii=False).encode()).hexdigest()


def key_fields(key: str) -> tuple[str, ...]:
    """The request fields a natural key was made from."""
    return _FIELDS[key.partition(":")[0]]
