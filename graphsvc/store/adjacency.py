"""The embedded backend's neighbour index: the network in compressed sparse rows, memory-mapped.

Why not answer neighbour questions with SQL: on a 1M-person city the network has 15.5M
edges; as a DuckDB table sorted by node, one node's neighbours took 3 ms at the median
and 44 ms at p99, and forty nodes at once (one hop of a 2-hop network) 220 ms, because an
``IN`` list scans the table. Here a node's neighbours are one slice of a numpy array: a
2-hop network is microseconds of lookups. The arrays are written once per data version
under ``HOME/adjacency/`` and opened memory-mapped, so a restarted server is ready at once
and several worker processes share one copy in the page cache.

Node keys (``"type:id"``) are kept sorted in an Arrow string array; a key's row is found
by binary search, so no 4M-entry Python dict is built.
"""

from __future__ import annotations

import bisect
import json
import shutil
from collections import deque
from collections.abc import Iterator
from datetime import date, timedelta
from functools import lru_cache
from itertools import islice
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphsvc.errors import StoreError
from graphsvc.network import NETWORK_RELATIONSHIPS, Edge, Neighbourhood
from graphsvc.prefetch import one_ahead
from graphsvc.store.schema import NETWORK_EDGES_SQL

__all__ = ["AdjacencyIndex"]

_REL_CODES = {name: i for i, name in enumerate(NETWORK_RELATIONSHIPS)}
_REL_NAMES = list(NETWORK_RELATIONSHIPS)
_EPOCH = date(1970, 1, 1)
_RECENT_MAX = 200_000
_NO_DAY = np.iinfo(np.int32).min
_BATCH_ROWS = 1 << 20

_LABELS = " UNION ALL ".join(
    f"SELECT '{node_type}:' || {key} AS key, {label} AS label FROM {table} WHERE {label} IS NOT NULL"
    for node_type, table, key, label in [
        ("person", "persons", "person_id", "name"), ("institution", "institutions", "institution_id", "name"),
        ("prescriber", "prescribers", "prescriber_id", "name"),
        ("intermediary", "intermediaries", "intermediary_id", "name")])


_TERMS = """
    SELECT term, type, id, label, field FROM (
        SELECT name AS term, 'person' AS type, person_id AS id, name AS label, 'name' AS field FROM persons
        UNION ALL SELECT id_number, 'person', person_id, name, 'id_number' FROM persons
        UNION ALL SELECT name, 'intermediary', intermediary_id, name, 'name' FROM intermediaries
        UNION ALL SELECT id_number, 'intermediary', intermediary_id, name, 'id_number' FROM intermediaries
        UNION ALL SELECT name, 'institution', institution_id, name, 'name' FROM institutions
        UNION ALL SELECT name, 'prescriber', prescriber_id, name, 'name' FROM prescribers
    ) WHERE term IS NOT NULL ORDER BY term, type, id"""
"""What search finds by exact value or prefix besides ids and phones: names and ID numbers."""


class _Keys:
    """Sequence view of a sorted Arrow string array, for ``bisect``."""

    def __init__(self, keys: pa.StringArray) -> None:
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, i: int) -> str:
        return self._keys[i].as_py()


class AdjacencyIndex:
    """Every node's edges, both directions, as slices of flat arrays."""

    FORMAT = "4"
    """Part of the version an index is built for: bumped when what ``build`` writes changes."""

    _ARRAYS = ("offsets", "other", "rel", "outgoing", "claims", "fund", "first", "last")

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.version = (folder / "version").read_text()
        # Plain ndarray views of the maps: slicing a np.memmap builds a memmap object every time.
        self._arrays = {name: np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r")) for name in self._ARRAYS}
        nodes = _read_arrow(folder / "keys.arrow")
        self._key_array = nodes.column("key").combine_chunks()
        self._labels = nodes.column("label").combine_chunks()
        self._keys = _Keys(self._key_array)
        self._recent: dict[str, int] = {}
        self._terms = _read_arrow(folder / "terms.arrow")
        self._term_keys = _Keys(self._terms.column("term").combine_chunks())
        names = self._terms.filter(pc.and_(pc.equal(self._terms.column("type"), "institution"),
                                           pc.equal(self._terms.column("field"), "name")))
        self._institution_names = sorted(zip(names.column("id").to_pylist(), names.column("label").to_pylist()))

    @classmethod
    def build(cls, con: duckdb.DuckDBPyConnection, folder: Path, version: str) -> AdjacencyIndex:
        """Write the index of what ``con``'s tables hold into ``folder`` (replacing it) and open it."""
        staging = folder.with_name(folder.name + ".building")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        con.execute(f"CREATE OR REPLACE TEMP TABLE net_edges AS {NETWORK_EDGES_SQL}")
        # A node's number is its row in the sorted keys: numbered here, not by a window over the sort
        # in DuckDB, and handed back to DuckDB as an Arrow table for the join below (10M persons:
        # 37.7 -> 30.4 s for the nodes, the join 38.7 -> 35.9 s).
        keys = con.sql(f"""SELECT k.key, l.label
            FROM (SELECT a AS key FROM net_edges UNION SELECT b FROM net_edges) k
            LEFT JOIN ({_LABELS}) l ON l.key = k.key ORDER BY k.key""").to_arrow_table()
        con.register("net_nodes", pa.table({"key": keys.column("key"),
                                            "ix": pa.array(np.arange(keys.num_rows, dtype=np.int32))}))
        _write_arrow(staging / "keys.arrow", keys)
        _write_arrow(staging / "terms.arrow", con.sql(_TERMS).to_arrow_table())
        codes = ", ".join(f"('{name}', {code})" for name, code in _REL_CODES.items())
        # The edges by node number, held by Arrow outside DuckDB's memory limit, so that the string
        # tables can go before the sort; each edge is sorted twice (once per end) through a cross
        # join with two rows, so the join to node numbers runs once per edge, not once per direction.
        # 3M persons, 12 GB limit: 25.7 -> 13.2 s for these steps (an in-DuckDB temporary table in
        # place of Arrow ran out of memory under a tight limit, on a connection that preserved
        # insertion order; the store's does not, and that form was not measured there).
        numbered = con.sql(f"""
            WITH rel_codes(rel, code) AS (VALUES {codes})
            SELECT x.ix AS a, o.ix AS b, rc.code::UTINYINT AS rel, e.n::INTEGER AS claims, e.fund,
                   coalesce(e.first_day - DATE '1970-01-01', {_NO_DAY})::INTEGER AS first,
                   coalesce(e.last_day - DATE '1970-01-01', {_NO_DAY})::INTEGER AS last
            FROM net_edges e JOIN net_nodes x ON x.key = e.a JOIN net_nodes o ON o.key = e.b
            JOIN rel_codes rc ON rc.rel = e.rel""").to_arrow_table()
        con.execute("DROP TABLE net_edges")
        con.unregister("net_nodes")
        # A self-loop (a person named as their own agent) is one edge: listed once, as outgoing, as
        # Neo4j lists it; every other edge once from each end.
        directed_rows = 2 * numbered.num_rows - (pc.sum(pc.equal(numbered.column("a"), numbered.column("b"))).as_py() or 0)
        # Handed to DuckDB as a stream that lets each batch go once read. DuckDB takes it as the build
        # side of the cross join, so it keeps a copy, but inside its memory limit (it may spill): held
        # here as a table, the edges were 4 GB beside DuckDB's 12 GB at 10M persons (peak 22.4 GB of
        # 24; 19.1 GB this way, 13% slower). Other forms measured at 3M: the table 46 s, this 49 s,
        # unnest([true, false]) over the table 52 s and over the stream 60 s.
        pending, schema = deque(numbered.to_batches()), numbered.schema
        del numbered
        con.register("net_numbered", pa.RecordBatchReader.from_batches(schema, _drain(pending)))
        # Rel and direction last: a pair linked twice with as many claims keeps one order, so a
        # rebuild keeps the same edges under a limit.
        batches = con.sql("""
            SELECT CASE WHEN d.outgoing THEN a ELSE b END AS node, CASE WHEN d.outgoing THEN b ELSE a END AS other,
                   rel, d.outgoing, claims, fund, first, last
            FROM net_numbered CROSS JOIN (VALUES (true), (false)) d(outgoing)
            WHERE d.outgoing OR a <> b
            ORDER BY node, claims DESC, other, rel, d.outgoing""").to_arrow_reader(_BATCH_ROWS)
        # Streamed into arrays mapped on their files: at 10M persons the directed edges are some 300M
        # rows, and the whole result as one Arrow table beside DuckDB's sort took more than 24 GB.
        arrays = {field.name: np.lib.format.open_memmap(staging / f"{field.name}.npy", mode="w+",
                                                        dtype=field.type.to_pandas_dtype(), shape=(directed_rows,))
                  for field in batches.schema if field.name != "node"}
        # Degrees are counted from the sorted nodes, a batch's few consecutive ones at a time (a
        # bincount of both ends of every edge over all nodes took 7 s at 10M persons, out of cache).
        degree = np.zeros(keys.num_rows, dtype=np.int64)
        at = 0
        for batch in one_ahead(iter(batches), name="index-sort-reader"):
            for name, array in arrays.items():
                array[at:at + batch.num_rows] = batch.column(name).to_numpy(zero_copy_only=False)
            nodes = batch.column("node").to_numpy()
            if len(nodes):
                degree[nodes[0]:nodes[-1] + 1] += np.bincount(nodes - nodes[0])
            at += batch.num_rows
        if at != directed_rows:  # never seen; arrays short of their offsets would answer wrong edges
            raise StoreError(f"network index build got {at:,} of {directed_rows:,} directed edges",
                             zh=f"网络索引构建只得到 {directed_rows:,} 条有向边中的 {at:,} 条")
        for array in arrays.values():
            array.flush()
        del arrays
        offsets = np.zeros(keys.num_rows + 1, dtype=np.int64)
        np.cumsum(degree, out=offsets[1:])
        np.save(staging / "offsets.npy", offsets)
        (staging / "version").write_text(version)
        (staging / "summary.json").write_text(json.dumps({"nodes": keys.num_rows, "edges": directed_rows // 2}))
        con.unregister("net_numbered")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        return cls(folder)

    def index_of(self, key: str) -> int | None:
        # A traversal expands the neighbours it was just given: their rows are remembered
        # (bounded) so the next hop skips the binary search.
        known = self._recent.get(key)
        if known is not None:
            return known
        i = bisect.bisect_left(self._keys, key)
        return i if i < len(self._keys) and self._keys[i] == key else None

    def node(self, key: str) -> tuple[int, str | None] | None:
        """(degree, label) of a node (a person's name, an institution's...), None if unknown."""
        i = self.index_of(key)
        if i is None:
            return None
        offsets = self._arrays["offsets"]
        return int(offsets[i + 1] - offsets[i]), self._labels[i].as_py()

    def label(self, key: str) -> str | None:
        """A known node's label (a person's name, an institution's...)."""
        i = self.index_of(key)
        return None if i is None else self._labels[i].as_py()

    def edges(self, key: str, limit: int) -> Neighbourhood:
        """The node's degree, its ``limit`` edges with the most claims, and those neighbours' degrees
        and labels; an unknown key has degree 0."""
        return self.edges_of([key], limit).get(key, Neighbourhood(0, [], {}))

    def edges_of(self, keys: list[str], limit: int) -> dict[str, Neighbourhood]:
        """``edges`` of each known key among ``keys``, looked up together: one gather of the
        neighbours' keys and labels for all of them (a 2-hop network expands a whole frontier;
        one Arrow ``take`` per node cost more than the rest of its lookup)."""
        found = [(key, i) for key in keys if (i := self.index_of(key)) is not None]
        if not found:
            return {}
        a = self._arrays
        offsets = a["offsets"]
        rows = np.fromiter((i for _, i in found), dtype=np.int64, count=len(found))
        starts, ends = offsets[rows], offsets[rows + 1]
        if limit <= 0:  # degrees only (``network_nodes``): no gather at all
            return {key: Neighbourhood(degree, [], {}) for (key, _), degree in zip(found, (ends - starts).tolist())}
        counts = np.minimum(ends - starts, limit)
        at = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) + np.arange(counts.sum())
        others = np.asarray(a["other"][at])
        other_keys = self._key_array.take(others).to_pylist()
        if len(self._recent) > _RECENT_MAX:
            self._recent = {}
        self._recent.update(zip(other_keys, others.tolist()))
        degrees = (offsets[others + 1] - offsets[others]).tolist()
        labels = self._labels.take(others).to_pylist()
        columns = zip(other_keys, a["rel"][at].tolist(), a["outgoing"][at].tolist(), a["claims"][at].tolist(),
                      a["fund"][at].tolist(), a["first"][at].tolist(), a["last"][at].tolist(), degrees, labels)
        out = {}
        for (key, _), degree, count in zip(found, (ends - starts).tolist(), counts.tolist()):
            edges, neighbours = [], {}
            for other, rel, outgoing, claims, fund, first, last, other_degree, label in islice(columns, count):
                edges.append(Edge(key, _REL_NAMES[rel], other, claims, round(fund, 2), _day(first), _day(last))
                             if outgoing else
                             Edge(other, _REL_NAMES[rel], key, claims, round(fund, 2), _day(first), _day(last)))
                neighbours[other] = (other_degree, label)
            out[key] = Neighbourhood(degree, edges, neighbours)
        return out

    def related(self, key: str, rel: str, *, outgoing: bool) -> list[str]:
        """The far ends of the node's ``rel`` edges in one direction (``outgoing``: the node is their
        source), without building its other edges: a person's SAME_PERSON link among hundreds of claims."""
        i = self.index_of(key)
        if i is None:
            return []
        a = self._arrays
        start, end = a["offsets"][i], a["offsets"][i + 1]
        picked = np.flatnonzero((a["rel"][start:end] == _REL_CODES[rel]) & (a["outgoing"][start:end] == outgoing))
        return self._key_array.take(a["other"][start + picked]).to_pylist()

    def find_terms(self, text: str, limit: int) -> list[dict[str, str]]:
        """Persons, intermediaries, institutions and prescribers whose name or ID number is ``text``
        (``matched``: the field) or starts with it (``name_prefix``), exact matches first."""
        exact: list[dict[str, str]] = []
        prefix: list[dict[str, str]] = []
        i = bisect.bisect_left(self._term_keys, text)
        while i < len(self._term_keys) and len(exact) + len(prefix) < limit:
            term = self._term_keys[i]
            if not term.startswith(text):
                break
            row = {name: self._terms.column(name)[i].as_py() for name in ("type", "id", "label", "field")}
            if term == text:
                exact.append({**{k: row[k] for k in ("type", "id", "label")}, "matched": row["field"]})
            elif row["field"] == "name":
                prefix.append({**{k: row[k] for k in ("type", "id", "label")}, "matched": "name_prefix"})
            i += 1
        return exact + prefix

    def institutions_naming(self, text: str, limit: int) -> list[dict[str, str]]:
        """Institutions whose name has ``text`` inside but does not start with it ("人民医院"), by id:
        a few thousand names in memory, where a query per search queued behind the server's others."""
        return [{"type": "institution", "id": i, "label": name, "matched": "name_part"}
                for i, name in self._institution_names if text in name and not name.startswith(text)][:limit]


def _drain(batches: deque[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    while batches:
        yield batches.popleft()


def _read_arrow(path: Path) -> pa.Table:
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


def _write_arrow(path: Path, table: pa.Table) -> None:
    with pa.ipc.new_file(str(path), table.schema) as writer:
        writer.write_table(table)


@lru_cache(maxsize=4096)
def _day(days: int) -> str | None:
    return None if days == _NO_DAY else (_EPOCH + timedelta(days=days)).isoformat()
