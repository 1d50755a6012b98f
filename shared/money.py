"""Money is integer fen (1 yuan = 100 fen) everywhere; these helpers only format it for people.

1 万元 = 10^4 yuan = 10^6 fen; 1 亿元 = 10^8 yuan = 10^10 fen. Conversions are integer arithmetic, never float.
"""

from __future__ import annotations

__all__ = ["FEN_PER_WAN_YUAN", "FEN_PER_YI_YUAN", "fen_to_wan_yuan", "fen_to_yi_yuan", "fen_to_yuan"]

FEN_PER_YUAN = 100
FEN_PER_WAN_YUAN = 1_000_000
FEN_PER_YI_YUAN = 10_000_000_000


def _exact(fen: int, divisor: int) -> str:
    # Division by a power of ten, digit by digit: the whole part, then the remainder without trailing zeros.
    whole, rest = divmod(abs(fen), divisor)
    sign = "-" if fen < 0 else ""
    if not rest:
        return f"{sign}{whole}"
    digits = str(rest).rjust(len(str(divisor)) - 1, "0").rstrip("0")
    return f"{sign}{whole}.{digits}"


def fen_to_yuan(fen: int) -> str:
    """Fen as an exact decimal string of yuan."""
    return _exact(fen, FEN_PER_YUAN)


def fen_to_wan_yuan(fen: int) -> str:
    """Fen as an exact decimal string of 万元."""
    return _exact(fen, FEN_PER_WAN_YUAN)


def fen_to_yi_yuan(fen: int) -> str:
    """Fen as an exact decimal string of 亿元."""
    return _exact(fen, FEN_PER_YI_YUAN)
