"""Schemathesis over the three OpenAPI documents against a real `techmarket serve`: the documents tell the truth.

One server (uvicorn, the embedded app, a fresh DATA_DIR on SQLite) for the module; schemathesis's CLI runs every
phase (examples, coverage, fuzzing, stateful) of every operation of /auth, /market and /search with every check, once
with a university admin's token and once with the platform admin's. Expect 0 server errors, 0 response-schema
violations, 0 undocumented status codes, and so on for each check (docs/errors.md, issue 13).

Bounded and reproducible: a few examples per operation and a fixed seed, so the same requests go out on every run
(about 75 s on two idle cores); the Hypothesis example database under .hypothesis/ and schemathesis's own cache of
failing cases under .schemathesis/ (both git-ignored; CI starts clean) keep what earlier runs found and replay it
first. A failure prints schemathesis's report: each finding with a curl line that reproduces it against `make run`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.support.server import RunningServer, make_actor_tokens, running_server

SERVICES = ("auth", "market", "search")
# The university admin first: the platform admin's run changes the platform (keys, clients, organizations).
WHO = ("university_admin", "platform_admin")
# Examples per operation and phase. Small on purpose: the fixed seed and the example database make up for it.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
SEED = int(os.environ.get("FUZZ_SEED", "20261129"))
HYPOTHESIS_DB = REPO_ROOT / ".hypothesis" / "schemathesis"
# 428 counts as rejecting a missing If-Match (RFC 6585); see the file.
CONFIG_FILE = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, dict[str, str]]]:
    with running_server(tmp_path_factory.mktemp("fuzz-data")) as running:
        yield running, make_actor_tokens(running.base_url)


def run_schemathesis(base_url: str, service: str, token: str, database: Path) -> subprocess.CompletedProcess[str]:
    """`schemathesis run` on one service's document with every check; its report in stdout."""
    database.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG_FILE),
        "run",
        f"{base_url}/{service}/openapi.json",
        "--checks",
        "all",
        # Every check but one: positive_data_acceptance expects every schema-valid request to be accepted, and the
        # server rightly refuses values no JSON Schema can describe (GB 32100 check characters, region codes it
        # knows, opaque cursors, cross-field rules): it could never pass. negative_data_rejection stays.
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: the run is reproducible request by request, and two cores are shared with the suite.
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {token}",
        "--generation-database",
        str(database),
        "--request-timeout",
        "30",
        "--no-color",
    ]
    return subprocess.run(  # noqa: S603  (our own interpreter)
        command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT, check=False
    )


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("who", WHO)  # innermost: every university admin run comes before the platform admin's
def test_openapi_document_tells_the_truth(
    server: tuple[RunningServer, dict[str, str]], service: str, who: str, capsys: pytest.CaptureFixture[str]
) -> None:
    running, tokens = server
    started = time.monotonic()
    result = run_schemathesis(running.base_url, service, tokens[who], HYPOTHESIS_DB / f"{service}-{who}")
    with capsys.disabled():
        print(f"\nschemathesis /{service} as {who}: exit {result.returncode} in {time.monotonic() - started:.1f}s")
    report = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"schemathesis found problems in /{service}/openapi.json as {who}:\n{report}\n"
        f"--- server log (tail) ---\n{running.log_tail()}"
    )
