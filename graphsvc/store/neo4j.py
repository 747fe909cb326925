"""The Neo4j backend: the same graph in a Neo4j server, through the official driver.

Every node carries the label ``Node`` and a ``_key`` ("type:id", e.g. ``person:P1``,
``phone:138…``, ``settlement:S9``) under one uniqueness constraint, so any node is one index
lookup away whatever its type. Entity rows are nodes with the model's columns as properties
and ``_row_hash``; a reference to a row not loaded yet (a prescriber before prescribers.csv)
makes a placeholder node without ``_row_hash``, filled in when the row comes. Relationships
are those of ``graphsvc.model``. The investigative network (``graphsvc.network``) is kept as
``NET`` relationships, rebuilt per data version like the embedded store's index.

Detection reads the entity tables into a session of the compute engine (``_analysis_connection``,
``graphsvc.store.engine``): the detectors are SQL, and one definition of them serves both backends.

The store's own tables (``graphsvc.store.schema.STORE_TABLES``) are nodes with their columns as
properties: ``Ring``, ``DetectionRun``, ``Record`` (a keyed table's node has ``id``, its key
columns joined by U+001F, under a uniqueness constraint) and ``IngestLog`` (found by its key
columns; the time of its first write is ``seq``, nanoseconds since 1970); a ring's claims are
``INVOLVES`` links to its settlements, read as the ``ring_claims`` table. The schema version is
``(:Meta {id: 'schema'}).version``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from graphsvc.errors import InputError, StoreError
from graphsvc.model import ENTITY_TABLES, RELATIONSHIPS, EntityTable, Relationship
from graphsvc.network import NETWORK_RELATIONSHIPS, Edge, Neighbourhood
from graphsvc.store.base import GraphStore, IngestFileRecord
from graphsvc.store.engine import Connection
from graphsvc.store.schema import (
    NETWORK_EDGES_SQL,
    ROW_HASH,
    SCHEMA_VERSION,
    STORE_TABLES,
    arrow_schema,
    fields,
    upgrade,
)

__all__ = ["KEY_KIND_OF_LABEL", "Neo4jStore"]

KEY_KIND_OF_LABEL = {"Person": "person", "Card": "card", "Institution": "institution", "Prescriber": "prescriber",
                     "Intermediary": "intermediary", "Settlement": "settlement", "Phone": "phone",
                     "Address": "address", "Device": "device", "BankAccount": "account", "Operator": "operator",
                     "TraceCode": "trace_code"}
"""The kind a node's ``_key`` starts with ("kind:id"), by its label."""
_TYPE_OF_TABLE = {t.name: KEY_KIND_OF_LABEL[t.label] for t in ENTITY_TABLES.values()}
_TABLE_OF_LABEL = {t.label: t.name for t in ENTITY_TABLES.values()}
_LABEL_OF_STORE_TABLE = {"rings": "Ring", "detection_runs": "DetectionRun", "records": "Record",
                         "ingest_log": "IngestLog"}
_MATCHED_BY_KEY = {"ingest_log"}
"""Store tables whose nodes are found by their key columns themselves, not by a joined ``id``."""
_RING_CLAIMS = "MATCH (g:Ring)-[:INVOLVES]->(n:Settlement) WHERE true"
"""The ``ring_claims`` table: a ring's links to its settlements (``ring_id`` is ``g.id``)."""
_UNLINK_CLAIMS = "MATCH (:Ring)-[c:INVOLVES]->() DELETE c"
_REL_ORDER = {name: rank for rank, name in enumerate(NETWORK_RELATIONSHIPS)}
"""Network relationship types in the order the embedded index numbers them: ties under a limit
are broken the same way on both stores."""
_AGGREGATES = {"count": "count(n)", "sum": "coalesce(sum(toInteger(round({} * 100))), 0) / 100.0", "min": "min({})",
               "max": "max({})"}
"""``GraphStore._summarise``'s functions in Cypher. Sums are of amounts (DECIMAL(14,2) in the model,
floats in Neo4j), added up in whole fen as the embedded store adds decimals: summed as floats, 100
claims of 999,999,999,999.99 came to …998.88."""
_EPOCH = datetime(1970, 1, 1)
_BATCH = 5_000
_BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
_READ_BATCH = 50_000
"""Rows per Arrow batch of a table streamed out of the server (``Neo4jStore._streams``)."""
_NET_FORMAT = "3"
_VERSION_CHECK_S = 1.0
_INGEST_QUIET_S = 60
"""An unfinished ingest log entry written within this many seconds is an ingest under way: reads
keep the network built before it. A longer pause (or a killed ingest) lets them rebuild."""
_LOG_ADD = (
    "MERGE (l:IngestLog {run_id: $run_id, file: $file}) ON CREATE SET l.seq = $seq, l.loaded = $base "
    "SET l.folder = $folder, l.table_name = $table, l.rows_read = $read, l.loaded = l.loaded + $added, "
    "l.unchanged = $unchanged, l.rejected = $rejected, l.rejects_path = $rejects_path, l.finished = $finished, "
    "l.updated_at = datetime()")
"""The ingest log entry of a batch written in parallel with others: its rows added to ``loaded``
(``$base``: what the entry counted before the first batch of this load)."""
_PENDING = "NetPending"
"""The label of rows stored since the network last followed them (``_update_network``)."""
_INSERT_BATCH = 10_000
_WRITERS = 1
"""Parallel write transactions of an ingest batch. One: two deadlock on the nodes every batch
links to (institutions, operators) and the driver retries a whole 10,000-row transaction; on
the 5,000-person city through Bolt two wrote 762 rows/s, one 1,605 (bench/backend_benchmark.py
--writers measures it on a city)."""


@cache
def _cypher(name: str) -> str:
    """A query of ``queries/cypher/NAME.cypher`` (its first line says what it is for)."""
    return (resources.files("queries") / "cypher" / f"{name}.cypher").read_text(encoding="utf-8")


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def _bolt_rows(rows: pa.Table) -> list[dict[str, Any]]:
    """``rows`` as Bolt parameters: row hashes signed, amounts as floats, dates and times as ISO
    text, which ``_temporal_columns`` turns into Neo4j's types on the server."""
    columns = []
    for name, column in zip(rows.column_names, rows.columns):
        if name == ROW_HASH:
            column = column.cast(pa.int64(), safe=False)  # Neo4j's integers are signed: two's complement
        elif pa.types.is_decimal(column.type):
            column = column.cast(pa.string()).cast(pa.float64())  # as float(Decimal): 99.99, not 99.99000000000001
        elif pa.types.is_timestamp(column.type):
            column = pc.strftime(column, "%Y-%m-%dT%H:%M:%S")  # seconds with their fraction
        elif pa.types.is_date(column.type):
            column = column.cast(pa.string())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=rows.column_names).to_pylist()


def _temporal_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """(column, Cypher function making its ISO text Neo4j's type) of the dates and times in ``schema``."""
    return [(f.name, "date" if pa.types.is_date(f.type) else "localdatetime") for f in schema
            if pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)]


def _native(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native is not None else value


def _arrow_column(values: list[Any], field: pa.Field) -> pa.Array:
    """Values read from Neo4j as the Arrow column the schema says."""
    values = [_native(v) for v in values]
    if field.type == pa.uint64():  # row hashes
        values = [None if v is None else _unsigned(v) for v in values]
    elif pa.types.is_decimal(field.type):  # amounts are stored as floats
        values = [None if v is None else Decimal(str(round(v, 2))) for v in values]
    elif pa.types.is_timestamp(field.type):  # record times are stored as ISO text
        values = [datetime.fromisoformat(v) if isinstance(v, str) else v for v in values]
    return pa.array(values, field.type)


def _returned(table: str, schema: pa.Schema) -> str:
    """What a query returns of a table's node ``n`` for ``_converted``: its columns by name, dates and
    times as ISO text."""
    temporal = {name for name, _ in _temporal_columns(schema)}
    return ", ".join(f"toString({_property(table, c)}) AS `{c}`" if c in temporal else f"{_property(table, c)} AS `{c}`"
                     for c in schema.names)


def _converted(table: str, columns: Iterable[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows of ``table`` read with ``_returned``, a list of values per column, as Arrow; a value
    graphsvc does not write (a time with a zone or nanoseconds, set in Neo4j by hand) refused by name."""
    try:
        return pa.RecordBatch.from_arrays([_bolt_column(values, field) for values, field in zip(columns, schema)],
                                          schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise StoreError(f"Neo4j holds a value in {table} that graphsvc does not write ({exc}); "
                         "re-load the table with graphsvc ingest",
                         zh=f"Neo4j 的 {table} 中有非本系统写入的值：请用 graphsvc ingest 重新导入该表") from None


def _bolt_column(values: Sequence[Any], field: pa.Field) -> pa.Array:
    """A column read with ``_returned``, converted by Arrow a column at a time, not a value at a time
    in Python as ``_arrow_column`` does (half of a whole table's read at 1M persons): dates and times
    come as ISO text, amounts as floats (rounded to their scale, as they were written), row hashes signed."""
    if field.type == pa.uint64():
        return pa.array(values, pa.int64()).cast(pa.uint64(), safe=False)  # two's complement back
    if pa.types.is_decimal(field.type):
        return pc.round(pa.array(values, pa.float64()), field.type.scale).cast(field.type)
    if pa.types.is_date(field.type) or pa.types.is_timestamp(field.type):
        return pa.array(values, pa.string()).cast(field.type)
    return pa.array(values, field.type)


def _neo4j_value(value: Any) -> Any:
    """A value written to a store table's node: local times as ISO text, which sorts as they do;
    times with a zone as Neo4j's (the ingest log's ``updated_at``, compared with ``datetime()``)."""
    return value.isoformat(timespec="microseconds") if isinstance(value, datetime) and value.tzinfo is None else value


def _property(table: str, column: str, *, sort: bool = False) -> str:
    """The Cypher expression reading ``column`` of a store table's node ``n`` (or sorting by it)."""
    if table == "ring_claims" and column == "ring_id":
        return "g.id"
    if table == "ingest_log" and column == "logged_at":
        return "n.seq" if sort else "n.seq / 1000"  # as microseconds, an Arrow timestamp's unit
    return f"n.`{column}`"


_NET_CREATE = ("UNWIND $rows AS e MATCH (a:Node {_key: e.a}) MATCH (b:Node {_key: e.b}) "
               "CREATE (a)-[:NET {type: e.rel, claims: e.n, fund: e.fund, first: e.first, last: e.last}]->(b)")


def _agent_label(row: dict[str, Any]) -> str:
    return "Person" if row.get("agent_type") == "person" else "Intermediary"


def _fixed(label: str, row: dict[str, Any]) -> str:
    return label


_NET_TYPE_INDEX = "CREATE INDEX net_type IF NOT EXISTS FOR ()-[r:NET]-() ON (r.type)"
"""Finds the SAME_PERSON edges an update compares with the person keys, without a walk over every person."""


@cache
def _network_columns(table: str) -> list[str]:
    """The columns of ``table`` that ``NETWORK_EDGES_SQL`` names: all the network reads of it."""
    return [f.name for f in fields(ENTITY_TABLES[table])  # and the row hash, which the engine's tables require
            if f.name == ROW_HASH or re.search(rf"\b{f.name}\b", NETWORK_EDGES_SQL)]


class Neo4jStore(GraphStore):
    """A graph in a Neo4j 5 server.

    Parameters
    ----------
    uri, user, password : str
        Where the server is (``bolt://host:7687`` or ``neo4j://…``) and how to log in.
    home : path
        Local folder for what is not graph data (rejects files, the masking secret).
    database : str
        The Neo4j database (Community edition has one user database, ``neo4j``).
    retry_seconds : float
        How long the driver retries a transaction on transient errors (a restart, a leader change).
    """

    backend_name = "neo4j"

    def __init__(self, uri: str, user: str, password: str, home: str | Path, *, database: str = "neo4j",
                 retry_seconds: float = 30.0) -> None:
        from neo4j import GraphDatabase
        from neo4j.exceptions import AuthError, ConfigurationError, ServiceUnavailable

        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self._database = database
        self._retry_seconds = retry_seconds
        # Bolt only: the driver's HTTP schemes are a preview needing a package graphsvc does not install.
        if uri.partition("://")[0] not in _BOLT_SCHEMES:
            raise InputError(f"NEO4J_URI {uri!r} is not a Bolt address such as bolt://host:7687 or neo4j://host "
                             f"(schemes: {', '.join(_BOLT_SCHEMES)})",
                             zh=f"NEO4J_URI {uri!r} 须为 Bolt 地址，如 bolt://host:7687 或 neo4j://host"
                                f"（可用：{'、'.join(_BOLT_SCHEMES)}）")
        try:
            # notifications off: Neo4j warns about property keys it has not seen yet on every fresh database
            self._driver = GraphDatabase.driver(uri, auth=(user, password), notifications_min_severity="OFF",
                                                max_transaction_retry_time=retry_seconds)
        except (ValueError, ConfigurationError) as exc:  # a malformed address: "Invalid IPv6 URL"
            raise InputError(f"NEO4J_URI {uri!r} is not a valid address ({exc})",
                             zh=f"NEO4J_URI {uri!r} 地址无效（{exc}）") from None
        try:
            self._driver.verify_connectivity()
        except AuthError:
            self._driver.close()
            raise StoreError(f"Neo4j at {uri} refused user {user!r}: check NEO4J_USER and NEO4J_PASSWORD",
                             zh=f"{uri} 的 Neo4j 拒绝了用户 {user!r}：请检查 NEO4J_USER 和 NEO4J_PASSWORD") from None
        except (ServiceUnavailable, OSError, ValueError) as exc:
            self._driver.close()
            said = " ".join(str(exc).split())  # the driver's message runs over lines: the error is one
            raise StoreError(f"cannot reach Neo4j at {uri} ({said}); is it running? check NEO4J_URI",
                             zh=f"无法连接 {uri} 的 Neo4j（{said}）：它是否在运行？请检查 NEO4J_URI") from None
        self._net_version: str | None = None
        self._net_checked = float("-inf")
        self._net_lock = threading.Lock()
        try:
            self._open_schema()
        except BaseException:
            self._driver.close()
            raise

    # ---- plumbing ----------------------------------------------------------------------------

    def _run(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """One auto-committed query; the driver retries transient errors (leader switch, deadlock)."""
        records, _, _ = self._driver.execute_query(query, params, database_=self._database)
        return [r.data() for r in records]

    def _run_in_transactions(self, query: str) -> None:
        """A ``CALL (…) { … } IN TRANSACTIONS`` query: it must run outside a managed transaction."""
        with self._driver.session(database=self._database) as session:
            session.run(query).consume()

    def _write_batches(self, query: str, rows: Iterable[dict[str, Any]]) -> None:
        rows = iter(rows)
        while batch := list(itertools.islice(rows, _BATCH)):
            self._run(query, rows=batch)

    @contextlib.contextmanager
    def _streams(self, columns: Mapping[str, Sequence[str] | None]) -> Iterator[dict[str, pa.RecordBatchReader]]:
        """Every row of each entity table named (its ``columns``, all when None), each read from one
        result a batch at a time as it is consumed. Whole tables as the driver's records first, as
        ``_select`` reads, took 20.6 GB for detection at 1M persons before the kernel killed it; a
        batch is what is held now. A stream left half-read gives its session back on leaving."""
        schemas = {table: arrow_schema(table, names) for table, names in columns.items()}
        generators = {table: self._batches(table, schema) for table, schema in schemas.items()}
        try:
            yield {table: pa.RecordBatchReader.from_batches(schemas[table], batches)
                   for table, batches in generators.items()}
        finally:
            for batches in generators.values():
                batches.close()

    def _batches(self, table: str, schema: pa.Schema) -> Generator[pa.RecordBatch, None, None]:
        from neo4j.exceptions import ServiceUnavailable, SessionExpired, TransientError

        query = f"{self._match(table)} RETURN {_returned(table, schema)}"
        # Until the first batch is read, a server restarting (or a transient error) is waited for as
        # the driver's managed queries wait (``retry_seconds``); once rows are out, a loss ends the read.
        deadline = time.monotonic() + self._retry_seconds
        while True:
            session = self._driver.session(database=self._database, fetch_size=_READ_BATCH)
            try:
                records = iter(session.run(query))
                rows = [record.values() for record in itertools.islice(records, _READ_BATCH)]
                break
            except (ServiceUnavailable, SessionExpired, TransientError):
                session.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(1.0)
            except BaseException:
                session.close()
                raise
        with session:
            while rows:
                yield _converted(table, zip(*rows), schema)
                rows = [record.values() for record in itertools.islice(records, _READ_BATCH)]

    def _open_schema(self) -> None:
        """Create the constraints and indexes of a new database, or bring an older one up to
        ``SCHEMA_VERSION``."""
        stored = self._run("MATCH (m:Meta {id: 'schema'}) RETURN m.version AS version")
        if stored:
            found = stored[0]["version"]
        elif self._run("MATCH (n) RETURN 1 AS one LIMIT 1"):
            found = 1  # written before versions were recorded
        else:
            self._create_indexes()
            self._record_version(SCHEMA_VERSION)
            return

        def to_v2() -> None:
            self._create_indexes()  # a database made before one of them existed
            # Written with each ring, never read: a ring's members are in its document.
            self._run_in_transactions("MATCH ()-[m:HAS_MEMBER]->() CALL (m) { DELETE m } IN TRANSACTIONS OF 10000 ROWS")

        def to_v3() -> None:
            """The ingest log's key (run, file): IngestLog nodes were always merged on it here."""

        upgrade(found, [to_v2, to_v3], self._record_version, f"the Neo4j database {self._database!r}")

    def _record_version(self, version: int) -> None:
        self._run("MERGE (m:Meta {id: 'schema'}) SET m.version = $version", version=version)

    def _create_indexes(self) -> None:
        statements = ["CREATE CONSTRAINT node_key IF NOT EXISTS FOR (n:Node) REQUIRE n._key IS UNIQUE",
                      "CREATE CONSTRAINT record_id IF NOT EXISTS FOR (r:Record) REQUIRE r.id IS UNIQUE",
                      "CREATE CONSTRAINT ring_id IF NOT EXISTS FOR (r:Ring) REQUIRE r.id IS UNIQUE",
                      "CREATE INDEX record_kind IF NOT EXISTS FOR (r:Record) ON (r.kind)"]
        for column in ("person_id", "card_id", "institution_id", "prescriber_id", "agent_id", "contact_phone",
                       "device_id", "payee_account"):
            statements.append(f"CREATE INDEX settlement_{column} IF NOT EXISTS FOR (s:Settlement) ON (s.{column})")
        for label in ("Person", "Intermediary", "Institution", "Prescriber"):
            statements.append(f"CREATE INDEX {label.lower()}_name IF NOT EXISTS FOR (n:{label}) ON (n.name)")
        for label in ("Person", "Intermediary"):
            statements.append(f"CREATE INDEX {label.lower()}_id_number IF NOT EXISTS FOR (n:{label}) ON (n.id_number)")
        statements.append("CREATE INDEX person_person_key IF NOT EXISTS FOR (n:Person) ON (n.person_key)")
        statements.append(_NET_TYPE_INDEX)
        for statement in statements:
            self._run(statement)

    def complete_bulk_import(self, log: Sequence[IngestFileRecord]) -> None:
        """Finish a database ``neo4j-admin`` just imported (``graphsvc.store.neo4j_import``): its
        constraints and indexes, online before the first query, the ingest log of the load, and its
        ``NET`` relationships (imported with it) recorded as the network of this data version."""
        self._create_indexes()
        self._run("CALL db.awaitIndexes(3600)")
        for record in log:
            self.record_ingest(record)
        self.finish_ingest()
        self._network_is(self._data_version()[0])

    def _key(self, table: EntityTable) -> str:
        return _TYPE_OF_TABLE[table.name] + ":"

    # ---- GraphStore: rows ----------------------------------------------------------------------

    def _match(self, table: str) -> str:
        """``MATCH`` of the nodes (``n``) that are the rows of a stored table, ending in a ``WHERE``."""
        spec = ENTITY_TABLES.get(table)
        if spec is not None:  # loaded rows, not nodes only referred to so far
            return f"MATCH (n:{spec.label}) WHERE n.{ROW_HASH} IS NOT NULL"
        return _RING_CLAIMS if table == "ring_claims" else f"MATCH (n:{_LABEL_OF_STORE_TABLE[table]}) WHERE true"

    def _select(self, table: str, *, where: Mapping[str, Sequence[Any] | pa.Array] | None = None,
                columns: Sequence[str] | None = None, order_by: Sequence[tuple[str, bool]] = (), offset: int = 0,
                limit: int | None = None) -> pa.Table:
        schema = arrow_schema(table, columns)
        conditions = {column: list(values.to_pylist() if isinstance(values, (pa.Array, pa.ChunkedArray)) else values)
                      for column, values in (where or {}).items()}
        spec = ENTITY_TABLES.get(table)
        key = STORE_TABLES[table].key if spec is None and table not in _MATCHED_BY_KEY else ()
        # Rows by key are one lookup each through a unique index (a batch of keys at a time, so
        # ``order_by`` and ``limit`` apply within a batch), not a scan.
        if spec is not None and spec.key in conditions:
            keys = [self._key(spec) + k for k in conditions.pop(spec.key)]
            match = f"UNWIND $keys AS k MATCH (n:Node {{_key: k}}) WHERE n.{ROW_HASH} IS NOT NULL"
        elif key and all(k in conditions for k in key):
            keys = ["\x1f".join(values) for values in itertools.product(*(conditions.pop(k) for k in key))]
            match = f"UNWIND $keys AS k MATCH (n:{_LABEL_OF_STORE_TABLE[table]} {{id: k}}) WHERE true"
        else:
            keys = None
            match = self._match(table)
        query = match + "".join(f" AND {_property(table, column)} IN $w{i}" for i, column in enumerate(conditions))
        query += " RETURN " + ", ".join(f"{_property(table, name)} AS `{name}`" for name in schema.names)
        if order_by:
            query += " ORDER BY " + ", ".join(f"{_property(table, c, sort=True)}{' DESC' if descending else ''}"
                                              for c, descending in order_by)
        query += f" SKIP {int(offset)}" if offset else ""
        query += f" LIMIT {int(limit)}" if limit is not None else ""
        params = {f"w{i}": values for i, values in enumerate(conditions.values())}
        batches = [{}] if keys is None else [{"keys": keys[start:start + _BATCH]} for start in range(0, len(keys), _BATCH)]
        rows = [row for batch in batches for row in self._run(query, **batch, **params)]
        return pa.table([_arrow_column([r[field.name] for r in rows], field) for field in schema], schema=schema)

    def _summarise(self, table: str, measures: Mapping[str, tuple[str, str | None]], *, by: Sequence[str] = (),
                   where: Mapping[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
        query = self._match(table) + "".join(f" AND {_property(table, column)} IN $w{i}"
                                             for i, column in enumerate(where or {}))
        shown = [f"{_property(table, c)} AS `{c}`" for c in by]
        shown += [f"{_AGGREGATES[function].format(_property(table, column or ''))} AS `{name}`"
                  for name, (function, column) in measures.items()]
        rows = self._run(f"{query} RETURN {', '.join(shown)}",
                         **{f"w{i}": list(values) for i, values in enumerate((where or {}).values())})
        return [{name: _native(value) for name, value in row.items()} for row in rows]

    def _write_tables(self, writes: Mapping[str, pa.Table], *, emptied: Collection[str] = ()) -> None:
        if "ingest_log" in writes:  # the data version is read from it
            self._net_checked = float("-inf")
        # a ring's claims are its links, which go with it
        empty = [_UNLINK_CLAIMS if table == "ring_claims" else f"MATCH (n:{_LABEL_OF_STORE_TABLE[table]}) DETACH DELETE n"
                 for table in emptied]
        statements = [self._write_statement(table, rows) for table, rows in writes.items()]

        def work(tx: Any) -> None:
            for query in empty:
                tx.run(query).consume()
            for query, nodes in statements:
                for start in range(0, len(nodes), _BATCH):
                    tx.run(query, rows=nodes[start:start + _BATCH]).consume()

        with self._driver.session(database=self._database) as session:
            session.execute_write(work)

    def _write_statement(self, table: str, rows: pa.Table) -> tuple[str, list[dict[str, Any]]]:
        """The query writing ``rows`` of a store table (``$rows``, a batch of them), and its rows."""
        if table == "ring_claims":  # a link from the ring to the settlement, whose columns they are
            settlement = self._key(ENTITY_TABLES["settlements"])
            return (f"UNWIND $rows AS x MATCH (g:Ring {{id: x.ring_id}}) "
                    f"MATCH (s:Node {{_key: '{settlement}' + x.settlement_id}}) CREATE (g)-[:INVOLVES]->(s)",
                    rows.select(["ring_id", "settlement_id"]).to_pylist())
        key = STORE_TABLES[table].key
        label = _LABEL_OF_STORE_TABLE[table]
        nodes = [{name: _neo4j_value(v) for name, v in row.items()} for row in rows.to_pylist()]
        if not key:  # each row a node of its own
            return f"UNWIND $rows AS x CREATE (n:{label}) SET n = x", nodes
        if table in _MATCHED_BY_KEY:
            merge = "{" + ", ".join(f"`{k}`: x.`{k}`" for k in key) + "}"
        else:
            merge = "{id: x.id}"
            for node in nodes:
                node["id"] = "\x1f".join(node[k] for k in key)
        if table == "ingest_log":
            for node in nodes:
                logged_at = datetime.fromisoformat(node.pop("logged_at"))
                node["seq"] = (logged_at - _EPOCH) // timedelta(microseconds=1) * 1000
        return f"UNWIND $rows AS x MERGE (n:{label} {merge}) SET n += x", nodes

    def _insert(self, table: EntityTable, rows: pa.Table, log: IngestFileRecord | None) -> None:
        # Each batch's nodes and relationships commit together, with the ingest log counting
        # them: a server or loader that dies mid-ingest leaves whole batches or nothing, so
        # re-running the ingest finds every row either stored with all its links or not stored
        # at all, and the data version counts exactly what is stored.
        #
        # No MERGE per row: the rows are new (``load`` left out the stored keys), so a batch looks
        # up which of its keys exist already (placeholders a reference made) in one query, MERGEs
        # each distinct target once, then CREATEs the rest with their relationships in one
        # statement that returns nothing (links by the ``_key`` index, no element ids streamed
        # back). Dates and times travel as ISO text and become Neo4j's types on the server. New
        # rows are marked ``NetPending`` for the incremental network update. Batches commit in
        # ``_WRITERS`` parallel transactions, each adding its own rows to the log entry's ``loaded``.
        #
        # The server sets the pace: on the 2-core machine this statement creates about 5,600
        # settlements a second, where Neo4j alone creates 3,000-8,500 nodes of 18 properties a
        # second, 2,000-4,750 with 8 links each (bench/neo4j_write_ceiling.py).
        self._net_checked = float("-inf")
        prefix = self._key(table)
        links = self._links(table)
        records = [{"k": prefix + r[table.key], "p": r, "l": [[] for _ in links]} for r in _bolt_rows(rows)]
        for at, (_, column, is_list, resolve) in enumerate(links):
            for record in records:
                value = record["p"][column]
                if value is not None:
                    kind = KEY_KIND_OF_LABEL[resolve(record["p"])]
                    record["l"][at] = [f"{kind}:{v}" for v in (value if is_list else (value,))]
        typed = "".join(f", n.`{c}` = {function}(r.p.`{c}`)" for c, function in _temporal_columns(rows.schema))
        linked = "".join(f" WITH n, r CALL (n, r) {{ UNWIND r.l[{at}] AS k MATCH (t:Node {{_key: k}}) "
                         f"CREATE (n)-[:{rel_type}]->(t) }}" for at, (rel_type, *_) in enumerate(links))
        create = f"UNWIND $rows AS r CREATE (n:Node:{table.label}:{_PENDING}) SET n = r.p, n._key = r.k{typed}{linked}"
        fill = f"UNWIND $rows AS r MATCH (n:Node {{_key: r.k}}) SET n:{table.label}:{_PENDING} SET n += r.p{typed}{linked}"
        base = None if log is None else log.loaded - len(records)

        def work(tx: Any, batch: list[dict[str, Any]], entry: IngestFileRecord | None) -> None:
            found = {rec["k"] for rec in tx.run("UNWIND $keys AS k MATCH (n:Node {_key: k}) RETURN k",
                                                keys=[r["k"] for r in batch])}
            # No table links to its own kind (``graphsvc.model.RELATIONSHIPS``), so no target is
            # a row of this batch: MERGEd first, every link finds its target.
            targets: dict[str, set[str]] = {}
            for at, (_, _, _, resolve) in enumerate(links):
                for r in batch:
                    if r["l"][at]:
                        targets.setdefault(resolve(r["p"]), set()).update(r["l"][at])
            for label, keys in targets.items():
                prop = ENTITY_TABLES[_TABLE_OF_LABEL[label]].key if label in _TABLE_OF_LABEL else "value"
                tx.run(f"UNWIND $rows AS r MERGE (t:Node {{_key: r[0]}}) ON CREATE SET t:{label}, t.`{prop}` = r[1]",
                       rows=[(k, k.partition(":")[2]) for k in sorted(keys)]).consume()
            new = [r for r in batch if r["k"] not in found]
            if new:
                tx.run(create, rows=new).consume()
            if found:
                tx.run(fill, rows=[r for r in batch if r["k"] in found]).consume()
            if entry is not None:
                tx.run(_LOG_ADD, seq=time.time_ns(), base=base, added=len(batch), **entry.__dict__).consume()

        def write(start: int) -> None:
            with self._driver.session(database=self._database) as session:
                session.execute_write(work, records[start:start + _INSERT_BATCH], log)

        starts = range(0, len(records), _INSERT_BATCH)
        if len(starts) <= 1 or _WRITERS == 1:
            for start in starts:
                write(start)
        else:
            with ThreadPoolExecutor(_WRITERS) as pool:
                for done in [pool.submit(write, start) for start in starts]:
                    done.result()

    def _links(self, table: EntityTable) -> list[tuple[str, str, bool, Callable[[dict[str, Any]], str]]]:
        """(type, column, whether the column is a list, target label of a row) of each relationship
        ``table``'s rows start."""
        links: list[tuple[str, str, bool, Callable[[dict[str, Any]], str]]] = []
        for rel in RELATIONSHIPS:
            if rel.source != table.name:
                continue
            # which table an agent is in is the row's ``agent_type``
            resolve = _agent_label if rel.target == "Intermediary|Person" else functools.partial(_fixed, rel.target)
            links.append((rel.type, rel.column, table.column(rel.column).kind == "list", resolve))
        return links

    def _relationship_count(self, rel: Relationship) -> int:
        return self._run(f"MATCH (:{ENTITY_TABLES[rel.source].label})-[r:{rel.type}]->() RETURN count(r) AS n")[0]["n"]

    def _identifier_hubs(self, label: str, limit: int) -> list[dict[str, Any]]:
        rows = self._run(
            f"MATCH (i:{label})<--(x) WHERE x:Person OR x:Card OR x:Settlement "
            "WITH i.value AS value, count(DISTINCT x.person_id) AS persons "
            "RETURN value, persons ORDER BY persons DESC, value LIMIT $limit", limit=limit)
        return [{"value": r["value"], "persons": r["persons"]} for r in rows]

    def _identifier_count(self, label: str) -> int:
        return self._run(f"MATCH (i:{label}) RETURN count(i) AS n")[0]["n"]

    def _check(self, thorough: bool) -> None:
        # A real round trip to the server and a read of the store (Neo4j checks its own files;
        # ``thorough`` has nothing more to read here than the count).
        self._run("RETURN 1 AS one")
        self._run("MATCH (r:Record) RETURN count(r) AS n")

    def _analysis_connection(self) -> Connection:
        with self._streams(dict.fromkeys(ENTITY_TABLES)) as tables:
            return self.engine.load(tables)

    def _set_column(self, table: EntityTable, column: str, rows: pa.Table) -> None:
        self._net_checked = float("-inf")
        records = [{"k": self._key(table) + k, "v": v}
                   for k, v in zip(rows.column(table.key).to_pylist(), rows.column("value").to_pylist())]
        self._write_batches(f"UNWIND $rows AS r MATCH (n:Node {{_key: r.k}}) SET n.`{column}` = r.v", records)

    def _search(self, text: str, limit: int) -> list[dict[str, Any]]:
        terms: list[dict[str, Any]] = []
        for probe in dict.fromkeys([text.upper(), text]):
            terms += self._run(
                "CALL () { MATCH (n:Person) WHERE n.id_number = $q RETURN 'person' AS type, n.person_id AS id, n.name AS label, "
                "'id_number' AS matched, n.id_number AS term "
                "UNION ALL MATCH (n:Intermediary) WHERE n.id_number = $q RETURN 'intermediary' AS type, "
                "n.intermediary_id AS id, n.name AS label, 'id_number' AS matched, n.id_number AS term "
                "UNION ALL MATCH (n:Person) WHERE n.name STARTS WITH $q RETURN 'person' AS type, n.person_id AS id, "
                "n.name AS label, 'name' AS matched, n.name AS term "
                "UNION ALL MATCH (n:Intermediary) WHERE n.name STARTS WITH $q RETURN 'intermediary' AS type, "
                "n.intermediary_id AS id, n.name AS label, 'name' AS matched, n.name AS term "
                "UNION ALL MATCH (n:Institution) WHERE n.name STARTS WITH $q RETURN 'institution' AS type, "
                "n.institution_id AS id, n.name AS label, 'name' AS matched, n.name AS term "
                "UNION ALL MATCH (n:Prescriber) WHERE n.name STARTS WITH $q RETURN 'prescriber' AS type, "
                "n.prescriber_id AS id, n.name AS label, 'name' AS matched, n.name AS term } "
                "RETURN type, id, label, CASE WHEN term = $q THEN matched ELSE 'name_prefix' END AS matched "
                "ORDER BY term <> $q, term, type, id LIMIT $limit", q=probe, limit=limit)
        return terms + [{"type": "institution", "id": r["id"], "label": r["label"], "matched": "name_part"}
                        for r in self._run(
            "MATCH (n:Institution) WHERE n.name CONTAINS $q AND NOT n.name STARTS WITH $q "
            "RETURN n.institution_id AS id, n.name AS label ORDER BY id LIMIT $limit", q=text, limit=limit)]

    def _neighbours(self, keys: list[str], limit: int) -> dict[str, tuple[str | None, Neighbourhood]]:
        if not keys:
            return {}
        self._network_ready(now=False)
        if not limit:  # no edges wanted: a hub's are not even sorted
            return {r["k"]: (r["label"], Neighbourhood(r["degree"], [], {}))
                    for r in self._run(_cypher("network_nodes"), keys=keys)}
        found = {}
        for r in self._run(_cypher("network_edges"), keys=keys, limit=limit, rel_order=_REL_ORDER):
            key, edges = r["k"], r["edges"]
            found[key] = (r["label"], Neighbourhood(
                r["degree"],
                [Edge(key, e["type"], e["other"], e["claims"], round(e["fund"], 2), e["first"], e["last"])
                 if e["outgoing"] else
                 Edge(e["other"], e["type"], key, e["claims"], round(e["fund"], 2), e["first"], e["last"]) for e in edges],
                {e["other"]: (e["degree"], e["label"]) for e in edges}))
        return found

    def _prepare_reads(self) -> None:
        self._network_ready(now=True)

    def _network_ready(self, *, now: bool) -> None:
        """Bring the NET relationships up to the data version; while an ingest is under way the
        network built before it keeps answering (updated once it ends, not after every batch)
        unless ``now``. A database without a network (or with one of an older format) gets it
        built whole; later versions update only the edges of what changed (``_update_network``)."""
        checked = time.monotonic()
        if self._net_version is not None and not now and checked - self._net_checked < _VERSION_CHECK_S:
            return
        with self._net_lock:
            version, ingesting = self._data_version()
            stored = self._run("MATCH (m:Meta {id: 'network'}) RETURN m.version AS v")
            if not stored or not stored[0]["v"].startswith(f"{_NET_FORMAT}:"):
                self._rebuild_network(version)
            elif stored[0]["v"] != version and (now or not ingesting):
                self._update_network(version)
            self._net_version, self._net_checked = version, checked

    def _data_version(self) -> tuple[str, bool]:
        """The version of what is committed (the ingest log is written with each batch) and whether
        an ingest is under way."""
        row = self._run(
            "MATCH (l:IngestLog) RETURN count(l) AS runs, coalesce(sum(l.loaded), 0) AS loaded, "
            "coalesce(sum(CASE WHEN l.finished = false AND l.updated_at > datetime() - duration({seconds: $quiet}) "
            "THEN 1 ELSE 0 END), 0) > 0 AS ingesting", quiet=_INGEST_QUIET_S)[0]
        return f"{_NET_FORMAT}:{row['runs']}:{row['loaded']}", row["ingesting"]

    def _rebuild_network(self, version: str) -> None:
        # Pending marks go first: a batch committed from here on keeps its mark for the next update.
        self._run_in_transactions(f"MATCH (n:{_PENDING}) CALL (n) {{ REMOVE n:{_PENDING} }} IN TRANSACTIONS OF 10000 ROWS")
        self._run(_NET_TYPE_INDEX)  # a database made before the network was updated in place
        with self._streams({name: _network_columns(name) for name in ENTITY_TABLES}) as tables:
            edges = self._network_edge_rows(tables, None)
        try:
            first = list(itertools.islice(edges, _BATCH))  # computed before the old edges go
            self._run_in_transactions("MATCH ()-[r:NET]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS")
            self._write_batches(_NET_CREATE, itertools.chain(first, edges))
        finally:
            edges.close()
        self._network_is(version)

    def _network_is(self, version: str) -> None:
        """Record that the NET relationships are those of data version ``version``."""
        self._run("MERGE (m:Meta {id: 'network'}) SET m.version = $version", version=version)

    def _update_network(self, version: str) -> None:
        """Replace the NET edges of the nodes a batch can have changed, and only those.

        A network edge starts at a row's node (``NETWORK_EDGES_SQL``: registered edges at the row
        itself, claim edges at the claim's person), so the edges that can differ are those
        starting at: each new row's node (a settlement's: its person's); the persons of earlier
        claims made with a new card (``USED_CARD`` joins cards); and persons whose ``person_key``
        no longer matches their ``SAME_PERSON`` edge (a new record of a person re-keys older ones).
        Their edges are computed by the same SQL over just the rows they read."""
        pending = self._run(f"MATCH (n:{_PENDING}) RETURN n._key AS k, "
                            "CASE WHEN n:Settlement THEN n.person_id END AS person, "
                            "CASE WHEN n:Card THEN n.card_id END AS card")
        affected = {r["k"] for r in pending if r["person"] is None} | {"person:" + r["person"] for r in pending
                                                                        if r["person"] is not None}
        cards = [r["card"] for r in pending if r["card"] is not None]
        for start in range(0, len(cards), _BATCH):
            affected.update("person:" + r["p"] for r in self._run(
                "UNWIND $cards AS c MATCH (s:Settlement {card_id: c}) RETURN DISTINCT s.person_id AS p",
                cards=cards[start:start + _BATCH]))
        wanted = {("person:" + r["p"], "person:" + r["k"]) for r in self._run(
            "MATCH (p:Person) WHERE p.person_key <> p.person_id RETURN p.person_id AS p, p.person_key AS k")}
        built = {(r["a"], r["b"]) for r in self._run(
            "MATCH (a)-[r:NET {type: 'SAME_PERSON'}]->(b) RETURN a._key AS a, b._key AS b")}
        affected.update(a for a, _ in wanted ^ built)
        by_type: dict[str, list[str]] = {}
        for key in affected:
            kind, _, node_id = key.partition(":")
            by_type.setdefault(kind, []).append(node_id)
        persons = by_type.get("person", [])
        tables = {name: self._network_rows(name, ENTITY_TABLES[name].key, by_type.get(kind, []))
                  for name, kind in _TYPE_OF_TABLE.items() if name not in ("settlements", "cards")}
        tables["settlements"] = self._network_rows("settlements", "person_id", persons)
        used = set(tables["settlements"].column("card_id").drop_null().to_pylist())
        tables["cards"] = self._network_rows("cards", "card_id", sorted(used | set(by_type.get("card", []))))
        edges = self._network_edge_rows(tables, sorted(affected))
        starts = sorted(affected)
        from_a: dict[str, list[dict[str, Any]]] = {}
        for e in edges:
            from_a.setdefault(e["a"], []).append(e)

        def swap(tx: Any, keys: list[str]) -> None:
            tx.run("UNWIND $keys AS k MATCH (:Node {_key: k})-[r:NET]->() DELETE r", keys=keys).consume()
            tx.run(_NET_CREATE, rows=[e for k in keys for e in from_a.get(k, [])]).consume()

        with self._driver.session(database=self._database) as session:
            # a node's old edges go and its new ones come in one transaction: readers never see it bare
            for start in range(0, len(starts), _BATCH):
                session.execute_write(swap, starts[start:start + _BATCH])
        self._network_is(version)
        keys = [r["k"] for r in pending]
        for start in range(0, len(keys), _BATCH):
            self._run(f"UNWIND $keys AS k MATCH (n:Node {{_key: k}}) REMOVE n:{_PENDING}", keys=keys[start:start + _BATCH])

    def _network_rows(self, name: str, column: str, values: list[str]) -> pa.Table:
        """The columns ``NETWORK_EDGES_SQL`` reads of table ``name``'s rows whose ``column`` is one
        of ``values`` (through its index)."""
        spec = ENTITY_TABLES[name]
        schema = arrow_schema(name, _network_columns(name))
        returned = _returned(name, schema)
        # A row by its table's key is found through the unique ``_key`` (the key column has no
        # index of its own: matching on it scans the label once per value, 17 s for the 5,000
        # persons of a 5,000-person city, growing with the square); other columns (a
        # settlement's person) have their index.
        match, prefix = (("(n:Node {_key: $prefix + v})", self._key(spec)) if column == spec.key
                         else (f"(n:{spec.label} {{`{column}`: v}})", ""))
        rows = []
        for start in range(0, len(values), _BATCH):
            rows += self._run(f"UNWIND $values AS v MATCH {match} WHERE n.{ROW_HASH} IS NOT NULL RETURN {returned}",
                              values=values[start:start + _BATCH], prefix=prefix)
        return pa.Table.from_batches([_converted(name, ([r[f.name] for r in rows] for f in schema), schema)])

    def _network_edge_rows(self, tables: Mapping[str, pa.Table | pa.RecordBatchReader],
                           starts: list[str] | None) -> Generator[dict[str, Any], None, None]:
        """The network edges over ``tables`` (those starting at ``starts`` when given), as NET rows.
        The tables are read now; the edges are fetched a batch at a time (a city's are millions)."""
        con = self.engine.load(tables)
        try:
            query = (f"SELECT a, rel, b, n, fund, first_day::VARCHAR AS first, last_day::VARCHAR AS last "
                     f"FROM ({NETWORK_EDGES_SQL})")
            if starts is not None:
                con.register("_starts", pa.table({"k": pa.array(starts, pa.string())}))
                query += " WHERE a IN (SELECT k FROM _starts)"
            con.execute(query)
        except BaseException:
            con.close()
            raise

        def fetched() -> Generator[dict[str, Any], None, None]:
            try:
                while edges := con.fetchmany(_BATCH):
                    yield from ({"a": a, "rel": rel, "b": b, "n": n, "fund": float(fund), "first": first, "last": last}
                                for a, rel, b, n, fund, first, last in edges)
            finally:
                con.close()
        return fetched()

    def _backup(self, folder: Path) -> list[str]:
        # The graph comes back by ingesting its folders again (the manifest names them); what
        # investigators made cannot: records (keys, casework, audit, jobs), the rings with their
        # ids and claims, and the detection runs (the next ring number). Read in one transaction.
        def read(tx: Any) -> dict[str, Any]:
            return {
                "records": [r["r"] for r in tx.run("MATCH (r:Record) RETURN properties(r) AS r ORDER BY r.id")],
                "rings": [{"ring": r["ring"], "claims": r["claims"]} for r in tx.run(
                    "MATCH (g:Ring) "
                    "CALL (g) { OPTIONAL MATCH (g)-[:INVOLVES]->(s) RETURN collect(s._key) AS claims } "
                    "RETURN properties(g) AS ring, claims ORDER BY g.rank")],
                "detection_runs": [r["d"] for r in tx.run(
                    "MATCH (d:DetectionRun) RETURN properties(d) AS d ORDER BY d.started_at")],
            }

        with self._driver.session(database=self._database) as session:
            casework = session.execute_read(read)
        if any("id" not in r["ring"] for r in casework["rings"]):  # deleted as the read went by them
            raise StoreError("the rings changed while the backup read them (a detection run was publishing its "
                             "rings): take the backup again when it has ended",
                             zh="备份读取期间团伙发生了变化（一次检测正在发布结果）：请在检测结束后重新备份")
        name = "casework.json"
        (folder / name).write_text(json.dumps(casework, ensure_ascii=False), encoding="utf-8")
        return [name]

    def restore_casework(self, path: Path) -> None:
        """Replace the records, rings and detection runs with those of a backup's ``casework.json``.

        Rings link to their claims by node key, so the graph is ingested first. (The ring members a
        backup of schema version 1 lists are left out: they are in each ring's document.)
        """
        casework = json.loads(path.read_text(encoding="utf-8"))
        self._run_in_transactions("MATCH (n) WHERE n:Record OR n:Ring OR n:DetectionRun "
                                  "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
        self._write_batches("UNWIND $rows AS x CREATE (r:Record) SET r = x", casework["records"])
        self._write_batches("UNWIND $rows AS x CREATE (d:DetectionRun) SET d = x", casework["detection_runs"])
        for ring in casework["rings"]:
            self._run("CREATE (g:Ring) SET g = $ring WITH g "
                      "CALL (g) { UNWIND $claims AS c MATCH (s:Node {_key: c}) CREATE (g)-[:INVOLVES]->(s) }",
                      ring=ring["ring"], claims=ring["claims"])

    def clear(self) -> None:
        """Delete every node and relationship (tests; Community edition has one user database)."""
        self._run_in_transactions("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
        self._net_version = None

    def close(self) -> None:
        self._driver.close()
