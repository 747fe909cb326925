"""The work the command line and the API both do, written once: ingest and prepare, detect and
publish, export with audit.

Each step is logged (start, end, duration, ids and counts) and raises the errors of
``graphsvc.errors``; the callers only say where progress goes and how a change is audited.
This package sits above ``ingest`` and ``queries`` and below ``api`` and ``cli``: the API's jobs
and the command line import it, it imports neither.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from graphsvc.detect import DetectionConfig, detect_and_save
from graphsvc.errors import InputError, NotFound
from graphsvc.logs import timed
from graphsvc.signing import home_key
from graphsvc.store import GraphStore
from graphsvc.store.engine import Session, SparkSQLSession, check_parquet_location, check_spark_master, local_spark
from ingest import pipeline as ingest_pipeline  # the module: tests replace its ingest_folder to make an ingest fail
from ingest.mapping import SourceMapping
from ingest.pipeline import IngestReport
from queries.export import build_package
from queries.masking import Masker
from queries.report import REPORT_FORMATS, check_month, report_pdf, report_xlsx
from queries.report import monthly_report as report_figures
from queries.rings import RingBook

__all__ = ["Auditor", "Progress", "RingsPublished", "ingest_and_prepare", "detect_and_publish", "spark_detection", "export_ring",
           "monthly_report"]

_log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""(stage, done, total): what a long step reports as it goes."""


class RingsPublished(Protocol):
    """Told of a detection run's rings (the webhooks): before they are stored, the stored ones; once
    they are published, those and this run's."""

    def rings_publishing(self, previous: list[dict[str, Any]]) -> None: ...

    def rings_published(self, previous: list[dict[str, Any]], current: list[dict[str, Any]]) -> None: ...


class Auditor(Protocol):
    """Writes one audit entry for whoever asked; returns once it is durable, else raises."""

    def __call__(self, action: str, target: str, /, **detail: object) -> None: ...


def ingest_and_prepare(store: GraphStore, folder: Path, *, rejects_dir: Path, serving: bool,
                       progress: bool = False, on_file: Progress | None = None,
                       mapping: SourceMapping | None = None) -> IngestReport:
    """Load the contract files of ``folder`` (or another system's export read through ``mapping``);
    when a server reads ``store`` (``serving``), build its network reads for the new data before
    returning, so no reader waits for them."""
    with timed(_log, "ingest") as outcome:
        report = ingest_pipeline.ingest_folder(store, folder, rejects_dir=rejects_dir, progress=progress,
                                               on_file=on_file, mapping=mapping)
        outcome.update(run_id=report.run_id, files=len(report.files), **report.totals)
        if serving:
            if on_file is not None:
                on_file("indexing", len(report.files), len(report.files))
            store.prepare_reads()
    return report


def detect_and_publish(store: GraphStore, config: DetectionConfig, *, book: RingBook | None = None,
                       progress: bool = False, on_stage: Progress | None = None,
                       session: Session | None = None,
                       on_published: RingsPublished | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """Detect rings and store them with stable ids; a server's ``book`` then shows the new run,
    every ring's detail computed before the first reader asks. Returns the run and the rings.
    ``session``: detect there (Spark, see ``spark_detection``) instead of on the store's own tables.
    ``on_published`` is told the previous run's rings and this run's once the book shows them."""
    previous = store.rings() if on_published is not None else []
    if on_published is not None:
        on_published.rings_publishing(previous)
    with timed(_log, "detect") as outcome:
        run, documents = detect_and_save(store, config, progress=progress, on_stage=on_stage, session=session)
        outcome.update(run_id=run.run_id, rings=run.rings, kept_ids=run.kept_ids, new_ids=run.new_ids,
                       retired_ids=len(run.retired_ids))
        if book is not None:
            book.invalidate()
            book.warm()
    if on_published is not None:
        on_published.rings_published(previous, documents)
    return run, documents


@contextmanager
def spark_detection(store: GraphStore, master: str, location: str | None) -> Iterator[Session]:
    """A Spark session holding the model's tables for detection: read from Parquet at ``location`` (a
    folder, ``hdfs://`` or ``s3a://``: the fund's lake), or, with none, exported from ``store`` to a
    temporary folder, which only a local master's executors can read."""
    check_spark_master(master)  # before Spark's start-up: a typo costs seconds, not a minute
    if location is not None:
        check_parquet_location(location)
    elif not master.startswith("local"):
        raise InputError(f"a Spark cluster ({master}) reads the tables from the lake: give --input with their "
                         "Parquet folder or URI",
                         zh=f"Spark 集群（{master}）从数据湖读表：集群模式须用 --input 指定 Parquet 文件夹或 URI")
    spark = local_spark(master)
    with tempfile.TemporaryDirectory(prefix="graphsvc-spark-") as folder:
        if location is None:
            con = store.analysis_connection()
            try:
                session = SparkSQLSession.from_duckdb(spark, con, Path(folder))
            finally:
                con.close()
        else:
            session = SparkSQLSession(spark, location)
        try:
            yield session
        finally:
            session.close()


def export_ring(store: GraphStore, book: RingBook, ring_id: str, fmt: str, masker: Masker, *, generated_by: str,
                audit: Auditor, home: Path) -> dict[str, bytes]:
    """The police liaison package of one ring (files by name, manifest included, signed with ``home``'s
    key), audited once built."""
    # The ring id is logged once it names a ring: until then it is whatever the user typed.
    with timed(_log, "export", format=fmt, masked=masker.active) as outcome:
        files = build_package(store, book, ring_id, fmt, masker, generated_by=generated_by,
                              signing_key=home_key(home))
        if files is None:
            raise NotFound(f"no ring {ring_id} in the current detection run", zh=f"当前检测结果中没有团伙 {ring_id}")
        audit("export_ring", ring_id, format=fmt, masked=masker.active)
        outcome.update(ring_id=ring_id, files=len(files))
    return files


def monthly_report(store: GraphStore, book: RingBook, month: str, fmt: str, *, audit: Auditor) -> bytes:
    """The monthly report (月度统计) of ``month`` as ``fmt`` (json, xlsx or pdf), audited once made."""
    check_month(month)
    if fmt not in REPORT_FORMATS:
        raise InputError(f"format must be one of {', '.join(REPORT_FORMATS)}",
                         zh=f"报表格式须为 {'、'.join(REPORT_FORMATS)} 之一")
    with timed(_log, "report", month=month, format=fmt) as outcome:
        report = report_figures(store, book, month)
        if fmt == "xlsx":
            content = report_xlsx(report)
        elif fmt == "pdf":
            content = report_pdf(report)
        else:
            content = json.dumps(report, ensure_ascii=False, indent=1).encode()
        audit("monthly_report", month, format=fmt)
        outcome.update(rows=len(report["rows"]), bytes=len(content))
    return content
