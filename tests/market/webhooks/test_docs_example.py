"""The verification example of docs/webhooks.md runs, and accepts a real delivery (both backends)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.conftest import REPO_ROOT
from tests.market.webhooks.conftest import Hooks

DOC = REPO_ROOT / "docs" / "webhooks.md"


def documented_verify() -> Callable[..., bool]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 1, "docs/webhooks.md should have exactly one Python example"
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102  (our own documentation)
    verify: Callable[..., bool] = namespace["verify"]
    return verify


async def test_the_documented_verify_accepts_a_real_delivery_and_refuses_a_forgery(hooks: Hooks) -> None:
    verify = documented_verify()
    hook = await hooks.create(event_types=["webhook.test"])
    rotated = await hooks.api.post(f"/market/webhooks/{hook['id']}/rotate-secret", headers=hooks.admin.headers)
    response = await hooks.api.post(f"/market/webhooks/{hook['id']}/test", headers=hooks.admin.headers)
    assert response.status_code == 202, response.text
    await hooks.round()
    [request] = hooks.receiver.requests
    for secret in (hook["secret"], rotated.json()["secret"]):  # both valid during the 24 h after a rotation
        assert verify(secret, request.headers, request.body)
    assert not verify(hook["secret"], request.headers, request.body.replace(b"test", b"tesT"))
    assert not verify(hook["secret"], request.headers, request.body, tolerance=-1)  # stale
