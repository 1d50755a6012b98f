"""docs/notifications-demo.sh against a real `techmarket serve`: an enterprise's saved search hears of a matching
patent in its inbox, on its live stream (curl -N) and through a signed webhook delivery to docs/webhook_receiver.py,
which verifies the signature; run twice on the same data it says so and changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import REPO_ROOT, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD
from tests.support.net import free_port
from tests.support.server import RunningServer, running_server

SCRIPT = REPO_ROOT / "docs" / "notifications-demo.sh"
# The script is for people with curl, jq and python3, as the README says; without them there is nothing to run.
pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None or shutil.which("python3") is None,
    reason="docs/notifications-demo.sh needs curl, jq and python3",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # The demo listens to its stream for as long as it runs (a served test app ends streams after 1 s for fuzzers).
    settings = {"MARKET_NOTIFICATIONS_STREAM_MAX_SECONDS": "120"}
    with running_server(tmp_path_factory.mktemp("demo-data"), settings=settings) as running:
        yield running


def demo(server: RunningServer, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BASE_URL": server.base_url,
        "ADMIN_EMAIL": TEST_ADMIN_EMAIL,
        "ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
        "RECEIVER_PORT": str(free_port()),
        **variables,
    }
    return subprocess.run(  # noqa: S603
        [shutil.which("bash") or "/bin/bash", str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_stops_at_the_first_http_error(server: RunningServer) -> None:
    result = demo(server, ADMIN_PASSWORD="not-the-password")
    assert result.returncode != 0
    assert "== 1." not in result.stdout
    assert "invalid_grant" in result.stdout + result.stderr


def test_the_enterprise_hears_of_the_patent_three_ways_then_the_demo_says_it_ran(server: RunningServer) -> None:
    first = demo(server)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr + server.log_tail()
    lines = json_lines(first.stdout)
    title = "一种硫化物固态电池电解质及其制备方法"
    # The live stream: an SSE event with an id, then the notification itself.
    assert "event: notification" in first.stdout
    assert any(line.startswith("id: ") for line in first.stdout.splitlines())
    streamed = [x for x in lines if set(x) == {"type", "title"}]
    assert streamed, first.stdout
    assert streamed[0]["type"] == "saved_search.match"
    assert title in str(streamed[0]["title"])
    # The inbox: one unread, carrying the snippet and the reasons it matched.
    assert {"unread": 1} in lines
    inbox = next(x for x in lines if "reasons" in x)
    assert inbox["saved_search"] == "固态电池电解质"
    assert "<em>" in str(inbox["snippet"])
    assert "技术领域：新能源与高效节能" in inbox["reasons"]  # type: ignore[operator]
    # The webhook: the receiver verified the Standard Webhooks signature, and the delivery log shows the 204.
    received = next(x for x in lines if "verified" in x)
    assert received == {"type": "saved_search.match", "verified": True, "title": title}
    assert {"event_type": "saved_search.match", "status": "succeeded", "attempts": [{"status_code": 204}]} in lines

    second = demo(server)
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.startswith("already ran on this data: 重庆某新能源科技有限公司 (91500112MA60QT4L13)")
    assert "== 1." not in second.stdout
