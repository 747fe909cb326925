"""First load of an empty Neo4j database through ``neo4j-admin database import full``.

Loading a city through Bolt makes the server do a transaction's work per row; Neo4j's offline
importer writes the store files directly, an order of magnitude faster. It works only on an
empty, stopped database, so it is for the first load of a server we manage
(``graphsvc.store.neo4j_server``: its data folder is on this machine):

    python -m graphsvc.store.neo4j_server import city/ --data /srv/neo4j --home ./graphsvc-home

The rows are validated exactly as ``graphsvc ingest`` does (the same pipeline, into an
embedded store in a scratch folder: rejects, references, row hashes, person keys, the ingest
log), written as Neo4j's import CSVs in the graph the Bolt path makes (``graphsvc.store.neo4j``:
labels, ``_key``, properties and their types, placeholder and identifier nodes, one
relationship per reference) with the investigative network's ``NET`` relationships computed
by the same SQL (``NETWORK_EDGES_SQL``) over the validated rows, imported, and the server
started again; the constraints and indexes are then created and the ingest log written over
Bolt, and the network recorded as current (not rebuilt through Bolt: 392 s at 100,000 persons). Later folders load through
Bolt (``graphsvc ingest``) as usual. An external server (docker-compose) is not ours to stop:
``import_folder`` refuses it, and ``write_import_csv`` writes the files for its own
``neo4j-admin`` (``--csv-only`` prints the command).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from graphsvc.errors import StoreError
from graphsvc.model import ENTITY_TABLES, IDENTIFIER_LABELS, RELATIONSHIPS, EntityTable, Relationship
from graphsvc.store.embedded import EmbeddedStore
from graphsvc.store.engine import Connection
from graphsvc.store.neo4j import KEY_KIND_OF_LABEL, Neo4jStore
from graphsvc.store.neo4j_server import Neo4jServer, fetch_neo4j, start_neo4j, write_conf
from graphsvc.store.schema import DUCKDB_TYPES, NETWORK_EDGES_SQL, fields
from ingest.pipeline import IngestReport, ingest_folder

__all__ = ["BulkLoad", "import_folder", "import_heap", "write_import_csv"]

_TABLE_OF_LABEL = {t.label: t for t in ENTITY_TABLES.values()}
_ARRAY_DELIMITER = ";"
"""Ingest splits list values on ``;`` (after NFKC, which turns ``；`` into it): no element holds one."""


@dataclass
class BulkLoad:
    """What a bulk load did and how long each stage took (seconds)."""

    report: IngestReport
    server: Neo4jServer
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.report.totals["read"]


def _column(name: str, kind: str) -> tuple[str, str]:
    """(SQL for the value as Neo4j's importer reads it, the CSV header of the property)."""
    quoted = '"' + name + '"'
    if kind == "list":
        return f"array_to_string({quoted}, '{_ARRAY_DELIMITER}')", f"{name}:string[]"
    if kind == "date":
        return quoted, f"{name}:date"
    if kind in ("datetime", "timestamp"):  # Bolt writes a naive datetime as a LocalDateTime
        return f"strftime({quoted}, '%Y-%m-%dT%H:%M:%S.%f')", f"{name}:localdatetime"
    if kind in ("amount", "double"):  # the Bolt path sends amounts as floats
        return f"CAST({quoted} AS DOUBLE)", f"{name}:double"
    if kind == "boolean":
        return quoted, f"{name}:boolean"
    if kind == "hash":  # Neo4j integers are signed 64-bit: the same wrap as ``neo4j._bolt_rows``
        return (f"CAST(CAST({quoted} AS HUGEINT) - CASE WHEN {quoted} >= 9223372036854775808 "
                f"THEN 18446744073709551616 ELSE 0 END AS BIGINT)"), f"{name}:long"
    if kind in ("integer", "bigint"):
        return quoted, f"{name}:long"
    return quoted, name


def _references(rel: Relationship) -> list[tuple[str, str]]:
    """(label, SQL of (s, v): the source node key and each target value) of a relationship column;
    the agent column names a person or an intermediary as the row's ``agent_type`` says."""
    table = ENTITY_TABLES[rel.source]
    source = f"'{KEY_KIND_OF_LABEL[table.label]}:' || \"{table.key}\""
    value = f'unnest("{rel.column}")' if table.column(rel.column).kind == "list" else f'"{rel.column}"'
    targets = ([("Intermediary", "coalesce(agent_type, '') <> 'person'"), ("Person", "agent_type = 'person'")]
               if rel.target == "Intermediary|Person" else [(rel.target, "true")])
    return [(label, f'SELECT {source} AS s, {value} AS v FROM {rel.source} WHERE "{rel.column}" IS NOT NULL AND {cond}')
            for label, cond in targets]


def _copy(con: Connection, query: str, path: Path) -> None:
    literal = str(path).replace("'", "''")
    con.execute(f"COPY ({query}) TO '{literal}' (FORMAT csv, HEADER true, QUOTE '\"', ESCAPE '\"')")


_TEXT_KINDS = frozenset(kind for kind, sql in DUCKDB_TYPES.items() if sql == "VARCHAR")


def _holds_line_break(con: Connection, table: EntityTable) -> bool:
    """Whether a text or list value of ``table`` holds a line break (ingest keeps them: a quoted line
    break in items is real)."""
    values = [f'array_to_string("{f.name}", \'\')' if f.type == "list" else f'"{f.name}"'
              for f in fields(table) if f.type in _TEXT_KINDS or f.type == "list"]
    where = " OR ".join(f"regexp_matches({v}, '[\\r\\n]')" for v in values)
    [(found,)] = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table.name} WHERE {where} LIMIT 1)").fetchall()
    return bool(found)


def write_import_csv(con: Connection, out: Path) -> list[str]:
    """Write the graph of the entity tables readable in ``con`` as import CSVs into ``out``;
    returns the ``neo4j-admin database import full`` arguments that read them.

    ``--multiline-fields=true`` is among them only when a value holds a line break: it makes
    neo4j-admin read each file in one thread (1M persons: 335 s to import with it, 296 s without).

    No node records the schema version: the first ``Neo4jStore`` to open the imported database
    takes it for one written before versions were recorded and creates the constraints and indexes
    (then records the version), so an import killed before it completed is repaired on the next open."""
    out.mkdir(parents=True, exist_ok=True)
    multiline = any(_holds_line_break(con, table) for table in ENTITY_TABLES.values())
    args = ["--multiline-fields=true"] if multiline else []
    referenced: dict[str, list[str]] = {}  # target label -> SQL of its referenced values
    for i, rel in enumerate(RELATIONSHIPS):
        for j, (label, refs) in enumerate(_references(rel)):
            path = out / f"rel-{i:02d}-{j}-{rel.type.lower()}.csv"
            _copy(con, f"SELECT s AS \":START_ID\", '{KEY_KIND_OF_LABEL[label]}:' || v AS \":END_ID\" FROM ({refs})", path)
            args.append(f"--relationships={rel.type}={path}")
            referenced.setdefault(label, []).append(f"SELECT v FROM ({refs})")
    for table in ENTITY_TABLES.values():
        kind = KEY_KIND_OF_LABEL[table.label]
        columns = [_column(f.name, f.type) for f in fields(table)]
        select = ", ".join(f'{sql} AS "{header}"' for sql, header in columns)
        path = out / f"nodes-{table.name}.csv"
        _copy(con, f"SELECT '{kind}:' || \"{table.key}\" AS \"_key:ID\", {select} FROM {table.name}", path)
        args.append(f"--nodes=Node:{table.label}={path}")
        if table.label in referenced:
            # a reference to a row not loaded makes a placeholder node: its key and its id only
            path = out / f"placeholders-{table.name}.csv"
            values = "SELECT DISTINCT v FROM (" + " UNION ALL ".join(referenced[table.label]) + ")"
            _copy(con, f"SELECT '{kind}:' || v AS \"_key:ID\", v AS \"{table.key}\" FROM ({values}) "
                       f"WHERE v NOT IN (SELECT \"{table.key}\" FROM {table.name})", path)
            args.append(f"--nodes=Node:{table.label}={path}")
    for label in IDENTIFIER_LABELS:
        if label in referenced:
            path = out / f"identifiers-{label.lower()}.csv"
            values = "SELECT DISTINCT v FROM (" + " UNION ALL ".join(referenced[label]) + ")"
            _copy(con, f"SELECT '{KEY_KIND_OF_LABEL[label]}:' || v AS \"_key:ID\", v AS value FROM ({values})", path)
            args.append(f"--nodes=Node:{label}={path}")
    # The network, as ``Neo4jStore`` writes it (``_NET_CREATE``): both ends are nodes above, as every
    # edge starts at a loaded row and ends at one or at a value a reference column names.
    path = out / "net.csv"
    _copy(con, 'SELECT a AS ":START_ID", b AS ":END_ID", rel AS "type", n AS "claims:long", fund AS "fund:double", '
               f'first_day::VARCHAR AS "first", last_day::VARCHAR AS "last" FROM ({NETWORK_EDGES_SQL})', path)
    args.append(f"--relationships=NET={path}")
    return args


def _bolt_port(data: Path) -> int | None:
    """The port the server in ``data`` listens on (None for a folder no server has used yet)."""
    path = data / "conf" / "neo4j.conf"
    if not path.exists():
        return None
    conf = path.read_text(encoding="utf-8")
    found = re.search(r"^server\.bolt\.listen_address=.*:(\d+)$", conf, re.M)
    if found is None:
        raise StoreError(f"{data / 'conf' / 'neo4j.conf'} names no Bolt port",
                         zh=f"{data / 'conf' / 'neo4j.conf'} 中没有 Bolt 端口")
    return int(found.group(1))


def _running(data: Path) -> Neo4jServer | None:
    """The server of ``data`` if it is up and answers (``start_neo4j`` left its uri, password and pid)."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import Neo4jError, ServiceUnavailable

    try:
        uri, password = (data / "uri").read_text().strip(), (data / "password").read_text().strip()
        pid = int((data / "pid").read_text())
        os.kill(pid, 0)
        with GraphDatabase.driver(uri, auth=("neo4j", password)) as driver:
            driver.verify_connectivity()
    except (OSError, ValueError, ServiceUnavailable, Neo4jError):
        return None
    return Neo4jServer(uri, "neo4j", password, data, pid)


def _holds_graph(server: Neo4jServer) -> bool:
    from neo4j import GraphDatabase

    with GraphDatabase.driver(server.uri, auth=(server.user, server.password),
                              notifications_min_severity="OFF") as driver:
        records, _, _ = driver.execute_query("MATCH (n) WHERE NOT n:Meta RETURN 1 AS one LIMIT 1", database_="neo4j")
    return bool(records)


def import_heap() -> str:
    """The importer's heap when none is given: a quarter of this machine's memory, at least 1 GB.

    The import runs alone (the server is stopped) and the heap it asks for grows with the graph:
    for a 1M-person city (18.9M nodes, 76M relationships with the network) neo4j-admin warned that
    1 GB "may be too small" and suggested 1.006 GiB (it completed in 1 GB); 10 times the persons,
    about 10 times that."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, total // 4 // 2**30)}g"


def _admin_import(data: Path, args: list[str], heap: str, off_heap: str) -> None:
    lib = fetch_neo4j()
    env = {**os.environ, "NEO4J_HOME": str(data), "NEO4J_CONF": str(data / "conf")}
    # the database name comes first: each --nodes/--relationships takes every file after it;
    # --verbose: a failure's cause (its exception) goes to the log, not only "Critical error occurred"
    command = ["java", f"-Xmx{heap}", "-cp", f"{lib}/*", "org.neo4j.cli.AdminTool", "database", "import", "full", "neo4j",
               "--verbose", "--overwrite-destination=true",
               f"--array-delimiter={_ARRAY_DELIMITER}", f"--max-off-heap-memory={off_heap}",
               f"--report-file={data / 'logs' / 'import.report'}", *args]
    (data / "logs").mkdir(exist_ok=True)
    with open(data / "logs" / "import.out", "wb") as log:
        done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        lines = (data / "logs" / "import.out").read_text(encoding="utf-8", errors="replace").splitlines()
        # what explains the failure, not the progress dots before it
        said = [line.strip() for line in lines if re.search(r"WARNING|ERROR|Exception|Error:|Caused by", line)]
        # A full disk is the other usual cause, and neo4j-admin does not always say so.
        free = shutil.disk_usage(data).free / 2**30
        raise StoreError(f"neo4j-admin database import failed (exit {done.returncode}) with heap {heap} and "
                         f"{free:.1f} GB free on {data}'s disk: "
                         + ("; ".join(dict.fromkeys(said))[:2000] or "no reason given")
                         + f" (the whole log: {data / 'logs' / 'import.out'})",
                         zh=f"neo4j-admin 批量导入失败（退出码 {done.returncode}，堆 {heap}，磁盘剩余 {free:.1f} GB）；"
                            f"完整日志：{data / 'logs' / 'import.out'}")


def import_folder(folder: Path, data: Path, *, home: Path, heap: str = "1g", pagecache: str = "512m",
                  off_heap: str = "2G", memory_limit: str = "4GB", progress: bool = False,
                  admin_heap: str | None = None) -> BulkLoad:
    """Load ``folder`` into the empty database of the server managed in ``data`` with neo4j-admin,
    and leave that server running (started if it was not). Rejects go to ``home/rejects``.
    ``heap`` and ``pagecache`` are the server's; ``admin_heap`` the importer's (``import_heap()``
    when not given).

    ``data`` may also be a new folder: a server is made there. Raises ``StoreError`` when
    ``data`` is another folder or its database holds a
    graph already (a later folder loads through ``graphsvc ingest``).
    """
    data = Path(data).resolve()
    folder = Path(folder)
    if data.exists() and any(data.iterdir()) and not (data / "conf" / "neo4j.conf").exists():
        raise StoreError(f"{data} is not the data folder of a Neo4j started by graphsvc "
                         "(python -m graphsvc.store.neo4j_server start --data DIR); for another server write the "
                         "CSVs with --csv-only and run its own neo4j-admin",
                         zh=f"{data} 不是由 graphsvc 启动的 Neo4j 的数据文件夹；其他服务器请用 --csv-only "
                            "写出 CSV，再运行它自己的 neo4j-admin")
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    if _bolt_port(data) is None:  # no server has run here: no database yet, and none to start to ask
        write_conf(data, pagecache=pagecache)
    else:
        # Whether the database is empty is the server's to say: start it if it is down.
        server = _running(data) or start_neo4j(data, bolt_port=_bolt_port(data), heap=heap, pagecache=pagecache)
        if _holds_graph(server):
            raise StoreError(f"the Neo4j database in {data} holds a graph already: bulk import is for a first load; "
                             f"load {folder} with: graphsvc ingest {folder} --backend neo4j",
                             zh=f"{data} 中的 Neo4j 数据库已有数据：批量导入只用于首次加载；"
                                f"请用 graphsvc ingest {folder} --backend neo4j 导入")
        server.stop()
    seconds["check"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="graphsvc-bulk-", dir=data) as scratch:
        work = Path(scratch)
        started = time.perf_counter()
        with EmbeddedStore(work / "validated", memory_limit=memory_limit) as validated:
            report = ingest_folder(validated, Path(folder), rejects_dir=Path(home) / "rejects", progress=progress)
            log = validated.ingest_log()
            seconds["validate"] = time.perf_counter() - started
            started = time.perf_counter()
            con = validated.analysis_connection()
            try:
                args = write_import_csv(con, work / "csv")
            finally:
                con.close()
        seconds["csv"] = time.perf_counter() - started
        started = time.perf_counter()
        _admin_import(data, args, admin_heap or import_heap(), off_heap)
        seconds["import"] = time.perf_counter() - started
        shutil.rmtree(work / "csv")
    started = time.perf_counter()
    server = start_neo4j(data, bolt_port=_bolt_port(data), heap=heap, pagecache=pagecache)
    seconds["restart"] = time.perf_counter() - started
    started = time.perf_counter()
    store = Neo4jStore(server.uri, server.user, server.password, home)
    try:
        store.complete_bulk_import(log)
    finally:
        store.close()
    seconds["indexes"] = time.perf_counter() - started  # online, and the ingest log written
    return BulkLoad(report, server, seconds)
