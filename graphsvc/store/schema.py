"""What a store holds, defined once for every backend: tables, column types, the schema version.

Each table is a list of columns with a neutral type: the model's column kinds (``id``,
``amount``, ``list``...) and a few for bookkeeping (``integer``, ``timestamp``, ``document``...).
``DUCKDB_TYPES`` maps them to the compute engine's types, in this one place: the embedded store
creates its tables from them, the Neo4j store its detection tables and its Arrow columns, and
detection's test tables (``graphsvc.detect.finding.in_memory_claims``) theirs.

A home records the version of its layout (``SCHEMA_VERSION``); a backend opening an older home
runs its migrations in order (``upgrade``), and refuses a newer one. A home written before
versions existed is version 1.

``NETWORK_EDGES_SQL`` is the investigative network (``graphsvc.network``) as SQL over the
model's tables: the embedded store's neighbour index and the Neo4j store's ``NET``
relationships are both built from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from graphsvc.errors import SchemaError
from graphsvc.model import ENTITY_TABLES, EntityTable

__all__ = ["ROW_HASH", "RING_CLAIM_COLUMNS", "DUCKDB_TYPES", "Field", "StoreTable", "STORE_TABLES", "TABLES",
           "fields", "arrow_schema", "create_sql", "SCHEMA_VERSION", "upgrade", "NETWORK_EDGES_SQL"]

ROW_HASH = "_row_hash"
"""A 64-bit hash of a row's normalised content: same key + same hash means the row is already loaded."""

RING_CLAIM_COLUMNS: tuple[str, ...] = (
    "settlement_id", "kind", "person_id", "card_id", "institution_id", "prescriber_id", "agent_id", "contact_phone",
    "device_id", "start_time", "end_time", "total_amount", "fund_amount")
"""The settlement columns kept with a ring: its timeline and the police export's claim list."""

DUCKDB_TYPES: dict[str, str] = {
    # the model's column kinds (graphsvc.model.Column)
    "id": "VARCHAR", "text": "VARCHAR", "address": "VARCHAR", "phone": "VARCHAR", "id_number": "VARCHAR",
    "account": "VARCHAR", "enum": "VARCHAR", "date": "DATE", "datetime": "TIMESTAMP", "amount": "DECIMAL(14,2)",
    "list": "VARCHAR[]",
    # derived and bookkeeping columns
    "boolean": "BOOLEAN", "integer": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE", "hash": "UBIGINT",
    "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ", "document": "VARCHAR",
}
"""Neutral column type -> DuckDB type."""

_ARROW_TYPES: dict[str, pa.DataType] = {
    "date": pa.date32(), "datetime": pa.timestamp("us"), "amount": pa.decimal128(14, 2), "list": pa.list_(pa.string()),
    "boolean": pa.bool_(), "integer": pa.int32(), "bigint": pa.int64(), "double": pa.float64(), "hash": pa.uint64(),
    "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"),
}
"""Neutral column type -> Arrow type, for a backend that builds Arrow columns itself; the rest are strings."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    """A key of ``DUCKDB_TYPES``."""
    default: str | None = None
    """SQL for the value a row written without it gets."""
    not_null: bool = False


@dataclass(frozen=True)
class StoreTable:
    """A table of what the store keeps besides the model's rows: rings, casework, logs."""

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...] = ()
    """The primary key: a row written with the key of a stored one replaces it."""

    @property
    def column_names(self) -> list[str]:
        return [f.name for f in self.fields]


def _claim_fields() -> tuple[Field, ...]:
    settlements = ENTITY_TABLES["settlements"]
    return tuple(Field(c, settlements.column(c).kind) for c in RING_CLAIM_COLUMNS)


STORE_TABLES: dict[str, StoreTable] = {t.name: t for t in (
    StoreTable("ingest_log", (
        Field("run_id", "id"), Field("folder", "text"), Field("file", "text"), Field("table_name", "id"),
        Field("rows_read", "bigint"), Field("loaded", "bigint"), Field("unchanged", "bigint"),
        Field("rejected", "bigint"), Field("rejects_path", "text"),
        Field("logged_at", "timestamp", default="current_timestamp"),
        Field("finished", "boolean", default="true"),
        Field("updated_at", "timestamptz")), key=("run_id", "file")),
    # Rings are documents, served whole; ``persons`` is what the next run's ids are matched on.
    StoreTable("rings", (
        Field("id", "id"), Field("rank", "integer"), Field("pattern", "enum"), Field("score", "double"),
        Field("persons", "list"), Field("document", "document"), Field("run_id", "id")), key=("id",)),
    StoreTable("detection_runs", (
        Field("run_id", "id"), Field("started_at", "text"), Field("seconds", "double"), Field("rings", "integer"),
        Field("kept_ids", "integer"), Field("new_ids", "integer"), Field("retired_ids", "list"),
        Field("summary", "document"), Field("next_ring_number", "integer"))),
    StoreTable("ring_claims", (Field("ring_id", "id"), *_claim_fields())),
    StoreTable("records", (
        Field("kind", "id"), Field("key", "text"), Field("document", "document"),
        Field("updated_at", "timestamp", default="current_timestamp")), key=("kind", "key")),
)}
"""What the store keeps besides the model's rows (the Neo4j store keeps ``ingest_log``, ``rings``,
``detection_runs`` and ``records`` as nodes with these properties, and ring claims as links)."""


def fields(table: EntityTable, *, row_hash: bool = True) -> tuple[Field, ...]:
    """An entity table's stored columns: the model's, the derived ones, then ``_row_hash``."""
    stored = tuple(Field(c.name, c.kind) for c in table.columns)
    stored += tuple(Field(name, kind) for name, kind in table.derived)
    return stored + ((Field(ROW_HASH, "hash", not_null=True),) if row_hash else ())


TABLES: dict[str, tuple[Field, ...]] = {
    **{t.name: fields(t) for t in ENTITY_TABLES.values()},
    **{t.name: t.fields for t in STORE_TABLES.values()},
}
"""Every table a store keeps, by name: its columns."""


def arrow_schema(table: str, columns: Sequence[str] | None = None) -> pa.Schema:
    """The Arrow schema of ``columns`` (all when None) of a stored table.

    >>> arrow_schema("rings", ["id", "score", "persons"]).types
    [DataType(string), DataType(double), ListType(list<item: string>)]
    """
    by_name = {f.name: f for f in TABLES[table]}
    chosen = [by_name[c] for c in columns] if columns is not None else list(by_name.values())
    return pa.schema([(f.name, _ARROW_TYPES.get(f.type, pa.string())) for f in chosen])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_sql(table: str | EntityTable, *, row_hash: bool = True, exists_ok: bool = False) -> str:
    """DuckDB's ``CREATE TABLE`` for a stored table (by name) or an entity table; ``row_hash=False``
    leaves an entity table's ``_row_hash`` out (tables filled by hand, not by ingest); ``exists_ok``
    leaves a table that exists as it is.

    >>> create_sql("records")  # doctest: +NORMALIZE_WHITESPACE
    'CREATE TABLE records ("kind" VARCHAR, "key" VARCHAR, "document" VARCHAR,
     "updated_at" TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY ("kind", "key"))'
    >>> create_sql(ENTITY_TABLES["prescribers"], row_hash=False)
    'CREATE TABLE prescribers ("prescriber_id" VARCHAR, "name" VARCHAR, "institution_id" VARCHAR, "phone" VARCHAR)'
    """
    key: tuple[str, ...]
    if isinstance(table, EntityTable):
        name, columns, key = table.name, fields(table, row_hash=row_hash), ()
    else:
        name, columns, key = table, TABLES[table], STORE_TABLES[table].key if table in STORE_TABLES else ()
    parts = [f"{_quoted(f.name)} {DUCKDB_TYPES[f.type]}" + (f" DEFAULT {f.default}" if f.default else "")
             + (" NOT NULL" if f.not_null else "") for f in columns]
    if key:
        parts.append(f"PRIMARY KEY ({', '.join(map(_quoted, key))})")
    return f"CREATE TABLE {'IF NOT EXISTS ' if exists_ok else ''}{name} ({', '.join(parts)})"


# ---- versions ------------------------------------------------------------------------------

SCHEMA_VERSION = 3
"""The layout this code writes. 1: the layout before versions were recorded. 2: the unread ring
member index (``ring_members`` / ``HAS_MEMBER``) is gone; the version is recorded. 3: the ingest
log is keyed by (``run_id``, ``file``), so it is written like the store's other keyed tables."""


def upgrade(found: int, migrations: Sequence[Callable[[], None]], record: Callable[[int], None], where: str) -> int:
    """Bring a home of version ``found`` to ``SCHEMA_VERSION``; returns the version it had.

    ``migrations[i]`` takes a home from version ``i + 1`` to ``i + 2``; ``record`` stores the
    version reached after each, so a migration that fails leaves the home at the last one done.

    >>> done = []
    >>> upgrade(1, [lambda: done.append("1->2"), lambda: done.append("2->3")], done.append, "home")
    1
    >>> done
    ['1->2', 2, '2->3', 3]
    >>> upgrade(4, [lambda: None, lambda: None], done.append, "/srv/home")
    Traceback (most recent call last):
    ...
    graphsvc.errors.SchemaError: /srv/home was written by a newer graphsvc (schema version 4; this one reads up to 3): upgrade graphsvc to open it
    """
    if len(migrations) != SCHEMA_VERSION - 1:
        raise AssertionError(f"{len(migrations)} migrations for schema version {SCHEMA_VERSION}")
    if found > SCHEMA_VERSION:
        raise SchemaError(f"{where} was written by a newer graphsvc (schema version {found}; this one reads up to "
                          f"{SCHEMA_VERSION}): upgrade graphsvc to open it",
                          zh=f"{where} 由更新版本的 graphsvc 写成（结构版本 {found}，本版本最高可读 {SCHEMA_VERSION}）："
                             "请升级 graphsvc 后再打开")
    for version in range(found, SCHEMA_VERSION):
        migrations[version - 1]()
        record(version + 1)
    return found


# ---- the network ---------------------------------------------------------------------------

_LINK = "SELECT {a} AS a, '{rel}' AS rel, {b} AS b, 0 AS n, 0.0 AS fund, NULL::DATE AS first_day, NULL::DATE AS last_day " \
        "FROM {table} WHERE {where}"
_REGISTERED = [
    ("'person:' || person_id", "HAS_PHONE", "'phone:' || phone", "persons", "phone IS NOT NULL"),
    ("'person:' || person_id", "LIVES_AT", "'address:' || address", "persons", "address IS NOT NULL"),
    # Two records (参保人编号) of one person (one valid ID number, ``person_key``) are one hop apart.
    ("'person:' || person_id", "SAME_PERSON", "'person:' || person_key", "persons",
     "person_key IS NOT NULL AND person_key <> person_id"),
    ("'card:' || card_id", "HELD_BY", "'person:' || person_id", "cards", "person_id IS NOT NULL"),
    ("'card:' || card_id", "BOUND_TO_PHONE", "'phone:' || bound_phone", "cards", "bound_phone IS NOT NULL"),
    ("'card:' || card_id", "ON_DEVICE", "'device:' || device_id", "cards", "device_id IS NOT NULL"),
    ("'institution:' || institution_id", "HAS_PHONE", "'phone:' || phone", "institutions", "phone IS NOT NULL"),
    ("'institution:' || institution_id", "LOCATED_AT", "'address:' || address", "institutions", "address IS NOT NULL"),
    ("'prescriber:' || prescriber_id", "WORKS_AT", "'institution:' || institution_id", "prescribers",
     "institution_id IS NOT NULL"),
    ("'prescriber:' || prescriber_id", "HAS_PHONE", "'phone:' || phone", "prescribers", "phone IS NOT NULL"),
    ("'intermediary:' || intermediary_id", "HAS_PHONE", "'phone:' || phone", "intermediaries", "phone IS NOT NULL"),
    ("'intermediary:' || intermediary_id", "LIVES_AT", "'address:' || address", "intermediaries",
     "address IS NOT NULL"),
]
# Grouped on the raw ids, the node type put in front after: a prefix concatenated before grouping
# made every claim (89M at 10M persons) a new string and a longer hash key (claim edges 51.6 -> 37.7 s there).
_CLAIMS = """
    SELECT 'person:' || person_id AS a, rel,
           (CASE rel WHEN 'SETTLED_AT' THEN 'institution:' WHEN 'USED_CARD' THEN 'card:'
                     WHEN 'PRESCRIBED_BY' THEN 'prescriber:' WHEN 'CONTACT_PHONE' THEN 'phone:'
                     WHEN 'HANDLED_BY' THEN (CASE WHEN by_person THEN 'person:' ELSE 'intermediary:' END)
                     WHEN 'PAID_TO' THEN 'account:' WHEN 'SCANNED_ON' THEN 'device:' END) || id AS b,
           count(*) AS n, coalesce(sum(fund_amount), 0)::DOUBLE AS fund,
           min(start_time)::DATE AS first_day, max(start_time)::DATE AS last_day
    FROM (
        SELECT person_id, 'SETTLED_AT' AS rel, institution_id AS id, NULL::BOOLEAN AS by_person, fund_amount, start_time
        FROM settlements
        UNION ALL SELECT s.person_id, 'USED_CARD', s.card_id, NULL, s.fund_amount, s.start_time
        FROM settlements s JOIN cards c ON c.card_id = s.card_id WHERE c.person_id <> s.person_id
        UNION ALL SELECT person_id, 'PRESCRIBED_BY', prescriber_id, NULL, fund_amount, start_time
        FROM settlements WHERE prescriber_id IS NOT NULL
        UNION ALL SELECT person_id, 'CONTACT_PHONE', contact_phone, NULL, fund_amount, start_time
        FROM settlements WHERE contact_phone IS NOT NULL
        UNION ALL SELECT person_id, 'HANDLED_BY', agent_id, coalesce(agent_type = 'person', false), fund_amount,
               start_time
        FROM settlements WHERE agent_id IS NOT NULL
        UNION ALL SELECT person_id, 'PAID_TO', payee_account, NULL, fund_amount, start_time
        FROM settlements WHERE payee_account IS NOT NULL
        UNION ALL SELECT person_id, 'SCANNED_ON', device_id, NULL, fund_amount, start_time
        FROM settlements WHERE device_id IS NOT NULL
    ) GROUP BY person_id, rel, id, by_person
"""
NETWORK_EDGES_SQL = " UNION ALL ".join(
    [_LINK.format(a=a, rel=rel, b=b, table=t, where=w) for a, rel, b, t, w in _REGISTERED] + [_CLAIMS])
"""Every network edge (a, rel, b, n, fund, first_day, last_day) from the model's tables."""
