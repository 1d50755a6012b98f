"""Vendor the dashboard's chart library: Apache ECharts from the npm registry, pinned and verified, no CDN.

Downloads ``echarts-<VERSION>.tgz``, checks it against the pinned sha512 integrity (the registry's ``dist.integrity``
of that version, copied here once), and extracts ``dist/echarts.min.js`` and ``LICENSE`` into
services/market/dashboard/static/vendor/ (gitignored). Idempotent: when both files are there and the version stamp
matches, it does nothing. `make install` runs it (so `make run`, `make test` and CI get it on a fresh clone), and so
does the Dockerfile. Stdlib only: ``python infra/vendor_assets.py [--force]``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

__all__ = ["ECHARTS_INTEGRITY", "ECHARTS_VERSION", "VENDOR_DIR", "vendor"]

ECHARTS_VERSION = "6.1.0"
# `dist.integrity` of echarts@6.1.0 in the npm registry's metadata.
ECHARTS_INTEGRITY = "sha512-q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA=="
REGISTRY = os.environ.get("NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")
VENDOR_DIR = Path(__file__).resolve().parent.parent / "services" / "market" / "dashboard" / "static" / "vendor"
# Archive member → file name in VENDOR_DIR.
FILES = {"package/dist/echarts.min.js": "echarts.min.js", "package/LICENSE": "ECHARTS-LICENSE.txt"}
STAMP = "VERSION"


def _verify(data: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise SystemExit(f"echarts-{ECHARTS_VERSION}.tgz: integrity mismatch (got {algorithm}-{digest})")


def _present(target: Path) -> bool:
    stamp = target / STAMP
    return (
        all((target / name).is_file() for name in FILES.values())
        and stamp.is_file()
        and stamp.read_text().strip() == ECHARTS_VERSION
    )


def vendor(target: Path = VENDOR_DIR, *, force: bool = False) -> bool:
    """Put the pinned ECharts into ``target``; returns False when it was already there."""
    if not force and _present(target):
        return False
    url = f"{REGISTRY}/echarts/-/echarts-{ECHARTS_VERSION}.tgz"
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310  (a fixed https URL)
        data = response.read()
    _verify(data, ECHARTS_INTEGRITY)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member, name in FILES.items():
            extracted = archive.extractfile(member)
            if extracted is None:
                raise SystemExit(f"echarts-{ECHARTS_VERSION}.tgz has no {member}")
            tmp = target / f".{name}.tmp"
            tmp.write_bytes(extracted.read())
            tmp.replace(target / name)
    (target / STAMP).write_text(ECHARTS_VERSION + "\n")
    return True


def main() -> None:
    changed = vendor(force="--force" in sys.argv[1:])
    state = "vendored" if changed else "already present"
    print(f"echarts {ECHARTS_VERSION}: {state} in {VENDOR_DIR}")


if __name__ == "__main__":
    main()
