from typing import Any
from tests.conftest import Stack
from tests.market.helpers import achievement_body
import json

async def test_probe(stack: Stack, actors: Any, backend: str) -> None:
    uni = await actors.org_member(kind="university")
    body = json.dumps(achievement_body(title="x")).replace('"x"', '"\\ud800"')
    r = await stack.client.post("/market/achievements", content=body.encode(), headers={**uni.headers, "content-type": "application/json"})
    print("SURR", r.status_code, r.text[:500])
    body = json.dumps(achievement_body(title="a\u0000b"))
    r = await stack.client.post("/market/achievements", content=body.encode(), headers={**uni.headers, "content-type": "application/json"})
    print("NUL", r.status_code, r.text[:300])
    import base64
    c = base64.urlsafe_b64encode(b'["x"]').decode().rstrip("=")
    r = await stack.client.get("/market/offices", params={"cursor": c}, headers=uni.headers)
    print("CUR", r.status_code, r.text[:300])
    r = await stack.client.patch("/market/achievements/import", json={}, headers=uni.headers)
    print("PATCH", r.status_code, r.headers, r.text[:300])
    r = await stack.client.delete("/market/achievements", headers=uni.headers)
    print("DEL", r.status_code, r.headers, r.text[:300])
