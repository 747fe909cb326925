"""The storage interface every backend implements.

Shared logic (idempotent loading, conflict detection, reference lookups, stats) is written
once here and marked ``@final``; a backend fills in the small abstract methods, which only
move data in and out of its engine. Detection and queries talk to ``GraphStore`` alone, so a
new backend changes neither.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, final

import pyarrow as pa
import pyarrow.compute as pc

from graphsvc.model import ENTITY_TABLES, IDENTIFIER_LABELS, RELATIONSHIPS, EntityTable, Relationship

__all__ = ["GraphStore", "LoadResult", "IngestFileRecord", "ROW_HASH", "LINE"]

ROW_HASH = "_row_hash"
"""A 64-bit hash of a row's normalised content: same key + same hash means the row is already loaded."""
LINE = "_line"
"""Where the row came from in its file; travels with a batch for error reports, never stored."""


@dataclass(frozen=True)
class LoadResult:
    loaded: int
    unchanged: int
    conflicts: pa.Table
    """Rows whose key is already stored with other content: columns ``_line`` and ``reason``."""


@dataclass(frozen=True)
class IngestFileRecord:
    run_id: str
    folder: str
    file: str
    table: str
    read: int
    loaded: int
    unchanged: int
    rejected: int
    rejects_path: str | None


class GraphStore(ABC):
    """A property graph of the model in ``graphsvc.model``, persisted by a backend."""

    backend_name: str = "abstract"

    # ---- what a backend fills in -------------------------------------------------------

    @abstractmethod
    def _stored_hashes(self, table: EntityTable, keys: pa.Array) -> pa.Table:
        """Return the stored rows among ``keys`` as a table of (key column, ``_row_hash``)."""

    @abstractmethod
    def _insert(self, table: EntityTable, rows: pa.Table) -> None:
        """Persist rows whose keys are not stored yet (``_line`` already removed)."""

    @abstractmethod
    def _scan(self, table: EntityTable) -> pa.Table:
        """Every stored row of ``table``: the model's columns, derived columns and ``_row_hash``."""

    @abstractmethod
    def _row_count(self, table: EntityTable) -> int:
        """Number of stored rows (nodes) of an entity table."""

    @abstractmethod
    def _relationship_count(self, rel: Relationship) -> int:
        """Number of relationships a column produces (list columns count each element)."""

    @abstractmethod
    def _identifier_hubs(self, label: str, limit: int) -> list[dict[str, Any]]:
        """Identifier nodes of ``label`` with the most distinct persons linked to them.

        Each item: ``{"value": str, "persons": int}``, biggest first.
        """

    @abstractmethod
    def _identifier_count(self, label: str) -> int:
        """Number of distinct identifier nodes of ``label``."""

    @abstractmethod
    def _write_ingest_record(self, record: IngestFileRecord) -> None:
        """Append one file's outcome to the ingest log."""

    @abstractmethod
    def _ingest_records(self) -> list[IngestFileRecord]:
        """The ingest log, oldest first."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine; the data stays persisted."""

    # ---- shared logic ------------------------------------------------------------------

    @final
    def load(self, table: EntityTable, rows: pa.Table) -> LoadResult:
        """Store validated rows idempotently.

        A row whose key is stored with the same content hash is counted as unchanged; one
        whose key is stored with other content is a conflict and is returned, not stored.
        ``rows`` must have unique keys (ingest resolves duplicates within a batch first).
        """
        keys = rows.column(table.key)
        stored = self._stored_hashes(table, keys)
        if stored.num_rows == 0:  # the usual first load: nothing to compare, no copy to make
            self._insert(table, rows.drop_columns([LINE]))
            return LoadResult(rows.num_rows, 0, pa.table({LINE: pa.array([], pa.int64()), "reason": pa.array([], pa.string())}))
        position = pc.index_in(keys, value_set=stored.column(table.key))
        known = pc.is_valid(position)
        stored_hash = pc.take(stored.column(ROW_HASH), position)
        same = pc.and_(known, pc.equal(stored_hash, rows.column(ROW_HASH)))
        conflict = pc.and_(known, pc.invert(same))
        new_rows = rows.filter(pc.invert(known))
        if new_rows.num_rows:
            self._insert(table, new_rows.drop_columns([LINE]))
        conflicting = rows.filter(conflict)
        reasons = pa.array(
            [f"{table.key} {k} is already loaded with different content" for k in conflicting.column(table.key).to_pylist()],
            pa.string(),
        )
        return LoadResult(
            loaded=new_rows.num_rows,
            unchanged=int(pc.sum(same).as_py() or 0),
            conflicts=pa.table({LINE: conflicting.column(LINE), "reason": reasons}),
        )

    @final
    def existing_keys(self, table_name: str, values: pa.Array) -> pa.Array:
        """The distinct ``values`` that are keys of stored rows of ``table_name``."""
        table = ENTITY_TABLES[table_name]
        distinct = pc.unique(pc.drop_null(values))
        if len(distinct) == 0:
            return pa.array([], pa.string())
        return self._stored_hashes(table, distinct).column(table.key).combine_chunks()

    @final
    def rows(self, table_name: str) -> pa.Table:
        """A whole entity table, sorted by key (exports, checks that two stores agree)."""
        table = ENTITY_TABLES[table_name]
        return self._scan(table).sort_by(table.key)

    @final
    def has_rows(self, table_name: str) -> bool:
        return self._row_count(ENTITY_TABLES[table_name]) > 0

    @final
    def record_ingest(self, record: IngestFileRecord) -> None:
        self._write_ingest_record(record)

    @final
    def ingest_log(self) -> list[IngestFileRecord]:
        return self._ingest_records()

    @final
    def node_counts(self) -> dict[str, int]:
        counts = {t.label: self._row_count(t) for t in ENTITY_TABLES.values()}
        counts.update({label: self._identifier_count(label) for label in IDENTIFIER_LABELS})
        return counts

    @final
    def relationship_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rel in RELATIONSHIPS:
            counts[rel.type] = counts.get(rel.type, 0) + self._relationship_count(rel)
        return counts

    @final
    def identifier_hubs(self, limit: int = 5) -> dict[str, list[dict[str, Any]]]:
        """The biggest hubs per identifier label, by distinct persons linked."""
        return {
label: self._identifier_hubs(label, limit) for label in IDENTIFIER_LABELS
        }

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
