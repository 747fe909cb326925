"""Stream CSV, Parquet and XLSX files as Arrow batches of strings, with source line numbers.

Every value is read as text: parsing (times, amounts, enums) happens in validation, so an
unparseable cell becomes a reported reject instead of a reader crash.

CSV takes a fast path (pyarrow's multi-threaded reader, one block at a time) while the file
is well formed, and hands over to Python's ``csv`` module from the first malformed record on
(a row with the wrong number of fields, a blank line, a quoted line break), because only
the slow path can say exactly which line each later record came from.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

__all__ = ["RawBatch", "Malformed", "SourceFile", "open_source", "SUFFIXES"]

SUFFIXES = (".csv", ".parquet", ".xlsx")
_CSV_BLOCK_BYTES = 128 << 20
_SLOW_BATCH_ROWS = 50_000
_PARQUET_BATCH_ROWS = 500_000


@dataclass(frozen=True)
class Malformed:
    line: int
    reason: str
    text: str


@dataclass
class RawBatch:
    """Rows as read, headers as in the file; ``lines[i]`` is where row ``i`` starts."""

    table: pa.Table
    lines: pa.Array
    malformed: list[Malformed] = field(default_factory=list)


@dataclass
class SourceFile:
    path: Path
    headers: list[str]
    size: int
    """Progress total, in ``unit``."""
    unit: str
    batches: Callable[[Callable[[int], None]], Iterator[RawBatch]]
    """Call with a progress callback (advance by n units) to stream the rows."""
    note: str | None = None


class _CountingReader(io.RawIOBase):
    """Wraps a binary file to report how many bytes the parser has consumed."""

    def __init__(self, raw: io.BufferedReader, advance: Callable[[int], None]) -> None:
        self._raw = raw
        self._advance = advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = self._raw.readinto(buffer)
        if n:
            self._advance(n)
        return n


def open_source(path: Path) -> SourceFile:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _open_csv(path)
    if suffix == ".parquet":
        return _open_parquet(path)
    if suffix == ".xlsx":
        return _open_xlsx(path)
    raise ValueError(f"{path.name}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}")


# ---- CSV ---------------------------------------------------------------------------------


def _detect_encoding(head: bytes) -> str:
    """UTF-8 per the contract; GB18030 (a superset of GBK) is what Chinese Excel saves instead."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _open_csv(path: Path) -> SourceFile:
    with path.open("rb") as f:
        head = f.read(1 << 20)
    encoding = _detect_encoding(head)
    text = head.decode(encoding, errors="replace")
    header_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    headers = next(csv.reader([header_line])) if header_line else []
    note = None if encoding == "utf-8" else f"not UTF-8; read as {encoding.upper()}"

    def batches(advance: Callable[[int], None]) -> Iterator[RawBatch]:
        yielded = 0
        malformed_seen = False

        def on_invalid(_row: object) -> str:
            nonlocal malformed_seen
            malformed_seen = True
            return "error"

        with path.open("rb") as raw:
            try:
                # The first block is parsed on open, so opening can meet a malformed row too.
                reader = pa_csv.open_csv(
                    _CountingReader(raw, advance),
                    read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES, encoding=encoding),
                    parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
                    convert_options=pa_csv.ConvertOptions(
                        column_types={h: pa.string() for h in headers},
                        strings_can_be_null=False,
                        quoted_strings_can_be_null=False,
                    ),
                )
                for record_batch in reader:
                    n = record_batch.num_rows
                    # Header is line 1; while the file is well formed, record i is on line i + 2.
                    lines = pa.array(range(yielded + 2, yielded + 2 + n), pa.int64())
                    yield RawBatch(pa.Table.from_batches([record_batch]), lines)
                    yielded += n
                return
            except pa.ArrowInvalid:
                if not malformed_seen:
                    raise
        yield from _csv_slow_path(path, encoding, headers, skip_records=yielded)

    return SourceFile(path, headers, path.stat().st_size, "B", batches, note)


def _csv_slow_path(path: Path, encoding: str, headers: list[str], skip_records: int) -> Iterator[RawBatch]:
    width = len(headers)
    columns: list[list[str]] = [[] for _ in headers]
    lines: list[int] = []
    malformed: list[Malformed] = []

    def flush() -> RawBatch:
        batch = RawBatch(
            pa.table({h: pa.array(col, pa.string()) for h, col in zip(headers, columns)}),
            pa.array(lines, pa.int64()),
            list(malformed),
        )
        for col in columns:
            col.clear()
        lines.clear()
        malformed.clear()
        return batch

    with path.open(encoding=encoding, errors="replace", newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        last_line = reader.line_num
        records = 0
        for record in reader:
            start, last_line = last_line + 1, reader.line_num
            if not record:
                continue
            records += 1
            if records <= skip_records:
                continue
            if len(record) != width:
                malformed.append(Malformed(start, f"expected {width} fields, found {len(record)}", ",".join(record)))
                continue
            for col, value in zip(columns, record):
                col.append(value)
            lines.append(start)
            if len(lines) >= _SLOW_BATCH_ROWS:
                yield flush()
    if lines or malformed:
        yield flush()


# ---- Parquet -----------------------------------------------------------------------------


def _open_parquet(path: Path) -> SourceFile:
    parquet = pq.ParquetFile(path)
    headers = parquet.schema_arrow.names

    def batches(advance: Callable[[int], None]) -> Iterator[RawBatch]:
        offset = 0
        for record_batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
            table = pa.Table.from_batches([record_batch])
            table = pa.table({name: _as_text(table.column(name)) for name in table.column_names})
            n = table.num_rows
            # Parquet has no header line: "line" is the 1-based row number.
            yield RawBatch(table, pa.array(range(offset + 1, offset + 1 + n), pa.int64()))
            offset += n
            advance(n)

    return SourceFile(path, headers, parquet.metadata.num_rows, "rows", batches)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string()).fill_null("")
    if pa.types.is_timestamp(column.type):
        return pc.strftime(column, format="%Y-%m-%d %H:%M:%S").fill_null("")
    return column.cast(pa.string()).fill_null("")


# ---- XLSX --------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        # Excel stores phone numbers and ids typed as numbers as floats.
        return str(int(value))
    return str(value)


def _open_xlsx(path: Path) -> SourceFile:
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheet = workbook.worksheets[0]
    first = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), ())
    headers = [_cell_text(v).strip() for v in first]
    workbook.close()

    def batches(advance: Callable[[int], None]) -> Iterator[RawBatch]:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            columns: list[list[str]] = [[] for _ in headers]
            lines: list[int] = []
            for line, values in enumerate(book.worksheets[0].iter_rows(min_row=2, values_only=True), start=2):
                texts = [_cell_text(v) for v in values[: len(headers)]]
                if not any(t.strip() for t in texts):
                    continue
                texts += [""] * (len(headers) - len(texts))
                for col, text in zip(columns, texts):
                    col.append(text)
                lines.append(line)
                advance(1)
                if len(lines) >= _SLOW_BATCH_ROWS:
                    yield RawBatch(pa.table({h: c for h, c in zip(headers, columns)}), pa.array(lines, pa.int64()))
                    columns = [[] for _ in headers]
                    lines = []
            if lines:
                yield RawBatch(pa.table({h: c for h, c in zip(headers, columns)}), pa.array(lines, pa.int64()))
        finally:
            book.close()

    return SourceFile(path, headers, 0, "rows", batches)
