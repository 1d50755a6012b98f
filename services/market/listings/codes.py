"""Codes on achievement listings: CN patent application numbers, publication numbers, IPC symbols.

- Application number (专利申请号), 2003 onwards: ``YYYY`` + type (1 invention, 2 utility model, 3 design;
  8 and 9 are PCT national-phase entries of inventions and utility models) + 7-digit serial + ``.`` + check
  character. Check = Σ dᵢ·wᵢ mod 11 over the 12 digits with w = 2,3,4,5,6,7,8,9,2,3,4,5; 10 is written ``X``.
  A leading ``CN`` and full-width characters are accepted and normalized away: ``ＣＮ２０２２…`` → ``2022….``.
- Publication number (公开/公告号): ``CN`` + 9 digits + kind letter (A, B, C, U, Y, S), e.g. CN218751475U.
- IPC symbol: subclass (``G06F``) optionally followed by main group/subgroup (``G06F 16/33``). Only the shape is
  checked: subclasses newer than any bundled list (B64U, G06V, H10K, …) are valid. Normalized to one space.
"""

from __future__ import annotations

import re

from shared.text import normalize_code

__all__ = [
    "APPLICATION_NO_PATTERN",
    "IPC_PATTERN",
    "PUBLICATION_NO_PATTERN",
    "application_check_char",
    "normalize_application_no",
    "normalize_ipc",
    "normalize_publication_no",
]

WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_APPLICATION = re.compile(r"^(?:CN)?((?:19|20)\d{2})([12389])(\d{7})\.?([0-9X])$")
_PUBLICATION = re.compile(r"^CN\d{9}[ABCUYS]\d?$")
_IPC = re.compile(r"^([A-H]\d{2}[A-Z])(?:\s*(\d{1,4})\s*/\s*(\d{2,6}))?$")
# The shapes for the OpenAPI documents (after normalization: ASCII, upper case; the check character is checked too).
APPLICATION_NO_PATTERN = _APPLICATION.pattern
PUBLICATION_NO_PATTERN = _PUBLICATION.pattern
IPC_PATTERN = _IPC.pattern


def application_check_char(twelve_digits: str) -> str:
    """The check character of the 12 digits before the dot."""
    total = sum(int(d) * w for d, w in zip(twelve_digits, WEIGHTS, strict=True))
    check = total % 11
    return "X" if check == 10 else str(check)


def normalize_application_no(value: str) -> str:
    """``2021101234567`` style input → ``202110123456.7``; raises ValueError naming what is wrong."""
    code = normalize_code(value).replace(" ", "")
    match = _APPLICATION.match(code)
    if match is None:
        raise ValueError("not a CN patent application number: YYYY + type digit (1/2/3) + 7 digits + '.' + check")
    year, kind, serial, check = match.groups()
    digits = year + kind + serial
    expected = application_check_char(digits)
    if check != expected:
        raise ValueError(f"check digit is {check}, expected {expected}")
    return f"{digits}.{check}"


def normalize_publication_no(value: str) -> str:
    """``cn218751475u`` → ``CN218751475U``; raises ValueError when the shape is wrong."""
    code = normalize_code(value).replace(" ", "")
    if not _PUBLICATION.match(code):
        raise ValueError("not a CN publication number: CN + 9 digits + kind letter (A, B, C, U, Y or S)")
    return code


def normalize_ipc(value: str) -> str:
    """``b64u20/80`` → ``B64U 20/80``; raises ValueError when the shape is wrong."""
    code = normalize_code(value)
    match = _IPC.match(code)
    if match is None:
        raise ValueError("not an IPC symbol such as 'G06F' or 'G06F 16/33'")
    subclass, group, subgroup = match.groups()
    if group is None:
        return subclass
    return f"{subclass} {int(group)}/{subgroup}"
