"""Ingest benchmark: a generated city through `graphsvc ingest`, against two named alternatives.

Prints settlement rows/s end to end and peak memory (max RSS) of each, every measurement in
a fresh process so one's memory cannot hide in another's:

- graphsvc: ``graphsvc ingest`` (validation, normalisation, reference checks, rejects,
  idempotent load into the embedded store), all files of the city;
- row-at-a-time Python: ``csv.DictReader`` with per-row parsing and Arrow inserts, what a
  first implementation would do (run on the first ``--naive-rows`` settlements);
- DuckDB read_csv: DuckDB's own bulk CSV load with no validation, rejects or dedup:
  the ceiling for loading the bytes at all.

Usage: python bench/ingest_benchmark.py --persons 1000000 [--city DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_MEASURE = """
import json, resource, sys, time
started = time.perf_counter()
result = {body}
result["seconds"] = time.perf_counter() - started
result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""

_GRAPHSVC = """(lambda: (
    __import__("cli").main(["ingest", {city!r}, "--home", {home!r}, "--quiet"]),
    (lambda log: {{"settlement_rows": sum(r.read for r in log if r.table == "settlements" and r.run_id == log[-1].run_id)}})(
        __import__("graphsvc.store.embedded", fromlist=["x"]).EmbeddedStore({home!r}, read_only=True).ingest_log()))[1])()"""

_NAIVE = """(lambda: __import__("bench_naive").load({path!r}, {rows}))()"""

_DUCKDB = """(lambda: {{"settlement_rows": __import__("duckdb").connect({db!r}).execute(
    "CREATE TABLE s AS SELECT * FROM read_csv({path!r}, all_varchar=true)").fetchall()[0][0]}})()"""


def measure(body: str) -> dict:
    code = _MEASURE.format(body=body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parent, check=False)
    if out.returncode != 0:
        raise SystemExit(f"measurement failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--city", type=Path, help="reuse a generated city folder instead of generating one")
    parser.add_argument("--workdir", type=Path, help="where to put the city and stores (default: a temp folder)")
    parser.add_argument("--naive-rows", type=int, default=300_000)
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="graphsvc-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    city = args.city or work / f"city-{args.persons}"
    if not city.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cli", "generate", str(city), "--persons", str(args.persons),
                        "--seed", str(args.seed), "--quiet"], check=True)
        print(f"generated {args.persons:,} persons in {time.perf_counter() - started:.1f}s")
    settlements = city / "settlements.csv"
    size_mb = settlements.stat().st_size / 2**20

    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    ours = measure(_GRAPHSVC.format(city=str(city), home=str(home)))
    again = measure(_GRAPHSVC.format(city=str(city), home=str(home)))
    naive = measure(_NAIVE.format(path=str(settlements), rows=args.naive_rows))
    db = work / "duckdb-raw.db"
    db.unlink(missing_ok=True)
    raw = measure(_DUCKDB.format(db=str(db), path=str(settlements)))

    print(f"\ncity: {city} ({size_mb:,.0f} MiB of settlements)")
    print(f"{'loader':<44} {'settlement rows':>15} {'seconds':>8} {'rows/s':>10} {'peak MB':>8}")
    for name, r in (("graphsvc ingest (all files, first run)", ours),
                    ("graphsvc ingest (re-run: all unchanged)", again),
                    ("row-at-a-time Python csv (settlements only)", naive),
                    ("DuckDB read_csv, no validation (ceiling)", raw)):
        rate = r["settlement_rows"] / r["seconds"]
        print(f"{name:<44} {r['settlement_rows']:>15,} {r['seconds']:>8.1f} {rate:>10,.0f} {r['peak_mb']:>8,.0f}")
    print("\ngraphsvc rows/s counts settlement rows over the whole run, persons and cards included in the time.")


if __name__ == "__main__":
    main()
