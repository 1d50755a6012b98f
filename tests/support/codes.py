"""Fresh identifiers in the shapes the services accept."""

from __future__ import annotations

import secrets

from stdnum.cn import uscc

__all__ = ["credit_code"]

# The 31 characters of a unified social credit code (GB 32100: digits and capitals without I, O, S, V, Z).
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def credit_code(region_code: str = "510100") -> str:
    """A fresh checksum-valid unified social credit code (GB 32100) of a company registered in ``region_code``."""
    body = "91" + region_code + "".join(secrets.choice(_ALPHABET) for _ in range(9))
    return body + uscc.calc_check_digit(body)
