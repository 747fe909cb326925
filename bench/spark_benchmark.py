"""Detection on DuckDB and on Apache Spark, same city, same run: seconds per detector side by side.

DuckDB reads the store's own tables; Spark (``--master``, default ``local[2]``) reads them
exported to Parquet, as ``graphsvc detect --engine spark`` does without ``--input``. Both run the
same SQL (DuckDB's, transpiled for Spark by sqlglot) and the same Python steps after it; the
benchmark checks they find the same rings and prints Spark's start-up and the export apart.

    graphsvc generate /tmp/city20k --persons 20000 --seed 7 && graphsvc ingest /tmp/city20k --home /tmp/home20k
    .venv/bin/python bench/spark_benchmark.py --home /tmp/home20k
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from graphsvc.detect import DetectionConfig, detect_rings
from graphsvc.store.embedded import EmbeddedStore
from graphsvc.store.engine import SparkSQLSession, local_spark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, help="store folder holding an ingested city")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2]: this machine's cores)")
    args = parser.parse_args(argv)
    config = DetectionConfig()
    with EmbeddedStore(args.home) as store:
        persons, settlements = store.node_counts()["Person"], store.node_counts()["Settlement"]
        started = time.perf_counter()
        on_duckdb = detect_rings(store, config)
        duckdb_total = time.perf_counter() - started

        started = time.perf_counter()
        spark = local_spark(args.master)
        spark_start = time.perf_counter() - started
        with tempfile.TemporaryDirectory(prefix="graphsvc-spark-bench-") as folder:
            started = time.perf_counter()
            con = store.analysis_connection()
            try:
                session = SparkSQLSession.from_duckdb(spark, con, Path(folder))
            finally:
                con.close()
            export = time.perf_counter() - started
            started = time.perf_counter()
            try:
                on_spark = detect_rings(store, config, session=session)
            finally:
                session.close()
            spark_total = time.perf_counter() - started
    spark.stop()

    print(f"detection on {persons:,} persons, {settlements:,} settlements; Spark master {args.master}")
    print(f"  {'stage':<24} {'duckdb, s':>10} {'spark, s':>10} {'spark/duckdb':>13}")
    for stage, seconds in on_duckdb.seconds.items():
        other = on_spark.seconds[stage]
        ratio = f"{other / seconds:.1f}x" if seconds >= 0.01 else "-"
        print(f"  {stage:<24} {seconds:>10.2f} {other:>10.2f} {ratio:>13}")
    print(f"  {'detection, total':<24} {duckdb_total:>10.2f} {spark_total:>10.2f} {spark_total / duckdb_total:>12.1f}x")
    print(f"  Spark start-up {spark_start:.1f} s and Parquet export of the store {export:.1f} s, not in the total")
    same = [r.document() for r in on_spark.rings] == [r.document() for r in on_duckdb.rings]
    print(f"  {len(on_duckdb.rings)} rings on DuckDB, {len(on_spark.rings)} on Spark: {'identical' if same else 'DIFFERENT'}")
    for name, a, b in (("findings", on_duckdb.findings, on_spark.findings),
                       ("explained look-alikes", on_duckdb.explained, on_spark.explained)):
        differ = sorted({f.kind for f, g in zip(a, b) if (f, f.facts) != (g, g.facts)})
        agree = len(a) == len(b) and not differ
        print(f"  {len(a)} {name} on DuckDB, {len(b)} on Spark: "
              f"{'identical, facts included' if agree else 'DIFFERENT in ' + ', '.join(differ or ['count'])}")
        same = same and agree
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
