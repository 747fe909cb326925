"""The embedded backend: a DuckDB file under the home folder, no server needed.

DuckDB was picked over a home-grown Parquet layout or SQLite because it is columnar
(ingest appends Arrow batches without a row-by-row copy, aggregates over ten million
settlements take a second), persists one ACID file that survives a restart, and lets the
shared-identifier questions be answered with joins instead of loading the graph into
memory. Relationships are the foreign-key columns of ``graphsvc.model``: a settlement row's
``contact_phone`` *is* its CONTACT_PHONE edge.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from graphsvc.errors import StoreError
from graphsvc.model import ENTITY_TABLES, RELATIONSHIPS, EntityTable, Relationship
from graphsvc.network import Neighbourhood
from graphsvc.store.adjacency import AdjacencyIndex
from graphsvc.store.base import GraphStore, IngestFileRecord, StoreBusy
from graphsvc.store.engine import Connection
from graphsvc.store.schema import (
    DUCKDB_TYPES,
    SCHEMA_VERSION,
    STORE_TABLES,
    TABLES,
    arrow_schema,
    create_sql,
    upgrade,
)

__all__ = ["EmbeddedStore"]

# Tables whose rows belong to one insured person, and the column naming that person:
# what makes an identifier a hub is how many distinct persons it links.
_PERSON_OF_ROW = {"persons": "person_id", "cards": "person_id", "settlements": "person_id"}

_VERSION_CHECK_S = 1.0
_INGEST_QUIET_S = 60
"""An unfinished ingest log entry written within this many seconds is an ingest under way: reads
keep the index built before it. A longer pause (or a killed ingest) lets them rebuild."""
_MEASURES = {"count": "count(*)", "sum": "coalesce(sum(t.{}), 0)", "min": "min(t.{})", "max": "max(t.{})"}
"""``GraphStore._summarise``'s functions in SQL."""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unreadable(path: Path, exc: Exception) -> StoreError:
    return StoreError(f"cannot open the embedded store at {path}: {exc}. If the file is damaged, restore the last "
                      f"backup: graphsvc restore BACKUP {path.parent} --force",
                      zh=f"无法打开 {path} 的内置存储；若文件已损坏，请从最近的备份恢复："
                         f"graphsvc restore BACKUP {path.parent} --force")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The home's schema version; None for a new, empty store."""
    tables = {name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
    if not tables:
        return None
    if "schema_version" not in tables:
        return 1  # written before versions were recorded
    return con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]


def _open_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Create the tables of a new store, or bring an older one up to ``SCHEMA_VERSION``, in one transaction."""
    found = _schema_version(con)

    def record(version: int) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        con.execute("DELETE FROM schema_version")
        con.execute("INSERT INTO schema_version VALUES (?)", [version])

    def to_v2() -> None:
        # A store made before a derived column, or an ingest log column, existed gets it (NULL:
        # resolution computes what is missing, graphsvc.resolution; such log entries are of
        # finished runs), and a table it lacks.
        for t in ENTITY_TABLES.values():
            con.execute(create_sql(t, exists_ok=True))
            for name, kind in t.derived:
                con.execute(f"ALTER TABLE {t.name} ADD COLUMN IF NOT EXISTS {_q(name)} {DUCKDB_TYPES[kind]}")
        for name in STORE_TABLES:
            con.execute(create_sql(name, exists_ok=True))
        con.execute("ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS finished BOOLEAN DEFAULT true")
        con.execute("ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ")
        # Written with each ring, never read: a ring's members are in its document.
        con.execute("DROP TABLE IF EXISTS ring_members")

    def to_v3() -> None:
        # The ingest log gets its key, so it is written like the other keyed tables (a table
        # to_v2 created is made with it already).
        keyed = con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'ingest_log' "
                            "AND constraint_type = 'PRIMARY KEY'").fetchall()[0][0]
        if not keyed:
            con.execute("ALTER TABLE ingest_log ADD PRIMARY KEY (run_id, file)")

    con.execute("BEGIN TRANSACTION")
    try:
        if found is None:
            for name in TABLES:
                con.execute(create_sql(ENTITY_TABLES.get(name, name)))
            record(SCHEMA_VERSION)
        else:
            upgrade(found, [to_v2, to_v3], record, str(path))
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _upsert_log(db: duckdb.DuckDBPyConnection, record: IngestFileRecord) -> None:
    """Write ``record`` over its (run, file) entry inside the caller's transaction, as
    ``GraphStore.record_ingest`` writes it: the first write's time kept, the update's time now."""
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO ingest_log (run_id, folder, file, table_name, rows_read, loaded, unchanged, rejected, rejects_path, "
        "logged_at, finished, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, file) DO UPDATE "
        "SET folder = excluded.folder, table_name = excluded.table_name, rows_read = excluded.rows_read, "
        "loaded = excluded.loaded, unchanged = excluded.unchanged, rejected = excluded.rejected, "
        "rejects_path = excluded.rejects_path, finished = excluded.finished, updated_at = excluded.updated_at",
        [record.run_id, record.folder, record.file, record.table, record.read, record.loaded, record.unchanged,
         record.rejected, record.rejects_path, now.replace(tzinfo=None), record.finished, now])


_SPILL = re.compile(r"duckdb_temp_(\d+)_")


def _remove_dead_spills(folder: Path) -> None:
    """Remove the spill files DuckDB left under ``folder`` in processes that are gone.

    DuckDB deletes its own when it closes, not a killed process's (an OOM kill in the middle of
    a big join left 18 GB at 10M persons); they are named by the writing process's id, so a
    reader that is still running (``graphsvc stats``) keeps its own."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        found = _SPILL.match(path.name)
        if found is None:
            continue
        try:
            os.kill(int(found.group(1)), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (PermissionError, OverflowError):  # alive under another user, or no process id at all
            continue


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
        writable = not (read_only and self.path.exists())
        con = self._connect(read_only=not writable, config=config)
        try:
            if writable:
                _open_schema(con, self.path)
                _remove_dead_spills(self.home / "tmp")
            elif _schema_version(con) != SCHEMA_VERSION:
                # An upgrade needs the writer's lock, taken for the upgrade only.
                con.close()
                with closing(self._connect(read_only=False, config=config)) as upgrading:
                    _open_schema(upgrading, self.path)
                con = self._connect(read_only=True, config=config)
        except BaseException:
            con.close()
            raise
        self._con = con
        # A DuckDB connection serves one thread at a time; the API's worker threads each get a
        # cursor of their own on the same database.
        self._local = threading.local()
        self._cursor_lock = threading.Lock()
        self._adjacency: AdjacencyIndex | None = None
        self._adjacency_lock = threading.Lock()
        self._adjacency_checked = float("-inf")

    def _connect(self, *, read_only: bool, config: dict[str, Any]) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(self.path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc):
                raise _unreadable(self.path, exc) from exc
            # DuckDB takes a file lock: one process writes a store (a running server holds it). Its own
            # message names the holder's PID among internals: the PID is what the user needs.
            holder = re.search(r"\(PID (\d+)\)", str(exc))
            who = f"process {holder[1]}" if holder else "another process"
            raise StoreBusy(
                f"the home {self.path.parent} is in use by {who} (a graphsvc serve, ingest or detect): stop it or "
                "use another --home; while a server runs, use its API instead "
                "(POST /apikeys, GET /institutions/risk, GET /reports/monthly.xlsx, GET /rings/ID/export)",
                zh=f"主目录 {self.path.parent} 正被{'进程 ' + holder[1] if holder else '另一进程'}占用（graphsvc serve、"
                   "ingest 或 detect）：请停止它或另用 --home；服务器运行时请改用其 API"
            ) from exc
        except duckdb.Error as exc:  # a damaged file: DuckDB checks the checksum of each block it reads
            raise _unreadable(self.path, exc) from exc

    @property
    def _db(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._cursor_lock:  # the parent connection refuses two threads at once
                cursor = self._local.cursor = self._con.cursor()
        return cursor

    def _scalar(self, query: str) -> Any:
        return self._db.execute(query).fetchall()[0][0]

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        db = self._db
        db.execute("BEGIN TRANSACTION")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # ---- GraphStore ----------------------------------------------------------------------

    def _filtered(self, table: str, where: Mapping[str, Sequence[Any] | pa.Array] | None,
                  columns: str, tail: str = "") -> pa.Table:
        """``SELECT columns FROM table t`` over the rows ``where`` admits, then ``tail`` (grouping,
        order, limit), as Arrow. One value is a parameter; a list is an Arrow table joined against
        (ingest probes 100k keys at a time)."""
        joins, conditions, params, probes = [], [], [], {}
        for i, (column, values) in enumerate((where or {}).items()):
            if len(values) == 1:
                conditions.append(f"t.{_q(column)} = ?")
                params.append(values[0].as_py() if isinstance(values, (pa.Array, pa.ChunkedArray)) else values[0])
            else:
                probe = f"_where{i}"
                probes[probe] = pa.table({"v": values if isinstance(values, (pa.Array, pa.ChunkedArray))
                                          else pa.array(values, arrow_schema(table, [column]).field(0).type)})
                joins.append(f" SEMI JOIN {probe} ON t.{_q(column)} = {probe}.v")
        query = f"SELECT {columns} FROM {table} t" + "".join(joins)
        query += (" WHERE " + " AND ".join(conditions) if conditions else "") + tail
        db = self._db
        for name, probe in probes.items():
            db.register(name, probe)
        try:
            return db.sql(query, params=params or None).to_arrow_table()
        finally:
            for name in probes:
                db.unregister(name)

    def _select(self, table: str, *, where: Mapping[str, Sequence[Any] | pa.Array] | None = None,
                columns: Sequence[str] | None = None, order_by: Sequence[tuple[str, bool]] = (), offset: int = 0,
                limit: int | None = None) -> pa.Table:
        tail = ""
        if order_by:
            tail += " ORDER BY " + ", ".join(f"t.{_q(c)}{' DESC' if descending else ''}" for c, descending in order_by)
        if limit is not None:
            tail += f" LIMIT {int(limit)}"
        if offset:
            tail += f" OFFSET {int(offset)}"
        return self._filtered(table, where, ", ".join(f"t.{_q(c)}" for c in columns) if columns is not None else "t.*",
                              tail)

    def _summarise(self, table: str, measures: Mapping[str, tuple[str, str | None]], *, by: Sequence[str] = (),
                   where: Mapping[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
        shown = [f"t.{_q(c)}" for c in by]
        shown += [f"{_MEASURES[function].format(_q(column or ''))} AS {_q(name)}"
                  for name, (function, column) in measures.items()]
        tail = " GROUP BY " + ", ".join(f"t.{_q(c)}" for c in by) if by else ""
        return self._filtered(table, where, ", ".join(shown), tail).to_pylist()

    def _write_tables(self, writes: Mapping[str, pa.Table], *, emptied: Collection[str] = ()) -> None:
        if "ingest_log" in writes:  # the data version is read from it
            self._adjacency_checked = float("-inf")
        with self._transaction() as db:
            for table in emptied:
                db.execute(f"DELETE FROM {table}")
            for table, rows in writes.items():
                names = ", ".join(_q(n) for n in rows.column_names)
                verb = "INSERT OR REPLACE" if STORE_TABLES[table].key else "INSERT"
                db.register("_rows", rows)
                try:
                    db.execute(f"{verb} INTO {table} ({names}) SELECT {names} FROM _rows")
                finally:
                    db.unregister("_rows")

    def _insert(self, table: EntityTable, rows: pa.Table, log: IngestFileRecord | None) -> None:
        self._adjacency_checked = float("-inf")
        self._db.register("_rows", rows)
        try:
            names = ", ".join(_q(n) for n in rows.column_names)
            with self._transaction() as db:
                db.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM _rows")
                if log is not None:
                    _upsert_log(db, log)
        finally:
            self._db.unregister("_rows")

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
            person_sql = f", {_q(person)} AS person" if with_person and person is not None else ""
            parts.append(f"SELECT {value} AS value{person_sql} FROM {rel.source} WHERE {column} IS NOT NULL")
        return " UNION ALL ".join(parts)

    def _identifier_count(self, label: str) -> int:
        values = self._identifier_values(label, with_person=False)
        return self._scalar(f"SELECT count(DISTINCT value) FROM ({values})")

    def _identifier_hubs(self, label: str, limit: int) -> list[dict[str, Any]]:
        values = self._identifier_values(label, with_person=True)
        rows = self._db.execute(
            f"SELECT value, count(DISTINCT person) AS persons FROM ({values}) "
            "GROUP BY value ORDER BY persons DESC, value LIMIT ?",
            [limit],
        ).fetchall()
        return [{"value": v, "persons": n} for v, n in rows]

    def _check(self, thorough: bool) -> None:
        # DuckDB checks a block's checksum when it reads it; a count(*) reads none (it is kept in
        # the table's metadata), so values are read: the first of each table, or all of them.
        for name in TABLES:
            if thorough:
                self._db.execute(f"SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM {name}").fetchall()
            else:
                self._db.execute(f"SELECT * FROM {name} LIMIT 1").fetchall()

    def _analysis_connection(self) -> Connection:
        return self._db.cursor()

    def _set_column(self, table: EntityTable, column: str, rows: pa.Table) -> None:
        self._db.register("_values", rows)
        try:
            key = _q(table.key)
            self._db.execute(f"UPDATE {table.name} t SET {_q(column)} = v.value FROM _values v "
                             f"WHERE t.{key} = v.{key}")
        finally:
            self._db.unregister("_values")

    def _search(self, text: str, limit: int) -> list[dict[str, Any]]:
        # Names and ID numbers are a sorted term list in the neighbour index: a binary search,
        # not a scan of a million persons.
        index = self.adjacency()
        found = index.find_terms(text, limit)
        if text.upper() != text:
            found = index.find_terms(text.upper(), limit) + found  # ID numbers end in an upper-case X
        # Institution names are searched inside too ("人民医院").
        return found + index.institutions_naming(text, limit)

    def _same_person(self, person_ids: list[str]) -> dict[str, list[str]]:
        # From the neighbour index's SAME_PERSON edges (each record to its person's key record), not by
        # person_key in the table: that is a scan of every person, 100-150 ms at 10M persons, paid by
        # every search that finds one.
        # Only those edges are read: building every edge of each person found (their claims too) made a
        # search by a common name 8 ms of 10 at 3M persons.
        index = self.adjacency()
        records: dict[str, list[str]] = {}
        for person_id in person_ids:
            node = f"person:{person_id}"
            if index.index_of(node) is None:
                continue
            key = next(iter(index.related(node, "SAME_PERSON", outgoing=True)), node)
            same = {key, *index.related(key, "SAME_PERSON", outgoing=False)}
            records[person_id] = sorted(k.partition(":")[2] for k in same)
        return records

    def _neighbours(self, keys: list[str], limit: int) -> dict[str, tuple[str | None, Neighbourhood]]:
        index = self.adjacency()
        return {key: (index.label(key), around) for key, around in index.edges_of(keys, limit).items()}

    def _prepare_reads(self) -> None:
        self.adjacency(now=True)

    def adjacency(self, *, now: bool = False) -> AdjacencyIndex:
        """The neighbour index of the data as loaded, rebuilt first when ingest added rows.

        While an ingest is under way the index built before it keeps answering (rebuilt once it
        ends, not after every batch); ``now`` builds it for what is committed at once. Rows loaded
        through this store are noticed at once; the data version is otherwise re-read at most once
        a second.
        """
        index = self._adjacency
        checked = time.monotonic()
        if index is not None and not now and checked - self._adjacency_checked < _VERSION_CHECK_S:
            return index
        version, ingesting = self._data_version()
        keep = ingesting and not now
        if index is not None and (index.version == version or keep):
            self._adjacency_checked = checked
            return index
        with self._adjacency_lock:
            if self._adjacency is None or self._adjacency.version != version:
                folder = self.home / "adjacency"
                try:
                    index = AdjacencyIndex(folder)
                except FileNotFoundError:
                    index = None
                if index is None or (index.version != version and not keep):
                    with self._cursor_lock:
                        cursor = self._con.cursor()
                    index = AdjacencyIndex.build(cursor, folder, version)
                self._adjacency = index
            self._adjacency_checked = checked
            return self._adjacency

    def _data_version(self) -> tuple[str, bool]:
        """The version of what is committed (the ingest log is written with each batch) and whether
        an ingest is under way."""
        runs, loaded, ingesting = self._db.execute(
            "SELECT count(*), coalesce(sum(loaded), 0), "
            f"coalesce(bool_or(NOT finished AND updated_at > current_timestamp - INTERVAL {_INGEST_QUIET_S} SECOND), "
            "false) FROM ingest_log").fetchall()[0]
        return f"{AdjacencyIndex.FORMAT}:{runs}:{loaded}", ingesting

    def _backup(self, folder: Path) -> list[str]:
        # One transaction copies every table: DuckDB's snapshot of the moment it starts, while
        # the server's other threads go on writing. The copy is a DuckDB file like the store.
        name = "graph.duckdb"
        alias = f"backup_{secrets.token_hex(4)}"  # attached databases are shared by all cursors
        db = self._db
        source = db.execute("SELECT current_database()").fetchall()[0][0]
        db.execute(f"ATTACH {_literal(str(folder / name))} AS {alias}")
        try:
            with self._transaction() as tx:
                tx.execute(f"COPY FROM DATABASE {_q(source)} TO {alias}")
        finally:
            db.execute(f"DETACH {alias}")
        return [name]

    def close(self) -> None:
        self._con.close()
