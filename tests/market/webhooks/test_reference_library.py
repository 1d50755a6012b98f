"""Deliveries verify with the Standard Webhooks reference library too (both backends).

``standardwebhooks`` is a test-only dependency (pyproject ``dev`` extra); the test is skipped where it is not
installed — the independent implementation in conftest.verify covers the same ground either way.
"""

from __future__ import annotations

import pytest

from tests.market.webhooks.conftest import Hooks

standardwebhooks = pytest.importorskip("standardwebhooks.webhooks", reason="standardwebhooks is not installed")


async def test_the_reference_library_verifies_deliveries_under_both_secrets_after_a_rotation(hooks: Hooks) -> None:
    hook = await hooks.create(event_types=["webhook.test"])
    rotated = await hooks.api.post(f"/market/webhooks/{hook['id']}/rotate-secret", headers=hooks.admin.headers)
    assert rotated.status_code == 200, rotated.text
    response = await hooks.api.post(f"/market/webhooks/{hook['id']}/test", headers=hooks.admin.headers)
    assert response.status_code == 202, response.text
    await hooks.round()
    [request] = hooks.receiver.requests
    for secret in (hook["secret"], rotated.json()["secret"]):
        payload = standardwebhooks.Webhook(secret).verify(request.body, request.headers)
        assert payload["type"] == "webhook.test"
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(hook["secret"]).verify(request.body + b" ", request.headers)
