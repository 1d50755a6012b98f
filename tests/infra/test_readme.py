"""The README: its configuration table names every environment variable the services read, and its shell blocks
can be pasted one after another (every variable they use is defined before)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from services.auth.settings import AuthSettings
from services.market.settings import MarketSettings
from services.search.settings import SearchSettings
from shared.settings import ServiceSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("settings_cls", [AuthSettings, MarketSettings, SearchSettings])
def test_every_service_setting_is_documented(settings_cls: type[BaseSettings]) -> None:
    prefix = str(settings_cls.model_config["env_prefix"])
    own = set(settings_cls.model_fields) - set(ServiceSettings.model_fields)
    missing = [f"{prefix}{name.upper()}" for name in own if f"`{prefix}{name.upper()}`" not in README]
    assert not missing, f"README's configuration table lacks {missing}"


def test_common_settings_are_documented() -> None:
    for name in ServiceSettings.model_fields:
        assert name.upper() in README, name


# ---- the README's shell blocks paste one after another -----------------------------------------------------------

_ASSIGNED = re.compile(r"(?:^|[\s;&|(`])(?:export\s+|local\s+)?([A-Za-z_][A-Za-z0-9_]*)=")
_FUNCTION = re.compile(r"(?:^|[\s;])([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{")
_LOOP = re.compile(r"\bfor\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\b")
_USED = re.compile(r"\$(\{)?([A-Za-z_][A-Za-z0-9_]*)(:?-)?")  # ${NAME:-default} needs no definition


def expanded_text(block: str) -> str:
    """What the shell expands in a block: comments and single-quoted text (jq programs, JSON bodies) blanked."""
    out: list[str] = []
    i, in_double = 0, False
    while i < len(block):
        c = block[i]
        if c == "\\":
            out.append(block[i : i + 2])
            i += 2
            continue
        if c == "'" and not in_double:
            end = block.index("'", i + 1)
            out.append(" " * (end + 1 - i))
            i = end + 1
            continue
        if c == '"':
            in_double = not in_double
        if c == "#" and not in_double and (i == 0 or block[i - 1] in " \t\n"):
            end = block.find("\n", i)
            end = len(block) if end < 0 else end
            out.append(" " * (end - i))
            i = end
            continue
        out.append(c)
        i += 1
    return "".join(out)


def undefined_variables(blocks: list[str]) -> list[str]:
    """Variables used before any block (or earlier text of the same block) defines them."""
    text = expanded_text("\n".join(blocks))
    defined: dict[str, int] = {}
    for pattern in (_ASSIGNED, _FUNCTION, _LOOP):
        for match in pattern.finditer(text):
            defined.setdefault(match.group(1), match.start(1))
    used = [m for m in _USED.finditer(text) if not (m.group(1) and m.group(3))]
    return sorted({m.group(2) for m in used if defined.get(m.group(2), len(text)) > m.start(2)})


def test_readme_shell_blocks_define_every_variable_they_use() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    assert len(blocks) > 5
    assert undefined_variables(blocks) == []


def test_the_variable_check_can_fail() -> None:
    assert undefined_variables(["B=http://x", "curl \"$B/market/demands/$D\" | jq '.items[] | $x'  # $NOTE"]) == ["D"]
    assert undefined_variables(["echo $LATER", "LATER=1"]) == ["LATER"]
    assert undefined_variables(['B=${BASE_URL:-http://127.0.0.1:8000}; echo "$B"']) == []
