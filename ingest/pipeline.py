"""Load a contract folder into a store: discover files, stream, validate, check references, load.

Nothing is dropped silently. Each row ends in exactly one of: loaded, unchanged (already in
the store, or repeated with the same content in the file), rejected (written to the
rejects file with file, line, reason and the row as read).

A killed ingest loses nothing that was stored: each batch's rows commit with the file's ingest
log entry, so the data version (which the network index and read caches follow) counts them
and a restarted server shows them; running the same ingest again loads the rest.
"""

from __future__ import annotations

import _csv
import csv
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from graphsvc.errors import InputError
from graphsvc.logs import timed
from graphsvc.model import ENTITY_TABLES, LOAD_ORDER, EntityTable
from graphsvc.prefetch import one_ahead
from graphsvc.store import GraphStore, IngestFileRecord
from graphsvc.store.base import LINE
from ingest.aliases import FILE_ALIASES, map_headers
from ingest.mapping import SourceMapping
from ingest.readers import SUFFIXES, RawBatch, SourceFile, open_source
from ingest.reasons import chinese_reason
from ingest.validate import REASON, STATUS, BatchValidator

__all__ = ["IngestError", "FileReport", "IngestReport", "discover", "ingest_folder", "read_rejects", "STAGES"]

_log = logging.getLogger(__name__)

STAGES = ("read", "validate", "address_keys", "references", "store", "rejects")
"""What ``FileReport.seconds`` times: parsing the file into text batches; normalising,
validating, typing and hashing them (``address_keys``, resolving addresses, is part of it);
checking references against the store; storing (the idempotency lookup and the insert);
writing rejects."""


class IngestError(InputError):
    """The folder could not be read at all; nothing was loaded."""


@dataclass
class FileReport:
    file: str
    table: str
    read: int = 0
    loaded: int = 0
    unchanged: int = 0
    rejected: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    note: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage (``STAGES``) and in all (``file``). Reading and validating the next
    batch overlap storing this one, so the stages add up to more than ``file``."""


@dataclass
class IngestReport:
    run_id: str
    folder: str
    files: list[FileReport]
    rejects_path: Path | None
    unrecognised_files: list[str]

    @property
    def totals(self) -> dict[str, int]:
        keys = ("read", "loaded", "unchanged", "rejected")
        return {k: sum(getattr(f, k) for f in self.files) for k in keys}


def _file_table(path: Path) -> str | None:
    stem = path.stem.lower()
    for name in LOAD_ORDER:
        if stem == name or stem.startswith(name + "_") or stem.startswith(name + "-"):
            return name
        if any(stem.startswith(alias) for alias in FILE_ALIASES[name]):
            return name
    return None


def discover(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """Contract files in load order (a table may span files, e.g. ``settlements_2024-01.csv``),
    and the names of files that match no table."""
    if not folder.is_dir():
        raise IngestError(f"{folder} is not a folder; pass the folder holding persons.csv, settlements.csv ...",
                          zh=f"{folder} 不是文件夹；请给出存放 persons.csv、settlements.csv 等文件的文件夹")
    found: dict[str, list[Path]] = {name: [] for name in LOAD_ORDER}
    unrecognised = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        table = _file_table(path) if path.suffix.lower() in SUFFIXES else None
        if table is None:
            unrecognised.append(path.name)
        else:
            found[table].append(path)
    files = [(name, path) for name in LOAD_ORDER for path in found[name]]
    if not files:
        expected = ", ".join(f"{n}.csv" for n in LOAD_ORDER)
        raise IngestError(f"no contract files in {folder}: expected some of {expected} (or .parquet / .xlsx)",
                          zh=f"{folder} 中没有约定的数据文件：应有 {expected} 中的若干个（或 .parquet / .xlsx）")
    return files, unrecognised


def read_rejects(path: Path, *, offset: int = 0, limit: int | None = None) -> tuple[int, list[dict[str, Any]]]:
    """(how many rows a rejects file holds, those from ``offset``, at most ``limit``): file, line, reason (in
    Chinese and English) and the row as read, as ``_RejectsWriter`` wrote them (files of earlier releases,
    without ``reason_zh``, get it said now)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f)
        total, page = 0, list[dict[str, Any]]()
        for total, row in enumerate(rows, 1):
            if total > offset and (limit is None or len(page) < limit):
                page.append({"file": row["file"], "line": int(row["line"]),
                             "reason_zh": row.get("reason_zh") or chinese_reason(row["reason"]), "reason": row["reason"],
                             "row": row["row"]})
    return total, page


class _RejectsWriter:
    """Opened on the first reject, so a clean run leaves no empty file behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._writer: _csv.Writer | None = None  # what csv.writer returns

    def write(self, file: str, line: int, reason: str, row: str) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._file)
            self._writer.writerow(["file", "line", "reason_zh", "reason", "row"])
        self._writer.writerow([file, line, chinese_reason(reason), reason, row])

    @property
    def used(self) -> bool:
        return self._writer is not None

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class _FileLoader:
    """Streams one file into the store."""

    def __init__(self, store: GraphStore, table: EntityTable, source: SourceFile, rejects: _RejectsWriter,
                 run: _Run, validation: duckdb.DuckDBPyConnection) -> None:
        self.store = store
        self.validation = validation
        self.table = table
        self.source = source
        self.rejects = rejects
        self.ingest_run = run
        self.mapping, ignored = map_headers(table.name, source.headers)
        present = set(self.mapping.values())
        self.report = FileReport(
            file=source.path.name,
            table=table.name,
            ignored_columns=ignored,
            # A file with no header at all (empty, not text) says so in its note, not as missing columns.
            missing_columns=[c.name for c in table.columns if c.required and c.name not in present]
            if source.headers else [],
            note=source.note,
        )
        # References are checked only against tables that hold data: a folder without
        # prescribers.csv cannot make its claims' prescriber ids unknown.
        self.checked_refs = {
            c.name: [t for t in c.ref if store.has_rows(t)] for c in table.columns if c.ref
        }

    def run(self, advance: Callable[[int], object]) -> FileReport:
        started = time.perf_counter()
        validator = BatchValidator(self.table, self.validation)
        try:
            checked = ((batch, self._validate(validator, batch)) for batch in self._timed_batches(advance))
            # Reading and validating the next batch overlaps storing this one: both engines
            # release the GIL, so the two cores work at once.
            for batch, validated in one_ahead(checked, name="ingest-reader"):
                self._store(batch, validated)
        finally:
            validator.close()
            self._add_seconds("address_keys", validator.address_seconds)
            self._add_seconds("file", time.perf_counter() - started)
        return self.report

    def _add_seconds(self, stage: str, seconds: float) -> None:
        self.report.seconds[stage] = self.report.seconds.get(stage, 0.0) + seconds

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._add_seconds(stage, time.perf_counter() - started)

    def _timed_batches(self, advance: Callable[[int], object]) -> Iterator[RawBatch]:
        batches = self.source.batches(advance)
        while True:
            with self._timed("read"):
                batch = next(batches, None)
            if batch is None:
                return
            yield batch

    def _canonical(self, raw: pa.Table) -> pa.Table:
        by_canonical = {canonical: raw.column(name) for name, canonical in self.mapping.items()}
        n = raw.num_rows
        return pa.table(
            {c: by_canonical.get(c, pa.nulls(n, pa.string())) for c in self.table.column_names}
        )

    def _validate(self, validator: BatchValidator, batch: RawBatch) -> pa.Table | None:
        if batch.table.num_rows == 0:
            return None
        with self._timed("validate"):
            return validator.validate(self._canonical(batch.table), batch.lines)

    def _store(self, batch: RawBatch, checked: pa.Table | None) -> None:
        report = self.report
        report.read += batch.table.num_rows + len(batch.malformed)
        for bad in batch.malformed:
            self._reject(bad.line, bad.reason, bad.text)
        if checked is None:
            return
        ok = pc.equal(checked.column(STATUS), "ok")
        if pc.all(ok).as_py():  # the usual batch: no filtering copy
            good = checked.drop_columns([STATUS, REASON])
        else:
            status = checked.column(STATUS)
            self._reject_rows(batch, checked.filter(pc.equal(status, "reject")))
            report.unchanged += pc.sum(pc.equal(status, "repeat")).as_py() or 0
            good = checked.filter(ok).drop_columns([STATUS, REASON])
        with self._timed("references"):
            good = self._check_references(batch, good)
        if good.num_rows == 0:
            return
        with self._timed("store"):
            result = self.store.load(self.table, good, log=self.ingest_run.record(report, self.rejects))
        report.loaded += result.loaded
        report.unchanged += result.unchanged
        self._reject_rows(batch, result.conflicts)

    def _check_references(self, batch: RawBatch, good: pa.Table) -> pa.Table:
        bad_reason = pa.nulls(good.num_rows, pa.string())
        for column, tables in self.checked_refs.items():
            values = good.column(column)
            known_in = [(t, self.store.existing_keys(t, values)) for t in tables]
            if column == "agent_id":
                good = good.append_column("agent_type", self._agent_type(values, known_in))
            if not tables:
                continue
            known = pc.is_in(values, value_set=pa.concat_arrays([k for _, k in known_in]))
            unknown = pc.and_(pc.is_valid(values), pc.invert(known))
            if not pc.any(unknown).as_py():
                continue
            names = " or ".join(tables)
            reason = pc.binary_join_element_wise(f"unknown {column} ", values, f" (not in {names})", "")
            bad_reason = pc.if_else(pc.and_(unknown, pc.is_null(bad_reason)), reason, bad_reason)
        rejected = pc.is_valid(bad_reason)
        if pc.any(rejected).as_py():
            self._reject_rows(
                batch, pa.table({LINE: good.column(LINE), REASON: bad_reason}).filter(rejected)
            )
            good = good.filter(pc.invert(rejected))
        return good

    @staticmethod
    def _agent_type(values: pa.ChunkedArray, known_in: list[tuple[str, pa.Array]]) -> pa.ChunkedArray:
        label = {"intermediaries": "intermediary", "persons": "person"}
        result = pa.nulls(len(values), pa.string())
        for table, keys in reversed(known_in):
            result = pc.if_else(pc.is_in(values, value_set=keys), label[table], result)
        return result

    def _reject_rows(self, batch: RawBatch, rejected: pa.Table) -> None:
        if rejected.num_rows == 0:
            return
        with self._timed("rejects"):
            self._write_rejects(batch, rejected)

    def _write_rejects(self, batch: RawBatch, rejected: pa.Table) -> None:
        positions = pc.index_in(rejected.column(LINE), value_set=batch.lines)
        raw_rows = batch.table.take(positions).to_pylist()
        reasons = rejected.column(REASON if REASON in rejected.column_names else "reason").to_pylist()
        for line, reason, raw in zip(rejected.column(LINE).to_pylist(), reasons, raw_rows):
            self._reject(line, reason, json.dumps(raw, ensure_ascii=False))

    def _reject(self, line: int, reason: str, row: str) -> None:
        self.report.rejected += 1
        self.rejects.write(self.report.file, line, reason, row)


@dataclass(frozen=True)
class _Run:
    run_id: str
    folder: str

    def record(self, report: FileReport, rejects: _RejectsWriter) -> IngestFileRecord:
        """The ingest log entry of ``report``'s file as counted so far (unfinished until the run ends)."""
        return IngestFileRecord(self.run_id, self.folder, report.file, report.table, report.read, report.loaded,
                                report.unchanged, report.rejected, str(rejects.path) if rejects.used else None,
                                finished=False)


def _new_run_id() -> str:
    return datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(2)


def ingest_folder(
    store: GraphStore, folder: Path, *, rejects_dir: Path, progress: bool = True,
    on_file: Callable[[str, int, int], None] | None = None, mapping: SourceMapping | None = None,
) -> IngestReport:
    """Load every contract file of ``folder`` into ``store``.

    ``mapping``: read a foreign export's files through it (``ingest.mapping``) instead of
    discovering contract files. Raises ``IngestError`` only when the folder (or the mapping)
    cannot be used at all; a bad file or row is reported and the rest still loads.
    """
    if mapping is None:
        files, unrecognised = discover(folder)
        opener: Callable[[str, Path], SourceFile] = lambda _table, path: open_source(path)  # noqa: E731
    else:
        files, unrecognised = mapping.discover(folder)
        opener = mapping.open
    run = _Run(_new_run_id(), str(folder))
    # Persons stored by a killed run have had no person keys settled yet.
    unsettled = any(not r.finished and r.table == "persons" and r.loaded for r in store.ingest_log())
    rejects = _RejectsWriter(rejects_dir / f"rejects-{run.run_id}.csv")
    validation = duckdb.connect(config={"threads": 2})
    reports = []
    try:
        for done, (table_name, path) in enumerate(files):
            if on_file:
                on_file(path.name, done, len(files))
            reports.append(_ingest_file(store, ENTITY_TABLES[table_name], path, rejects, progress, run, opener,
                                        validation))
            # rejects are flushed before the entry names their file
            rejects.flush()
            store.record_ingest(run.record(reports[-1], rejects))
    finally:
        validation.close()
        rejects.close()
        if mapping is not None:
            mapping.close()
    if unsettled or any(r.table == "persons" and r.loaded for r in reports):
        # One person may have two records (two 参保人编号, one ID number), the second in a later
        # batch or run: person_key is settled over the whole table, once per ingest.
        store.refresh_person_keys()
    store.finish_ingest()
    return IngestReport(run.run_id, run.folder, reports, rejects.path if rejects.used else None, unrecognised)


def _ingest_file(store: GraphStore, table: EntityTable, path: Path, rejects: _RejectsWriter, progress: bool,
                 run: _Run, opener: Callable[[str, Path], SourceFile],
                 validation: duckdb.DuckDBPyConnection) -> FileReport:
    try:
        source = opener(table.name, path)
    except Exception as exc:  # a corrupt file must not stop the other files
        return FileReport(file=path.name, table=table.name,
                          note=f"could not be read ({exc}); nothing of it was loaded: re-export it and ingest again")
    loader = _FileLoader(store, table, source, rejects, run, validation)
    # One log line as each file starts and ends: a run logged to a file (cron, a CI job) has no progress bar.
    with (timed(_log, "ingest file", file=path.name, table=table.name) as outcome,
          tqdm(total=source.size or None, unit=source.unit, unit_scale=True, desc=path.name,
               disable=not progress, leave=False) as bar):
        report = loader.run(bar.update)
        outcome.update(read=report.read, loaded=report.loaded, rejected=report.rejected)
        return report

