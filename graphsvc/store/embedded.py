"""The embedded backend: a DuckDB file under the home folder, no server needed.

DuckDB was picked over a home-grown Parquet layout or SQLite because it is columnar
(ingest appends Arrow batches without a row-by-row copy, aggregates over ten million
settlements take a second), persists one ACID file that survives a restart, and lets the
shared-identifier questions be answered with joins instead of loading the graph into
memory. Relationships are the foreign-key columns of ``graphsvc.model``: a settlement row's
``contact_phone`` *is* its CONTACT_PHONE edge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import json

import duckdb
import pyarrow as pa

from graphsvc.model import ENTITY_TABLES, RELATIONSHIPS, EntityTable, Relationship
from graphsvc.store.base import ROW_HASH, DetectionRun, GraphStore, IngestFileRecord

__all__ = ["EmbeddedStore", "SQL_TYPES"]

SQL_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "address": "VARCHAR",
    "phone": "VARCHAR",
    "id_number": "VARCHAR",
    "enum": "VARCHAR",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "amount": "DECIMAL(14,2)",
    "list": "VARCHAR[]",
}

# Tables whose rows belong to one insured person, and the column naming that person:
# what makes an identifier a hub is how many distinct persons it links.
_PERSON_OF_ROW = {"persons": "person_id", "cards": "person_id", "settlements": "person_id"}

_INGEST_LOG_COLUMNS = "run_id, folder, file, table_name, rows_read, loaded, unchanged, rejected, rejects_path"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class EmbeddedStore(GraphStore):
    """A graph persisted in ``HOME/graph.duckdb``.

    Parameters
    ----------
    home : path
        Folder holding the store; created if missing.
    memory_limit : str
        DuckDB's memory cap; beyond it, joins spill to ``HOME/tmp``.
    read_only : bool
        Open without taking the writer's lock, e.g. for stats while nothing ingests.
    """

    backend_name = "embedded"

    def __init__(self, home: str | Path, *, memory_limit: str = "2GB", read_only: bool = False) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "graph.duckdb"
        # Row order inside a table carries no meaning here; not preserving it speeds up appends.
        config = {"memory_limit": memory_limit, "temp_directory": str(self.home / "tmp"),
                  "preserve_insertion_order": False}
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only and self.path.exists(), config=config)
        except duckdb.IOException as exc:
            raise RuntimeError(
                f"cannot open the embedded store at {self.path}: {exc}. "
                "Another graphsvc process may hold it; stop it or use another --home."
            ) from exc
        if not (read_only and self.path.exists()):
            self._create_schema()

    def _create_schema(self) -> None:
        for t in ENTITY_TABLES.values():
            cols = [f"{_q(c.name)} {SQL_TYPES[c.kind]}" for c in t.columns]
            cols += [f"{_q(name)} {sql_type}" for name, sql_type in t.derived]
            cols.append(f"{ROW_HASH} UBIGINT NOT NULL")
            self._con.execute(f"CREATE TABLE IF NOT EXISTS {t.name} ({', '.join(cols)})")
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS ingest_log (run_id VARCHAR, folder VARCHAR, file VARCHAR, "
            "table_name VARCHAR, rows_read BIGINT, loaded BIGINT, unchanged BIGINT, rejected BIGINT, "
            "rejects_path VARCHAR, logged_at TIMESTAMP DEFAULT current_timestamp)"
        )
        # Rings as documents (served whole) plus a member index, so "which rings is this card
        # in" is a lookup and not a scan of every document.
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS rings (id VARCHAR PRIMARY KEY, rank INTEGER, pattern VARCHAR, score DOUBLE, "
            "persons VARCHAR[], document VARCHAR, run_id VARCHAR)"
        )
        self._con.execute("CREATE TABLE IF NOT EXISTS ring_members (ring_id VARCHAR, type VARCHAR, id VARCHAR)")
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS detection_runs (run_id VARCHAR, started_at VARCHAR, seconds DOUBLE, "
            "rings INTEGER, kept_ids INTEGER, new_ids INTEGER, retired_ids VARCHAR[], summary VARCHAR, "
            "next_ring_number INTEGER)"
        )

    def _scalar(self, query: str) -> Any:
        return self._con.execute(query).fetchall()[0][0]

    # ---- GraphStore ----------------------------------------------------------------------

    def _stored_hashes(self, table: EntityTable, keys: pa.Array) -> pa.Table:
        probe = pa.table({"k": keys})
        self._con.register("_probe", probe)
        try:
            return self._con.sql(
                f"SELECT t.{_q(table.key)}, t.{ROW_HASH} FROM {table.name} t SEMI JOIN _probe p ON t.{_q(table.key)} = p.k"
            ).to_arrow_table()
        finally:
            self._con.unregister("_probe")

    def _insert(self, table: EntityTable, rows: pa.Table) -> None:
        self._con.register("_rows", rows)
        try:
            names = ", ".join(_q(n) for n in rows.column_names)
            self._con.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM _rows")
        finally:
            self._con.unregister("_rows")

    def _scan(self, table: EntityTable) -> pa.Table:
        return self._con.sql(f"SELECT * FROM {table.name}").to_arrow_table()

    def _row_count(self, table: EntityTable) -> int:
        return self._scalar(f"SELECT count(*) FROM {table.name}")

    def _relationship_count(self, rel: Relationship) -> int:
        column = _q(rel.column)
        if ENTITY_TABLES[rel.source].column(rel.column).kind == "list":
            query = f"SELECT coalesce(sum(len({column})), 0) FROM {rel.source}"
        else:
            query = f"SELECT count({column}) FROM {rel.source}"
        return int(self._scalar(query))

    def _identifier_values(self, label: str, *, with_person: bool) -> str:
        parts = []
        for rel in RELATIONSHIPS:
            if rel.target != label:
                continue
            person = _PERSON_OF_ROW.get(rel.source)
            if with_person and person is None:
                continue
            column = _q(rel.column)
            is_list = ENTITY_TABLES[rel.source].column(rel.column).kind == "list"
            value = f"unnest({column})" if is_list else column
            person_sql = f", {_q(person)} AS person" if with_person else ""
            parts.append(f"SELECT {value} AS value{person_sql} FROM {rel.source} WHERE {column} IS NOT NULL")
        return " UNION ALL ".join(parts)

    def _identifier_count(self, label: str) -> int:
        values = self._identifier_values(label, with_person=False)
        return self._scalar(f"SELECT count(DISTINCT value) FROM ({values})")

    def _identifier_hubs(self, label: str, limit: int) -> list[dict[str, Any]]:
        values = self._identifier_values(label, with_person=True)
        rows = self._con.execute(
            f"SELECT value, count(DISTINCT person) AS persons FROM ({values}) "
            "GROUP BY value ORDER BY persons DESC, value LIMIT ?",
            [limit],
        ).fetchall()
        return [{"value": v, "persons": n} for v, n in rows]

    def _write_ingest_record(self, record: IngestFileRecord) -> None:
        self._con.execute(
            f"INSERT INTO ingest_log ({_INGEST_LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [record.run_id, record.folder, record.file, record.table, record.read, record.loaded,
             record.unchanged, record.rejected, record.rejects_path],
        )

    def _ingest_records(self) -> list[IngestFileRecord]:
        rows = self._con.execute(f"SELECT {_INGEST_LOG_COLUMNS} FROM ingest_log ORDER BY logged_at").fetchall()
        return [IngestFileRecord(*row) for row in rows]

    def _analysis_connection(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    def _stored_ring_persons(self) -> dict[str, list[str]]:
        return dict(self._con.execute("SELECT id, persons FROM rings").fetchall())

    def _next_ring_number(self) -> int:
        return int(self._scalar("SELECT coalesce(max(next_ring_number), 1) FROM detection_runs"))

    def _replace_rings(self, documents: list[dict[str, Any]], persons: list[list[str]], run: DetectionRun,
                       next_number: int) -> None:
        rings = pa.table({
            "id": [d["id"] for d in documents],
            "rank": list(range(1, len(documents) + 1)),
            "pattern": [d["pattern"] for d in documents],
            "score": pa.array([d["score"] for d in documents], pa.float64()),
            "persons": pa.array(persons, pa.list_(pa.string())),
            "document": [json.dumps(d, ensure_ascii=False) for d in documents],
        })
        members = pa.table({
            "ring_id": [d["id"] for d in documents for _ in d["members"]],
            "type": [m["type"] for d in documents for m in d["members"]],
            "id": [m["id"] for d in documents for m in d["members"]],
        })
        self._con.execute("BEGIN TRANSACTION")
        try:
            self._con.execute("DELETE FROM rings")
            self._con.execute("DELETE FROM ring_members")
            self._con.register("_rings", rings)
            self._con.register("_members", members)
            self._con.execute("INSERT INTO rings SELECT id, rank, pattern, score, persons, document, ? FROM _rings",
                              [run.run_id])
            self._con.execute("INSERT INTO ring_members SELECT * FROM _members")
            self._con.execute(
                "INSERT INTO detection_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run.run_id, run.started_at, run.seconds, run.rings, run.kept_ids, run.new_ids, run.retired_ids,
                 json.dumps(run.summary, ensure_ascii=False), next_number])
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        finally:
            self._con.unregister("_rings")
            self._con.unregister("_members")

    def _ring_documents(self, ring_id: str | None) -> list[dict[str, Any]]:
        where, params = ("WHERE id = ?", [ring_id]) if ring_id else ("", [])
        rows = self._con.execute(f"SELECT document FROM rings {where} ORDER BY rank", params).fetchall()
        return [json.loads(r[0]) for r in rows]

    def _detection_runs(self) -> list[DetectionRun]:
        rows = self._con.execute(
            "SELECT run_id, started_at, seconds, rings, kept_ids, new_ids, retired_ids, summary FROM detection_runs "
            "ORDER BY started_at").fetchall()
        return [DetectionRun(*row[:7], json.loads(row[7])) for row in rows]

    def close(self) -> None:
        self._con.close()
