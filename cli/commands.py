"""The ``graphsvc`` command line.

A user's error (``graphsvc.errors``) is printed as one line without a traceback and ends the
command with the exit code of its kind (``_EXIT_CODES``); anything else is a defect, printed the
same way, its traceback logged at debug level.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from graphsvc import vocab
from graphsvc.config import Settings
from graphsvc.errors import Conflict, GraphsvcError, InputError, NotFound, StoreError, Unavailable
from graphsvc.evidence import MissingFacts, render
from graphsvc.logs import configure_logging

if TYPE_CHECKING:  # the engines and the ingest are imported only by the commands that need them
    from graphsvc.store import GraphStore
    from ingest.pipeline import IngestReport
    from services import RingsPublished

__all__ = ["main"]

_EPILOG = """\
examples:
  graphsvc demo                                   generate a demo city and load it
  graphsvc generate city/ --persons 100000 --seed 7
  graphsvc ingest city/ --home ./graphsvc-home     load a contract folder
  graphsvc stats --json                           what is loaded, rejects, biggest hubs
  graphsvc detect --out rings.json                find rings in what is loaded
  graphsvc serve --port 8000                      the query API (OpenAPI at /docs)
  graphsvc apikey create --role analyst --name "Wang"
  graphsvc export R-000001 --out referral/        police liaison package of one ring

The store lives in --home, else $GRAPHSVC_HOME, else ./graphsvc-home.
"""


_log = logging.getLogger(__name__)

_EXIT_CODES: dict[type[BaseException], int] = {GraphsvcError: 2, KeyboardInterrupt: 130}

_NO_SETTLEMENTS_ZH = "{home} 中尚未导入结算记录；请先导入：graphsvc ingest DIR"
"""Exit codes by kind of error (the nearest listed base class counts); 1 for a defect. Every
user's error is 2, as argparse's usage errors are: scripts test for non-zero, and the message
says what went wrong."""
_REFUSED = 3
"""graphsvc verify's exit code for a package that was read and refused: not a defect (1), not unreadable (2)."""


def _settings(args: argparse.Namespace) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        raise InputError(f"bad GRAPHSVC_* environment: {exc}", zh=f"GRAPHSVC_* 环境变量有误：{exc}") from None
    if getattr(args, "home", None):
        settings = settings.model_copy(update={"home": Path(args.home)})
    if settings.home.exists() and not settings.home.is_dir():
        raise InputError(f"{settings.home} is a file, not a folder: the home is the folder graphsvc keeps its store "
                         "in; give another with --home or GRAPHSVC_HOME",
                         zh=f"{settings.home} 是文件而不是文件夹：主目录是 graphsvc 存放数据的文件夹，"
                            "请用 --home 或 GRAPHSVC_HOME 另指一个")
    if settings.log_json and not args.log_json:  # GRAPHSVC_LOG_JSON: a server's environment asks for JSON lines
        args.log_json = True
        _configure_logging(args)
    return settings


def _configure_logging(args: argparse.Namespace) -> None:
    """Text on stderr, or JSON lines; by default at info level for a server (serve, demo --serve)
    and for JSON lines, which something collects, and otherwise only what is critical: a one-off
    command prints its own report."""
    serving = args.command == "serve" or getattr(args, "serve", False)
    level = args.log_level or ("info" if serving or args.log_json else "critical")
    configure_logging(json_lines=args.log_json, level=level.upper())


def _count(value: int, option: str) -> int:
    """A count the user gave (``--top``): 0 or more, or a one-line error (a negative one would slice from the end)."""
    if value < 0:
        raise InputError(f"{option} {value}: a count is 0 or more", zh=f"{option} {value}：数量须为 0 或更大")
    return value


_MAX_KEY_DAYS = 36_500
"""Longest ``--expires-days``: 100 years (a billion days overflowed the calendar); none at all is a key until revoked."""


def _exit_code(exc: BaseException) -> int:
    return next((code for kind in type(exc).__mro__ if (code := _EXIT_CODES.get(kind)) is not None), 1)


def _write_out(path: Path, content: bytes) -> None:
    """Write a file the user named (``--out``), its folders made; a path that cannot be written is the
    user's to change, said in one line, not an internal error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}",
                         zh=f"无法写入输出文件 {path}：{exc.strerror or exc}") from None


def _open_store(settings: Settings, *, read_only: bool = False) -> GraphStore:
    from graphsvc.store import open_store  # the engines are imported only by the commands that need a store

    return open_store(settings, read_only=read_only)


def _bars(quiet: bool) -> bool:
    """Progress bars only on a terminal: written to a log file or a pipe, each redraw's carriage return
    piles up on one line of thousands of characters. There the summary the command prints and
    ``--log-level info`` (or ``--log-json``) say what was done."""
    return not quiet and sys.stderr.isatty()


def cmd_generate(args: argparse.Namespace) -> int:
    from graphsvc.generate import generate_city

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise Conflict(f"{out} exists and is not empty; choose a new folder so no old file mixes in",
                       zh=f"{out} 已存在且不为空：请另选一个新文件夹，以免混入旧文件")
    started = time.perf_counter()
    summary = generate_city(out, persons=args.persons, seed=args.seed, dirt=args.dirt, progress=_bars(args.quiet),
                            realism=args.realism)
    print(f"wrote {out}/ in {time.perf_counter() - started:.1f}s: {summary['persons']:,} persons, "
          f"{summary['settlements']:,} settlements, {summary['rings']} planted rings, "
          f"{summary['lookalikes']} look-alike groups")
    print(f"ground truth: {summary['truth']} (beside the folder, not inside it)")
    return 0


_INGEST_COLUMNS = (("文件 file", "<"), ("读入 read", ">"), ("载入 loaded", ">"), ("未变 unchanged", ">"),
                   ("被拒 rejected", ">"))
"""The ingest summary's columns, Chinese first, and how each is aligned."""


def _shown_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: a Chinese character takes two, a combining accent none (an é
    written as e and its accent, as macOS and many zips write file names).

    >>> _shown_width("合计 total"), _shown_width("café.csv"), _shown_width("cafe\u0301.csv")
    (10, 8, 8)
    """
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table_row(cells: list[str], widths: list[int]) -> str:
    padded = []
    for cell, width, (_, align) in zip(cells, widths, _INGEST_COLUMNS):
        gap = " " * (width - _shown_width(cell))
        padded.append(cell + gap if align == "<" else gap + cell)
    return "  ".join(padded).rstrip()


def _print_ingest(report: IngestReport, elapsed: float) -> None:
    from graphsvc.terminal import terminal_text
    from ingest.reasons import chinese_note

    t = report.totals
    # Files' and columns' names are the data's: printed escaped (a name can hold a line break or ESC).
    rows = [[terminal_text(f.file), f"{f.read:,}", f"{f.loaded:,}", f"{f.unchanged:,}", f"{f.rejected:,}"] for f in report.files]
    total = ["合计 total", f"{t['read']:,}", f"{t['loaded']:,}", f"{t['unchanged']:,}", f"{t['rejected']:,}"]
    header = [label for label, _ in _INGEST_COLUMNS]
    widths = [max(_shown_width(row[i]) for row in [header, total, *rows]) for i in range(len(header))]
    print(_table_row(header, widths))
    for f, row in zip(report.files, rows):
        print(_table_row(row, widths))
        if f.missing_columns:
            print(terminal_text(f"  ! {f.file} 缺少必需列 {'、'.join(f.missing_columns)}，其行均被拒 / {f.file} lacks "
                                f"required column(s) {', '.join(f.missing_columns)}: its rows were rejected"))
        if f.ignored_columns:
            print(terminal_text(f"  说明：已忽略列 {'、'.join(f.ignored_columns)} / note: ignored column(s) "
                                f"{', '.join(f.ignored_columns)}"))
        if f.note:
            print(terminal_text(f"  说明：{chinese_note(f.note)} / note: {f.note}"))
    print(_table_row(total, widths))
    for name in report.unrecognised_files:
        print(terminal_text(f"  说明：{name} 不是约定的输入文件，未读取 / note: {name} matches no contract file and "
                            "was not read"))
    if report.rejects_path:
        print(f"被拒行（文件、行号、原因、原始行）rejected rows (file, line, reason, row): {report.rejects_path}")
    print(f"导入批次 run {report.run_id}，用时 took {elapsed:.1f}s")


def _ingest(settings: Settings, folder: Path, quiet: bool) -> int:
    from services import ingest_and_prepare

    store = _open_store(settings)
    started = time.perf_counter()
    try:
        # nothing serves this store while the CLI holds it: serve gets the network reads ready
        report = ingest_and_prepare(store, folder, rejects_dir=settings.home / "rejects", serving=False,
                                    progress=_bars(quiet))
    finally:
        store.close()
    _print_ingest(report, time.perf_counter() - started)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.mapping:
        return _ingest_mapped(settings, Path(args.folder), Path(args.mapping), args.quiet)
    print(f"正在导入 loading {args.folder} into {settings.home} ({settings.backend})")
    return _ingest(settings, Path(args.folder), args.quiet)


def _ingest_mapped(settings: Settings, folder: Path, mapping_path: Path, quiet: bool) -> int:
    """Ingest a foreign export read through a mapping file (``ingest.mapping``); the mapping is
    checked against the folder's files before the store is opened."""
    from ingest.mapping import SourceMapping
    from services import ingest_and_prepare

    mapping = SourceMapping.load(mapping_path)
    mapping.discover(folder)
    print(f"正在导入 loading {folder} through {mapping_path.name} into {settings.home} ({settings.backend})")
    store = _open_store(settings)
    started = time.perf_counter()
    try:
        # nothing serves this store while the CLI holds it: serve gets the network reads ready
        report = ingest_and_prepare(store, folder, rejects_dir=settings.home / "rejects", serving=False,
                                    progress=_bars(quiet), mapping=mapping)
    finally:
        mapping.close()
        store.close()
    _print_ingest(report, time.perf_counter() - started)
    return 0


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

    _count(args.top, "--top")
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
        raise NotFound(f"no graph in {settings.home}; load one with: graphsvc ingest DIR --home {settings.home}",
                       zh=f"{settings.home} 中尚无数据；请先导入：graphsvc ingest DIR --home {settings.home}")


def _detect(settings: Settings, config_path: str | None, out: Path | None, quiet: bool, top: int, *,
            engine: str = "duckdb", spark_master: str | None = None, location: str | None = None) -> int:
    from graphsvc.detect import DetectionConfig
    from graphsvc.detect.config import config_problems
    from services import detect_and_publish, spark_detection

    if engine != "spark" and (spark_master is not None or location is not None):
        raise InputError("--spark-master and --input go with --engine spark",
                         zh="--spark-master 和 --input 仅用于 Spark 引擎（--engine spark）")
    try:
        config = DetectionConfig.from_file(Path(config_path)) if config_path else DetectionConfig()
    except ValidationError as exc:  # a threshold pydantic refuses: each named by its key, on one line
        raise InputError(f"cannot use detection config {config_path}: {config_problems(exc)}",
                         zh=f"检测配置 {config_path} 无法使用：{config_problems(exc)}") from None
    except (OSError, ValueError) as exc:  # a missing file, bad JSON
        raise InputError(f"cannot use detection config {config_path}: {exc}",
                         zh=f"检测配置 {config_path} 无法使用：{exc}") from None
    store = _open_store(settings)
    try:
        if location is None and not store.has_rows("settlements"):
            raise NotFound(f"no settlements loaded in {settings.home}; load some with: graphsvc ingest DIR",
                           zh=_NO_SETTLEMENTS_ZH.format(home=settings.home))
        with _case_systems(settings, store) as on_published:
            if engine == "spark":
                with spark_detection(store, "local[*]" if spark_master is None else spark_master,
                                     location) as session:
                    run, documents = detect_and_publish(store, config, progress=_bars(quiet), session=session,
                                                        on_published=on_published)
            else:
                run, documents = detect_and_publish(store, config, progress=_bars(quiet), on_published=on_published)
    finally:
        store.close()
    documents = [{**d, "evidence": [_with_chinese(e) for e in d["evidence"]]} for d in documents]
    if out:
        _write_out(out, json.dumps({"rings": documents}, ensure_ascii=False, indent=1).encode())
    _print_rings(documents, top)
    print(f"线索团伙 {run.rings} 个（沿用编号 {run.kept_ids}，新增 {run.new_ids}，不再出现 {len(run.retired_ids)}），"
          f"用时 {run.seconds:.1f}s，运行 {run.run_id}")
    print(f"  {run.rings} rings ({run.kept_ids} kept their id from the previous run, {run.new_ids} new, "
          f"{len(run.retired_ids)} no longer found) in {run.seconds:.1f}s; run {run.run_id}")
    print("线索 findings: " + ", ".join(f"{_kind(k)} {v}" for k, v in run.summary["findings"].items()))
    if run.summary.get("explained"):
        print("判定为正常相似情形、未成团 explained as look-alikes (no ring): "
              + ", ".join(f"{_kind(k)} {v}" for k, v in run.summary["explained"].items()))
        for example in run.summary["explained_examples"][:3]:
            names = ", ".join(f"{e['type']} {e['id']}" for e in example["entities"][:2])
            print(f"  {names}: {example['reason_zh']}")
            print(f"  {' ' * len(names)}  {example['reason']}")
    if out:
        print(f"线索团伙已写入 rings written to {out}")
    return 0


@contextmanager
def _case_systems(settings: Settings, store: GraphStore) -> Iterator[RingsPublished | None]:
    """The webhooks of the home (``api.webhooks``), told of the run's new, changed and reopened rings as a
    server's detect job tells them; None where no webhook is subscribed.

    The deliveries go through the home's outbox, those a stopped server left pending included: sent
    here for up to ``webhook_timeout_s`` after detection, and what is still pending then (a receiver
    down, a retry's backoff) stays in the outbox for the server's next start or the next command.
    """
    from api.app import server_secret
    from api.webhooks import Webhooks
    from queries.rings import RingBook

    hooks = Webhooks(store, RingBook(store), settings, secret=server_secret(settings))
    if not hooks.active():
        yield None
        return
    hooks.start()
    try:
        yield hooks
        hooks.wait_idle(timeout=settings.webhook_timeout_s)
    finally:
        hooks.close()
    sent, given_up, pending = hooks.counts()
    print(f"案件系统通知 webhooks: 已送达 {sent} 次，投递失败 {given_up} 次，待重试 {pending} 次 "
          f"({sent} deliveries made, {given_up} failed after their last attempt (GET /webhooks/{{id}}/deliveries "
          f"says why), {pending} pending: the server retries them when it starts)")


def _kind(kind: str) -> str:
    """A finding kind as ``中文 id``, so that the id an operator greps for stays beside the label."""
    term = vocab.FINDING_KINDS.get(kind)
    return f"{term.zh} {kind}" if term else kind


def _with_chinese(evidence: dict) -> dict:
    """An evidence item with its Chinese sentence (``detail_zh``) beside the contract's English ``detail``.

    Rendered from the item's facts; the operator who runs detection reads the home unmasked anyway."""
    try:
        chinese = render(evidence["kind"], evidence.get("facts", {}), "zh")
    except MissingFacts:
        chinese = evidence["detail"]
    return {**evidence, "detail_zh": chinese}


def _print_rings(documents: list[dict], top: int) -> None:
    if top <= 0:
        return
    print(f"{'线索 ring':<8} {'评分 score':>9} {'人数 persons':>11} {'统筹金额 fund':>15}  {'首次 first':<9}  "
          f"{'末次 last':<9}  模式 pattern")
    for d in documents[:top]:
        pattern = vocab.PATTERNS[d["pattern"]]
        print(f"{d['id']:<10} {d['score']:>11.3f} {d['persons']:>13} {d['fund_amount']:>19,.2f}  "
              f"{d['first_seen'] or '-':<11}  {d['last_seen'] or '-':<11}  {pattern.zh} {pattern.en}")
        print(f"          依据: {d['evidence'][0]['detail_zh'][:120]}")
        print(f"          why:  {d['evidence'][0]['detail'][:150]}")
    if len(documents) > top:
        print(f"另有 {len(documents) - top} 个 … and {len(documents) - top} more")


def cmd_detect(args: argparse.Namespace) -> int:
    _count(args.top, "--top")
    settings = _settings(args)
    if args.input is None:  # a lake's tables need no graph here: the rings are stored in a new one
        _require_graph(settings)
    return _detect(settings, args.config, Path(args.out) if args.out else None, args.quiet, args.top,
                   engine=args.engine, spark_master=args.spark_master, location=args.input)


def cmd_risk(args: argparse.Namespace) -> int:
    from graphsvc.risk import store_risk

    _count(args.top, "--top")
    settings = _settings(args)
    _require_graph(settings)
    store = _open_store(settings, read_only=True)
    try:
        if not store.has_rows("settlements"):
            raise NotFound(f"no settlements loaded in {settings.home}; load some with: graphsvc ingest DIR",
                           zh=_NO_SETTLEMENTS_ZH.format(home=settings.home))
        ranking = store_risk(store)
    finally:
        store.close()
    if args.out:
        _write_out(Path(args.out), json.dumps({"institutions": ranking}, ensure_ascii=False, indent=1).encode())
    print(f"{'机构 institution':<18} {'风险分 score':>12} {'异常分 suspicion':>16} {'规模 impact':>11}")
    for entry in ranking[:args.top]:
        print(f"{entry['id']:<18} {entry['score']:>12.2f} {entry['suspicion']:>16.2f} {entry['impact']:>11.2f}")
        for reason in entry["reasons"][:3]:
            print(f"    {reason['zh']} / {reason['en']}")
    print(f"{len(ranking)} 家机构已排名 institutions ranked" + (f"; 已写入 written to {args.out}" if args.out else ""))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from graphsvc.generate import generate_city
    from queries.stats import graph_stats

    settings = _settings(args)
    if args.serve:  # before minutes of generating and detecting, not after
        _check_listen(args.host, args.port)
    city = settings.home / "demo-city" / (f"seed{args.seed}-{args.persons}" + ("-hard" if args.realism == "hard" else ""))
    if not city.exists():
        print(f"1/4 generating a demo city of {args.persons:,} persons in {city}")
        summary = generate_city(city, persons=args.persons, seed=args.seed, progress=_bars(args.quiet), realism=args.realism)
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
    if args.serve:
        return _serve(settings, args.host, args.port)
    print(f"\nnext: graphsvc serve --home {settings.home}   (the query API; OpenAPI at /docs)")
    return 0


def _first_admin_key(settings: Settings) -> str | None:
    """On a home with no API key yet, make an admin key (kept in HOME/admin-key, mode 600) so a first run works."""
    from api.keys import create_api_key

    store = _open_store(settings)
    try:
        total, _ = store.list_records("api_key", limit=1)
        if total or settings.admin_key is not None:
            return None
        key, _ = create_api_key(store, "admin", "first admin (made by graphsvc serve)")
    finally:
        store.close()
    import os

    path = settings.home / "admin-key"
    # A file left from an earlier store holds a key that opens nothing now: replaced. The new
    # one is created 0600, so the key is never readable by others, not even for a moment.
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, (key + "\n").encode())
    finally:
        os.close(fd)
    return key


def _check_listen(host: str, port: int) -> None:
    """Raise ``InputError`` when ``host:port`` cannot be listened on (a port outside 1-65535 would be
    taken modulo 65536 or as 'any'; one in use or a host that does not resolve ended the server after
    its start-up, with uvicorn's log line and exit 3), before the store is opened or a key made."""
    import socket

    if not 1 <= port <= 65535:
        raise InputError(f"--port must be 1 to 65535; got {port}", zh=f"--port 须在 1 到 65535 之间，收到 {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         zh=f"无法在 {host}:{port} 监听：{exc.strerror or exc}") from None


def _serve(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from api import create_app

    _check_listen(host, port)
    _require_graph(settings)
    _check_store(settings)
    first_key = _first_admin_key(settings)
    app = create_app(settings, own_process=True)
    print(f"preparing network reads of {settings.home} (built once per data version)...", flush=True)
    started = time.perf_counter()
    app.state.services.store.prepare_reads()
    print(f"ready in {time.perf_counter() - started:.1f}s", flush=True)
    base = f"http://{host}:{port}"
    if first_key:
        print(f"first admin API key (also in {settings.home / 'admin-key'}; make others with graphsvc apikey create):")
        print(f"  {first_key}")
    print(f"serving {base}  (OpenAPI: {base}/docs; Ctrl-C stops)")
    key_hint = f"$(cat {settings.home / 'admin-key'})" if (settings.home / "admin-key").exists() else "KEY"
    print(f"  curl -s -H \"X-API-Key: {key_hint}\" '{base}/rings?size=5'")
    # X-Forwarded-For is believed only from configured proxies: by default uvicorn trusts it from
    # loopback, so anyone on the server's own machine could write any client address into the audit.
    proxies = settings.trusted_proxies
    # A thread that wants the GIL waits this long before the holder must let go: 1 ms instead of
    # 5 keeps the event loop (and /health) quick while a heavy read computes in the thread pool.
    sys.setswitchinterval(0.001)
    with _serving(settings.home, host, port):
        # log_config=None: uvicorn's records go through the handler configure_logging installed
        # (text or JSON lines); at warning level, so no access log writes a URL holding an ID number.
        uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None,
                    proxy_headers=proxies is not None, forwarded_allow_ips=proxies)
    return 0


def _check_store(settings: Settings) -> None:
    """Read every stored value before serving: a damaged store is refused here with what to do,
    rather than answering "ok" to /health and 500 to the reads that meet the damage."""
    print(f"checking the store of {settings.home}...", flush=True)
    store = _open_store(settings)
    try:
        store.check(thorough=True)
    except Exception as exc:  # whatever the engine raises on a damaged file: none of it can be served
        from graphsvc.store import store_error_of

        if (lost := store_error_of(exc)) is not None:  # a server gone away is not a damaged store
            raise lost from None
        raise StoreError(f"the store in {settings.home} is damaged and is not served ({type(exc).__name__}: {exc}); "
                         f"restore the last backup: graphsvc restore BACKUP {settings.home} --force",
                         zh=f"{settings.home} 中的存储已损坏，不予提供服务；请从最近的备份恢复："
                            f"graphsvc restore BACKUP {settings.home} --force") from None
    finally:
        store.close()


@contextmanager
def _serving(home: Path, host: str, port: int) -> Iterator[None]:
    """``HOME/server.json`` names the server that holds the home, for ``graphsvc backup``."""
    import os

    local = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://[{local}]:{port}" if ":" in local else f"http://{local}:{port}"
    path = home / "server.json"
    path.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def cmd_serve(args: argparse.Namespace) -> int:
    return _serve(_settings(args), args.host, args.port)


def cmd_apikey(args: argparse.Namespace) -> int:
    from datetime import datetime, timedelta

    from api.keys import ENV_ADMIN_ID, create_api_key, key_name_problem, list_api_keys, revoke_api_key

    if args.action == "create":
        if args.expires_days is not None and not 1 <= args.expires_days <= _MAX_KEY_DAYS:
            raise InputError(f"--expires-days is a whole number of days, at least 1 and at most {_MAX_KEY_DAYS:,} "
                             "(100 years); leave it out for a key that lasts until revoked",
                             zh=f"--expires-days 须为 1 到 {_MAX_KEY_DAYS:,} 之间的整数天数（100 年）；"
                                "不给则密钥一直有效，直到吊销")
        problem = key_name_problem(args.name)
        if problem:
            raise InputError(f"--name {args.name!r}: {problem}", zh=f"--name {args.name!r} 不可用：{problem}")
    if args.action == "revoke" and args.key_id == ENV_ADMIN_ID:
        raise Conflict("the GRAPHSVC_ADMIN_KEY key is not stored and cannot be revoked; remove it from the "
                       "server's environment and restart it",
                       zh="GRAPHSVC_ADMIN_KEY 密钥不在存储中，无法吊销；请从服务器的环境变量中删除它并重启")
    settings = _settings(args)
    store = _open_store(settings)
    try:
        if args.action == "list":
            now = datetime.now().astimezone()
            for k in list_api_keys(store):
                state = [f"created {k['created_at']}"]
                if k["expires_at"]:
                    state.append(f"{'expired' if datetime.fromisoformat(k['expires_at']) <= now else 'expires'} "
                                 f"{k['expires_at']}")
                if k["revoked_at"]:
                    state.append(f"REVOKED {k['revoked_at']}")
                print(f"{k['key_id']}  {k['role']:<15} {k['name']}  ({', '.join(state)})")
            return 0
        if args.action == "revoke":
            record = revoke_api_key(store, args.key_id)
            if record is None:
                raise NotFound(f"no API key with id {args.key_id}; see graphsvc apikey list",
                               zh=f"没有编号为 {args.key_id} 的 API 密钥；查看：graphsvc apikey list")
            print(f"revoked {record['key_id']} ({record['role']}, {record['name']}) at {record['revoked_at']}; "
                  "a running server refuses it within 10 seconds")
            return 0
        expires_at = datetime.now().astimezone() + timedelta(days=args.expires_days) if args.expires_days else None
        key, principal = create_api_key(store, args.role, args.name, expires_at=expires_at)
    finally:
        store.close()
    print(key)
    until = f", expires {expires_at:%Y-%m-%d %H:%M %z}" if expires_at else ""
    print(f"key id {principal.key_id}, role {principal.role}{until}; store it now: only its digest is kept",
          file=sys.stderr)
    return 0


class _CliAuditor:
    """Audits what the user of this command line does, as the API audits its callers."""

    def __init__(self, store: GraphStore, role: str) -> None:
        import getpass

        from api.audit import AuditLog

        self.who = f"cli:{getpass.getuser()}"
        self.role = role
        self.log = AuditLog(store)

    def __call__(self, action: str, target: str, /, **detail: object) -> None:
        self.log.record(who=self.who, name=self.who, role=self.role, action=action, target=target, client="cli",
                        detail=detail)

    def close(self) -> None:
        self.log.close()


def cmd_export(args: argparse.Namespace) -> int:
    from api.app import server_secret
    from queries.masking import Masker
    from queries.rings import RingBook
    from services import export_ring

    settings = _settings(args)
    _require_graph(settings)
    store = _open_store(settings)
    try:
        audit = _CliAuditor(store, args.role)
        try:
            files = export_ring(store, RingBook(store), args.ring_id, args.format,
                                Masker(args.role, secret=server_secret(settings)), generated_by=audit.who, audit=audit,
                                home=settings.home)
        except NotFound as exc:
            raise NotFound(f"{exc}; list them with graphsvc detect",
                           zh=f"{getattr(exc, 'zh', None) or exc}；查看团伙列表：graphsvc detect") from None
        finally:
            audit.close()
    finally:
        store.close()
    out = Path(args.out) / f"{args.ring_id}-{args.format}"
    for name, content in files.items():
        _write_out(out / name, content)
    print(f"wrote {len(files)} files to {out}/ , report.pdf and a signed manifest included; "
          f"verify with: graphsvc verify {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from queries.report import REPORT_FORMATS
    from queries.rings import RingBook
    from services import monthly_report

    out = Path(args.out) if args.out else None
    fmt = out.suffix.lstrip(".").lower() if out else "json"
    if fmt not in REPORT_FORMATS:
        raise InputError(f"--out must end in one of {', '.join('.' + f for f in REPORT_FORMATS)}; got {out}",
                         zh=f"--out 须以 {'、'.join('.' + f for f in REPORT_FORMATS)} 之一结尾，收到 {out}")
    settings = _settings(args)
    _require_graph(settings)
    store = _open_store(settings)
    try:
        audit = _CliAuditor(store, "analyst")
        try:
            content = monthly_report(store, RingBook(store), args.month, fmt, audit=audit)
        finally:
            audit.close()
    finally:
        store.close()
    if out is None:
        _print_report(json.loads(content))
        return 0
    _write_out(out, content)
    print(f"月度统计已写入 monthly report written to {out}")
    return 0


def _print_report(report: dict) -> None:
    from queries.report import COLUMNS

    print(f"打击欺诈骗保 月度统计 monthly report {report['month']}")
    print("  ".join(f"{zh} {en}" for _, zh, en in COLUMNS))
    for row in [*report["rows"], report["totals"]]:
        print("  ".join(f"{row[key]:,.2f}" if key == "fund_amount" else str(row[key]) for key, _, _ in COLUMNS))
    for note in report["notes"]:
        print(f"注 note: {note}")


_BACKUP_TIMEOUT_S = 3600
"""How long ``graphsvc backup`` waits on a server (it copies the whole store before it answers)."""


def cmd_verify(args: argparse.Namespace) -> int:
    from graphsvc.signing import load_public_pem, printable
    from graphsvc.terminal import terminal_text
    from queries.export import read_package, verify_package

    key = None
    if args.key:
        try:
            key = load_public_pem(Path(args.key).read_bytes())
        except OSError as exc:
            raise InputError(f"--key {args.key}: {exc.strerror}", zh=f"无法读取公钥文件 {args.key}：{exc.strerror}") from None
        except InputError as exc:
            raise InputError(f"--key {args.key}: {exc}", zh=f"--key {args.key}：{exc.zh or exc.summary_zh}") from None
    verdict = verify_package(read_package(Path(args.package)), key)
    # The package's names and ring id are the sender's text: a forger's escape codes would hide or
    # rewrite the lines below on the receiver's terminal.
    if not verdict.ok:
        print(f"核验失败 verification FAILED: {terminal_text(args.package)}", file=sys.stderr)
        for problem in verdict.problems:
            print(terminal_text(f"  {problem.file}: {problem.zh} / {problem.en}"), file=sys.stderr)
        return _REFUSED
    print(f"核验通过 verified: 线索 {terminal_text(str(verdict.ring_id))}，{verdict.files} 个文件的 SHA-256 摘要、清单签名与 PDF 页脚摘要均相符 "
          f"(every file's SHA-256, the manifest's signature and the PDF footers' digest match)")
    print("签名公钥指纹 signing key fingerprint (SHA-256):")
    print(printable(verdict.key_fingerprint or ""))
    if verdict.bundled_key:
        print("注意 WARNING: 未给 --key，签名是用包内附带的公钥核验的：只证明文件在签名后未被改动（完整性），"
              "不能证明来自哪个单位（来源）。请与移送单位线下提供的公钥指纹核对，或用 --key 指定其公钥。\n"
              "  The signature was checked with the key bundled in the package: this proves integrity only, not "
              "origin. Compare the fingerprint above with the one the fund gave you, or pass --key.")
    else:
        print(f"签名来自所给公钥 signed by the key of --key {terminal_text(args.key)}")
    return 0


def cmd_signing_key(args: argparse.Namespace) -> int:
    from graphsvc.signing import fingerprint, home_key, printable, public_pem

    public = home_key(_settings(args).home).public_key()
    digest = fingerprint(public)
    print(public_pem(public), end="")
    print(f"fingerprint-sha256: {digest}")
    print("公钥指纹 (fingerprint, to print on the referral or read aloud):")
    print(printable(digest))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    import shutil

    from graphsvc.store import StoreBusy, open_store
    from graphsvc.store.backup import write_backup

    settings = _settings(args)
    _require_graph(settings)
    out = Path(args.out)
    created = not out.exists()
    try:
        try:
            store = open_store(settings)
        except StoreBusy:
            print(f"a server holds {settings.home}: the backup is taken by it", flush=True)
            manifest = _backup_through_server(settings, out)
        else:
            try:
                _audit_cli_backup(store, out)
                manifest = write_backup(store, settings.home, out)
            finally:
                store.close()
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)  # a half-written backup must not be mistaken for one
        raise
    size = sum(f["bytes"] for f in manifest["files"].values())
    records = ", ".join(f"{kind} {n:,}" for kind, n in manifest["contents"]["records"].items()) or "none"
    print(f"backed up {settings.home} ({manifest['backend']}) into {out}: {len(manifest['files'])} files, "
          f"{size / 1e6:,.1f} MB, SHA-256 of each in {out / 'manifest.json'}")
    print(f"  records: {records}; rings: {len(manifest['contents']['rings'])}")
    if manifest["backend"] == "neo4j":
        print("  the graph itself is not in it: after a restore, ingest again " +
              (" ".join(manifest["ingested_folders"]) or "its folders") + " (before graphsvc restore)")
    return 0


def _audit_cli_backup(store: GraphStore, out: Path) -> None:
    """Audit the backup, and store the entries of servers that were killed before they could (the
    write-ahead files under the home), so the backup has them."""
    audit = _CliAuditor(store, "admin")
    try:
        audit("backup", "store", out=str(out))
        if not audit.log.flush():
            raise Unavailable(f"the audit log could not be written to the store ({audit.log.status()['last_error']}); "
                              "a backup now would miss entries",
                              zh="审计日志无法写入存储，此时备份会缺少记录")
    finally:
        audit.close()


def _backup_through_server(settings: Settings, out: Path) -> dict:
    import tarfile
    import urllib.error
    import urllib.request

    from graphsvc.store.backup import untar

    recorded = settings.home / "server.json"
    try:
        url = json.loads(recorded.read_text())["url"]
    except (OSError, ValueError, KeyError):
        raise Unavailable(f"another process holds the store in {settings.home} and no server is recorded in {recorded}; "
                          "wait for it (an ingest?) or stop it, then back up again",
                          zh=f"另一进程正占用 {settings.home} 中的存储（可能正在导入），且 {recorded} 中没有登记的服务器；"
                             "请等它结束或停止它，再备份") from None
    key_file = settings.home / "admin-key"
    if settings.admin_key is not None:
        key = settings.admin_key.get_secret_value()
    elif key_file.exists():
        key = key_file.read_text().strip()
    else:
        raise InputError(f"the server at {url} takes the backup and wants an admin API key: set GRAPHSVC_ADMIN_KEY",
                         zh=f"{url} 的服务器负责备份，需要管理员 API 密钥：请设置 GRAPHSVC_ADMIN_KEY")
    request = urllib.request.Request(f"{url}/admin/backup", method="POST", headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=_BACKUP_TIMEOUT_S) as answer:
            return untar(answer, out)
    except urllib.error.HTTPError as exc:
        said = exc.read().decode(errors="replace")
        raise Unavailable(f"the server at {url} refused the backup: {exc.code} {said}",
                          zh=f"{url} 的服务器拒绝备份：{exc.code} {said}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unavailable(f"the server recorded in {recorded} does not answer at {url} ({exc}) and another process "
                          f"holds {settings.home}; back up when it is free",
                          zh=f"{recorded} 中登记的服务器在 {url} 没有应答，且另一进程正占用 {settings.home}；"
                             "请在它空闲时再备份") from None
    except tarfile.TarError as exc:
        raise Unavailable(f"the backup from {url} broke off ({exc}); nothing was kept, back up again",
                          zh=f"来自 {url} 的备份中途中断（{exc}），未保留任何内容，请重新备份") from None


def cmd_restore(args: argparse.Namespace) -> int:
    from graphsvc.store.backup import restore_backup

    settings = _settings(args)
    manifest = restore_backup(Path(args.backup), settings, force=args.force)
    records = ", ".join(f"{kind} {n:,}" for kind, n in manifest["contents"]["records"].items()) or "none"
    print(f"restored the backup of {manifest['created_at']} into {settings.home} ({manifest['backend']}); "
          f"every file matched its SHA-256 and the store reads back")
    print(f"  records: {records}; rings: {len(manifest['contents']['rings'])}")
    print(f"next: graphsvc serve --home {settings.home}")
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
    g.add_argument("--realism", choices=["plain", "hard"], default="plain",
                   help="hard: shared complicit institutions, rotating gangs, registered agents, care homes, "
                        "group-rental flats, duplicate persons, messy export spellings (default plain)")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.set_defaults(func=cmd_generate)

    i = with_home(sub.add_parser("ingest", help="load a contract folder (CSV, Parquet or XLSX) into the store"))
    i.add_argument("folder", help="folder with persons.csv, cards.csv, institutions.csv, prescribers.csv, "
                                  "intermediaries.csv, settlements.csv (any but settlements may be absent)")
    i.add_argument("--mapping", metavar="FILE.yaml",
                   help="read a foreign export through this mapping of its files and columns onto the contract's "
                        "(see docs/mappings/kaggle-provider-fraud.yaml)")
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
    t.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="where the detectors' SQL runs: duckdb (default, this machine) or spark (Apache Spark: "
                        "local, or a cluster with --spark-master)")
    t.add_argument("--spark-master", metavar="URL",
                   help="Spark master for --engine spark, e.g. spark://spark-master:7077 (default local[*])")
    t.add_argument("--input", metavar="PARQUET_FOLDER_OR_URI",
                   help="with --engine spark, read the contract tables from Parquet (a folder, hdfs:// or s3a:// "
                        "URI with persons, cards, institutions, prescribers, intermediaries, settlements) instead "
                        "of the store; the rings are stored as usual")
    t.set_defaults(func=cmd_detect)

    q = with_home(sub.add_parser(
        "risk", help="rank institutions for inspection (定点医药机构风险排名), each reason stated",
        description="Score every institution with settlements: suspicion (ring involvement and peer-group "
                    "outlier indicators) times impact (its fund over its peer group's median); see graphsvc/risk.py."))
    q.add_argument("--out", help="write {\"institutions\": [{\"id\", \"score\", \"reasons\": [...]}, ...]} here")
    q.add_argument("--top", type=int, default=10, help="institutions to print (default 10)")
    q.set_defaults(func=cmd_risk)

    d = with_home(sub.add_parser("demo", help="generate a demo city, load it and detect rings"))
    d.add_argument("--persons", type=int, default=20_000, help="size of the demo city (default 20000)")
    d.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    d.add_argument("--realism", choices=["plain", "hard"], default="plain", help="demo city realism (default plain)")
    d.add_argument("--serve", action="store_true", help="then serve the query API (as graphsvc serve)")
    d.add_argument("--host", default="127.0.0.1", help="with --serve: address to listen on (default 127.0.0.1)")
    d.add_argument("--port", type=int, default=8000, help="with --serve: port (default 8000)")
    d.set_defaults(func=cmd_demo)

    v = with_home(sub.add_parser("serve", help="serve the query API (OpenAPI at /docs) on what is loaded",
                                 description="Serve the query API under uvicorn. On a home with no API key yet, an "
                                             "admin key is made, printed and kept in HOME/admin-key."))
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    v.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    v.set_defaults(func=cmd_serve)

    k = with_home(sub.add_parser(
        "apikey", help="create, list or revoke API keys (stored hashed; a key is shown once)",
        description="With the embedded store, a running server holds it: revoke there with "
                    "DELETE /apikeys/KEY_ID (admin) instead."))
    # One parser per action, so that options may come before or after a key id ("revoke --home H ID"):
    # an optional key id beside the action made argparse refuse the id after an option.
    actions = k.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
    # The options every command has are taken before the action or after it; after it they must not
    # overwrite what was given before with their defaults.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--home", default=argparse.SUPPRESS, help="store folder (default: $GRAPHSVC_HOME or ./graphsvc-home)")
    after.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    after.add_argument("--log-json", action="store_true", default=argparse.SUPPRESS, help="as graphsvc apikey --log-json")
    after.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=argparse.SUPPRESS,
                       help="as graphsvc apikey --log-level")
    created = actions.add_parser("create", parents=[after], help="make a key for a role and print it once")
    created.add_argument("--role", choices=list(vocab.ROLES), default="investigator",
                         help="investigator: everything; police_liaison: rings referred to police and their exports; "
                              "analyst: ID numbers, names and phones masked; admin: also keys and the audit log")
    created.add_argument("--name", default="unnamed", help="who the key is for (shown in the audit log)")
    created.add_argument("--expires-days", type=int, help="the key stops working after this many days")
    actions.add_parser("list", parents=[after], help="every key: id, role, name, created, expiry, revocation")
    revoked = actions.add_parser("revoke", parents=[after], help="stop a key from working")
    revoked.add_argument("key_id", help="the key's id (from list)")
    k.set_defaults(func=cmd_apikey)

    x = with_home(sub.add_parser("export", help="write the police liaison package (线索移送) of one ring"))
    x.add_argument("ring_id", help="e.g. R-000001")
    x.add_argument("--out", required=True, help="folder; the package goes to OUT/RING-FORMAT/")
    x.add_argument("--format", choices=list(vocab.EXPORT_FORMATS), default="xlsx",
                   help="data format; report.html, network.svg and the SHA-256 manifest always come with it")
    x.add_argument("--role", choices=["investigator", "analyst"], default="investigator",
                   help="analyst: ID numbers, names and phones masked in the package")
    x.set_defaults(func=cmd_export)

    m = with_home(sub.add_parser("report", help="the monthly report (月度统计) by region: rings' institutions, persons, "
                                            "claims and fund, rings new, confirmed, dismissed and referred"))
    m.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-03")
    m.add_argument("--out", help="FILE.xlsx, FILE.pdf or FILE.json; without it the table is printed")
    m.set_defaults(func=cmd_report)

    ver = sub.add_parser(
        "verify", help="check a police package: every file's SHA-256, none missing or added, the signature, the PDF",
        description="Check a police package (the folder graphsvc export writes, or the zip the API serves): every "
                    "file against manifest.json, no file missing or added, manifest.sig over manifest.json, and "
                    "the data digest in every footer of report.pdf. Without --key the signature is checked with "
                    "the key inside the package, which proves the files were not changed, not who sent them. "
                    f"Exit 0 when it verifies, {_REFUSED} when it is refused (each failing file named), "
                    "2 when it cannot be read.")
    ver.add_argument("package", help="the package's folder or zip")
    ver.add_argument("--key", help="the sender's public key (PEM), received out of band (graphsvc signing-key)")
    ver.set_defaults(func=cmd_verify)

    sk = with_home(sub.add_parser(
        "signing-key", help="print the home's public signing key (PEM) and its fingerprint (made on first use)",
        description="The public half of the Ed25519 key that signs this home's police packages, to hand to "
                    "the receiving side out of band. The private key stays in HOME/signing-key (0600)."))
    sk.set_defaults(func=cmd_signing_key)

    b = sub.add_parser(
        "backup", help="a consistent copy of the store, API keys, casework and audit log, also while serving",
        description="Write a backup folder: the store (embedded: the whole database; neo4j: keys, casework, "
                    "jobs, audit, rings and detection runs, the graph being ingested again), the masking "
                    "secret, the admin key file, and manifest.json with the SHA-256 of each. When a server "
                    "holds HOME, the server takes the backup (POST /admin/backup) with the admin key of "
                    "GRAPHSVC_ADMIN_KEY or HOME/admin-key.")
    b.add_argument("home", help="the home to back up")
    b.add_argument("out", help="a new folder for the backup")
    b.set_defaults(func=cmd_backup)

    r = sub.add_parser(
        "restore", help="make a home from a backup (verified against its manifest)",
        description="Check every file of BACKUP against its manifest, then make HOME the backed-up home. A home "
                    "that has a store is replaced only with --force (stop its server first). neo4j: ingest "
                    "the graph's folders first; the backup brings back what a re-ingest cannot.")
    r.add_argument("backup", help="a folder written by graphsvc backup")
    r.add_argument("home", help="the home to restore into")
    r.add_argument("--force", action="store_true", help="replace the store HOME already has")
    r.set_defaults(func=cmd_restore)

    for command in sub.choices.values():
        command.add_argument("--log-json", action="store_true",
                             help="log one JSON object a line (also GRAPHSVC_LOG_JSON=1); logs hold ids and counts, "
                                  "never names, ID numbers, phones, addresses or accounts")
        command.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                             help="default: info for serve and with --log-json, else only critical")
    return parser


def main(argv: list[str] | None = None) -> int:
    import contextlib
    import os
    import signal

    from graphsvc.terminal import terminal_text

    # Everything graphsvc writes (store, rejects, uploads, keys, audit files, exports) holds
    # personal data: private to this user from the moment it is created, not chmod-ed after.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    _configure_logging(args)
    try:
        try:
            return args.func(args)
        except Exception as exc:
            from graphsvc.store import store_error_of

            if (lost := store_error_of(exc)) is None:
                raise
            raise lost from exc
    except (GraphsvcError, KeyboardInterrupt) as exc:
        code = _exit_code(exc)
        _log.info("%s ended", args.command, extra={"fields": {"command": args.command, "error": type(exc).__name__,
                                                             "exit": code}})
        if isinstance(exc, KeyboardInterrupt):
            print("graphsvc: 已中断：重新运行同一命令即可，导入可以安全重复 / interrupted; re-run the same command: "
                  "loading is idempotent", file=sys.stderr)
        else:
            # One line, Chinese first, as the ingest summary's notes: scripts read the first line of stderr.
            print(f"graphsvc: 错误：{terminal_text(exc.zh or exc.summary_zh)} / error: {terminal_text(str(exc))}",
                  file=sys.stderr)
        return code
    except BrokenPipeError:
        # The reader of the output went away (graphsvc detect | head -1): what was done stays done, and
        # like any Unix tool the command ends quietly with SIGPIPE's status. Standard output goes to
        # /dev/null so that Python's own flush at exit does not fail on the closed pipe again.
        with contextlib.suppress(OSError, ValueError):  # a stdout with no file descriptor: nothing to silence
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as exc:  # a defect: where it happened goes to the log, not a traceback to the user
        _log.debug("%s failed", args.command, exc_info=True)
        print(f"graphsvc: 错误：内部错误（{type(exc).__name__}），加 --log-level debug 重新运行可查看出错位置 / "
              f"error: an internal error ({type(exc).__name__}); run again with --log-level debug to see where",
              file=sys.stderr)
        return _exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
