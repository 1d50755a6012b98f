"""Money is integer fen (1 yuan = 100 fen) everywhere; these helpers only format it for people.

1 万元 = 10^4 yuan = 10^6 fen; 1 亿元 = 10^8 yuan = 10^10 fen. Conversions go through Decimal, never float.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["FEN_PER_WAN_YUAN", "FEN_PER_YI_YUAN", "fen_to_wan_yuan", "fen_to_yi_yuan", "fen_to_yuan"]

FEN_PER_YUAN = 100
FEN_PER_WAN_YUAN = 1_000_000
FEN_PER_YI_YUAN = 10_000_000_000


def _exact(fen: int, divisor: int) -> str:
    # Decimal division by a power of ten is exact; normalize away trailing zeros but keep plain notation.
    value = Decimal(fen) / Decimal(divisor)
    text = format(value.normalize(), "f")
    return text


def fen_to_yuan(fen: int) -> str:
    """Fen as an exact decimal string of yuan."""
    return _exact(fen, FEN_PER_YUAN)


def fen_to_wan_yuan(fen: int) -> str:
    """Fen as an exact decimal string of 万元."""
    return _exact(fen, FEN_PER_WAN_YUAN)


def fen_to_yi_yuan(fen: int) -> str:
    """Fen as an exact decimal string of 亿元."""
    return _exact(fen, FEN_PER_YI_YUAN)
