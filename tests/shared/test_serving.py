"""shared.serving: uvicorn gets uvloop and httptools when they are installed (they are runtime dependencies)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from shared.serving import server_choices


def test_the_c_loop_and_parser_are_chosen_when_installed() -> None:
    if sys.platform == "win32":
        pytest.skip("uvloop has no Windows build")
    assert server_choices() == ("uvloop", "httptools")


def test_falls_back_to_asyncio_and_h11_without_them(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name in {"uvloop", "httptools"} else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert server_choices() == ("asyncio", "h11")
