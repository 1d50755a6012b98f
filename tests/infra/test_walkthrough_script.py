"""docs/walkthrough.sh against a real `techmarket serve`: it runs through, stops at the first HTTP error, and run
twice on the same data says so and changes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import REPO_ROOT, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD
from tests.support.server import RunningServer, running_server

SCRIPT = REPO_ROOT / "docs" / "walkthrough.sh"
# The script is for people with curl and jq, as the README says; without them there is nothing to run.
pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None, reason="docs/walkthrough.sh needs curl and jq"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("walkthrough-data")) as running:
        yield running


def walkthrough(server: RunningServer, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BASE_URL": server.base_url,
        "ADMIN_EMAIL": TEST_ADMIN_EMAIL,
        "ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
        **variables,
    }
    return subprocess.run(  # noqa: S603
        [shutil.which("bash") or "/bin/bash", str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_stops_at_the_first_http_error(server: RunningServer) -> None:
    result = walkthrough(server, ADMIN_PASSWORD="not-the-password")
    assert result.returncode != 0
    assert "== 1." not in result.stdout  # nothing ran past the failed login
    assert "invalid_grant" in result.stdout + result.stderr  # the error body is shown


def test_runs_through_then_says_it_already_ran(server: RunningServer) -> None:
    first = walkthrough(server)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    assert "== 11." in first.stdout
    assert '"registered_count":1' in first.stdout
    second = walkthrough(server)
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.startswith("already ran on this data: 四川大学 (12510000450716000B, verified)")
    assert "== 1." not in second.stdout
