"""A real PgBouncer (Debian's, 1.18) in transaction mode in front of the test PostgreSQL, for the tests.

``running_pgbouncer(server_url)`` writes an ini and a userlist into a temporary folder, starts ``pgbouncer`` in
the foreground on a free port (as ``nobody`` when the tests run as root: PgBouncer refuses to run as root), waits
until it answers and stops it (then kills it if need be) on exit, so no process outlives the test.

Every database of the server is reachable through it under its own name (the ``*`` fallback entry); the pool
is small on purpose (``pool_size`` server connections per database), so many client sessions share few server
connections, as in production.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support.net import free_port

__all__ = ["PgBouncer", "bouncer_url", "pgbouncer_binary", "running_pgbouncer"]


def pgbouncer_binary() -> str | None:
    """The pgbouncer executable (Debian installs it in /usr/sbin), or None."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")


@dataclass(frozen=True)
class PgBouncer:
    """A running bouncer: where it listens."""

    host: str
    port: int
    log: Path

    def url(self, direct_url: str) -> str:
        """``direct_url`` (a database of the server behind it) through this bouncer, marked ``?pooler=pgbouncer``."""
        return bouncer_url(direct_url, self.host, self.port)


def bouncer_url(direct_url: str, host: str, port: int) -> str:
    """The same database and user as ``direct_url``, through the bouncer at ``host:port``."""
    url = make_url(direct_url).set(host=host, port=port).update_query_dict({"pooler": "pgbouncer"})
    return url.render_as_string(hide_password=False)


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


@contextlib.contextmanager
def running_pgbouncer(server_url: str, *, pool_size: int = 3, max_client_conn: int = 500) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the PostgreSQL server of ``server_url``, for the ``with`` block."""
    binary = pgbouncer_binary()
    if binary is None:
        raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)")
    server = make_url(server_url)
    user = server.username or "postgres"
    folder = Path(tempfile.mkdtemp(prefix="tmt-pgbouncer-"))
    # Readable by the unprivileged user pgbouncer switches to.
    folder.chmod(0o755)
    port = free_port()
    log = folder / "pgbouncer.log"
    password = f"password={server.password} " if server.password else ""
    (folder / "userlist.txt").write_text(f'"{user}" "{server.password or ""}"\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.host or '127.0.0.1'} port={server.port or 5432} user={user} {password}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {folder / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {pool_size}\n"
        "min_pool_size = 0\n"
        "reserve_pool_size = 0\n"
        f"max_client_conn = {max_client_conn}\n"
        "max_db_connections = 0\n"
        # asyncpg sends none of these, but other clients (psql, libpq tools) may.
        "ignore_startup_parameters = extra_float_digits,options\n"
        # Tests drop their databases: do not keep server connections to them for long.
        "server_idle_timeout = 10\n"
        "server_lifetime = 60\n"
        # PostgreSQL restarted behind it (the fault suite): after a failed server login PgBouncer waits
        # server_login_retry (15 s by default) before trying again, answering its clients with errors meanwhile.
        "server_login_retry = 1\n"
        "log_connections = 0\n"
        "log_disconnections = 0\n"
    )
    for name in ("pgbouncer.ini", "userlist.txt"):
        (folder / name).chmod(0o644)
    command = [binary]
    if os.geteuid() == 0:
        command += ["-u", pwd.getpwnam("nobody").pw_name]
    command.append(str(folder / "pgbouncer.ini"))
    with log.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        deadline = time.monotonic() + 15
        while not _answers("127.0.0.1", port):
            if process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {process.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not listen on {port}: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield PgBouncer(host="127.0.0.1", port=port, log=log)
    finally:
        # SIGTERM: PgBouncer 1.18 shuts down at once (SIGINT would wait for clients).
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
