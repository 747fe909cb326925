"""The two backends on the same city: ingest rows/s, then p50/p99 of a 2-hop network and a shortest path.

Each backend gets a fresh store: the embedded one under a temporary home, Neo4j as a real
5.26 server from Maven Central (``graphsvc.store.neo4j_server``) with its own data folder.
Network and path queries go through ``queries/network.py``, the code the API runs, so the
difference is the backend's neighbour lookups: the embedded CSR index against Cypher over
``NET`` relationships.

    .venv/bin/python bench/backend_benchmark.py --city /data/city100k
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from graphsvc.store.embedded import EmbeddedStore
from graphsvc.store.neo4j import Neo4jStore
from graphsvc.store.neo4j_server import start_neo4j
from ingest.pipeline import ingest_folder
from queries.network import ego_network, shortest_paths


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _measure(name: str, store, city: Path, rejects: Path, samples: int) -> dict:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    report = ingest_folder(store, city, rejects_dir=rejects, progress=False)
    ingest_s = time.perf_counter() - started
    rows = report.totals["read"]
    started = time.perf_counter()
    store.prepare_reads()
    index_s = time.perf_counter() - started
    persons = store.rows("persons").column("person_id").to_pylist()
    rng = random.Random(5)
    egos = rng.sample(persons, samples)
    network_ms, path_ms, pairs = [], [], []
    for p in egos:
        t = time.perf_counter()
        found = ego_network(store, f"person:{p}", hops=2, limit=200)
        network_ms.append(1000 * (time.perf_counter() - t))
        others = sorted(k for k in (found or {"nodes": {}})["nodes"] if k.startswith("person:") and k != f"person:{p}")
        if others:
            pairs.append((f"person:{p}", rng.choice(others)))
    for a, b in pairs:
        t = time.perf_counter()
        shortest_paths(store, a, b, max_hops=4)
        path_ms.append(1000 * (time.perf_counter() - t))
    row = {"backend": name, "rows": rows, "ingest_s": ingest_s, "rows_per_s": rows / ingest_s, "index_s": index_s,
           "network_p50": statistics.median(network_ms), "network_p99": _percentile(network_ms, 0.99),
           "path_p50": statistics.median(path_ms), "path_p99": _percentile(path_ms, 0.99), "paths": len(pairs)}
    print(f"{name:<9} ingest {rows:,} rows in {ingest_s:.1f}s ({row['rows_per_s']:,.0f} rows/s); network index "
          f"{index_s:.1f}s; 2-hop network p50 {row['network_p50']:.1f} ms p99 {row['network_p99']:.1f} ms; "
          f"shortest path p50 {row['path_p50']:.1f} ms p99 {row['path_p99']:.1f} ms ({len(pairs)} pairs)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--city", required=True, help="a contract folder (graphsvc generate)")
    parser.add_argument("--samples", type=int, default=200, help="persons whose 2-hop network is asked")
    parser.add_argument("--heap", default="4g", help="Neo4j heap")
    parser.add_argument("--pagecache", default="2g", help="Neo4j page cache")
    args = parser.parse_args()
    city = Path(args.city)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with EmbeddedStore(work / "embedded", memory_limit="4GB") as store:
            _measure("embedded", store, city, work / "rejects-embedded", args.samples)
        server = start_neo4j(work / "neo4j", heap=args.heap, pagecache=args.pagecache)
        try:
            with Neo4jStore(server.uri, server.user, server.password, work / "neo4j-home") as store:
                _measure("neo4j", store, city, work / "rejects-neo4j", args.samples)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
