"""The exceptions an engine raises, whatever engine it is (the interface's own; callers never see a driver's).

``EngineUnavailable`` is transient: the engine is unreachable, overloaded or too slow, and the same call may
succeed later (a relay redelivers, a search answers 503). ``EngineRejected`` is not: the engine refused what was
sent (a setting, a filter, a document) — a bug or a misconfiguration that repeating will not fix.
``EngineAuthFailed`` is a rejection of the credentials.
"""

from __future__ import annotations

__all__ = ["EngineAuthFailed", "EngineError", "EngineRejected", "EngineUnavailable"]


class EngineError(Exception):
    """A search engine operation failed; ``code`` is the engine's own error code when it gave one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class EngineUnavailable(EngineError):
    """The engine could not be reached or did not finish in time (after retries): try again later."""


class EngineRejected(EngineError):
    """The engine refused the request or failed the operation; repeating it will not help."""


class EngineAuthFailed(EngineRejected):
    """The engine refused our credentials (missing or wrong API key)."""
