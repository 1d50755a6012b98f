"""Password hashing (argon2id via pwdlib), the password policy, and the dummy hash for unknown accounts.

Hashing runs in a worker thread: argon2 is deliberately slow and must not stall the event loop.
"""

from __future__ import annotations

import asyncio
import secrets
from functools import cache
from pathlib import Path

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = ["MIN_PASSWORD_LENGTH", "PasswordHasher", "is_common_password", "password_problem"]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
_COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"


@cache
def _common_passwords() -> frozenset[str]:
    lines = _COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def is_common_password(password: str) -> bool:
    """Whether ``password`` is on the shipped list of most common passwords (case-insensitive)."""
    return password.casefold() in _common_passwords()


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why ``password`` is refused, or None when it passes the policy."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters long"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters long"
    if is_common_password(password):
        return "is one of the most common passwords; choose another"
    if email is not None and password.casefold() == email.casefold():
        return "must not be the email address"
    return None


class PasswordHasher:
    """argon2id with the configured costs; knows when a stored hash needs an upgrade."""

    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self._hash = PasswordHash((Argon2Hasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism),))
        # Verifying against this when the account does not exist keeps both paths equally slow.
        self._dummy = self._hash.hash(secrets.token_urlsafe(24))

    async def hash(self, password: str) -> str:
        """A new argon2id hash of ``password``."""
        return await asyncio.to_thread(self._hash.hash, password)

    async def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """(matches, new hash when the stored one used other parameters); ``stored=None`` burns the same time."""
        if stored is None:
            await asyncio.to_thread(self._hash.verify, password, self._dummy)
            return False, None
        return await asyncio.to_thread(self._hash.verify_and_update, password, stored)
