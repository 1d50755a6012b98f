"""Text normalization: NFC for prose, half-width ASCII for codes typed on Chinese keyboards."""

from __future__ import annotations

import unicodedata

__all__ = ["normalize_code", "normalize_text"]

_FULLWIDTH_OFFSET = 0xFEE0


def normalize_text(value: str) -> str:
    """NFC-normalize and trim; inner whitespace is kept as written."""
    return unicodedata.normalize("NFC", value).strip()


def normalize_code(value: str) -> str:
    """Turn full-width digits, letters and punctuation (and the ideographic space) into ASCII, trim, upper-case.

    Codes such as credit codes, patent numbers and IPC symbols are often typed in full width (ＣＮ１２３).
    """
    chars = []
    for ch in value:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            chars.append(chr(code - _FULLWIDTH_OFFSET))
        elif ch == "\u3000":
            chars.append(" ")
        else:
            chars.append(ch)
    return "".join(chars).strip().upper()
