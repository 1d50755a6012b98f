"""Text rules of every service: which characters a free-text field accepts, NFC for prose, ASCII for codes.

The rule is decided here once. Free text (names, titles, notes, descriptions) is a :data:`ShortText` (one line)
or a :data:`LongText` (several lines); both refuse lone surrogates (U+D800–U+DFFF: a JSON string such as
``"\\ud800"`` decodes to one, and no database or UTF-8 response can store it), the C0 controls (U+0000–U+001F,
NUL included), DEL (U+007F) and the C1 controls (U+0080–U+009F) — except tab and newline in long text, where a
CR LF line end is first turned into LF. A refused value is a 422 whose error ``type`` is ``text_invalid`` on the
field. Accepted text is NFC-normalized and trimmed. :data:`RequiredShortText` and :data:`RequiredLongText` are the
same text that must not be blank once trimmed ("must not be blank", a ``value_error``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = [
    "TEXT_INVALID",
    "LongText",
    "RequiredLongText",
    "RequiredShortText",
    "ShortText",
    "check_text",
    "clean_long_text",
    "clean_short_text",
    "normalize_code",
    "normalize_text",
    "not_blank",
]

TEXT_INVALID = "text_invalid"
_FULLWIDTH_OFFSET = 0xFEE0
# Lone surrogates, C0 controls, DEL and C1 controls; long text keeps tab (U+0009) and newline (U+000A).
_SHORT_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_LONG_REFUSED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def normalize_text(value: str) -> str:
    """NFC-normalize and trim; inner whitespace is kept as written."""
    return unicodedata.normalize("NFC", value).strip()


def check_text(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` is not acceptable free text (None when it is): the first refused character, by code point."""
    found = (_LONG_REFUSED if multiline else _SHORT_REFUSED).search(value)
    if found is None:
        return None
    code = ord(found.group())
    what = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
    rule = "long text allows tab and newline, no other control" if multiline else "one-line text allows no control"
    return f"contains {what} (U+{code:04X}) at position {found.start()}; {rule} and no lone surrogate"


def _clean(value: str, *, multiline: bool) -> str:
    if multiline:
        value = value.replace("\r\n", "\n")
    problem = check_text(value, multiline=multiline)
    if problem is not None:
        raise PydanticCustomError(TEXT_INVALID, problem)
    return normalize_text(value)


def clean_short_text(value: Any) -> Any:
    """Pydantic before-validator of :data:`ShortText`: refuse per the rule, then NFC-normalize and trim."""
    return _clean(value, multiline=False) if isinstance(value, str) else value


def clean_long_text(value: Any) -> Any:
    """Pydantic before-validator of :data:`LongText`: as :func:`clean_short_text`, tab and newline allowed."""
    return _clean(value, multiline=True) if isinstance(value, str) else value


# Length limits stay with each field (Field(min_length=…, max_length=…)); they apply to the cleaned text.
ShortText = Annotated[str, BeforeValidator(clean_short_text)]
LongText = Annotated[str, BeforeValidator(clean_long_text)]


def not_blank(value: str) -> str:
    """Pydantic after-validator: refuse text that trimming left empty."""
    if not value:
        raise ValueError("must not be blank")
    return value


# A field with Field(min_length=1) refuses blank text first (string_too_short); without one, this says why.
RequiredShortText = Annotated[ShortText, AfterValidator(not_blank)]
RequiredLongText = Annotated[LongText, AfterValidator(not_blank)]


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
