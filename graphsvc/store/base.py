"""The storage interface every backend implements.

Shared logic (idempotent loading, conflict detection, reference lookups, stats, the ring
store, casework records, the ingest log, claim summaries, the ledger, network reads) is written
once here and marked ``@final``; a backend fills in the abstract methods, which only move data in
and out of its engine: reads, aggregates and writes of the stored tables of
``graphsvc.store.schema`` by name (``_select``, ``_summarise``, ``_write_tables``), a node's neighbours
(``_neighbours``), loading, and the few questions its engine answers its own way. SQL over the
model's tables runs on the compute engine (``graphsvc.store.engine``). Detection and queries talk
to ``GraphStore`` alone, so a new backend changes neither.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, final

import pyarrow as pa
import pyarrow.compute as pc

from graphsvc.errors import StoreError
from graphsvc.model import ENTITY_TABLES, IDENTIFIER_LABELS, RELATIONSHIPS, EntityTable, Relationship
from graphsvc.network import ENTITY_TYPES, Neighbourhood, node_key, split_key
from graphsvc.phones import phone_key
from graphsvc.store.engine import DUCKDB, ComputeEngine, Connection
from graphsvc.store.schema import RING_CLAIM_COLUMNS, ROW_HASH, arrow_schema

__all__ = ["GraphStore", "LoadResult", "IngestFileRecord", "DetectionRun", "StoreBusy", "ROW_HASH", "LINE",
           "match_ring_ids", "CLAIM_COLUMN_OF", "CLAIM_EDGE_COLUMNS", "RING_CLAIM_COLUMNS", "SHOWN_DERIVED"]

LINE = "_line"
"""Where the row came from in its file; travels with a batch for error reports, never stored."""


class StoreBusy(StoreError):
    """Another process holds the store (the embedded store has one writer: a running server)."""


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
    finished: bool = True
    """False from the file's first stored batch until its run ends. An unfinished entry is an
    ingest under way, or one that was killed: its rows are stored, but the person keys over them
    are settled only when a later run ends."""


@dataclass(frozen=True)
class DetectionRun:
    run_id: str
    started_at: str
    seconds: float
    rings: int
    kept_ids: int
    """Rings that kept the id of a ring of the previous run."""
    new_ids: int
    retired_ids: list[str]
    """Ids of the previous run's rings that no ring of this run matched."""
    summary: dict[str, Any]


def _counted(log: IngestFileRecord | None, loaded: int, unchanged: int) -> IngestFileRecord | None:
    if log is None:
        return None
    return replace(log, loaded=log.loaded + loaded, unchanged=log.unchanged + unchanged, finished=False)


def match_ring_ids(new: list[list[str]], previous: dict[str, list[str]], *, min_jaccard: float,
                   next_number: int) -> tuple[list[str], int]:
    """Ids for ``new`` rings (their persons): an earlier ring's id where persons overlap enough.

    Pairs are matched greedily, most similar first, each id at most once; the rest get fresh
    ids from ``next_number`` on. Returns the ids and the next unused number.

    >>> match_ring_ids([["P1", "P2", "P3"], ["P7", "P8"]], {"R-000004": ["P1", "P2"]}, min_jaccard=0.5, next_number=5)
    (['R-000004', 'R-000005'], 6)
    """
    owners: dict[str, list[str]] = {}
    for ring_id, persons in previous.items():
        for p in persons:
            owners.setdefault(p, []).append(ring_id)
    candidates = []
    for i, persons in enumerate(new):
        mine = set(persons)
        for ring_id in {r for p in mine for r in owners.get(p, ())}:
            theirs = set(previous[ring_id])
            jaccard = len(mine & theirs) / len(mine | theirs)
            if jaccard >= min_jaccard:
                candidates.append((-jaccard, i, ring_id))
    ids: list[str | None] = [None] * len(new)
    taken: set[str] = set()
    for _, i, ring_id in sorted(candidates):
        if ids[i] is None and ring_id not in taken:
            ids[i] = ring_id
            taken.add(ring_id)
    for i in range(len(new)):
        if ids[i] is None:
            ids[i] = f"R-{next_number:06d}"
            next_number += 1
    return [i for i in ids if i is not None], next_number


_SEARCHED_TYPES = ("person", "card", "institution", "prescriber", "intermediary", "device", "account", "address")
"""Node types whose id a search looks up exactly."""

CLAIM_COLUMN_OF: dict[str, str] = {
    "person": "person_id", "card": "card_id", "institution": "institution_id", "prescriber": "prescriber_id",
    "intermediary": "agent_id", "phone": "contact_phone", "device": "device_id", "account": "payee_account",
}
"""The settlements column naming a node of each type: what "its claims" means for that type."""

CLAIM_EDGE_COLUMNS: tuple[str, ...] = (*RING_CLAIM_COLUMNS, "agent_type", "payee_account")
"""A settlement's columns as ``claims_of`` reads them: every node a claim edge of the network joins."""

_LEDGER_SQL = """
    SELECT strftime(c.start_time, '%Y-%m') AS month, coalesce(i.region_code, 'unknown') AS region,
           count(DISTINCT c.institution_id) AS institutions, count(DISTINCT c.person_id) AS persons,
           count(*) AS claims, round(coalesce(sum(c.fund_amount), 0)::DOUBLE, 2) AS fund_amount
    FROM (SELECT DISTINCT ON (settlement_id) * FROM claims) c
    LEFT JOIN institutions i ON i.institution_id = c.institution_id
    GROUP BY ALL ORDER BY month, region"""

SHOWN_DERIVED: tuple[str, ...] = ("address_key", "person_key")
"""Derived columns an entity's profile shows beside the model's (the raw address beside its key)."""


class GraphStore(ABC):
    """A property graph of the model in ``graphsvc.model``, persisted by a backend."""

    backend_name: str = "abstract"
    home: Path
    """The backend's folder on this machine: the embedded database, or rejects and uploads beside a Neo4j server."""
    engine: ComputeEngine = DUCKDB
    """Where SQL over the model's tables runs (person keys here; detection on ``analysis_connection``)."""

    # ---- what a backend fills in -------------------------------------------------------
    # Reads and writes of stored tables by name (``graphsvc.store.schema.TABLES``): the model's
    # entity tables and the store's own (rings, detection runs, records).

    @abstractmethod
    def _select(self, table: str, *, where: Mapping[str, Sequence[Any] | pa.Array] | None = None,
                columns: Sequence[str] | None = None, order_by: Sequence[tuple[str, bool]] = (), offset: int = 0,
                limit: int | None = None) -> pa.Table:
        """Rows of a stored table as Arrow, typed as the schema says: those whose ``where`` columns
        each hold one of the given values, sorted by ``order_by`` ((column, descending) pairs),
        from ``offset``, at most ``limit``; ``columns`` (all when None) in the order given.

        An entity table's rows are those loaded (not nodes only referred to so far)."""

    @abstractmethod
    def _summarise(self, table: str, measures: Mapping[str, tuple[str, str | None]], *, by: Sequence[str] = (),
                   where: Mapping[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
        """Aggregates of a stored table's rows (those whose ``where`` columns each hold one of the
        given values), one dict per value of the ``by`` columns (one in all when ``by`` is empty,
        also over no rows): the ``by`` columns, then each measure ``name: (function, column)``,
        ``function`` one of ``count`` (rows; ``column`` None), ``sum``, ``min``, ``max``. Sums over no
        values are 0; values as the engine gives them (a sum of amounts a ``Decimal`` or a float).

        Computed where the rows are: a claim summary of a big institution is one answer, not a
        million rows sent."""

    @abstractmethod
    def _write_tables(self, writes: Mapping[str, pa.Table], *, emptied: Collection[str] = ()) -> None:
        """Write store tables in one transaction: every stored row of the ``emptied`` tables is
        deleted, then each table's ``rows`` (all its columns) are inserted in the order given, a row
        of a keyed table replacing the stored row with its key.

        A backend writing the ingest log inside ``_insert`` writes the same entry as here, so
        that a later write of its key replaces it."""

    @abstractmethod
    def _insert(self, table: EntityTable, rows: pa.Table, log: IngestFileRecord | None) -> None:
        """Persist rows whose keys are not stored yet (``_line`` already removed).

        ``log`` (the ingest log entry of the file, these rows counted in ``loaded``) is written in
        the same transaction as the rows; a backend that commits ``rows`` in several transactions
        writes it with each, counting only the rows committed so far. So the ingest log, and the
        data version read from it, always matches what is stored, even after a kill.
        """

    @abstractmethod
    def _set_column(self, table: EntityTable, column: str, rows: pa.Table) -> None:
        """Set a derived ``column`` of stored rows: ``rows`` has (key column, ``value``)."""

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
    def _analysis_connection(self) -> Connection:
        """A session of the compute engine where each entity table can be read by its name
        (detection's input)."""

    @abstractmethod
    def _search(self, text: str, limit: int) -> list[dict[str, Any]]:
        """Persons, intermediaries, institutions and prescribers whose name or ID number is ``text``
        (``matched``: the field), then those whose name starts with it (``name_prefix``), then
        institutions whose name contains it (``name_part``): ``{"type", "id", "label", "matched"}``."""

    @abstractmethod
    def _neighbours(self, keys: list[str], limit: int) -> dict[str, tuple[str | None, Neighbourhood]]:
        """Each known node among ``keys`` (``"type:id"``; unknown keys, and nodes without network
        edges, are left out): its label (a person's name...) and its degree in the network, up to
        ``limit`` of its edges (most claims first, then by the other end's key) and the degree and
        label of the nodes at their other end. One round trip for all ``keys``."""

    @abstractmethod
    def _backup(self, folder: Path) -> list[str]:
        """Write a consistent copy of what the backend holds that a re-ingest cannot bring back into
        the empty ``folder``; returns the names of the files written."""

    @abstractmethod
    def _prepare_reads(self) -> None:
        """Build what the backend answers network questions from, if the data changed since, even
        while an ingest is under way."""

    @abstractmethod
    def _check(self, thorough: bool) -> None:
        """Raise if the engine cannot answer a real read of the main tables; ``thorough`` reads
        every stored value (slow), otherwise a little of each table (milliseconds)."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine; the data stays persisted."""

    # ---- built on the above ------------------------------------------------------------

    def _count(self, table: str, by: str | None = None) -> dict[Any, int]:
        """Rows of a stored table per value of column ``by`` (``{None: rows}`` when ``by`` is None);
        values without rows are left out."""
        if by is None:
            return {None: self._summarise(table, {"rows": ("count", None)})[0]["rows"]}
        return {row[by]: row["rows"] for row in self._summarise(table, {"rows": ("count", None)}, by=[by])}

    def _write(self, table: str, rows: pa.Table) -> None:
        """Insert ``rows`` (all columns of a keyed store table) in one transaction, each replacing
        the stored row with its key."""
        self._write_tables({table: rows})

    def _write_ingest_log(self, records: list[IngestFileRecord]) -> None:
        """Write ``records`` over their (run, file) entries, each keeping the time its entry was first
        written (the log's order) and stamped with now (how an ingest under way is told from a
        killed one)."""
        stored = self._select("ingest_log", where={"run_id": [r.run_id for r in records]},
                              columns=["run_id", "file", "logged_at"])
        first = {(run, file): at for run, file, at in zip(*(stored.column(c).to_pylist() for c in stored.column_names))}
        now = datetime.now(UTC)
        self._write("ingest_log", pa.table({
            "run_id": [r.run_id for r in records], "folder": [r.folder for r in records],
            "file": [r.file for r in records], "table_name": [r.table for r in records],
            "rows_read": [r.read for r in records], "loaded": [r.loaded for r in records],
            "unchanged": [r.unchanged for r in records], "rejected": [r.rejected for r in records],
            "rejects_path": [r.rejects_path for r in records],
            "logged_at": [first.get((r.run_id, r.file)) or now.replace(tzinfo=None) for r in records],
            "finished": [r.finished for r in records], "updated_at": [now] * len(records),
        }, schema=arrow_schema("ingest_log")))

    def _stored_hashes(self, table: EntityTable, keys: pa.Array) -> pa.Table:
        """The stored rows among ``keys`` as a table of (key column, ``_row_hash``)."""
        return self._select(table.name, where={table.key: keys}, columns=[table.key, ROW_HASH])

    def _same_person(self, person_ids: list[str]) -> dict[str, list[str]]:
        """For each stored person among ``person_ids``: the ids of every record with its
        ``person_key`` (itself included), sorted."""
        asked = self._select("persons", where={"person_id": person_ids}, columns=["person_id", "person_key"])
        keys = [k for k in asked.column("person_key").to_pylist() if k is not None]
        records: dict[str, list[str]] = {}
        if keys:
            found = self._select("persons", where={"person_key": keys}, columns=["person_id", "person_key"])
            for person_id, key in zip(found.column("person_id").to_pylist(), found.column("person_key").to_pylist()):
                records.setdefault(key, []).append(person_id)
        return {person_id: sorted(records[key]) for person_id, key in
                zip(asked.column("person_id").to_pylist(), asked.column("person_key").to_pylist()) if key in records}

    # ---- shared logic ------------------------------------------------------------------

    @final
    def load(self, table: EntityTable, rows: pa.Table, *, log: IngestFileRecord | None = None) -> LoadResult:
        """Store validated rows idempotently.

        A row whose key is stored with the same content hash is counted as unchanged; one
        whose key is stored with other content is a conflict and is returned, not stored.
        ``rows`` must have unique keys (ingest resolves duplicates within a batch first).
        ``log``: the ingest log entry of the file the rows come from, as counted before them; it
        is written, with these rows added, in the same transaction as the rows.
        """
        keys = rows.column(table.key)
        stored = self._stored_hashes(table, keys)
        if stored.num_rows == 0:  # the usual first load: nothing to compare, no copy to make
            self._insert(table, rows.drop_columns([LINE]), _counted(log, rows.num_rows, 0))
            return LoadResult(rows.num_rows, 0, pa.table({LINE: pa.array([], pa.int64()), "reason": pa.array([], pa.string())}))
        position = pc.index_in(keys, value_set=stored.column(table.key))
        known = pc.is_valid(position)
        stored_hash = pc.take(stored.column(ROW_HASH), position)
        same = pc.and_(known, pc.equal(stored_hash, rows.column(ROW_HASH)))
        unchanged = int(pc.sum(same).as_py() or 0)
        conflict = pc.and_(known, pc.invert(same))
        new_rows = rows.filter(pc.invert(known))
        if new_rows.num_rows:
            self._insert(table, new_rows.drop_columns([LINE]), _counted(log, new_rows.num_rows, unchanged))
        conflicting = rows.filter(conflict)
        reasons = pa.array(
            [f"{table.key} {k} is already loaded with different content" for k in conflicting.column(table.key).to_pylist()],
            pa.string(),
        )
        return LoadResult(
            loaded=new_rows.num_rows,
            unchanged=unchanged,
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
        return self._select(table.name).sort_by(table.key)

    @final
    def has_rows(self, table_name: str) -> bool:
        return self._count(ENTITY_TABLES[table_name].name).get(None, 0) > 0

    @final
    def refresh_person_keys(self) -> int:
        """Recompute ``person_key`` over all stored persons; returns how many records changed.

        Run at the end of each ingest: a later batch or run can bring a second record
        (another 参保人编号) of a person already stored.
        """
        from ingest.resolve import PERSON_KEY_SQL

        table = ENTITY_TABLES["persons"]
        persons = self._select(table.name, columns=["person_id", "id_number", "id_number_valid", "person_key"])
        changed = self.engine.query(
            f"SELECT r.person_id, r.person_key AS value FROM ({PERSON_KEY_SQL.format(persons='SELECT * FROM _persons')}) r "
            "JOIN _persons p USING (person_id) WHERE p.person_key IS DISTINCT FROM r.person_key", {"_persons": persons})
        if changed.num_rows:
            self._set_column(table, "person_key", changed)
        return changed.num_rows

    @final
    def record_ingest(self, record: IngestFileRecord) -> None:
        """Write the ingest log entry of ``record``'s file, replacing the one of the same run and file."""
        self._write_ingest_log([record])

    @final
    def finish_ingest(self) -> None:
        """An ingest ended (person keys settled): its entries, and any left unfinished by a killed
        run whose rows it settled with its own, are finished."""
        unfinished = [replace(r, finished=True) for r in self.ingest_log(finished=False)]
        if unfinished:
            self._write_ingest_log(unfinished)

    @final
    def ingest_log(self, *, finished: bool | None = None) -> list[IngestFileRecord]:
        """The ingest log, oldest first; only the (un)finished entries when ``finished`` is given."""
        rows = self._select("ingest_log", where={"finished": [finished]} if finished is not None else None,
                            order_by=[("logged_at", False)]).to_pylist()
        # an entry written before ingest logged each batch has no ``finished``: it is finished
        return [IngestFileRecord(r["run_id"], r["folder"], r["file"], r["table_name"], r["rows_read"], r["loaded"],
                                 r["unchanged"], r["rejected"], r["rejects_path"], r["finished"] is not False)
                for r in rows]

    @final
    def node_counts(self) -> dict[str, int]:
        counts = {t.label: self._count(t.name).get(None, 0) for t in ENTITY_TABLES.values()}
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

    @final
    def analysis_connection(self) -> Connection:
        """Where detection reads the graph's tables; close it when done."""
        return self._analysis_connection()

    @final
    def save_rings(self, documents: list[dict[str, Any]], persons: list[list[str]], settlements: list[list[str]], *,
                   run_id: str, started_at: str,
                   seconds: float, summary: dict[str, Any], match_jaccard: float) -> DetectionRun:
        """Store a detection run's rings as the current ones, giving each its stable id.

        A ring keeps the id of the previous run's ring whose persons it overlaps by at least
        ``match_jaccard`` (Jaccard); others get fresh ids, never reused. ``documents`` get
        their ``id`` filled in; ``settlements`` are each ring's claim ids.
        """
        stored = self._select("rings", columns=["id", "persons"])
        previous = dict(zip(stored.column("id").to_pylist(), stored.column("persons").to_pylist()))
        # ids are never reused: the next number is one more than the highest ever issued
        issued = self._select("detection_runs", columns=["next_ring_number"]).column("next_ring_number")
        ids, next_number = match_ring_ids(persons, previous, min_jaccard=match_jaccard,
                                          next_number=pc.max(issued).as_py() or 1)
        for document, ring_id in zip(documents, ids):
            document["id"] = ring_id
        kept = sum(1 for i in ids if i in previous)
        run = DetectionRun(run_id, started_at, round(seconds, 3), len(ids), kept, len(ids) - kept,
                           sorted(set(previous) - set(ids)), summary)
        self._replace_rings(documents, persons, settlements, run, next_number)
        return run

    @final
    def rings(self) -> list[dict[str, Any]]:
        """The current rings, highest score first, as contract documents."""
        return self._ring_documents(None)

    def _replace_rings(self, documents: list[dict[str, Any]], persons: list[list[str]], settlements: list[list[str]],
                       run: DetectionRun, next_number: int) -> None:
        """Make ``documents`` the current rings, with their claims, and log the run, in one
        transaction: a process that dies on the way leaves the previous run's rings and log whole."""
        rings = pa.table({
            "id": [d["id"] for d in documents],
            "rank": list(range(1, len(documents) + 1)),
            "pattern": [d["pattern"] for d in documents],
            "score": [d["score"] for d in documents],
            "persons": persons,
            "document": [json.dumps(d, ensure_ascii=False) for d in documents],
            "run_id": [run.run_id] * len(documents),
        }, schema=arrow_schema("rings"))
        # A ring's claims are kept with the settlement columns the timeline and the export show;
        # claim ids not stored are left out. Stored settlements never change, so they are read
        # before the transaction.
        pairs = pa.table({"ring_id": [d["id"] for d, ids in zip(documents, settlements) for _ in ids],
                          "settlement_id": pa.array([s for ids in settlements for s in ids], pa.string())})
        claimed = self._select("settlements", where={"settlement_id": pc.unique(pairs.column("settlement_id"))},
                               columns=RING_CLAIM_COLUMNS)
        claims = self.engine.query(
            "SELECT p.ring_id, " + ", ".join(f"s.{c}" for c in RING_CLAIM_COLUMNS)
            + " FROM pairs p JOIN claimed s ON s.settlement_id = p.settlement_id",
            {"pairs": pairs, "claimed": claimed}).cast(arrow_schema("ring_claims"))
        log = pa.table({
            "run_id": [run.run_id], "started_at": [run.started_at], "seconds": [run.seconds], "rings": [run.rings],
            "kept_ids": [run.kept_ids], "new_ids": [run.new_ids], "retired_ids": [run.retired_ids],
            "summary": [json.dumps(run.summary, ensure_ascii=False)], "next_ring_number": [next_number],
        }, schema=arrow_schema("detection_runs"))
        self._write_tables({"rings": rings, "ring_claims": claims, "detection_runs": log},
                           emptied=("rings", "ring_claims"))

    @final
    def ring(self, ring_id: str) -> dict[str, Any] | None:
        found = self._ring_documents(ring_id)
        return found[0] if found else None

    def _ring_documents(self, ring_id: str | None) -> list[dict[str, Any]]:
        found = self._select("rings", where={"id": [ring_id]} if ring_id else None, columns=["document"],
                             order_by=[("rank", False)])
        return [json.loads(d) for d in found.column("document").to_pylist()]

    @final
    def detection_runs(self) -> list[DetectionRun]:
        """The detection log, oldest first."""
        runs = self._select("detection_runs", order_by=[("started_at", False)]).to_pylist()
        return [DetectionRun(r["run_id"], r["started_at"], r["seconds"], r["rings"], r["kept_ids"], r["new_ids"],
                             r["retired_ids"], json.loads(r["summary"])) for r in runs]

    @final
    def ring_claims(self, ring_id: str) -> list[dict[str, Any]]:
        """The ring's settlements (``RING_CLAIM_COLUMNS``), oldest first."""
        return self._select("ring_claims", where={"ring_id": [ring_id]}, columns=RING_CLAIM_COLUMNS,
                            order_by=[("start_time", False), ("settlement_id", False)]).to_pylist()

    @final
    def entity(self, node_type: str, node_id: str) -> dict[str, Any] | None:
        """A node's stored attributes; for an identifier (phone, address...) just its value.

        None when nothing in the graph has that node.
        """
        table = ENTITY_TYPES.get(node_type)
        if table is not None:
            spec = ENTITY_TABLES[table]
            shown = spec.column_names + [name for name, _ in spec.derived if name in SHOWN_DERIVED]
            found = self._select(table, where={spec.key: [node_id]}, columns=shown).to_pylist()
            row = found[0] if found else None
            if row is not None and node_type == "person":
                row["person_ids"] = self._same_person([node_id]).get(node_id, [node_id])
            return row
        return {"value": node_id} if self.network_nodes([node_key(node_type, node_id)]) else None

    @final
    def registered_addresses(self, node_type: str, ids: Sequence[str]) -> list[str]:
        """The registered addresses of the persons or intermediaries ``ids`` (those that have one)."""
        table = ENTITY_TYPES[node_type]
        if not ids:
            return []
        found = self._select(table, where={ENTITY_TABLES[table].key: list(ids)}, columns=["address"])
        return [a for a in found.column("address").to_pylist() if a]

    @final
    def claim_summary(self, node_type: str, node_id: str) -> dict[str, Any]:
        """How many claims the node appears in, how much fund they drew, when, of which kinds."""
        column = CLAIM_COLUMN_OF.get(node_type)
        rows = [] if column is None else self._summarise(
            "settlements", {"claims": ("count", None), "fund_amount": ("sum", "fund_amount"),
                            "total_amount": ("sum", "total_amount"), "first": ("min", "start_time"),
                            "last": ("max", "start_time")}, by=["kind"], where={column: [node_id]})
        return {
            "claims": sum(r["claims"] for r in rows),
            "fund_amount": round(float(sum(r["fund_amount"] for r in rows)), 2),
            "total_amount": round(float(sum(r["total_amount"] for r in rows)), 2),
            "first": min(r["first"] for r in rows).date().isoformat() if rows else None,
            "last": max(r["last"] for r in rows).date().isoformat() if rows else None,
            "by_kind": {r["kind"]: r["claims"] for r in sorted(rows, key=lambda r: r["kind"])},
        }

    @final
    def claims_of(self, node_type: str, node_ids: Sequence[str], *, offset: int = 0,
                  limit: int | None = None) -> list[dict[str, Any]]:
        """The settlements naming these nodes (``CLAIM_COLUMN_OF``: what "its claims" means for the
        type), newest first, with the columns a claim edge is made of; none for a type no claim names."""
        column = CLAIM_COLUMN_OF.get(node_type)
        if column is None or not node_ids:
            return []
        return self._select("settlements", where={column: list(node_ids)}, columns=CLAIM_EDGE_COLUMNS,
                            order_by=[("start_time", True), ("settlement_id", False)], offset=offset,
                            limit=limit).to_pylist()

    @final
    def search(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Entities by id (any node type), phone (its owners first), ID number or name.

        Ids and phones are node keys, found through the network on every backend; names and
        ID numbers are the backend's ``_search``. Exact matches come first, each entity once.
        """
        text = text.strip()
        key_of = {t: f"{t}:{text}" for t in _SEARCHED_TYPES}
        # A phone is found as it was written in the search box too (+86 138-0013-8000): by its key.
        phone = phone_key(text) or text
        known = self.network_nodes([*key_of.values(), f"phone:{phone}"])
        found: list[dict[str, Any]] = [{"type": t, "id": text, "label": known[k][1], "matched": "id"}
                                       for t, k in key_of.items() if k in known]
        if f"phone:{phone}" in known:
            around = self.network_edges(f"phone:{phone}", 50)
            found += [{"type": e.source.partition(":")[0], "id": e.source.partition(":")[2],
                       "label": around.neighbours[e.source][1], "matched": "phone"}
                      for e in around.edges if e.type == "HAS_PHONE"]
            found.append({"type": "phone", "id": phone, "label": phone, "matched": "id"})
        found += self._search(text, limit)
        # A person with two records (two 参保人编号 under one ID number) is found by either id:
        # the other records follow the hit.
        persons = [hit["id"] for hit in found if hit["type"] == "person"]
        records = self._same_person(persons) if persons else {}
        with_records = []
        for hit in found:
            with_records.append(hit)
            if hit["type"] == "person":
                with_records += [{"type": "person", "id": other, "label": hit["label"], "matched": "same_person"}
                                 for other in records.get(hit["id"], []) if other != hit["id"]]
        unique: dict[tuple[str, str], dict[str, Any]] = {}
        for hit in with_records:
            unique.setdefault((hit["type"], hit["id"]), hit)
        return list(unique.values())[:limit]

    @final
    def network_edges(self, key: str, limit: int) -> Neighbourhood:
        """The node's degree, its ``limit`` heaviest edges and their far ends (``key`` is ``"type:id"``)."""
        return self.network_neighbourhoods([key], limit).get(key, Neighbourhood(0, [], {}))

    @final
    def network_neighbourhoods(self, keys: list[str], limit: int) -> dict[str, Neighbourhood]:
        """``network_edges`` of each known node among ``keys``, looked up together (a traversal's
        whole frontier: one query on Neo4j, one gather in the embedded index)."""
        for key in keys:
            split_key(key)
        return {key: found for key, (_, found) in self._neighbours(keys, limit).items()} if keys else {}

    @final
    def check(self, *, thorough: bool = False) -> None:
        """Raise if the store cannot answer reads (``/health``); ``thorough`` reads every stored
        value, which finds a damaged file anywhere in it (a server's start, a restore)."""
        self._check(thorough)

    @final
    def prepare_reads(self) -> None:
        """Get network reads ready now (after an ingest, before serving) instead of on the first query.

        Queries keep the network built before an ingest while it is under way (not one rebuild
        per batch); this builds it for what is committed now, e.g. after a killed ingest."""
        self._prepare_reads()

    @final
    def network_nodes(self, keys: list[str]) -> dict[str, tuple[int, str | None]]:
        """(degree, label) of the known nodes among ``keys``."""
        if not keys:
            return {}
        return {key: (found.degree, label) for key, (label, found) in self._neighbours(keys, 0).items()}

    _record_update = threading.Lock()
    """Held by ``record_update``: one read-then-write of casework records at a time in this process."""

    @final
    @contextmanager
    def record_update(self) -> Iterator[None]:
        """Read records and write what follows from them with no other update between: two
        investigators deciding on one ring at once each add to its history (one replaced the other's,
        or their writes collided into a 500). In this process: the embedded store has one writer
        process, the server."""
        with GraphStore._record_update:
            yield

    @final
    def put_record(self, kind: str, key: str, document: dict[str, Any]) -> None:
        self.put_records(kind, [(key, document)])

    @final
    def put_records(self, kind: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        """Insert or replace casework records (API keys, tips, dispositions, audit entries) as (key, document)."""
        if not records:
            return
        # One Arrow batch, not a write per record: the audit log writes hundreds of entries a flush.
        self._write("records", pa.table({
            "kind": [kind] * len(records),
            "key": [key for key, _ in records],
            "document": [json.dumps(doc, ensure_ascii=False, default=str) for _, doc in records],
            "updated_at": [datetime.now()] * len(records),
        }, schema=arrow_schema("records")))

    @final
    def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        found = self._select("records", where={"kind": [kind], "key": [key]}, columns=["document"])
        return json.loads(found.column("document")[0].as_py()) if found.num_rows else None

    @final
    def list_records(self, kind: str, *, offset: int = 0, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
        """(total, records of ``kind`` newest first from ``offset``)."""
        found = self._select("records", where={"kind": [kind]}, columns=["document"],
                             order_by=[("updated_at", True), ("key", True)], offset=offset, limit=limit)
        return self.record_counts().get(kind, 0), [json.loads(d) for d in found.column("document").to_pylist()]

    @final
    def record_counts(self) -> dict[str, int]:
        """Stored records per kind (api_key, disposition, tip, audit, job...)."""
        return dict(sorted(self._count("records", by="kind").items()))

    @final
    def backup(self, folder: Path) -> list[str]:
        """Write a consistent copy of the store (``graphsvc.store.backup`` adds the manifest and the
        home's secrets); returns the names of the files written into ``folder``."""
        return self._backup(folder)

    @final
    def ledger(self) -> list[dict[str, Any]]:
        """Per month and institution region, over the current rings' claims (each once, however many
        rings share it): ``month``, ``region``, ``institutions``, ``persons``, ``claims``, ``fund_amount``."""
        claims = self._select("ring_claims", columns=["settlement_id", "start_time", "institution_id", "person_id",
                                                      "fund_amount"])
        institutions = self._select("institutions", columns=["institution_id", "region_code"])
        return self.engine.query(_LEDGER_SQL, {"claims": claims, "institutions": institutions}).to_pylist()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
