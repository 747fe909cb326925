"""Stream CSV, Parquet and XLSX files as Arrow batches of strings, with source line numbers.

Every value is read as text: parsing (times, amounts, enums) happens in validation, so an
unparseable cell becomes a reported reject instead of a reader crash.

CSV takes a fast path (pyarrow's multi-threaded reader, one block at a time) while the file
is well formed, and hands over to Python's ``csv`` module from the first block it cannot take
on (a row with the wrong number of fields, bytes that are not text in the file's encoding, a
value longer than a block), because only the slow path can say exactly which line each later
record came from.

Whatever bytes a file holds, reading its rows ends in rows, malformed records (line and
reason) or a note on the file, never an exception: undecodable bytes or a value over
``MAX_FIELD_CHARS`` make their record malformed; an empty or binary CSV is a note; a workbook
damaged part-way is read up to the damage, a Parquet file but its damaged row groups, each
damage one malformed record. Only a workbook or Parquet file that cannot be opened at all
raises, from ``open_source``, and the pipeline notes that on the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from itertools import count
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ingest.aliases import header_cells

__all__ = ["RawBatch", "Malformed", "SourceFile", "open_source", "SUFFIXES", "MAX_FIELD_CHARS"]

SUFFIXES = (".csv", ".parquet", ".xlsx")
_CSV_BLOCK_BYTES = 128 << 20
_SLOW_BATCH_ROWS = 50_000
_PARQUET_BATCH_ROWS = 500_000
_PARQUET_BATCH_BYTES = 64 << 20
"""Most text one Parquet batch decodes to. Rows alone do not bound it: by its dictionary, a few
bytes of a file can put one long value on every row."""
_PARQUET_MAX_RATIO = 200
"""Most a Parquet file's pages may unpack to, per byte of the file. What the writer records as
unpacked counts a dictionary page once, so this is the codec's gain alone, which on real exports
(zstd, snappy, gzip) is some 2 to 20; 200 is far above it, and is what a zip upload may unpack
to (``Settings.upload_max_ratio``)."""
_PARQUET_RATIO_FLOOR = 64 << 20
"""A Parquet file that unpacks to no more than this costs little memory whatever its ratio: a
small file with one long, compressible value is read, and only that value's row refused."""

MAX_FIELD_CHARS = 131_072
"""Longest value a record may hold. Ample for the longest contract value (a long stay's
``items``: some 40,000 Chinese characters), and Python's csv default field limit, so the fast
and the slow CSV path refuse the same records."""
_OVERSIZED = f"a value longer than {MAX_FIELD_CHARS:,} characters"
_HEAD_BYTES = 1 << 20
"""How much of a CSV is read to find its encoding and header."""
_BINARY_SHARE = 0.05
"""Share of a CSV's head that may be control characters or undecodable before it is not text."""
_MAX_HEADER_CHARS = 200
_XLSX_SHARED_STRINGS_BYTES = 1 << 30
"""Largest shared-strings part an XLSX may unpack to: openpyxl holds every shared string in
memory (rows it streams), so a workbook that is a zip bomb there would take the server's."""
_ESCAPED = re.compile("[\udc80-\udcff]")
"""What ``errors="surrogateescape"`` turns an undecodable byte into; decoding text never yields it."""
_NON_ASCII = re.compile("[^\x00-\x7f]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Control characters (tab and line breaks aside): no text holds them, and a terminal obeys some."""


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
    batches: Callable[[Callable[[int], object]], Iterator[RawBatch]]
    """Call with a progress callback (advance by n units) to stream the rows."""
    note: str | None = None


class _CountingReader(io.RawIOBase):
    """Wraps a binary file to report how many bytes the parser has consumed."""

    def __init__(self, raw: io.BufferedReader, advance: Callable[[int], object]) -> None:
        self._raw = raw
        self._advance = advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # buffer: any writable buffer, as io.RawIOBase.readinto takes
        n = self._raw.readinto(buffer)
        if n:
            self._advance(n)
        return n


def open_source(path: Path) -> SourceFile:
    openers = {".csv": _open_csv, ".parquet": _open_parquet, ".xlsx": _open_xlsx}
    opener = openers.get(path.suffix.lower())
    if opener is None:
        raise ValueError(f"{path.name}: unsupported file type {path.suffix.lower()!r}; use one of {', '.join(SUFFIXES)}")
    source = opener(path)
    read = source.batches
    return replace(source, batches=lambda advance: map(_screened, read(advance)))


def _printable(text: str) -> str:
    """``text`` safe to print and store: undecodable bytes and control characters as ``\\xNN``."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _clean_headers(raw: Sequence[object]) -> tuple[list[str], str | None]:
    """Column names from a header row: printable, unique, none empty, and a note on repeats.

    A repeated name keeps its first column (as an earlier alias wins in ``map_headers``); the
    later one gets a numbered name, which maps to nothing and is reported as ignored.
    """
    headers: list[str] = []
    repeated: list[str] = []
    for position, value in enumerate(raw, start=1):
        # A byte-order mark or zero-width space kept by a converter (CSV → XLSX or Parquet) is invisible:
        # left in, the column reads both as missing and as ignored under what looks like its own name.
        name = _printable(str(value).strip().strip("\ufeff\u200b")).strip()[:_MAX_HEADER_CHARS] or f"(column {position})"
        if name in headers:
            repeated.append(name)
            name = next(f"{name} ({n})" for n in count(2) if f"{name} ({n})" not in headers)
        headers.append(name)
    note = f"repeated column(s) {', '.join(dict.fromkeys(repeated))}: the first of each is read" if repeated else None
    return headers, note


def _notes(*notes: str | None) -> str | None:
    return "; ".join(n for n in notes if n) or None


def _unread(path: Path, note: str) -> SourceFile:
    """A file none of whose rows can be read: no rows, and the note says why."""
    return SourceFile(path, [], 0, "B", lambda _advance: iter(()), note)


def _screened(batch: RawBatch) -> RawBatch:
    """Records with a value over ``MAX_FIELD_CHARS`` become malformed, with an excerpt as their text.

    A hostile or broken export can hold one cell of megabytes; its row is refused, not the file.
    """
    too_long = None
    for column in batch.table.columns:
        if not pc.any(pc.greater(pc.binary_length(column), MAX_FIELD_CHARS)).as_py():
            continue  # no more characters than bytes: the usual column costs no character count
        long = pc.greater(pc.utf8_length(column), MAX_FIELD_CHARS)
        too_long = long if too_long is None else pc.or_(too_long, long)
    if too_long is None or not pc.any(too_long).as_py():
        return batch
    too_long = too_long.combine_chunks() if isinstance(too_long, pa.ChunkedArray) else too_long
    refused = [
        Malformed(line, _OVERSIZED, ",".join(_excerpt(v) for v in row.values()))
        for line, row in zip(batch.lines.filter(too_long).to_pylist(), batch.table.filter(too_long).to_pylist())
    ]
    keep = pc.invert(too_long)
    return RawBatch(batch.table.filter(keep), batch.lines.filter(keep), batch.malformed + refused)


def _excerpt(value: str, chars: int = 100, length: int | None = None) -> str:
    """``value``'s first ``chars`` characters and its length; ``value`` may be just the head of a
    value ``length`` characters long."""
    length = len(value) if length is None else length
    return value if length <= chars else f"{value[:chars]}...({length:,} characters)"


def _unreadable(line: int, what: str, exc: Exception) -> Malformed:
    """The record standing for the part of a damaged file that could not be read."""
    return Malformed(line, f"the file is damaged: {what} could not be read "
                           f"({type(exc).__name__}: {_excerpt(_printable(str(exc)), 200)})", "")


# ---- CSV ---------------------------------------------------------------------------------


def _decode_head(head: bytes, *, final: bool) -> tuple[str, str, int]:
    """(encoding, text, undecodable bytes) of a CSV's first bytes.

    UTF-8 per the contract; GB18030 (a superset of GBK) is what Chinese Excel saves instead.
    GB18030 decodes most byte pairs, so UTF-8 stands while its undecodable bytes are no more
    than GB18030's, or few beside the multi-byte characters it does decode (a UTF-8 export
    with a damaged byte; GB18030 text decodes as UTF-8 mostly into errors).
    """
    utf8 = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(head, final=final)
    utf8_bad = len(_ESCAPED.findall(utf8))
    if utf8_bad == 0:
        return "utf-8", utf8, 0
    gb = codecs.getincrementaldecoder("gb18030")("surrogateescape").decode(head, final=final)
    gb_bad = len(_ESCAPED.findall(gb))
    multibyte = len(_NON_ASCII.findall(utf8)) - utf8_bad
    if utf8_bad <= gb_bad or utf8_bad * 10 < multibyte:
        return "utf-8", utf8, utf8_bad
    return "gb18030", gb, gb_bad


def _open_csv(path: Path) -> SourceFile:
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
    encoding, text, bad = _decode_head(head, final=len(head) == size)
    label = "UTF-8" if encoding == "utf-8" else "GB18030"
    if not text.strip():
        return _unread(path, "empty file: no header row, nothing to read")
    odd = bad + len(_CONTROL.findall(text))
    if odd > _BINARY_SHARE * len(head):
        return _unread(path, f"not CSV text: {odd:,} of its first {len(head):,} bytes are control characters or "
                             "not UTF-8 or GB18030 text; nothing of it was read (save it as CSV UTF-8)")
    if len(head) < size and not any(c in text for c in "\r\n"):
        return _unread(path, f"no header row: its first line is longer than {_HEAD_BYTES:,} bytes")
    records = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        headers, header_note = _clean_headers(next(records))
    except csv.Error:  # outside strict mode csv refuses only a field over its limit
        return _unread(path, f"no header row: its first line holds {_OVERSIZED}")
    header_lines = records.line_num
    empty = "no rows after the header" if len(head) == size and not _has_rows(records) else None
    note = _notes(None if encoding == "utf-8" else "not UTF-8; read as GB18030", header_note, empty)

    def batches(advance: Callable[[int], object]) -> Iterator[RawBatch]:
        yielded = 0  # records handed over, blank ones included, as both paths count them
        with path.open("rb") as raw:
            try:
                # The first block is parsed on open, so opening can fail too.
                reader = pa_csv.open_csv(
                    _CountingReader(raw, advance),
                    read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES, encoding=encoding,
                                                    column_names=headers, skip_rows=header_lines),
                    parse_options=pa_csv.ParseOptions(ignore_empty_lines=False),
                    convert_options=pa_csv.ConvertOptions(
                        column_types={h: pa.string() for h in headers},
                        strings_can_be_null=False,
                        quoted_strings_can_be_null=False,
                    ),
                )
                for record_batch in reader:
                    n = record_batch.num_rows
                    # While the file is well formed, record i is on the i-th line after the header.
                    first = header_lines + 1 + yielded
                    yield _without_blank(RawBatch(pa.Table.from_batches([record_batch]),
                                                  pa.array(range(first, first + n), pa.int64())))
                    yielded += n
                return
            except (pa.ArrowInvalid, UnicodeDecodeError):
                # A malformed record, bytes that are not text in the encoding, or a value longer
                # than a block: from this block on, only the slow path can place each record.
                pass
        yield from _csv_slow_path(path, encoding, label, headers, skip_records=yielded)

    return SourceFile(path, headers, size, "B", batches, note)


def _has_rows(records: Iterator[list[str]]) -> bool:
    try:
        return any(any(v.strip() for v in record) for record in records)
    except csv.Error:  # a field over the limit: a row, refused when read
        return True


def _without_blank(batch: RawBatch) -> RawBatch:
    """Blank lines (all values empty) are skipped, as the slow path and XLSX skip them."""
    table = batch.table
    if table.num_columns == 0 or not pc.any(pc.equal(table.column(0), "")).as_py():
        return batch
    blank = pc.equal(table.column(0), "")
    for column in table.columns[1:]:
        blank = pc.and_(blank, pc.equal(column, ""))
    keep = pc.invert(blank.combine_chunks())
    return RawBatch(table.filter(keep), batch.lines.filter(keep), batch.malformed)


def _csv_slow_path(path: Path, encoding: str, label: str, headers: list[str],
                   skip_records: int) -> Iterator[RawBatch]:
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

    # surrogateescape: an undecodable byte becomes a marker that refuses just its record.
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        last_line = reader.line_num
        records = 0
        while True:
            try:
                record = next(reader)
                problem = None
            except StopIteration:
                break
            except csv.Error:  # outside strict mode csv refuses only a field over its limit
                record, problem = [], _OVERSIZED
            start, last_line = last_line + 1, reader.line_num
            records += 1
            if records <= skip_records:
                continue
            text = ",".join(record)
            if problem is None and _ESCAPED.search(text):
                escaped = "".join(f"\\x{ord(c) - 0xDC00:02x}" for c in _ESCAPED.findall(text)[:8])
                problem = f"bytes {escaped} are not {label} text"
            elif problem is None and not any(v.strip() for v in record):
                continue
            elif problem is None and len(record) != width:
                problem = f"expected {width} fields, found {len(record)}"
            if problem:
                malformed.append(Malformed(start, problem, _printable(text)))
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
    headers, note = _clean_headers(parquet.schema_arrow.names)
    metadata = parquet.metadata
    size = path.stat().st_size
    unpacked = sum(metadata.row_group(g).total_byte_size for g in range(metadata.num_row_groups))
    if unpacked > max(_PARQUET_MAX_RATIO * size, _PARQUET_RATIO_FLOOR):
        return _unread(path, f"its pages unpack to {unpacked:,} bytes, over {_PARQUET_MAX_RATIO} times its {size:,} "
                             "bytes: a decompression bomb, not an export; nothing of it was read")
    # Text columns are read as dictionaries: a dictionary page holds a value once however many
    # rows refer to it, so each row's value is measured, and a long one refused, before any
    # value is copied into its rows.
    text = [f.name for f in parquet.schema_arrow if _is_text(f.type)]
    reader = pq.ParquetFile(path, metadata=metadata, read_dictionary=text)

    def batches(advance: Callable[[int], object]) -> Iterator[RawBatch]:
        offset = 0
        # Row group by row group: damage in one (a bad page) costs its rows, not the file's.
        for group in range(metadata.num_row_groups):
            rows = metadata.row_group(group).num_rows
            end = offset + rows
            # Pages not dictionary-encoded are decoded as read: read as many rows as unpack to
            # about the byte budget.
            per_batch = _PARQUET_BATCH_BYTES * rows // max(metadata.row_group(group).total_byte_size, 1)
            try:
                for record_batch in reader.iter_batches(batch_size=max(1, min(_PARQUET_BATCH_ROWS, per_batch)),
                                                        row_groups=[group]):
                    for n, part in _parquet_parts(record_batch, headers, offset):
                        yield _valid_text(part)
                        offset += n  # rows accounted for, should a later part fail
                        advance(n)
            except Exception as exc:  # whatever a damaged file makes the Parquet reader raise
                yield RawBatch(pa.table({h: pa.array([], pa.string()) for h in headers}), pa.array([], pa.int64()),
                               [_unreadable(offset + 1, f"rows {offset + 1} to {end}", exc)])
            offset = end

    return SourceFile(path, headers, metadata.num_rows, "rows", batches, note)


def _is_text(kind: pa.DataType) -> bool:
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_binary(kind) or pa.types.is_large_binary(kind))


def _parquet_parts(record_batch: pa.RecordBatch, headers: list[str], offset: int) -> Iterator[tuple[int, RawBatch]]:
    """The rows of ``record_batch`` (rows ``offset + 1`` on) as text, in parts of consecutive rows
    that decode to at most ``_PARQUET_BATCH_BYTES`` (or one row): (rows of the part, the part).

    A row with a dictionary value over ``MAX_FIELD_CHARS`` is refused by the length of its
    dictionary entry: that value is never copied into a row, its excerpt is cut from the entry.
    """
    n = record_batch.num_rows
    too_long = np.zeros(n, dtype=bool)
    sizes = np.zeros(n, dtype=np.int64)
    for column in record_batch.columns:
        if pa.types.is_dictionary(column.type):
            entry_bytes = pc.binary_length(_viewed(column.dictionary, "bytes"))
            sizes += pc.take(entry_bytes, column.indices).fill_null(0).to_numpy(zero_copy_only=False)
            if pc.any(pc.greater(entry_bytes, MAX_FIELD_CHARS)).as_py():  # bytes bound characters: usually no count
                long = pc.greater(pc.utf8_length(_viewed(column.dictionary, "text")), MAX_FIELD_CHARS)
                too_long |= pc.take(long, column.indices).fill_null(False).to_numpy(zero_copy_only=False)
        elif _is_text(column.type):
            sizes += pc.binary_length(column).fill_null(0).to_numpy(zero_copy_only=False)
        # Other types (numbers, times) decode to a few characters a value.
    sizes[too_long] = 0
    ends = np.cumsum(sizes)
    start = 0
    while start < n:
        spent = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, spent + _PARQUET_BATCH_BYTES, side="right")))
        part = record_batch.slice(start, stop - start)
        lines = pa.array(range(offset + start + 1, offset + stop + 1), pa.int64())
        refused = too_long[start:stop]
        malformed = []
        if refused.any():
            malformed = _refused(part.filter(refused), lines.filter(refused))
            part, lines = part.filter(~refused), lines.filter(~refused)
        yield stop - start, RawBatch(pa.table([_as_text(c) for c in part.columns], names=headers), lines, malformed)
        start = stop


def _viewed(values: pa.Array, kind: str) -> pa.Array:
    """Text or binary ``values`` as bytes or as text, in place: text is not checked here."""
    large = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    if kind == "bytes":
        return values.view(pa.large_binary() if large else pa.binary())
    return values.view(pa.large_string() if large else pa.string())


def _refused(rows: pa.RecordBatch, lines: pa.Array) -> list[Malformed]:
    """Rows with a dictionary value over ``MAX_FIELD_CHARS`` as malformed, with the excerpts
    ``_screened`` gives, cut from the dictionary entries."""
    columns: list[list[str]] = []
    for column in rows.columns:
        if pa.types.is_dictionary(column.type):
            # An excerpt's 100 characters lie within the first 400 bytes of UTF-8.
            heads = pc.take(pc.binary_slice(_viewed(column.dictionary, "bytes"), 0, 400), column.indices)
            chars = pc.take(pc.utf8_length(_viewed(column.dictionary, "text")), column.indices)
            columns.append(["" if head is None else _excerpt(_printable(head.decode("utf-8", "surrogateescape")),
                                                              length=length)
                            for head, length in zip(heads.to_pylist(), chars.to_pylist())])
        else:
            columns.append([_excerpt(value) for value in _as_text(column).to_pylist()])
    return [Malformed(line, _OVERSIZED, ",".join(texts)) for line, texts in zip(lines.to_pylist(), zip(*columns))]


def _valid_text(batch: RawBatch) -> RawBatch:
    """Rows holding bytes that are not UTF-8 become malformed: the Parquet reader does not check."""
    try:
        batch.table.validate(full=True)
        return batch
    except pa.ArrowInvalid:
        pass
    values = [column.cast(pa.binary()).to_pylist() for column in batch.table.columns]
    bad: list[bool] = []
    refused: list[Malformed] = []
    for line, row in zip(batch.lines.to_pylist(), zip(*values)):
        texts = [value.decode("utf-8", "surrogateescape") for value in row]
        bad.append(any(_ESCAPED.search(text) for text in texts))
        if bad[-1]:
            refused.append(Malformed(line, "bytes that are not UTF-8 text", ",".join(map(_printable, texts))))
    keep = pc.invert(pa.array(bad))
    return RawBatch(batch.table.filter(keep), batch.lines.filter(keep), batch.malformed + refused)


def _as_text(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):  # its long values refused: the rows' values, decoded
        column = column.cast(column.type.value_type)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string()).fill_null("")
    if pa.types.is_timestamp(column.type):
        # Arrow's %S carries the unit's fraction (pandas writes nanoseconds: "09:00:00.000000000",
        # which no format reads): whole seconds as such, a fraction to the microsecond as a CSV has it.
        text = pc.strftime(column.cast(pa.timestamp("us", column.type.tz), safe=False), format="%Y-%m-%d %H:%M:%S")
        return pc.replace_substring_regex(text, r"\.0+$", "").fill_null("")
    if pa.types.is_floating(column.type):
        # pandas writes a phone or id column with a gap in it as float64: 13800138000.0 is cast to
        # "1.3800138e+10". Whole values below 2^53 (exact in a double) are written as the integers they
        # are, as the XLSX reader writes Excel's numbers.
        whole = pc.and_(pc.equal(pc.floor(column), column), pc.less(pc.abs(column), 2.0 ** 53))
        integers = pc.if_else(whole, column, 0).cast(pa.int64()).cast(pa.string())
        return pc.if_else(whole, integers, column.cast(pa.string())).fill_null("")
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


_XLSX_TITLE_ROWS = 10
"""How far down a workbook's first sheet its header is looked for, below a report's title rows."""


def _header_row(top: list[list[str]]) -> int:
    """Index of the header among a sheet's first rows: the first that names the most known columns
    (``header_cells``); where none names any, the first filling two cells or more, and at least half as
    many as the widest of them (a merged title above it fills one cell).

    >>> _header_row([["某市医疗保障局2024年1月结算明细"], [], ["结算流水号", "参保人编号", "结算时间"], ["S1", "P1", "2024-01-05"]])
    2
    >>> _header_row([["person_id", "name"], ["P1", "张三"]]), _header_row([["person_id"], ["P1"]]), _header_row([])
    (0, 0, 0)
    """
    named = [header_cells(row) for row in top]
    if max(named, default=0) > 0:
        return named.index(max(named))
    filled = [sum(1 for text in row if text) for row in top]
    widest = max(filled, default=0)
    return next((i for i, n in enumerate(filled) if n >= 2 and 2 * n >= widest), 0)


def _open_xlsx(path: Path) -> SourceFile:
    import openpyxl

    with zipfile.ZipFile(path) as parts:
        # Declared sizes suffice: zipfile stops at them, and a part that is longer fails its checksum.
        shared = sum(i.file_size for i in parts.infolist() if i.filename.lower().endswith("sharedstrings.xml"))
    if shared > _XLSX_SHARED_STRINGS_BYTES:
        return _unread(path, f"its shared strings unpack to {shared:,} bytes, over the {_XLSX_SHARED_STRINGS_BYTES:,} "
                             "an XLSX is read with; save it as CSV UTF-8")
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    top = [[_cell_text(v).strip() for v in row]
           for row in workbook.worksheets[0].iter_rows(min_row=1, max_row=_XLSX_TITLE_ROWS + 1, values_only=True)]
    # Only the first sheet is read: a row's line is its row in that sheet, and the rejects name a file and a line.
    unread = [ws.title for ws in workbook.worksheets[1:]
              if any(_cell_text(v).strip() for row in ws.iter_rows(min_row=1, max_row=2, values_only=True) for v in row)]
    workbook.close()
    header_row = _header_row(top)
    first = top[header_row] if top else []
    while first and not first[-1]:  # formatted but empty cells right of the header
        first.pop()
    headers, note = _clean_headers(first)
    note = _notes(note,
                  f"row(s) 1-{header_row} above the header skipped (a title)" if header_row else None,
                  f"sheet(s) {', '.join(unread)} not read: only the first sheet of a workbook is; save each sheet as "
                  f"a file of its own ({path.stem}_{unread[0]}{path.suffix}) and ingest again" if unread else None)

    def batches(advance: Callable[[int], object]) -> Iterator[RawBatch]:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        columns: list[list[str]] = [[] for _ in headers]
        lines: list[int] = []
        malformed: list[Malformed] = []

        def flush() -> RawBatch:
            batch = RawBatch(pa.table({h: pa.array(c, pa.string()) for h, c in zip(headers, columns)}),
                             pa.array(lines, pa.int64()), list(malformed))
            for c in columns:
                c.clear()
            lines.clear()
            malformed.clear()
            return batch

        line = 1
        try:
            rows = book.worksheets[0].iter_rows(min_row=header_row + 2, values_only=True)
            for line, values in enumerate(rows, start=header_row + 2):
                texts = [_cell_text(v) for v in values[: len(headers)]]
                if not any(t.strip() for t in texts):
                    continue
                texts += [""] * (len(headers) - len(texts))
                for col, text in zip(columns, texts):
                    col.append(text)
                lines.append(line)
                advance(1)
                if len(lines) >= _SLOW_BATCH_ROWS:
                    yield flush()
        except Exception as exc:  # whatever a damaged workbook makes openpyxl raise, rows before it stand
            malformed.append(_unreadable(line + 1, f"line {line + 1} and later", exc))
        finally:
            book.close()
        if lines or malformed:
            yield flush()

    return SourceFile(path, headers, 0, "rows", batches, note)
