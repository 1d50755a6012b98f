"""`make prod` / `techmarket prod up|down|status`: the production topology on this machine, without Docker.

What runs, each a separate OS process with ENVIRONMENT=production (``python -m infra.entrypoint``, SERVICE=...,
as in docker-compose.yml), started in this order (the three APIs together, then the rest once they are ready):

    auth        uvicorn, one process                    answers under /auth   on a free loopback port
    market      uvicorn --workers 2 (a master + 2 workers sharing one socket; the master replaces a dead worker)
    search      uvicorn, the embedded engine (index under <run_dir>/data/search-index) unless MEILI_URL is given
    relay       the market background process (outbox relay to search, statistics fold, webhooks, maintenance)
    auth-relay  auth's organization feed to market's directory
    gateway     nginx in the foreground (its own prefix, pid and logs under <run_dir>/nginx), the only public port:
                /auth, /market, /search — the URLs of the embedded default (infra/nginx/gateway.conf.template)

Databases: ``<prefix>_auth``, ``<prefix>_market``, ``<prefix>_search`` on the PostgreSQL server of
PROD_DATABASE_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres), created when missing and migrated
before the services start (never concurrently by two workers). Secrets (the machine clients' secrets) are generated
once into ``<run_dir>/prod.env`` (mode 0600) and reused. Pids: ``<run_dir>/pids/<name>.pid``; logs:
``<run_dir>/logs/<name>.log``; ports and URLs: ``<run_dir>/state.json``. ``down`` stops in reverse order: SIGTERM,
a grace period, then SIGKILL of the process group (so no market worker outlives its master).

Python interface (stable; the fault and PgBouncer suites build on it)::

    from infra.prod import ProdConfig, running_topology

    with running_topology(tmp_path, db_prefix="tm_e2e_1a2b", port=None, env={...}) as topo:
        topo.base_url                  # "http://127.0.0.1:<gateway port>"
        topo.service_urls["market"]    # "http://127.0.0.1:<port>/market" (direct, bypassing the gateway)
        topo.database_urls["market"]   # "postgresql+asyncpg://.../<prefix>_market" (what the services use)
        topo.pid("search")             # pid of a process by name: auth, market, search, relay, auth-relay, gateway
        topo.market_worker_pids()      # the uvicorn worker processes of market (children of its master)
        topo.kill("search")            # SIGKILL (or another signal) — the process stays down until restart()
        # market: kill("market") hits the uvicorn master only — its orphaned workers keep serving until
        # restart("market")/stop, which SIGKILL the whole process group first. To kill one worker instead:
        # os.kill(topo.market_worker_pids()[0], signal.SIGKILL) — the master replaces it within about a second.
        topo.restart("search")         # start it again with the same port and settings, wait until ready
        topo.is_running("relay")
        topo.log("market")             # its log so far
    # on exit: everything stopped (no orphan), and with drop_databases=True (the default there) the databases dropped

``running_topology`` keyword arguments are those of :class:`ProdConfig` (``port=None`` picks a free gateway port).
``ProdConfig.service_database_url`` lets the services reach PostgreSQL through another server (e.g. PgBouncer)
while databases are still created through ``admin_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy.engine import make_url

__all__ = [
    "DEFAULT_ADMIN_URL",
    "HTTP_SERVICES",
    "PROCESS_NAMES",
    "ProdConfig",
    "Topology",
    "app",
    "drop_databases",
    "process_alive",
    "running_topology",
    "start_topology",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx" / "gateway.conf.template"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HTTP_SERVICES = ("auth", "market", "search")
# Start order; stop order is the reverse.
PROCESS_NAMES = ("auth", "market", "search", "relay", "auth-relay", "gateway")
# The machine clients of docker-compose.yml's AUTH_SERVICE_CLIENTS, and the variable holding each one's secret.
SERVICE_CLIENTS = {
    "market-relay": ("MARKET_RELAY_CLIENT_SECRET", ["search:ingest", "auth:directory"]),
    "search-indexer": ("SEARCH_INDEXER_CLIENT_SECRET", ["market:read"]),
    "auth-relay": ("AUTH_RELAY_CLIENT_SECRET", ["market:directory"]),
}
STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class ProdConfig:
    """What `techmarket prod up` starts. Every field has an environment variable in :meth:`from_env`."""

    run_dir: Path = Path("var/prod")
    port: int = 8000  # the gateway's (PORT)
    host: str = "127.0.0.1"  # the gateway's interface (HOST); the services always listen on loopback
    admin_url: str = DEFAULT_ADMIN_URL  # PROD_DATABASE_ADMIN_URL: creates the databases
    service_database_url: str | None = None  # PROD_DATABASE_URL: server the services connect to (default admin_url)
    db_prefix: str = "techmarket"  # PROD_DATABASE_PREFIX
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = None
    market_workers: int = 2
    meili_url: str | None = None
    meili_master_key: str | None = None
    startup_timeout: float = 90.0
    env: dict[str, str] = field(default_factory=dict)  # extra variables for every process (after the defaults)

    @classmethod
    def from_env(cls, **overrides: Any) -> ProdConfig:
        """The configuration `make prod` passes through the environment."""
        environ = os.environ
        values: dict[str, Any] = {
            "run_dir": Path(environ.get("PROD_DIR", "var/prod")),
            "port": int(environ.get("PORT", "8000")),
            "host": environ.get("HOST", "127.0.0.1"),
            "admin_url": environ.get("PROD_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL),
            "service_database_url": environ.get("PROD_DATABASE_URL") or None,
            "db_prefix": environ.get("PROD_DATABASE_PREFIX", "techmarket"),
            "bootstrap_admin_email": environ.get("AUTH_BOOTSTRAP_ADMIN_EMAIL") or None,
            "bootstrap_admin_password": environ.get("AUTH_BOOTSTRAP_ADMIN_PASSWORD") or None,
            "meili_url": environ.get("MEILI_URL") or None,
            "meili_master_key": environ.get("MEILI_MASTER_KEY") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def database_names(self) -> dict[str, str]:
        return {name: f"{self.db_prefix}_{name}" for name in HTTP_SERVICES}

    def database_urls(self) -> dict[str, str]:
        """The asyncpg URL of each service's database, on the server the services connect to."""
        server = make_url(self.service_database_url or self.admin_url).set(drivername="postgresql+asyncpg")
        return {
            name: server.set(database=database).render_as_string(hide_password=False)
            for name, database in self.database_names().items()
        }


# --- databases ------------------------------------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _ensure_databases(config: ProdConfig) -> None:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(config.admin_url), timeout=10)
    try:
        for database in config.database_names().values():
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if not exists:
                await connection.execute(f'CREATE DATABASE "{database}"')
    finally:
        await connection.close()


async def _drop_databases(config: ProdConfig) -> None:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(config.admin_url), timeout=10)
    try:
        for database in config.database_names().values():
            await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await connection.close()


def drop_databases(config: ProdConfig) -> None:
    """Drop the topology's three databases (tests; `make prod-down` keeps them)."""
    asyncio.run(_drop_databases(config))


# --- secrets and environments ----------------------------------------------------------------------------------


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def ensure_secrets(run_dir: Path) -> dict[str, str]:
    """The secrets of <run_dir>/prod.env, generated (mode 0600) the first time and kept afterwards."""
    path = run_dir / "prod.env"
    wanted = [variable for variable, _ in SERVICE_CLIENTS.values()]
    values = _read_env_file(path) if path.exists() else {}
    missing = [name for name in wanted if not values.get(name)]
    if missing:
        for name in missing:
            values[name] = secrets.token_urlsafe(32)
        run_dir.mkdir(parents=True, exist_ok=True)
        text = "# Secrets of `make prod`, generated once; keep this file private (mode 0600).\n" + "".join(
            f"{key}={value}\n" for key, value in values.items()
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    os.chmod(path, 0o600)
    return values


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environments(config: ProdConfig, ports: dict[str, int], run_dir: Path) -> dict[str, dict[str, str]]:
    """The environment of each process (the gateway's is unused but kept for symmetry)."""
    secret_values = ensure_secrets(run_dir)
    urls = {name: f"http://127.0.0.1:{ports[name]}/{name}" for name in HTTP_SERVICES}
    databases = config.database_urls()
    base = {
        key: value
        for key, value in os.environ.items()
        # The caller's service settings would point the topology at someone else's databases or engine.
        if not (key.endswith("DATABASE_URL") or key.startswith(("MEILI_", "SEARCH_MEILI_")))
        and key not in ("SERVICE", "PORT", "HOST", "WORKERS", "DATA_DIR")
    }
    clients = [
        {"client_id": client_id, "client_secret": secret_values[variable], "scopes": scopes}
        for client_id, (variable, scopes) in SERVICE_CLIENTS.items()
    ]
    base.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            "ENVIRONMENT": "production",
            "HOST": "127.0.0.1",
            "DATA_DIR": str(run_dir / "data"),
            "TRUSTED_PROXIES": "127.0.0.1",  # the gateway alone
            "AUTH_URL": urls["auth"],
            "AUTH_MARKET_URL": urls["market"],
            "MARKET_SEARCH_URL": urls["search"],
            "SEARCH_MARKET_URL": urls["market"],
            "AUTH_DATABASE_URL": databases["auth"],
            "MARKET_DATABASE_URL": databases["market"],
            "SEARCH_DATABASE_URL": databases["search"],
            "AUTH_SERVICE_CLIENTS": json.dumps(clients),
            # Each relay runs as its own process (below), never inside the API processes.
            "AUTH_RELAY_ENABLED": "false",
            "MARKET_RELAY_ENABLED": "false",
            **{variable: secret_values[variable] for variable, _ in SERVICE_CLIENTS.values()},
        }
    )
    if config.meili_url:
        base["MEILI_URL"] = config.meili_url
        if config.meili_master_key:
            base["MEILI_MASTER_KEY"] = config.meili_master_key
    else:
        base["SEARCH_INDEX_DIR"] = str(run_dir / "data" / "search-index")
    if config.bootstrap_admin_email and config.bootstrap_admin_password:
        base["AUTH_BOOTSTRAP_ADMIN_EMAIL"] = config.bootstrap_admin_email
        base["AUTH_BOOTSTRAP_ADMIN_PASSWORD"] = config.bootstrap_admin_password
    base.update(config.env)
    envs = {name: {**base, "SERVICE": name} for name in PROCESS_NAMES}
    for name in HTTP_SERVICES:
        envs[name]["PORT"] = str(ports[name])
    envs["market"]["WORKERS"] = str(config.market_workers)
    return envs


# --- nginx -----------------------------------------------------------------------------------------------------


def render_gateway_conf(variables: dict[str, str]) -> str:
    """infra/nginx/gateway.conf.template with its ${UPPER_CASE} variables filled (nginx's $lower_case left)."""
    text = TEMPLATE.read_text(encoding="utf-8")

    def replace(match: re.Match[str]) -> str:
        return variables.get(match.group(1), match.group(0))

    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}", replace, text)


def _write_nginx_conf(config: ProdConfig, ports: dict[str, int], nginx_dir: Path, temp_dir: Path) -> Path:
    nginx_dir.mkdir(parents=True, exist_ok=True)
    gateway = render_gateway_conf(
        {
            "GATEWAY_LISTEN": f"{config.host}:{ports['gateway']}",
            "AUTH_UPSTREAM": f"127.0.0.1:{ports['auth']}",
            "MARKET_UPSTREAM": f"127.0.0.1:{ports['market']}",
            "SEARCH_UPSTREAM": f"127.0.0.1:{ports['search']}",
        }
    )
    (nginx_dir / "gateway.conf").write_text(gateway, encoding="utf-8")
    user = ""
    if os.geteuid() == 0:
        # nginx started by root switches its workers to an unprivileged user; they write only the temp dir.
        user = "user nobody nogroup;\n"
    temps = "".join(
        f"    {kind}_temp_path {temp_dir / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = (
        "# Generated by infra/prod.py — edit infra/nginx/gateway.conf.template instead.\n"
        f"{user}daemon off;\nworker_processes 2;\npid {nginx_dir / 'nginx.pid'};\nerror_log stderr warn;\n"
        "events { worker_connections 2048; }\n"
        "http {\n    access_log off;\n    default_type application/octet-stream;\n"
        f"{temps}    include {nginx_dir / 'gateway.conf'};\n}}\n"
    )
    path = nginx_dir / "nginx.conf"
    path.write_text(main, encoding="utf-8")
    return path


def _nginx_temp_dir() -> Path:
    # Under /tmp (reachable by the workers' user even when run_dir sits in a private folder).
    path = Path(tempfile.mkdtemp(prefix="techmarket-nginx-"))
    if os.geteuid() == 0:
        import grp
        import pwd

        uid = pwd.getpwnam("nobody").pw_uid
        try:
            gid = grp.getgrnam("nogroup").gr_gid
        except KeyError:
            gid = pwd.getpwnam("nobody").pw_gid
        os.chown(path, uid, gid)
    path.chmod(0o700)
    return path


# --- processes -------------------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its parent to reap it is not)."""
    return _alive(pid)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return sorted(found)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Topology:
    """A running (or stopped) topology: its configuration, ports and processes. See the module docstring."""

    config: ProdConfig
    ports: dict[str, int]
    nginx_temp_dir: Path
    _popen: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    # -- addresses

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host  # noqa: S104
        return f"http://{host}:{self.ports['gateway']}"

    @property
    def service_urls(self) -> dict[str, str]:
        return {name: f"http://127.0.0.1:{self.ports[name]}/{name}" for name in HTTP_SERVICES}

    @property
    def database_urls(self) -> dict[str, str]:
        return self.config.database_urls()

    def log_path(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def log(self, name: str, chars: int = 20_000) -> str:
        path = self.log_path(name)
        return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else ""

    def _pid_path(self, name: str) -> Path:
        return self.run_dir / "pids" / f"{name}.pid"

    # -- processes

    def pid(self, name: str) -> int | None:
        """The pid of process ``name`` (for market: its uvicorn master), or None if it never started."""
        if name not in PROCESS_NAMES:
            raise KeyError(name)
        path = self._pid_path(name)
        return int(path.read_text()) if path.exists() else None

    def is_running(self, name: str) -> bool:
        self._reap()
        pid = self.pid(name)
        return pid is not None and _alive(pid)

    def market_worker_pids(self) -> list[int]:
        """The worker processes of market's uvicorn master (its children that run the app)."""
        master = self.pid("market")
        if master is None:
            return []
        return [child for child in _children(master) if "spawn_main" in _cmdline(child)]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (default SIGKILL) to process ``name`` only (market: its master, not the workers)."""
        pid = self.pid(name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if sig == signal.SIGKILL and pid is not None:
            self._wait_gone(pid, 10)

    def _reap(self) -> None:
        for process in self._popen.values():
            process.poll()

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._reap()
            if not _alive(pid):
                return True
            time.sleep(0.05)
        return False

    def _start(self, name: str, envs: dict[str, dict[str, str]]) -> None:
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "pids").mkdir(parents=True, exist_ok=True)
        if name == "gateway":
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            conf = _write_nginx_conf(self.config, self.ports, (self.run_dir / "nginx").resolve(), self.nginx_temp_dir)
            argv = [nginx, "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"]
        else:
            argv = [sys.executable, "-m", "infra.entrypoint"]
        with self.log_path(name).open("ab") as log:
            # A session of its own: the group (market's master and workers) is stopped together, and Ctrl-C in the
            # terminal reaches only the launcher, which stops everything in order.
            process = subprocess.Popen(  # noqa: S603  (our interpreter / the machine's nginx)
                argv,
                cwd=REPO_ROOT,
                env=envs[name],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._popen[name] = process
        self._pid_path(name).write_text(str(process.pid))

    def _ready_url(self, name: str) -> str | None:
        if name in HTTP_SERVICES:
            return f"{self.service_urls[name]}/readyz"
        if name == "gateway":
            # The gateway's aggregate readiness: 200 only when auth, market and search are ready behind it.
            return f"{self.base_url}/readyz"
        return None

    def wait_ready(self, name: str, timeout: float | None = None) -> None:
        """Wait until ``name`` answers its readiness check (relays: still alive after a moment)."""
        deadline = time.monotonic() + (timeout or self.config.startup_timeout)
        url = self._ready_url(name)
        settle = time.monotonic() + 1.0
        while True:
            if not self.is_running(name):
                raise RuntimeError(f"{name} exited during startup:\n{self.log(name, 4000)}")
            if url is None:
                if time.monotonic() >= settle:
                    return
            else:
                with contextlib.suppress(httpx.HTTPError):
                    # market: every worker must be up (the first one answering is not enough).
                    workers_up = name != "market" or len(self.market_worker_pids()) >= self.config.market_workers
                    if workers_up and httpx.get(url, timeout=2).status_code == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} not ready after {timeout or self.config.startup_timeout}s:\n{self.log(name, 4000)}"
                )
            time.sleep(0.1)

    def _envs(self) -> dict[str, dict[str, str]]:
        return _environments(self.config, self.ports, self.run_dir)

    def start(self, name: str) -> None:
        """Start process ``name`` (if it is not running) and wait until it is ready."""
        if self.is_running(name):
            return
        self._start(name, self._envs())
        self.wait_ready(name)

    def stop(self, name: str, timeout: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL the process group (stragglers: orphaned workers)."""
        pid = self.pid(name)
        if pid is None:
            return
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            self._wait_gone(pid, timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # the group is the session we started: the master and its workers
        self._wait_gone(pid, 5)
        # SIGKILL is delivered at once but a worker exits a moment later: `down` returns when the group is gone.
        deadline = time.monotonic() + 5
        while _group_members(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        process = self._popen.pop(name, None)
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self._pid_path(name).unlink(missing_ok=True)

    def restart(self, name: str) -> None:
        """Stop ``name`` if it runs (or was killed), start it again on the same port, wait until ready."""
        self.stop(name)
        self.start(name)

    def stop_all(self) -> None:
        for name in reversed(PROCESS_NAMES):
            self.stop(name)
        shutil.rmtree(self.nginx_temp_dir, ignore_errors=True)
        (self.run_dir / "state.json").unlink(missing_ok=True)

    def status(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = {}
        for name in PROCESS_NAMES:
            url = self._ready_url(name)
            ready: bool | None = None
            if url is not None and self.is_running(name):
                try:
                    ready = httpx.get(url, timeout=2).status_code == 200
                except httpx.HTTPError:
                    ready = False
            result[name] = {"pid": self.pid(name), "running": self.is_running(name), "ready": ready}
        result["market"]["workers"] = self.market_worker_pids()
        return result

    # -- state on disk (for `down` and `status` from another process)

    def save_state(self) -> None:
        state = {
            "config": {**asdict(self.config), "run_dir": str(self.config.run_dir)},
            "ports": self.ports,
            "nginx_temp_dir": str(self.nginx_temp_dir),
        }
        (self.run_dir / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, run_dir: Path) -> Topology | None:
        path = run_dir / "state.json"
        if not path.exists():
            return None
        state = json.loads(path.read_text(encoding="utf-8"))
        config = ProdConfig(**{**state["config"], "run_dir": Path(state["config"]["run_dir"])})
        return cls(config=config, ports=state["ports"], nginx_temp_dir=Path(state["nginx_temp_dir"]))


def _migrate(envs: dict[str, dict[str, str]], run_dir: Path) -> None:
    # Before any service starts: two market workers migrating at once would race.
    with (run_dir / "logs" / "migrate.log").open("ab") as log:
        result = subprocess.run(
            [sys.executable, "-c", "from services.cli import main; main()", "migrate", "all"],
            cwd=REPO_ROOT,
            env=envs["auth"],
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    if result.returncode != 0:
        tail = (run_dir / "logs" / "migrate.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"migrations failed:\n{tail}")


def start_topology(config: ProdConfig) -> Topology:
    """Create the databases, write the secrets, migrate, start every process in order and wait until the gateway
    serves all three services. On failure, whatever started is stopped again."""
    run_dir = config.run_dir.resolve()
    config = ProdConfig(**{**asdict(config), "run_dir": run_dir})
    existing = Topology.load(run_dir)
    if existing is not None and any(existing.is_running(name) for name in PROCESS_NAMES):
        raise RuntimeError(f"a topology already runs from {run_dir} (`techmarket prod down` stops it)")
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    ports = {name: _free_port() for name in HTTP_SERVICES}
    ports["gateway"] = config.port
    topology = Topology(config=config, ports=ports, nginx_temp_dir=_nginx_temp_dir())
    topology.save_state()
    try:
        asyncio.run(_ensure_databases(config))
        envs = topology._envs()
        _migrate(envs, run_dir)
        # The three APIs start together (none needs another to start; imports dominate their start-up time), then
        # the relays (their first round asks auth for a token) and the gateway.
        for name in HTTP_SERVICES:
            topology._start(name, envs)
        for name in PROCESS_NAMES:
            if name not in HTTP_SERVICES:
                topology._start(name, envs)
            topology.wait_ready(name)
        for name in HTTP_SERVICES:  # through the gateway: the routes are wired
            response = httpx.get(f"{topology.base_url}/{name}/readyz", timeout=5)
            if response.status_code != 200:
                raise RuntimeError(f"gateway: /{name}/readyz answered {response.status_code}")
    except BaseException:
        topology.stop_all()
        raise
    return topology


@contextlib.contextmanager
def running_topology(
    run_dir: Path,
    *,
    db_prefix: str | None = None,
    port: int | None = None,
    drop_databases_after: bool = True,
    **config: Any,
) -> Iterator[Topology]:
    """The topology for a test: under ``run_dir``, databases ``<db_prefix>_*`` (default: a unique prefix), the
    gateway on ``port`` (default: a free one); stopped (and its databases dropped) on exit. Other keyword
    arguments are :class:`ProdConfig` fields (``env=``, ``admin_url=``, ``service_database_url=``, ...)."""
    prefix = db_prefix or f"tm_prod_{secrets.token_hex(4)}"
    settings = ProdConfig(run_dir=run_dir, db_prefix=prefix, port=port or _free_port(), **config)
    topology = start_topology(settings)
    try:
        yield topology
    finally:
        topology.stop_all()
        if drop_databases_after:
            drop_databases(topology.config)


# --- command line ----------------------------------------------------------------------------------------------

app = typer.Typer(
    help="The production topology on this machine (gateway, auth, market ×2, search, relays) without Docker.",
    no_args_is_help=True,
)


def _print_status(topology: Topology) -> bool:
    """Print each process's state; True when every process runs and every readiness check answers 200."""
    healthy = True
    for name, info in topology.status().items():
        extra = f" workers={info['workers']}" if "workers" in info else ""
        state = "running" if info["running"] else "stopped"
        ready = "" if info["ready"] is None else (" ready" if info["ready"] else " NOT ready")
        typer.echo(f"{name:11} pid={info['pid']} {state}{ready}{extra}")
        healthy = healthy and bool(info["running"]) and info["ready"] is not False
    return healthy


@app.command()
def up(
    detach: Annotated[bool, typer.Option(help="Start and return (stop with `techmarket prod down`).")] = False,
    port: Annotated[int | None, typer.Option(help="Gateway port (default: PORT or 8000).")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Pids, logs, secrets (default: PROD_DIR or var/prod).")] = None,
) -> None:
    """Start the topology; in the foreground (the default) Ctrl-C (or SIGTERM) stops everything."""
    config = ProdConfig.from_env(port=port, run_dir=run_dir)
    if not detach:
        # From the start: a Ctrl-C while it starts up stops what already runs (start_topology cleans up).
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
    topology = start_topology(config)
    typer.echo(f"techmarket production topology on {topology.base_url}/  (logs: {topology.run_dir / 'logs'})")
    _print_status(topology)
    if detach:
        return
    typer.echo("Ctrl-C stops it.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the orderly stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        typer.echo("stopping…")
        topology.stop_all()
        typer.echo("stopped")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _running(run_dir: Path | None) -> Topology | None:
    """The detached topology of ``run_dir`` (default PROD_DIR or var/prod), or None after saying nothing runs there."""
    directory = (run_dir or ProdConfig.from_env().run_dir).resolve()
    topology = Topology.load(directory)
    if topology is None:
        typer.echo(f"nothing runs from {directory}")
    return topology


@app.command()
def down(
    run_dir: Annotated[Path | None, typer.Option(help="Default: PROD_DIR or var/prod.")] = None,
) -> None:
    """Stop a detached topology (reverse order: SIGTERM, grace, SIGKILL)."""
    topology = _running(run_dir)
    if topology is None:
        return
    topology.stop_all()
    typer.echo("stopped")


@app.command()
def status(
    run_dir: Annotated[Path | None, typer.Option(help="Default: PROD_DIR or var/prod.")] = None,
) -> None:
    """Each process: pid, running, ready. Exits 1 when a process is stopped or a service (or the gateway's
    aggregate /readyz) is not ready, or nothing runs: usable as a health check."""
    topology = _running(run_dir)
    if topology is None:
        raise typer.Exit(1)
    if not _print_status(topology):
        raise typer.Exit(1)
