"""One city through every stage on this machine: generate, ingest, detect, network index, serve under load.

Issue 13's first item asks for 10 million insured persons on one machine (2 cores, 24 GB) with
time per stage and peak memory, against targets: ingest at least 300k rows/s end to end under
12 GB, detection under 3 min and 16 GB (with time per detector), the network index under 3 min,
and, at 50 clients, ring detail p99 under 100 ms and a 2-hop network p99 under 150 ms.

Each stage runs in a fresh process, so its peak resident memory (``ru_maxrss``) is its own:

- generate: ``graphsvc.generate.generate_city`` (skipped when ``--city`` exists);
- ingest: ``bench/ingest_benchmark.py``'s measurement (``ingest_folder`` into a new embedded
  store), with its seconds per stage; beside it, DuckDB's ``read_csv`` of the same files with no
  validation (the named alternative: the ceiling for loading the bytes at all);
- detect: ``detect_and_save`` (rings stored with their ids, as ``graphsvc detect`` does), seconds
  per detector, and the rings scored against the generator's truth;
- index: ``prepare_reads`` (the CSR network index a server reads), on the store as detected;
- serve: ``bench/api_benchmark.py`` against a real ``graphsvc serve`` (50 clients in their own
  process; its named alternative, DuckDB joins for the same 2-hop networks, unless ``--skip-alternative``).

    .venv/bin/python bench/scale_benchmark.py --persons 10000000 --workdir /data/scale10m

The work folder keeps the city, the home and each stage's figures (``STAGE.json``, written and
printed as soon as the stage ends, so a later stage that fails loses nothing), and a later run with
``--from detect`` re-measures the later stages only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent.parent
STAGES = ("generate", "ingest", "detect", "index", "serve")
TARGETS = {"ingest rows/s": 300_000, "ingest peak MB": 12 * 1024, "detect s": 180, "detect peak MB": 16 * 1024,
           "index s": 180}
"""Issue 13's targets for 10M persons on this machine; the serving targets are printed by api_benchmark."""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generate(city: str, persons: str, seed: str, realism: str) -> dict[str, Any]:
    from graphsvc.generate import generate_city

    summary = generate_city(Path(city), persons=int(persons), seed=int(seed), realism=realism, progress=False)
    return {"persons": summary["persons"], "settlements": summary["settlements"]}


def _detect(home: str, memory_limit: str, truth: str) -> dict[str, Any]:
    from graphsvc.detect import DetectionConfig, detect_and_save
    from graphsvc.store.embedded import EmbeddedStore
    from quality import TARGETS as QUALITY
    from quality import score_rings

    with EmbeddedStore(home, memory_limit=memory_limit) as store:
        run, documents = detect_and_save(store, DetectionConfig())
    summary = run.summary
    out: dict[str, Any] = {"stages": summary["seconds"], "findings": sum(summary.get("findings", {}).values()),
                           "rings": len(documents)}
    if Path(truth).exists():
        ranked = [([m["id"] for m in d["members"] if m["type"] == "person"], d["pattern"]) for d in documents]
        metrics = score_rings(ranked, json.loads(Path(truth).read_text(encoding="utf-8")))
        out["quality"] = {k: metrics[k] for k in QUALITY} | {"lookalikes_in_top_2k": metrics["lookalikes_in_top_2k"]}
    return out


def _index(home: str, memory_limit: str) -> dict[str, Any]:
    from graphsvc.store.embedded import EmbeddedStore

    with EmbeddedStore(home, memory_limit=memory_limit) as store:
        started = time.perf_counter()
        store.prepare_reads()
        return {"stages": {"prepare_reads": time.perf_counter() - started}}


def _ingest(city: str, home: str) -> dict[str, Any]:
    from ingest_benchmark import _graphsvc

    return _graphsvc(city, home)


def _ceiling(city: str, db: str) -> dict[str, Any]:
    from ingest_benchmark import _duckdb

    return _duckdb(city, db)


_MEASURED: dict[str, Callable[..., dict[str, Any]]] = {
    "generate": _generate, "ingest": _ingest, "ceiling": _ceiling, "detect": _detect, "index": _index}


def _child(kind: str, *args: str) -> None:
    started = time.perf_counter()
    result = _MEASURED[kind](*args)
    result["seconds"] = time.perf_counter() - started
    result["peak_mb"] = _peak_mb()
    print(json.dumps(result))


def measure(kind: str, *args: str) -> dict[str, Any]:
    """``_MEASURED[kind](*args)`` in a fresh process, with this checkout's code."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_REPO), str(_REPO / "bench")])}
    print(f"[{time.strftime('%H:%M:%S')}] {kind} …", flush=True)
    out = subprocess.run([sys.executable, __file__, "--measure", kind, *args], capture_output=True, text=True,
                         env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"[{time.strftime('%H:%M:%S')}] {kind}: {result['seconds']:.1f} s, peak {result['peak_mb']:,.0f} MB",
          flush=True)
    return result


def _verdict(name: str, value: float, below: bool = True) -> str:
    target = TARGETS[name]
    met = value < target if below else value >= target
    return f"target {'<' if below else '≥'} {target:,}: {'met' if met else 'NOT met'}"


def _show_generate(g: dict[str, Any]) -> None:
    print(f"  generate {g['seconds']:.1f} s, peak {g['peak_mb']:,.0f} MB: {g['settlements']:,} settlements")


def _show_ingest(i: dict[str, Any]) -> None:
    rows = sum(f["rows"] for f in i["files"])
    rate = rows / i["seconds"]
    print(f"  ingest {i['seconds']:.1f} s, peak {i['peak_mb']:,.0f} MB: {rows:,} rows, {rate:,.0f} rows/s "
          f"({_verdict('ingest rows/s', rate, below=False)}; peak {_verdict('ingest peak MB', i['peak_mb'])})")
    stages = ("read", "validate", "address_keys", "references", "store", "rejects")
    summed = {s: sum(f["stages"].get(s, 0.0) for f in i["files"]) for s in stages}
    print("    seconds by stage, summed over files (they overlap: reading and validating the next batch run "
          "beside storing this one): " + ", ".join(f"{s} {v:.1f}" for s, v in summed.items()))
    for f in i["files"]:
        print(f"    {f['file']:<20} {f['rows']:>12,} rows {f['stages'].get('file', 0.0):>8.1f} s")


def _show_ceiling(c: dict[str, Any]) -> None:
    rows = sum(f["rows"] for f in c["files"])
    print(f"  DuckDB read_csv, all text, no validation (the ceiling): {c['seconds']:.1f} s, peak {c['peak_mb']:,.0f} MB, "
          f"{rows / c['seconds']:,.0f} rows/s")


def _show_detect(d: dict[str, Any]) -> None:
    print(f"  detect {d['seconds']:.1f} s, peak {d['peak_mb']:,.0f} MB: {d['findings']:,} findings, {d['rings']:,} rings "
          f"({_verdict('detect s', d['seconds'])}; peak {_verdict('detect peak MB', d['peak_mb'])})")
    for name, seconds in sorted(d["stages"].items(), key=lambda kv: -kv[1]):
        print(f"    {name:<28} {seconds:>8.1f} s")
    if "quality" in d:
        print("    against the truth: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in d["quality"].items()))


def _show_index(x: dict[str, Any]) -> None:
    seconds = x["stages"]["prepare_reads"]
    print(f"  index (prepare_reads) {seconds:.1f} s, process peak {x['peak_mb']:,.0f} MB ({_verdict('index s', seconds)})")


_SHOW: dict[str, Callable[[dict[str, Any]], None]] = {
    "generate": _show_generate, "ingest": _show_ingest, "ceiling": _show_ceiling, "detect": _show_detect,
    "index": _show_index}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--realism", choices=("plain", "hard"), default="plain")
    parser.add_argument("--workdir", type=Path, required=False, help="holds city/ and home/ (kept for --from)")
    parser.add_argument("--from", dest="start", choices=STAGES, default="generate", help="first stage to measure")
    parser.add_argument("--memory-limit", default="12GB", help="DuckDB memory cap for detect and index")
    parser.add_argument("--skip-ceiling", action="store_true", help="leave out DuckDB read_csv beside ingest")
    parser.add_argument("--skip-alternative", action="store_true", help="passed on to api_benchmark.py")
    parser.add_argument("--seconds", type=float, default=15.0, help="load time per endpoint in api_benchmark.py")
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)  # the measuring child process
    args = parser.parse_args()
    if args.measure:
        _child(*args.measure)
        return
    if args.workdir is None:
        parser.error("--workdir is required")
    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    city, home = work / "city", work / "home"
    truth = work / "city-truth.json"  # generate_city writes the truth beside the folder
    todo = STAGES[STAGES.index(args.start):]

    def stage(kind: str, *stage_args: str) -> dict[str, Any]:
        # Kept and shown as soon as measured: a later stage that fails loses nothing of the earlier ones.
        result = measure(kind, *stage_args)
        (work / f"{kind}.json").write_text(json.dumps(result))
        _SHOW[kind](result)
        sys.stdout.flush()
        return result

    if "generate" in todo and not city.exists():
        stage("generate", str(city), str(args.persons), str(args.seed), args.realism)
    csv_mb = sum(p.stat().st_size for p in city.glob("*.csv")) / 2**20
    print(f"city {city}: {args.persons:,} persons, seed {args.seed}, {args.realism}; {csv_mb:,.0f} MiB of CSV")
    if "ingest" in todo:
        shutil.rmtree(home, ignore_errors=True)
        stage("ingest", str(city), str(home))
        if not args.skip_ceiling:
            db = work / "ceiling.duckdb"
            db.unlink(missing_ok=True)
            stage("ceiling", str(city), str(db))
            db.unlink(missing_ok=True)
    if "detect" in todo:
        stage("detect", str(home), args.memory_limit, str(truth))
    if "index" in todo:
        stage("index", str(home), args.memory_limit)
    sys.stdout.flush()
    if "serve" in todo:
        print("\nserve: bench/api_benchmark.py, 50 clients (targets: ring detail p99 < 100 ms, "
              "2-hop network p99 < 150 ms)", flush=True)
        command = [sys.executable, str(_REPO / "bench" / "api_benchmark.py"), "--home", str(home),
                   "--concurrency", "50", "--seconds", str(args.seconds)]
        subprocess.run(command + (["--skip-alternative"] if args.skip_alternative else []), check=True, cwd=_REPO)


if __name__ == "__main__":
    main()
