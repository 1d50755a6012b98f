"""A file upload sent as ``multipart/form-data`` (what browsers and generated clients send) beside a raw body.

Import endpoints take the file either as the raw request body (its Content-Type says what it is) or as one
multipart part named ``file``. For the part, its own Content-Type decides when it is one the endpoint reads, else
the filename extension (browsers label .ndjson or .csv inconsistently, e.g. application/octet-stream or
application/vnd.ms-excel). Starlette's parser spools the part to a temporary file (on disk beyond 1 MiB), so a
64 MiB upload is not held in memory; the body limit of shared.middleware.BodyLimitMiddleware applies while it
streams in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from shared.errors import UnsupportedMediaType, ValidationFailed

__all__ = [
    "FILE_FIELD",
    "MULTIPART",
    "chunks",
    "file_media_type",
    "is_multipart",
    "media_type",
    "multipart_body",
    "uploaded_file",
]

FILE_FIELD = "file"
MULTIPART = "multipart/form-data"
CHUNK_SIZE = 64 * 1024


def media_type(content_type: str | None) -> str:
    """The bare, lower-case media type of a Content-Type value ("" when absent)."""
    return (content_type or "").split(";")[0].strip().lower()


def is_multipart(request: Request) -> bool:
    return media_type(request.headers.get("content-type")) == MULTIPART


@asynccontextmanager
async def uploaded_file(request: Request) -> AsyncIterator[UploadFile]:
    """The ``file`` part of a multipart request (422 naming ``file`` when there is none); closed on exit."""
    async with request.form(max_files=1, max_fields=16) as form:
        part = form.get(FILE_FIELD)
        if not isinstance(part, UploadFile):
            message = "a file part is required" if part is None else "must be a file (a part with a filename)"
            raise ValidationFailed.field(FILE_FIELD, message, type="missing" if part is None else "file_expected")
        yield part


def file_media_type(upload: UploadFile, accepted: Collection[str], by_extension: Mapping[str, str]) -> str:
    """What the uploaded file is, as a media type the endpoint reads; 415 naming ``file`` for anything else.

    The part's Content-Type wins when it is accepted, else the filename extension (``by_extension``: ".csv" → type).
    """
    own = media_type(upload.content_type)
    if own in accepted:
        return own
    name = (upload.filename or "").lower()
    for extension, kind in by_extension.items():
        if name.endswith(extension):
            return kind
    known = ", ".join(sorted(by_extension))
    message = f"unsupported file type {own or 'none'} ({upload.filename or 'no filename'}); send {known}"
    raise UnsupportedMediaType(
        f"{FILE_FIELD}: {message}",
        errors=[{"field": FILE_FIELD, "message": message, "type": "unsupported"}],
    )


async def chunks(upload: UploadFile, size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    """The uploaded file, chunk by chunk."""
    await upload.seek(0)
    while chunk := await upload.read(size):
        yield chunk


def multipart_body(description: str, content_types: list[str]) -> dict[str, Any]:
    """The OpenAPI requestBody of an upload: one binary part named ``file`` (openapi_extra of the route)."""
    return {
        "required": True,
        "content": {
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary", "description": description}},
                },
                "encoding": {FILE_FIELD: {"contentType": ", ".join(content_types)}},
            }
        },
    }
