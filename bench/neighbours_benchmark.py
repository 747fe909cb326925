"""Neo4j reads after issue 14 item 4 beside the queries they replaced, in the same run and server.

The store's network reads are one primitive, ``_neighbours(keys, limit)``: on Neo4j one query per
call (degree, label and heaviest edges of each key). Before, ``network_edges`` asked the degree
first and the edges second (two round trips per expanded node), and a ring's claims were one
query of their own. This loads a generated city into a fresh Neo4j server, detects its rings,
then times, for the same persons and rings:

- a 2-hop network (``queries.network.ego_network``, the API's code) through the store as it is,
  and through a store answering ``_neighbours`` with the two earlier queries;
- a ring's claims (``GraphStore.ring_claims``, built on ``_select``) and the earlier Cypher query.

    .venv/bin/python bench/neighbours_benchmark.py --persons 5000

"Now" and "before" are timed one after the other on a warm server; on a loaded machine compare
the two lines of one run, not runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from graphsvc.detect import detect_and_save
from graphsvc.network import Edge, Neighbourhood
from graphsvc.store.neo4j import Neo4jStore
from graphsvc.store.neo4j_server import start_neo4j
from ingest.pipeline import ingest_folder
from queries.network import ego_network

_DEGREE = """OPTIONAL MATCH (n:Node {_key: $key})
RETURN CASE WHEN n IS NULL THEN 0 ELSE COUNT { (n)-[:NET]-() } END AS degree"""
_EDGES = """MATCH (n:Node {_key: $key})-[r:NET]-(m)
WITH n, r, m ORDER BY r.claims DESC, m._key LIMIT $limit
RETURN startNode(r) = n AS outgoing, r.type AS type, m._key AS other, r.claims AS claims, r.fund AS fund,
       r.first AS first, r.last AS last, COUNT { (m)-[:NET]-() } AS degree, m.name AS label"""
_RING_CLAIMS = """MATCH (:Ring {id: $id})-[:INVOLVES]->(s:Settlement) RETURN properties(s) AS s
ORDER BY s.start_time, s.settlement_id"""


class _EarlierReads(Neo4jStore):
    """The store answering neighbour questions as before: a degree query, then an edges query, per key."""

    def _neighbours(self, keys: list[str], limit: int) -> dict[str, tuple[str | None, Neighbourhood]]:
        if not limit:
            return super()._neighbours(keys, limit)  # network_nodes: the same query as before
        self._network_ready(now=False)
        found: dict[str, tuple[str | None, Neighbourhood]] = {}
        for key in keys:
            degree = self._run(_DEGREE, key=key)[0]["degree"]
            if not degree:
                continue
            rows = self._run(_EDGES, key=key, limit=limit)
            edges = [Edge(key, r["type"], r["other"], r["claims"], round(r["fund"], 2), r["first"], r["last"])
                     if r["outgoing"] else
                     Edge(r["other"], r["type"], key, r["claims"], round(r["fund"], 2), r["first"], r["last"])
                     for r in rows]
            found[key] = (None, Neighbourhood(degree, edges, {r["other"]: (r["degree"], r["label"]) for r in rows}))
        return found


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(name: str, calls: list[Callable[[], object]]) -> None:
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - started))
    print(f"  {name:<52} p50 {statistics.median(times):6.1f} ms  p99 {_percentile(times, 0.99):6.1f} ms "
          f"({len(times)} calls)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=5000, help="persons of the generated city")
    parser.add_argument("--samples", type=int, default=100, help="persons whose 2-hop network is asked")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        city = work / "city"
        subprocess.run([sys.executable, "-m", "cli", "generate", str(city), "--persons", str(args.persons), "--quiet"],
                       check=True)
        server = start_neo4j(work / "neo4j")
        try:
            with Neo4jStore(server.uri, server.user, server.password, work / "home") as store:
                started = time.perf_counter()
                ingest_folder(store, city, rejects_dir=work / "rejects", progress=False)
                detect_and_save(store)
                store.prepare_reads()
                print(f"{args.persons:,} persons loaded and detected in {time.perf_counter() - started:.0f} s; "
                      f"{len(store.rings())} rings", flush=True)
                persons = store.rows("persons").column("person_id").to_pylist()
                egos = [f"person:{p}" for p in random.Random(5).sample(persons, min(args.samples, len(persons)))]
                rings = [r["id"] for r in store.rings()] * 10  # a city has few rings: each asked ten times
                earlier = _EarlierReads(server.uri, server.user, server.password, work / "home")
                try:
                    for ego in egos[:10]:  # warm the page cache and query plans of both
                        ego_network(store, ego)
                        ego_network(earlier, ego)
                    assert all(ego_network(store, e) == ego_network(earlier, e) for e in egos[:20])
                    print("2-hop network (limit 200):")
                    _timed("one _neighbours query per node (now)", [partial(ego_network, store, e) for e in egos])
                    _timed("degree query + edges query per node (before)",
                           [partial(ego_network, earlier, e) for e in egos])
                    print("ring claims:")
                    _timed("GraphStore.ring_claims on _select (now)", [partial(store.ring_claims, r) for r in rings])
                    _timed("the earlier ring claims query (before)",
                           [partial(store._run, _RING_CLAIMS, id=r) for r in rings])
                finally:
                    earlier.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
