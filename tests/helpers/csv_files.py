"""Contract files written by hand and the rejects file an ingest writes, read back."""

from __future__ import annotations

import csv
from pathlib import Path

from graphsvc.store import GraphStore
from ingest.pipeline import IngestReport, ingest_folder


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, encoding: str = "utf-8-sig") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def ingest_into(store: GraphStore, folder: Path, tmp_path: Path) -> IngestReport:
    """``folder`` ingested quietly into ``store``, its rejects under ``tmp_path``."""
    return ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)


def reject_reasons(report: IngestReport) -> list[str]:
    """Each reject of an ingest as ``file:line: reason``."""
    if report.rejects_path is None:
        return []
    return [f"{r['file']}:{r['line']}: {r['reason']}" for r in read_rejects(report.rejects_path)]


def rows_by(store: GraphStore, table: str, key: str) -> dict[str, dict]:
    """A stored table's rows by their ``key`` column."""
    return {r[key]: r for r in store.rows(table).to_pylist()}
