"""How fast Neo4j itself writes here, beside the store's Bolt ingest on the same server.

Issue 13 asks for Bolt batches at 50,000 rows/s. This prints what the server allows on this
machine, so the store's figure is read against it rather than against the target alone:

- ``nodes``: 10,000-row transactions of ``UNWIND … CREATE`` of nodes with 18 short text
  properties under the ``_key`` uniqueness constraint (the shape of a settlement row);
- ``nodes + 8 links``: the same, each node linked to 8 of 1,000 existing nodes found by ``_key``;
- ``graphsvc ingest``: the store's path (``Neo4jStore`` through ``ingest_folder``) on a generated
  city, with its settlements' rows/s.

    .venv/bin/python bench/neo4j_write_ceiling.py --persons 5000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neo4j import GraphDatabase, ManagedTransaction

from graphsvc.store.neo4j import Neo4jStore
from graphsvc.store.neo4j_server import start_neo4j
from ingest.pipeline import ingest_folder

_ROWS = 10_000
_ROUNDS = 3


def _rows(round_: int) -> list[dict[str, object]]:
    return [{"k": f"s{round_}-{i}", "p": {f"c{j}": f"value{j}-{i}" for j in range(18)},
             "links": [f"h{(i * 7 + j) % 1000}" for j in range(8)]} for i in range(_ROWS)]


def _write(tx: ManagedTransaction, statement: str, rows: list[dict[str, object]]) -> None:
    tx.run(statement, rows=rows).consume()


def _raw(uri: str, user: str, password: str) -> None:
    statements = {
        "nodes": "UNWIND $rows AS r CREATE (n:Node:S {_key: r.k}) SET n += r.p",
        "nodes + 8 links": "UNWIND $rows AS r CREATE (n:Node:S {_key: r.k}) SET n += r.p "
                           "WITH n, r UNWIND r.links AS k MATCH (t:Node {_key: k}) CREATE (n)-[:R]->(t)",
    }
    with GraphDatabase.driver(uri, auth=(user, password)) as driver:
        driver.execute_query("CREATE CONSTRAINT bench_key IF NOT EXISTS FOR (n:Node) REQUIRE n._key IS UNIQUE")
        driver.execute_query("UNWIND range(0, 999) AS i CREATE (:Node:H {_key: 'h' + i})")
        for at, (name, statement) in enumerate(statements.items()):
            rates = []
            for round_ in range(_ROUNDS):
                batch = _rows(at * _ROUNDS + round_)
                started = time.perf_counter()
                with driver.session() as session:
                    session.execute_write(_write, statement, batch)
                rates.append(_ROWS / (time.perf_counter() - started))
            print(f"neo4j alone, {name:<16} {', '.join(f'{r:,.0f}' for r in rates)} rows/s "
                  f"({_ROUNDS} transactions of {_ROWS:,}; the first warms the server)", flush=True)
        with driver.session() as session:  # leave the database empty for the store
            session.run("MATCH (n:Node) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
        driver.execute_query("DROP CONSTRAINT bench_key")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=5000, help="size of the generated city")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        city = Path(work) / "city"
        subprocess.run([str(Path(sys.executable).parent / "graphsvc"), "generate", str(city), "--persons", str(args.persons),
                        "--seed", str(args.seed)], check=True, capture_output=True)
        server = start_neo4j(Path(work) / "neo4j", heap="2g", pagecache="1g")
        try:
            _raw(server.uri, server.user, server.password)
            with Neo4jStore(server.uri, server.user, server.password, Path(work) / "home") as store:
                started = time.perf_counter()
                report = ingest_folder(store, city, rejects_dir=Path(work) / "rejects", progress=False)
                seconds = time.perf_counter() - started
            rows = report.totals["loaded"]
            print(f"graphsvc ingest through Bolt: {args.persons:,}-person city, {rows:,} rows in {seconds:.1f} s "
                  f"({rows / seconds:,.0f} rows/s end to end: validation, every table, the ingest log)")
        finally:
            server.kill()


if __name__ == "__main__":
    main()
