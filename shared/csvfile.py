"""Read an uploaded CSV file one record at a time, so a broken record is that row's error, not the import's.

Python's csv reader stops the whole file at the first record it cannot read (a bare CR inside an unquoted cell:
``new-line character seen in unquoted field``). Here the text is split into records first — on LF only, a record
going on while its double quotes are unbalanced, as RFC 4180 quoting allows line breaks inside quoted cells —
and each record is parsed on its own: a broken one comes back with an ``error`` and the reading goes on.
Used by every CSV import (achievements, contracts); each import decides what a broken header means (a 422).
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

__all__ = ["CsvRecord", "CsvRecordSplitter", "aiter_records", "iter_records", "split_lf"]


@dataclass(frozen=True)
class CsvRecord:
    """One record: its cells, or why it could not be read (then ``cells`` is empty). A blank line has no cells."""

    cells: list[str]
    error: str | None = None

    @property
    def blank(self) -> bool:
        """A blank line (nothing but whitespace; a line of empty cells such as ``,,`` is not blank)."""
        return self.error is None and not self.cells


def _parse(text: str) -> CsvRecord:
    if not text.strip():
        return CsvRecord([])
    try:
        rows = list(csv.reader([text]))
    except csv.Error as exc:
        if "new-line" in str(exc):
            return CsvRecord([], "a line break (CR) inside an unquoted cell: quote the cell or remove the CR")
        return CsvRecord([], f"not readable as CSV: {exc}")
    if len(rows) != 1:
        return CsvRecord([], "not readable as CSV: one row expected")
    return CsvRecord(rows[0])


class CsvRecordSplitter:
    """Feed lines ending in LF; get back each record once its quotes balance."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, line: str) -> CsvRecord | None:
        """The record that ``line`` completes, or None while a quoted cell goes on."""
        self._buffer += line
        if self._buffer.count('"') % 2 == 1:
            return None
        text, self._buffer = self._buffer, ""
        return _parse(text)

    def close(self) -> CsvRecord | None:
        """What is left at the end of the file: a record whose quotes never closed, or None."""
        text, self._buffer = self._buffer, ""
        if not text.strip():
            return None
        return CsvRecord([], "unbalanced quotes at the end of the file")


def split_lf(chunks: Iterable[str]) -> Iterator[str]:
    """Lines of a text read in chunks, split on LF only (a CR is a character of the line), LF kept."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    if pending:
        yield pending


def iter_records(lines: Iterable[str]) -> Iterator[CsvRecord]:
    """Every record of the lines (see :func:`split_lf`), blank lines included as blank records."""
    splitter = CsvRecordSplitter()
    for line in lines:
        record = splitter.feed(line)
        if record is not None:
            yield record
    last = splitter.close()
    if last is not None:
        yield last


async def aiter_records(lines: AsyncIterable[str]) -> AsyncIterator[CsvRecord]:
    """:func:`iter_records` over lines that arrive as a stream."""
    splitter = CsvRecordSplitter()
    async for line in lines:
        record = splitter.feed(line)
        if record is not None:
            yield record
    last = splitter.close()
    if last is not None:
        yield last
