"""Ingest benchmark: a generated city through graphsvc's ingest, against named alternatives.

Prints, from one run, rows/s end to end per table and in all, peak memory (max RSS), and
seconds per stage of graphsvc's ingest, beside DuckDB's own ``read_csv`` on the same files,
so where the time goes beyond loading the bytes at all is a printed breakdown. Every
measurement runs in a fresh process so one's memory cannot hide in another's:

- graphsvc: ``ingest_folder`` into the embedded store (validation, normalisation, address
  resolution, reference checks, rejects, idempotent load), all files of the city, first run
  and a re-run (every row unchanged);
- DuckDB read_csv: each CSV of the city into a table of text with no validation, rejects or
  dedup: the ceiling for loading the bytes at all;
- row-at-a-time Python: ``csv.DictReader`` with per-row parsing and Arrow inserts, what a
  first implementation would do (the first ``--naive-rows`` settlements).

Usage: python bench/ingest_benchmark.py --persons 1000000 [--city DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent

def _graphsvc(city: str, home: str) -> dict:
    from graphsvc.store.embedded import EmbeddedStore
    from ingest.pipeline import ingest_folder

    store = EmbeddedStore(home)
    try:
        result = ingest_folder(store, Path(city), rejects_dir=Path(home) / "rejects", progress=False)
    finally:
        store.close()
    # ``seconds`` per stage exists from issue 13 on; an older checkout reports the run alone.
    return {"files": [{"file": f.file, "rows": f.read, "stages": getattr(f, "seconds", {})} for f in result.files]}


def _duckdb(city: str, db: str) -> dict:
    import duckdb

    con = duckdb.connect(db)
    files = []
    for i, path in enumerate(sorted(Path(city).glob("*.csv"))):
        started = time.perf_counter()
        rows = con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv('{path}', all_varchar=true)").fetchall()[0][0]
        files.append({"file": path.name, "rows": rows, "stages": {"file": time.perf_counter() - started}})
    con.close()
    return {"files": files}


def _naive(path: str, rows: str) -> dict:
    from bench_naive import load

    return load(path, int(rows))


_MEASURED = {"graphsvc": _graphsvc, "duckdb": _duckdb, "naive": _naive}


def _child(kind: str, *args: str) -> None:
    started = time.perf_counter()
    result = _MEASURED[kind](*args)
    result["seconds"] = time.perf_counter() - started
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(kind: str, *args: str) -> dict:
    """Run ``_MEASURED[kind](*args)`` in a fresh process, with the code of the checkout this script lies in."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_REPO), str(_REPO / "bench")])}
    out = subprocess.run([sys.executable, __file__, "--measure", kind, *args], capture_output=True, text=True,
                         env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"measurement failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds else "-"


def report(ours: dict, again: dict, raw: dict, naive: dict) -> None:
    raw_by_file = {f["file"]: f for f in raw["files"]}
    stages = ("read", "validate", "address_keys", "references", "store", "rejects")
    print(f"\n{'file':<20} {'rows':>11} {'graphsvc s':>10} {'rows/s':>9} {'re-run s':>8} "
          f"{'DuckDB s':>8} {'rows/s':>9}   " + " ".join(f"{s:>12}" for s in stages))
    for f, g in zip(ours["files"], again["files"]):
        duck = raw_by_file.get(f["file"], {"stages": {}})
        seconds, raw_s = f["stages"].get("file", 0.0), duck["stages"].get("file", 0.0)
        print(f"{f['file']:<20} {f['rows']:>11,} {seconds:>10.1f} {_rate(f['rows'], seconds):>9} "
              f"{g['stages'].get('file', 0.0):>8.1f} {raw_s:>8.1f} {_rate(f['rows'], raw_s):>9}   "
              + " ".join(f"{f['stages'].get(s, 0.0):>12.1f}" for s in stages))
    rows = sum(f["rows"] for f in ours["files"])
    raw_rows = sum(f["rows"] for f in raw["files"])
    print(f"\n{'loader':<48} {'rows':>11} {'seconds':>8} {'rows/s':>9} {'peak MB':>8}")
    for name, r, n in (("graphsvc ingest, all files, first run", ours, rows),
                       ("graphsvc ingest, re-run (all unchanged)", again, rows),
                       ("DuckDB read_csv, no validation (ceiling)", raw, raw_rows),
                       ("row-at-a-time Python csv (settlements only)", naive, naive["settlement_rows"])):
        print(f"{name:<48} {n:>11,} {r['seconds']:>8.1f} {_rate(n, r['seconds']):>9} {r['peak_mb']:>8,.0f}")
    print("\nwhere graphsvc's time goes, seconds summed over files (reading and validating the next batch run")
    print("in a second thread while the current one is stored, so stages overlap and add up to more than the run):")
    for s in stages:
        print(f"  {s:<14} {sum(f['stages'].get(s, 0.0) for f in ours['files']):8.1f}")
    files = sum(f["stages"].get("file", 0.0) for f in ours["files"])
    print(f"  {'other':<14} {ours['seconds'] - files:8.1f}   (opening the store, settling person keys, finishing the log)")
    print(f"  {'run':<14} {ours['seconds']:8.1f}   (DuckDB read_csv of the same files: {raw['seconds']:.1f})")
    print("\nrows/s counts every row read (all six files) over the whole run, store opening and closing included.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--city", type=Path, help="reuse a generated city folder instead of generating one")
    parser.add_argument("--workdir", type=Path, help="where to put the city and stores (default: a temp folder)")
    parser.add_argument("--naive-rows", type=int, default=300_000)
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)  # the measuring child process
    args = parser.parse_args()
    if args.measure:
        _child(*args.measure)
        return

    work = args.workdir or Path(tempfile.mkdtemp(prefix="graphsvc-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    city = args.city or work / f"city-{args.persons}"
    if not city.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cli", "generate", str(city), "--persons", str(args.persons),
                        "--seed", str(args.seed), "--quiet"], check=True, cwd=_REPO)
        print(f"generated {args.persons:,} persons in {time.perf_counter() - started:.1f}s")
    size_mb = sum(p.stat().st_size for p in city.glob("*.csv")) / 2**20

    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    ours = measure("graphsvc", str(city), str(home))
    again = measure("graphsvc", str(city), str(home))
    shutil.rmtree(home, ignore_errors=True)
    db = work / "duckdb-raw.db"
    db.unlink(missing_ok=True)
    raw = measure("duckdb", str(city), str(db))
    db.unlink(missing_ok=True)
    naive = measure("naive", str(city / "settlements.csv"), str(args.naive_rows))
    print(f"city: {city} ({size_mb:,.0f} MiB of CSV)")
    report(ours, again, raw, naive)


if __name__ == "__main__":
    main()
