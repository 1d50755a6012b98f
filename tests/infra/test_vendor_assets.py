"""infra/vendor_assets.py: the pinned ECharts tarball is verified before anything is extracted; a second run is free."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from infra import vendor_assets


def _tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


class _Response(io.BytesIO):
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _serve(monkeypatch: pytest.MonkeyPatch, body: bytes) -> list[str]:
    asked: list[str] = []

    def urlopen(url: str, timeout: float) -> _Response:
        asked.append(url)
        return _Response(body)

    monkeypatch.setattr(vendor_assets.urllib.request, "urlopen", urlopen)
    return asked


TARBALL = _tarball({"package/dist/echarts.min.js": b"/* echarts */", "package/LICENSE": b"Apache-2.0"})


def test_a_verified_tarball_is_extracted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(TARBALL).digest()).decode()
    monkeypatch.setattr(vendor_assets, "ECHARTS_INTEGRITY", integrity)
    asked = _serve(monkeypatch, TARBALL)
    assert vendor_assets.vendor(tmp_path) is True
    assert asked == [f"{vendor_assets.REGISTRY}/echarts/-/echarts-{vendor_assets.ECHARTS_VERSION}.tgz"]
    assert (tmp_path / "echarts.min.js").read_bytes() == b"/* echarts */"
    assert (tmp_path / "ECHARTS-LICENSE.txt").read_bytes() == b"Apache-2.0"
    assert vendor_assets.vendor(tmp_path) is False  # present: no download
    assert len(asked) == 1


def test_a_tampered_tarball_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _serve(monkeypatch, TARBALL)  # the real pin does not match this archive
    with pytest.raises(SystemExit, match="integrity mismatch"):
        vendor_assets.vendor(tmp_path)
    assert not (tmp_path / "echarts.min.js").exists()


def test_the_pin_is_one_exact_version_with_its_sha512() -> None:
    assert vendor_assets.ECHARTS_VERSION.count(".") == 2
    assert vendor_assets.ECHARTS_VERSION.split(".")[0] in ("5", "6")
    assert vendor_assets.ECHARTS_INTEGRITY.startswith("sha512-")
    assert len(base64.b64decode(vendor_assets.ECHARTS_INTEGRITY.removeprefix("sha512-"))) == 64
