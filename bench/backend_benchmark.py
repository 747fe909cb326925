"""The two backends on the same city: a first load, a later batch of new rows and the network
after it, p50/p99 of a 2-hop network and a shortest path, then detection (the store's tables read
into the compute engine, then the detectors) with a check that both find the same rings.

The city's settlements of its last ``--holdback-days`` days (pharmacy prescriptions among them)
are held back as a separate folder: the rest is the first load, the held-back rows a later batch
of new claims into the loaded store (as a fund's daily delivery comes). Each backend gets a fresh
store and loads both:

- embedded: ``ingest_folder`` of each folder, and its network index after each;
- Neo4j 5.26 (a real server from Maven Central, ``graphsvc.store.neo4j_server``, with its own
  data folder): the first load through ``neo4j-admin database import full``
  (``graphsvc.store.neo4j_import``, its stages timed apart; the ``NET`` relationships are imported
  with it), then the batch through Bolt (``graphsvc ingest``'s path) and the network updated in
  place after it.

Network and path queries go through ``queries/network.py``, the code the API runs, so the
difference is the backend's neighbour lookups: the embedded CSR index against Cypher over
``NET`` relationships.

    .venv/bin/python bench/backend_benchmark.py --city /tmp/city100k
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from graphsvc.detect import detect_rings_in
from graphsvc.store import neo4j as neo4j_store
from graphsvc.store.embedded import EmbeddedStore
from graphsvc.store.neo4j import Neo4jStore
from graphsvc.store.neo4j_import import import_folder
from ingest.pipeline import ingest_folder
from queries.network import ego_network, shortest_paths


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _day(text: str) -> date:
    """The day of an ISO time; the generator's invalid ones (rejected by ingest) count as none."""
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return date.min


def _split(city: Path, out: Path, days: int) -> tuple[Path, Path, str]:
    """``out/first`` (the city less its settlements since the cut) and ``out/batch`` (those
    settlements alone); returns both and the cut."""
    with (city / "settlements.csv").open(newline="", encoding="utf-8") as f:
        latest = max(_day(row["start_time"]) for row in csv.DictReader(f))
    cut = (latest - timedelta(days=days - 1)).isoformat()
    first, batch = out / "first", out / "batch"
    for folder in (first, batch):
        folder.mkdir(parents=True)
    for path in city.glob("*.csv"):
        if path.name != "settlements.csv":
            shutil.copy(path, first / path.name)
    with ((city / "settlements.csv").open(newline="", encoding="utf-8") as f,
          (first / "settlements.csv").open("w", newline="", encoding="utf-8") as early,
          (batch / "settlements.csv").open("w", newline="", encoding="utf-8") as late):
        reader = csv.reader(f)
        header = next(reader)
        at = header.index("start_time")
        writers = csv.writer(early), csv.writer(late)
        for w in writers:
            w.writerow(header)
        for row in reader:
            writers[row[at] >= cut].writerow(row)
    return first, batch, cut


def _timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _queries(store: Any, samples: int) -> dict[str, float]:
    persons = store.rows("persons").column("person_id").to_pylist()
    rng = random.Random(5)
    network_ms, path_ms, pairs = [], [], []
    for p in rng.sample(persons, samples):
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
    return {"network_p50": statistics.median(network_ms), "network_p99": _percentile(network_ms, 0.99),
            "path_p50": statistics.median(path_ms), "path_p99": _percentile(path_ms, 0.99), "paths": len(pairs)}


def _detection(store: Any) -> dict[str, Any]:
    """Detection's two stages timed apart: reading the store's tables into the engine, the detectors."""
    started = time.perf_counter()
    con = store.analysis_connection()
    try:
        read_s = time.perf_counter() - started
        result = detect_rings_in(con)
    finally:
        con.close()
    return {"read_s": read_s, "detect_s": time.perf_counter() - started - read_s,
            "rings": [ring.document() for ring in result.rings]}


def _print_detection(name: str, row: dict[str, Any]) -> None:
    rows = row["first_rows"] + row["batch_rows"]
    read = (f"tables read in {row['read_s']:.1f}s ({rows:,} rows given to ingest, {rows / row['read_s']:,.0f} rows/s)"
            if name == "neo4j" else "the store's own database queried in place")
    print(f"{name:<9} detection: {read}, detectors {row['detect_s']:.1f}s, {len(row['rings'])} rings", flush=True)


def _print_queries(name: str, q: dict[str, float]) -> None:
    print(f"{name:<9} 2-hop network p50 {q['network_p50']:.1f} ms p99 {q['network_p99']:.1f} ms; shortest path "
          f"p50 {q['path_p50']:.1f} ms p99 {q['path_p99']:.1f} ms ({q['paths']} pairs)", flush=True)


def _embedded(first: Path, batch: Path, work: Path, samples: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    with EmbeddedStore(work / "embedded", memory_limit="4GB") as store:
        started = time.perf_counter()
        row["first_rows"] = ingest_folder(store, first, rejects_dir=work / "rejects-e", progress=False).totals["read"]
        row["first_s"] = time.perf_counter() - started
        row["index_s"] = _timed(store.prepare_reads)
        started = time.perf_counter()
        row["batch_rows"] = ingest_folder(store, batch, rejects_dir=work / "rejects-e", progress=False).totals["read"]
        row["batch_s"] = time.perf_counter() - started
        row["network_after_s"] = _timed(store.prepare_reads)
        row.update(_queries(store, samples))
        row.update(_detection(store))
    print(f"embedded  first load {row['first_rows']:,} rows in {row['first_s']:.1f}s "
          f"({row['first_rows'] / row['first_s']:,.0f} rows/s); network index {row['index_s']:.1f}s; batch "
          f"{row['batch_rows']:,} rows in {row['batch_s']:.1f}s ({row['batch_rows'] / row['batch_s']:,.0f} rows/s); "
          f"network index after it {row['network_after_s']:.1f}s", flush=True)
    _print_queries("embedded", row)
    _print_detection("embedded", row)
    return row


def _neo4j(first: Path, batch: Path, work: Path, samples: int, heap: str, pagecache: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    load = import_folder(first, work / "neo4j", home=work / "neo4j-home", heap=heap, pagecache=pagecache)
    try:
        row["first_rows"], row["first_s"], row["stages"] = load.rows, sum(load.seconds.values()), load.seconds
        with Neo4jStore(load.server.uri, load.server.user, load.server.password, work / "neo4j-home") as store:
            row["index_s"] = _timed(store.prepare_reads)  # only a check: the network came with the import
            started = time.perf_counter()
            row["batch_rows"] = ingest_folder(store, batch, rejects_dir=work / "rejects-n",
                                              progress=False).totals["read"]
            row["batch_s"] = time.perf_counter() - started
            row["network_after_s"] = _timed(store.prepare_reads)
            row.update(_queries(store, samples))
            row.update(_detection(store))
    finally:
        load.server.stop()
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in load.seconds.items())
    print(f"neo4j     first load (neo4j-admin) {row['first_rows']:,} rows in {row['first_s']:.1f}s "
          f"({row['first_rows'] / row['first_s']:,.0f} rows/s; {stages}; neo4j-admin alone "
          f"{row['first_rows'] / load.seconds['import']:,.0f} rows/s); network ready after it in {row['index_s']:.1f}s "
          "(imported with the graph)",
          flush=True)
    print(f"neo4j     batch through Bolt ({neo4j_store._WRITERS} writers, {neo4j_store._INSERT_BATCH:,}-row "
          f"transactions) {row['batch_rows']:,} rows in {row['batch_s']:.1f}s "
          f"({row['batch_rows'] / row['batch_s']:,.0f} rows/s); network updated in place in "
          f"{row['network_after_s']:.1f}s", flush=True)
    _print_queries("neo4j", row)
    _print_detection("neo4j", row)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--city", required=True, help="a contract folder (graphsvc generate)")
    parser.add_argument("--holdback-days", type=int, default=30, help="settlements of the city's last N days "
                                                                      "are the later batch")
    parser.add_argument("--samples", type=int, default=200, help="persons whose 2-hop network is asked")
    parser.add_argument("--heap", default="4g", help="Neo4j heap")
    parser.add_argument("--pagecache", default="2g", help="Neo4j page cache")
    parser.add_argument("--writers", type=int, default=neo4j_store._WRITERS,
                        help="parallel Bolt write transactions of a batch")
    parser.add_argument("--insert-batch", type=int, default=neo4j_store._INSERT_BATCH, help="rows per transaction")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    neo4j_store._WRITERS, neo4j_store._INSERT_BATCH = args.writers, args.insert_batch
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        first, batch, cut = _split(Path(args.city), work / "city", args.holdback_days)
        print(f"{args.city}: settlements from {cut} held back as the later batch; load average "
              + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
        embedded = _embedded(first, batch, work, args.samples)
        neo4j = _neo4j(first, batch, work, args.samples, args.heap, args.pagecache)
        print("neo4j / embedded: first load {:.2f}x, batch {:.2f}x; network after the batch {:.1f}x the "
              "embedded index's time".format(
                  embedded["first_s"] / neo4j["first_s"], embedded["batch_s"] / neo4j["batch_s"],
                  neo4j["network_after_s"] / embedded["network_after_s"]))
        print("detection on neo4j / embedded: {:.1f}x the time; the same ring documents: {}".format(
            (neo4j["read_s"] + neo4j["detect_s"]) / (embedded["read_s"] + embedded["detect_s"]),
            neo4j["rings"] == embedded["rings"]))
        print("load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)


if __name__ == "__main__":
    main()
