"""CSV and XLSX renderings of statistics tables (the JSON shape stays the reference)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from shared.errors import ProblemError, ValidationFailed

__all__ = ["CSV", "FORMATS", "XLSX", "negotiate", "render"]

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_BY_FORMAT = {"json": "application/json", "csv": CSV, "xlsx": XLSX}
FORMATS = tuple(_BY_FORMAT)  # the values of the ``format`` parameter, as its schema's enum


class NotAcceptable(ProblemError):
    status, slug, title = 406, "not-acceptable", "Not acceptable"


def negotiate(request: Request, fmt: str | None) -> str:
    """json, csv or xlsx: the ``format`` parameter wins, then the Accept header, then JSON."""
    if fmt is not None:
        if fmt not in _BY_FORMAT:
            raise ValidationFailed.field("format", "json, csv or xlsx", type="format_invalid")
        return fmt
    accept = request.headers.get("accept", "")
    if not accept:
        return "json"
    offered = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for media in offered:
        if media == CSV:
            return "csv"
        if media == XLSX:
            return "xlsx"
        if media in ("application/json", "application/*", "*/*", "application/problem+json"):
            return "json"
    raise NotAcceptable("Acceptable: application/json, text/csv, " + XLSX)


def render(fmt: str, *, header: Sequence[str], rows: Sequence[Sequence[Any]], filename: str) -> Response:
    """A download of ``rows`` as CSV (UTF-8 with BOM, for Excel) or XLSX."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
        media = CSV + "; charset=utf-8"
        name = filename + ".csv"
    else:
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("statistics")
        sheet.append(list(header))
        for row in rows:
            sheet.append(list(row))
        out = io.BytesIO()
        workbook.save(out)
        body, media, name = out.getvalue(), XLSX, filename + ".xlsx"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
