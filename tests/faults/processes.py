"""Real OS processes for the fault suite: services and relays addressable by name, killable with SIGKILL and
restartable, and a private PostgreSQL cluster that a test may restart (never the machine's shared one).

Every process is started in its own session and its whole group is killed on exit, so a test leaves no orphan
even when it fails half-way (uvicorn's worker children die with their master's group).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.support.net import free_port

__all__ = ["PG_BIN", "PrivatePostgres", "Processes", "private_postgres", "wait_until"]


def _pg_bin() -> Path:
    """The newest installed PostgreSQL server binaries (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: tuple(int(x) for x in p.parent.parent.name.split(".") if x.isdigit()),
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll ``check`` until it is true; returns the seconds it took, raises AssertionError after ``timeout``."""
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except (httpx.TransportError, OSError):
            pass
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def base_env() -> dict[str, str]:
    """The caller's environment without anything that would point a child at someone else's databases."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for name in list(env):
        if name.endswith("DATABASE_URL") or name in ("MEILI_URL", "DATA_DIR", "TEST_POSTGRES_URL"):
            del env[name]
    return env


@dataclass
class _Spec:
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Processes:
    """Named child processes, each logging to ``root/<name>.log``."""

    root: Path
    specs: dict[str, _Spec] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        spec = self.specs.get(name) or _Spec(argv=argv, env=env, log=self.root / f"{name}.log")
        self.specs[name] = spec
        with spec.log.open("ab") as log:
            spec.process = subprocess.Popen(  # noqa: S603  (our own interpreter and modules)
                argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return spec.process

    def pid(self, name: str) -> int:
        process = self.specs[name].process
        assert process is not None
        return process.pid

    def alive(self, name: str) -> bool:
        process = self.specs[name].process
        return process is not None and process.poll() is None

    def kill(self, name: str) -> None:
        """kill -9 the process (only it, not its children: a master's workers are the caller's business)."""
        process = self.specs[name].process
        assert process is not None
        process.kill()
        process.wait(timeout=10)

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        spec = self.specs[name]
        if self.alive(name):
            self.stop(name)
        return self.start(name, spec.argv, spec.env)

    def stop(self, name: str, *, timeout: float = 20) -> int | None:
        """SIGTERM to the process, then SIGKILL to its whole group; returns the exit code of the graceful stop
        (None when it had to be killed)."""
        process = self.specs[name].process
        if process is None:
            return None
        code: int | None = None
        if process.poll() is None:
            process.terminate()
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                code = None
        else:
            code = process.returncode
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # leftover children (uvicorn workers) of this group
        if process.poll() is None:
            process.wait(timeout=10)
        return code

    def stop_all(self) -> None:
        for name in reversed(list(self.specs)):
            self.stop(name)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return self.specs[name].log.read_text(encoding="utf-8", errors="replace")[-chars:]

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.log_tail(name)}" for name in self.specs)


@contextmanager
def running_processes(root: Path) -> Iterator[Processes]:
    processes = Processes(root)
    try:
        yield processes
    finally:
        processes.stop_all()


def python_argv(*args: str) -> list[str]:
    """``techmarket <args>`` with this interpreter."""
    return [sys.executable, "-c", "from services.cli import main; main()", *args]


@dataclass
class PrivatePostgres:
    """A throw-away PostgreSQL cluster of this test: the only kind a test may restart."""

    data: Path
    port: int
    log: Path
    as_postgres: list[str]
    options: str = ""  # the server's command-line options (pg_ctl -o), for every start

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(  # noqa: S603
            [*self.as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", *args],
            check=True,
            timeout=timeout,
            capture_output=True,
        )

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every client connection is cut, the server is back once this returns."""
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: every client connection is cut, and new ones are refused until ``start``."""
        self._ctl("-m", "fast", "stop")

    def start(self) -> None:
        """``pg_ctl start`` with the cluster's options; the server answers once this returns."""
        self._ctl("-o", self.options, "start")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb + pg_ctl start in a temporary folder, on a free port, as the ``postgres`` OS user when run by root
    (the server refuses to run as root); stopped (immediate) and removed on exit."""
    if not (PG_BIN / "initdb").exists():
        message = f"{PG_BIN}/initdb not found: the fault suite starts its own PostgreSQL (apt-get install postgresql)"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    # Not under pytest's tmp_path: its parents are mode 700 to root, and the server runs as another user.
    root = Path(tempfile.mkdtemp(prefix="techmarket-faults-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres", group="postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    port = free_port()
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    cluster = PrivatePostgres(data=data, port=port, log=root / "server.log", as_postgres=as_postgres, options=options)
    try:
        subprocess.run(  # noqa: S603
            [
                *as_postgres,
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        yield cluster
    finally:
        subprocess.run(  # noqa: S603
            [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
