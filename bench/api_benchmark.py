"""Load benchmark of the query API: a real `graphsvc serve` (uvicorn) on loopback, 50 concurrent clients.

For each endpoint (ring list, ring detail, capped 2-hop network, search) the client process
keeps ``--concurrency`` keep-alive connections busy for ``--seconds`` (closed loop: each
client sends its next request when the last answer is in) and prints requests/s and
p50/p99 latency. Client and server share this machine's cores, so the figures include the
load generator's own CPU.

Named alternative, same run: the same 2-hop networks answered by SQL joins over an
adjacency table in DuckDB (the obvious way to do it on the embedded store), in process
with no HTTP at all, against the served CSR index's answer time in process.

    .venv/bin/python bench/api_benchmark.py --home /data/gs1m

A home on Neo4j is served the same way with the settings in the environment (the server and the
key command inherit them): ``GRAPHSVC_BACKEND=neo4j NEO4J_URI=... NEO4J_PASSWORD=...``; the
alternative, which compares the embedded store's index, is then left out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import duckdb
import httpx

from api.process import start_serve
from graphsvc.config import Settings

ROOT = Path(__file__).resolve().parent.parent


async def _client(host: str, port: int, paths: list[str], key: str, stop_at: float, latencies: list[float],
                  errors: list[int], seed: int) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            path = rng.choice(paths)
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n\r\n".encode()
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not status_line.startswith(b"HTTP/1.1 200"):
                errors.append(int(status_line.split()[1]))
    finally:
        writer.close()


def _load(host: str, port: int, paths: list[str], key: str, seconds: float, concurrency: int, out: multiprocessing.Queue) -> None:
    async def run() -> tuple[list[float], list[int]]:
        latencies: list[float] = []
        errors: list[int] = []
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(_client(host, port, paths, key, stop_at, latencies, errors, i) for i in range(concurrency)))
        return latencies, errors

    started = time.perf_counter()
    latencies, errors = asyncio.run(run())
    out.put((latencies, errors, time.perf_counter() - started))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _measure(name: str, host: str, port: int, paths: list[str], key: str, seconds: float, concurrency: int) -> dict:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    worker = multiprocessing.Process(target=_load, args=(host, port, paths, key, seconds, concurrency, queue))
    worker.start()
    latencies, errors, wall = queue.get()
    worker.join()
    row = {"endpoint": name, "requests": len(latencies), "rps": len(latencies) / wall,
           "p50_ms": 1000 * _percentile(latencies, 0.50), "p99_ms": 1000 * _percentile(latencies, 0.99),
           "errors": len(errors)}
    print(f"{name:<28} {row['requests']:>8,} req  {row['rps']:>8.1f} req/s  p50 {row['p50_ms']:>7.1f} ms  "
          f"p99 {row['p99_ms']:>7.1f} ms  non-200 {row['errors']}", flush=True)
    return row


def _sql_two_hop(con: duckdb.DuckDBPyConnection, key: str, limit: int) -> int:
    """The alternative: a 2-hop ego network by joins on an adjacency table (both directions stored)."""
    rows = con.execute(
        "WITH one AS (SELECT other FROM adj WHERE node = ? LIMIT ?), "
        "two AS (SELECT a.node, a.other FROM adj a JOIN one ON a.node = one.other) "
        "SELECT count(*) FROM (SELECT * FROM two LIMIT ?)", [key, limit, limit]).fetchall()
    return rows[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", required=True, help="a store with rings detected (graphsvc ingest + detect)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="load time per endpoint")
    parser.add_argument("--targets", type=int, default=200, help="distinct persons used for network and search")
    parser.add_argument("--skip-alternative", action="store_true")
    args = parser.parse_args()
    home = Path(args.home)
    graphsvc = [sys.executable, "-m", "cli"]
    key = subprocess.run([*graphsvc, "apikey", "create", "--role", "investigator", "--name", "load benchmark",
                          "--home", str(home)], capture_output=True, text=True, check=True).stdout.strip()

    env = {"GRAPHSVC_RATE_LIMIT_PER_MINUTE": "100000000", "GRAPHSVC_MEMORY_LIMIT": "4GB"}
    started = time.perf_counter()
    served = start_serve(home, env=env)
    server, base = served.process, served.base
    port = int(base.rsplit(":", 1)[1])
    print(f"server up in {time.perf_counter() - started:.1f}s", flush=True)
    headers = {"X-API-Key": key}
    try:
        rings = httpx.get(f"{base}/rings", params={"size": 500}, headers=headers, timeout=60).json()["items"]
        ring_ids = [r["id"] for r in rings]
        if not ring_ids:
            raise SystemExit(f"no rings in {home}: load a city and detect first (graphsvc ingest, graphsvc detect)")
        rng = random.Random(1)
        persons: list[str] = []
        for ring_id in ring_ids:  # warm the detail cache the way a first look at the queue would
            detail = httpx.get(f"{base}/rings/{ring_id}", headers=headers, timeout=120).json()
            persons += [m["id"] for m in detail["members"] if m["type"] == "person"]
        persons = rng.sample(persons, min(args.targets, len(persons)))
        names = []
        for p in persons[:50]:
            profile = httpx.get(f"{base}/entities/person/{p}", headers=headers, timeout=60).json()
            names += [profile["attributes"].get("phone"), profile["attributes"].get("name")]
        names = [n for n in names if n]
        print(f"{len(ring_ids)} rings, {len(persons)} persons, {len(names)} search terms; "
              f"{args.concurrency} clients, {args.seconds:.0f}s per endpoint", flush=True)
        cases = {
            # a no-op: the floor that HTTP, the event loop and the load generator set on this machine
            "GET /health (floor)": ["/health"],
            "GET /rings (page of 50)": [f"/rings?{urlencode({'page': p, 'size': 50})}" for p in (1, 2, 3)],
            "GET /rings/{id}": [f"/rings/{r}" for r in ring_ids],
            "GET network hops=2 limit=200": [f"/entities/person/{p}/network?hops=2&limit=200" for p in persons],
            "GET /search": [f"/search?{urlencode({'q': n})}" for n in names],
        }
        results = [_measure(name, "127.0.0.1", port, paths, key, args.seconds, args.concurrency)
                   for name, paths in cases.items()]
        peak_kb = next(int(line.split()[1]) for line in Path(f"/proc/{server.pid}/status").read_text().splitlines()
                       if line.startswith("VmHWM"))
        print(f"server peak resident memory {peak_kb / 1024:,.0f} MB", flush=True)
    finally:
        served.stop()

    alternative = None
    backend = Settings(home=home).backend
    if backend != "embedded":
        print("alternative left out: it compares the embedded store's index, and this home is served from "
              f"{backend}", flush=True)
    elif not args.skip_alternative:
        alternative = _alternative(home, persons)
    print(json.dumps({"results": results, "alternative": alternative}, indent=1))


def _alternative(home: Path, persons: list[str]) -> dict:
    """2-hop networks by SQL joins over a DuckDB adjacency table vs the CSR index, both in process."""
    from graphsvc.store.embedded import EmbeddedStore
    from graphsvc.store.schema import NETWORK_EDGES_SQL
    from queries.network import ego_network

    store = EmbeddedStore(home, memory_limit="4GB")
    try:
        store.prepare_reads()  # open the index before timing, as the server does at start
        con = store.analysis_connection()
        started = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE adj AS SELECT node, other FROM ("
                    f"SELECT a AS node, b AS other FROM ({NETWORK_EDGES_SQL}) UNION ALL "
                    f"SELECT b, a FROM ({NETWORK_EDGES_SQL})) ORDER BY node")
        build = time.perf_counter() - started
        sql_times, csr_times = [], []
        for p in persons[:100]:
            t = time.perf_counter()
            _sql_two_hop(con, f"person:{p}", 200)
            sql_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            ego_network(store, f"person:{p}", hops=2, limit=200)
            csr_times.append(time.perf_counter() - t)
        con.close()
    finally:
        store.close()
    row = {"sql_table_build_s": build,
           "sql_p50_ms": 1000 * statistics.median(sql_times), "sql_p99_ms": 1000 * _percentile(sql_times, 0.99),
           "csr_p50_ms": 1000 * statistics.median(csr_times), "csr_p99_ms": 1000 * _percentile(csr_times, 0.99)}
    print(f"alternative, in process, same {len(sql_times)} persons, 2 hops capped at 200: "
          f"SQL joins on a DuckDB adjacency table p50 {row['sql_p50_ms']:.1f} ms p99 {row['sql_p99_ms']:.1f} ms "
          f"(table built in {build:.1f}s); graphsvc CSR index p50 {row['csr_p50_ms']:.2f} ms "
          f"p99 {row['csr_p99_ms']:.2f} ms", flush=True)
    return row


if __name__ == "__main__":
    main()
