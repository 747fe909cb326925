"""The ``graphsvc`` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from graphsvc.config import Settings

__all__ = ["main"]

_EPILOG = """\
examples:
  graphsvc demo                                   generate a demo city and load it
  graphsvc generate city/ --persons 100000 --seed 7
  graphsvc ingest city/ --home ./graphsvc-home     load a contract folder
  graphsvc stats --json                           what is loaded, rejects, biggest hubs
  graphsvc detect --out rings.json                find rings in what is loaded

The store lives in --home, else $GRAPHSVC_HOME, else ./graphsvc-home.
"""


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _settings(args: argparse.Namespace) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        raise CliError(f"bad GRAPHSVC_* environment: {exc}") from None
    if getattr(args, "home", None):
        settings = settings.model_copy(update={"home": Path(args.home)})
    return settings


def _open_store(settings: Settings, *, read_only: bool = False):  # type: ignore[no-untyped-def]
    from graphsvc.store import open_store

    try:
        return open_store(settings, read_only=read_only)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None


def cmd_generate(args: argparse.Namespace) -> int:
    from graphsvc.generate import generate_city

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise CliError(f"{out} exists and is not empty; choose a new folder so no old file mixes in")
    started = time.perf_counter()
    try:
        summary = generate_city(out, persons=args.persons, seed=args.seed, dirt=args.dirt, progress=not args.quiet)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {out}/ in {time.perf_counter() - started:.1f}s: {summary['persons']:,} persons, "
          f"{summary['settlements']:,} settlements, {summary['rings']} planted rings, "
          f"{summary['lookalikes']} look-alike groups")
    print(f"ground truth: {summary['truth']} (beside the folder, not inside it)")
    return 0


def _print_ingest(report, elapsed: float) -> None:  # type: ignore[no-untyped-def]
    width = max([len(f.file) for f in report.files] + [4])
    print(f"{'file':<{width}}  {'read':>11}  {'loaded':>11}  {'unchanged':>11}  {'rejected':>9}")
    for f in report.files:
        print(f"{f.file:<{width}}  {f.read:>11,}  {f.loaded:>11,}  {f.unchanged:>11,}  {f.rejected:>9,}")
        if f.missing_columns:
            print(f"  ! {f.file} lacks required column(s) {', '.join(f.missing_columns)}: its rows were rejected")
        if f.ignored_columns:
            print(f"  note: ignored column(s) {', '.join(f.ignored_columns)}")
        if f.note:
            print(f"  note: {f.note}")
    t = report.totals
    print(f"{'total':<{width}}  {t['read']:>11,}  {t['loaded']:>11,}  {t['unchanged']:>11,}  {t['rejected']:>9,}")
    for name in report.unrecognised_files:
        print(f"  note: {name} matches no contract file and was not read")
    if report.rejects_path:
        print(f"rejected rows (file, line, reason, row): {report.rejects_path}")
    print(f"run {report.run_id} took {elapsed:.1f}s")


def _ingest(settings: Settings, folder: Path, quiet: bool) -> int:
    from ingest.pipeline import IngestError, ingest_folder

    store = _open_store(settings)
    started = time.perf_counter()
    try:
        report = ingest_folder(store, folder, rejects_dir=settings.home / "rejects", progress=not quiet)
    except IngestError as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    _print_ingest(report, time.perf_counter() - started)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"loading {args.folder} into {settings.home} ({settings.backend})")
    return _ingest(settings, Path(args.folder), args.quiet)


def _print_stats(stats: dict) -> None:
    print(f"backend: {stats['backend']}")
    print("nodes:")
    for label, count in stats["nodes"].items():
        print(f"  {label:<14} {count:>12,}")
    print("relationships:")
    for rel, count in stats["relationships"].items():
        print(f"  {rel:<14} {count:>12,}")
    ing = stats["ingest"]
    print(f"ingest: {ing['runs']} run(s), {ing['loaded']:,} rows loaded, {ing['rejected']:,} rejected")
    for path in ing["rejects_files"]:
        print(f"  rejects: {path}")
    print("biggest hubs (distinct persons linked):")
    for label, hubs in stats["hubs"].items():
        shown = ", ".join(f"{h['value']} ({h['persons']})" for h in hubs) or "-"
        print(f"  {label:<12} {shown}")


def cmd_stats(args: argparse.Namespace) -> int:
    from queries.stats import graph_stats

    settings = _settings(args)
    _require_graph(settings)
    store = _open_store(settings, read_only=True)
    try:
        stats = graph_stats(store, top=args.top)
    finally:
        store.close()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
    else:
        _print_stats(stats)
    return 0


def _require_graph(settings: Settings) -> None:
    if settings.backend == "embedded" and not (settings.home / "graph.duckdb").exists():
        raise CliError(f"no graph in {settings.home}; load one with: graphsvc ingest DIR --home {settings.home}")


def _detect(settings: Settings, config_path: str | None, out: Path | None, quiet: bool, top: int) -> int:
    from graphsvc.detect import DetectionConfig, detect_and_save

    try:
        config = DetectionConfig.from_file(Path(config_path)) if config_path else DetectionConfig()
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot use detection config {config_path}: {exc}") from None
    store = _open_store(settings)
    try:
        if not store.has_rows("settlements"):
            raise CliError(f"no settlements loaded in {settings.home}; load some with: graphsvc ingest DIR")
        run, documents = detect_and_save(store, config, progress=not quiet)
    finally:
        store.close()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"rings": documents}, ensure_ascii=False, indent=1), encoding="utf-8")
    _print_rings(documents, top)
    print(f"{run.rings} rings ({run.kept_ids} kept their id from the previous run, {run.new_ids} new, "
          f"{len(run.retired_ids)} no longer found) in {run.seconds:.1f}s; run {run.run_id}")
    print("findings: " + ", ".join(f"{k} {v}" for k, v in run.summary["findings"].items()))
    if out:
        print(f"rings written to {out}")
    return 0


def _print_rings(documents: list[dict], top: int) -> None:
    if top <= 0:
        return
    print(f"{'ring':<9} {'pattern':<30} {'score':>6} {'persons':>7} {'fund':>14}  {'first seen':<10}  {'last seen':<10}")
    for d in documents[:top]:
        print(f"{d['id']:<9} {d['pattern']:<30} {d['score']:>6.3f} {d['persons']:>7} {d['fund_amount']:>14,.2f}  "
              f"{d['first_seen'] or '-':<10}  {d['last_seen'] or '-':<10}")
        print(f"          why: {d['evidence'][0]['detail'][:150]}")
    if len(documents) > top:
        print(f"… and {len(documents) - top} more")


def cmd_detect(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _require_graph(settings)
    return _detect(settings, args.config, Path(args.out) if args.out else None, args.quiet, args.top)


def cmd_demo(args: argparse.Namespace) -> int:
    from graphsvc.generate import generate_city
    from queries.stats import graph_stats

    settings = _settings(args)
    city = settings.home / "demo-city" / f"seed{args.seed}-{args.persons}"
    if not city.exists():
        print(f"1/4 generating a demo city of {args.persons:,} persons in {city}")
        summary = generate_city(city, persons=args.persons, seed=args.seed, progress=not args.quiet)
        print(f"    {summary['settlements']:,} settlements, {summary['rings']} planted rings; truth: {summary['truth']}")
    else:
        print(f"1/4 reusing the demo city in {city}")
    print(f"2/4 loading it into {settings.home}")
    _ingest(settings, city, args.quiet)
    print("3/4 what is loaded")
    store = _open_store(settings, read_only=True)
    try:
        _print_stats(graph_stats(store, top=3))
    finally:
        store.close()
    out = settings.home / "rings.json"
    print(f"4/4 detecting rings (written to {out})")
    _detect(settings, None, out, args.quiet, top=10)
    print(f"\nnext: graphsvc detect --out rings.json --home {settings.home}   (re-run: ring ids stay stable)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphsvc",
        description="Find organised medical-insurance fraud rings (医保欺诈骗保) in claims data.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_home(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--home", help="store folder (default: $GRAPHSVC_HOME or ./graphsvc-home)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        return p

    g = sub.add_parser("generate", help="write a demo city (contract folder + ground truth beside it)")
    g.add_argument("out", help="folder to create; OUT-truth.json is written beside it")
    g.add_argument("--persons", type=int, default=20_000, help="insured persons (default 20000; about 10 claims each)")
    g.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same files")
    g.add_argument("--dirt", type=float, default=0.001,
                   help="share of claim rows with real-world dirt; a tenth of them unrepairable (default 0.001)")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.set_defaults(func=cmd_generate)

    i = with_home(sub.add_parser("ingest", help="load a contract folder (CSV, Parquet or XLSX) into the store"))
    i.add_argument("folder", help="folder with persons.csv, cards.csv, institutions.csv, prescribers.csv, "
                                  "intermediaries.csv, settlements.csv (any but settlements may be absent)")
    i.set_defaults(func=cmd_ingest)

    s = with_home(sub.add_parser("stats", help="counts per node and relationship type, rejects, biggest hubs"))
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--top", type=int, default=5, help="hubs to list per identifier type (default 5)")
    s.set_defaults(func=cmd_stats)

    t = with_home(sub.add_parser(
        "detect", help="find fraud rings in what is loaded; store them with stable ids and optionally write JSON",
        description="Run every motif detector, build the suspicion graph, cut it into rings with Leiden, score "
                    "them and store them with the graph. A ring that is the same as one of the previous run "
                    "(persons overlapping by ring.match_jaccard) keeps its id."))
    t.add_argument("--out", help="write the rings as contract JSON ({\"rings\": [...]}) to this file")
    t.add_argument("--config", help="JSON file overriding detection parameters, e.g. "
                                    "{\"card_burst\": {\"minutes\": 10}}; see graphsvc/detect/config.py")
    t.add_argument("--top", type=int, default=10, help="rings to print (default 10)")
    t.set_defaults(func=cmd_detect)

    d = with_home(sub.add_parser("demo", help="generate a demo city, load it and detect rings"))
    d.add_argument("--persons", type=int, default=20_000, help="size of the demo city (default 20000)")
    d.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    d.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"graphsvc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("graphsvc: interrupted; re-run the same command: loading is idempotent", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
