"""A real Neo4j Community 5.26 for development and tests, fetched from Maven Central and run on loopback.

No Docker and no tarball download: Neo4j publishes its server as Maven artifacts
(``org.neo4j:neo4j`` holds ``org.neo4j.server.CommunityEntryPoint``, ``org.neo4j.app:neo4j-server``
the HTTP side), so ``mvn dependency:copy-dependencies`` fetches the jars once into a cache
(``~/.cache/graphsvc/neo4j-5.26.0``, 240 jars, 125 MB) and ``java -cp 'lib/*'`` starts the
server with a config of our own: loopback only, free ports, a data folder per server.

A fresh Neo4j asks for the default user's password to be changed before anything else;
``start`` does that over Bolt, so the server comes back ready with the password given.

    python -m graphsvc.store.neo4j_server start --data /tmp/neo4j-dev     # prints the URI and password
    python -m graphsvc.store.neo4j_server stop --data /tmp/neo4j-dev
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NEO4J_VERSION", "Neo4jServer", "fetch_neo4j", "start_neo4j", "write_conf"]

NEO4J_VERSION = "5.26.0"
_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>graphsvc</groupId>
  <artifactId>neo4j-dev-server</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.neo4j</groupId><artifactId>neo4j</artifactId><version>{NEO4J_VERSION}</version></dependency>
    <dependency><groupId>org.neo4j.app</groupId><artifactId>neo4j-server</artifactId><version>{NEO4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""
_MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"


def _cache() -> Path:
    root = os.environ.get("GRAPHSVC_NEO4J_CACHE") or Path.home() / ".cache" / "graphsvc"
    return Path(root) / f"neo4j-{NEO4J_VERSION}"


def fetch_neo4j() -> Path:
    """The folder of Neo4j's jars, fetched with Maven on first use."""
    cache = _cache()
    lib = cache / "lib"
    if (cache / "complete").exists():
        return lib
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise RuntimeError("a development Neo4j needs Java 17 and Maven (mvn) on the PATH")
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "pom.xml").write_text(_POM)
    done = subprocess.run(["mvn", "-q", "-B", "-f", str(cache / "pom.xml"), "dependency:copy-dependencies",
                           f"-DoutputDirectory={lib}"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"mvn could not fetch Neo4j {NEO4J_VERSION} from Maven Central:\n{done.stdout[-2000:]}"
                           f"{done.stderr[-2000:]}")
    (cache / "complete").write_text("ok\n")
    return lib


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Neo4jServer:
    """A running development server: where to reach it and how to stop it."""

    uri: str
    user: str
    password: str
    data: Path
    pid: int

    def stop(self, timeout: float = 60.0) -> None:
        _stop_pid(self.pid, timeout)

    def kill(self) -> None:
        """Stop it hard, as a crash or a pulled plug would (for fault tests)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        _wait_gone(self.pid, 30)


def write_conf(data: Path, *, pagecache: str, port: int | None = None) -> Path:
    """Write the configuration of a server on loopback ``port`` (a free one if None) with its
    store in ``data``; returns its folder (what ``NEO4J_CONF`` names, for the server and for
    ``neo4j-admin``)."""
    port = port or _free_port()
    conf = data / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "neo4j.conf").write_text("\n".join([
        "server.default_listen_address=127.0.0.1",
        f"server.bolt.listen_address=127.0.0.1:{port}",
        "server.http.enabled=false",
        "server.https.enabled=false",
        f"server.directories.data={data / 'data'}",
        f"server.directories.logs={data / 'logs'}",
        f"server.directories.run={data / 'run'}",
        f"server.directories.import={data / 'import'}",
        f"server.memory.pagecache.size={pagecache}",
        "dbms.security.auth_enabled=true",
        # Bolt's two Netty event loop groups each wait a quiet period of 5 s on every stop, after
        # both databases have stopped and with no connection left: 10 s of nothing per stop.
        "internal.dbms.bolt.netty_server_shutdown_quiet_period=0",
    ]) + "\n")
    return conf


def start_neo4j(data: Path, *, password: str | None = None, heap: str = "1g", pagecache: str = "512m",
                timeout: float = 180.0, bolt_port: int | None = None) -> Neo4jServer:
    """Start Neo4j on loopback with its store in ``data`` and wait until Bolt answers with ``password``.

    The same ``data`` (and ``bolt_port``) starts the same database again, e.g. after ``kill``.
    """
    lib = fetch_neo4j()
    data = Path(data).resolve()
    port = bolt_port or _free_port()
    conf = write_conf(data, pagecache=pagecache, port=port)
    first_run = not (data / "password").exists()
    password = password or ((data / "password").read_text().strip() if not first_run else secrets.token_urlsafe(18))
    with open(data / "server.out", "ab") as log:  # the server writes to its own copy; ours closes here
        process = subprocess.Popen(["java", f"-Xmx{heap}", "-cp", f"{lib}/*", _MAIN_CLASS, f"--home-dir={data}",
                                    f"--config-dir={conf}"], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    (data / "pid").write_text(str(process.pid))
    uri = f"bolt://127.0.0.1:{port}"
    try:
        _wait_for_bolt(uri, password, first_run, process, data, timeout)
    except BaseException:
        _stop_pid(process.pid, 10)
        raise
    (data / "password").write_text(password)
    (data / "uri").write_text(uri)
    return Neo4jServer(uri, "neo4j", password, data, process.pid)


def _wait_for_bolt(uri: str, password: str, first_run: bool, process: subprocess.Popen, data: Path,
                   timeout: float) -> None:
    from neo4j import GraphDatabase
    from neo4j.exceptions import ServiceUnavailable, SessionExpired

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"Neo4j exited with {process.returncode}; see {data / 'server.out'} and {data / 'logs'}")
        try:
            if first_run:
                with GraphDatabase.driver(uri, auth=("neo4j", "neo4j")) as driver, driver.session(database="system") as session:
                    session.run("ALTER CURRENT USER SET PASSWORD FROM 'neo4j' TO $new", new=password).consume()
                first_run = False
            with GraphDatabase.driver(uri, auth=("neo4j", password)) as driver:
                driver.verify_connectivity()  # no retries here: the loop does the waiting
            return
        except (ServiceUnavailable, SessionExpired, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Neo4j did not answer on {uri} within {timeout:.0f}s; see {data / 'logs'}") from None
            time.sleep(0.5)


def _stop_pid(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not _wait_gone(pid, timeout):
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 10)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:  # not our child: poll its existence
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.2)
    return False


def _import(args: argparse.Namespace) -> int:
    """``import``: a first load with neo4j-admin (``graphsvc.store.neo4j_import``)."""
    from graphsvc.errors import GraphsvcError
    from graphsvc.store.embedded import EmbeddedStore
    from graphsvc.store.neo4j_import import import_folder, write_import_csv
    from ingest.pipeline import ingest_folder

    if not args.folder:
        print("neo4j_server: error: import needs the contract folder: import CITY --data DIR", file=sys.stderr)
        return 2
    for option, given in (("--data", args.data), ("--csv-only", args.csv_only)):
        if given and Path(given).exists() and not Path(given).is_dir():
            print(f"neo4j_server: error: {option} {given} is a file; it names a folder (不是文件夹)", file=sys.stderr)
            return 2
    try:
        if args.csv_only:
            out = Path(args.csv_only).resolve()
            if (out / "csv").exists() and any((out / "csv").iterdir()):
                # CSVs of an earlier run beside this one's would be imported with them by a glob
                print(f"neo4j_server: error: {out / 'csv'} holds files already (an earlier --csv-only?): give a new "
                      "folder, or remove that one first (输出文件夹非空)", file=sys.stderr)
                return 2
            out.mkdir(parents=True, exist_ok=True)
            # validated in a scratch store of this run alone: one left from an earlier run would hold its rows
            with tempfile.TemporaryDirectory(prefix="graphsvc-validated-", dir=out) as scratch, \
                    EmbeddedStore(Path(scratch)) as validated:
                report = ingest_folder(validated, Path(args.folder), rejects_dir=Path(args.home) / "rejects")
                con = validated.analysis_connection()
                try:
                    files = write_import_csv(con, out / "csv")
                finally:
                    con.close()
            print(f"validated {report.totals['read']:,} rows ({report.totals['rejected']:,} rejected); on the server, "
                  f"with the database neo4j stopped and empty, and {out / 'csv'} readable there, run:\n"
                  f"  neo4j-admin database import full neo4j --overwrite-destination=true "
                  f"{' '.join(files)}\nthen start it and run graphsvc stats against it once: that creates the "
                  "constraints and indexes. Its ingest log stays empty (a later graphsvc ingest of this folder "
                  "counts each row unchanged).")
            return 0
        # progress bars on a terminal only: in a log their carriage returns pile up on one line
        load = import_folder(Path(args.folder), Path(args.data), home=Path(args.home), progress=sys.stderr.isatty(),
                             heap=args.heap, pagecache=args.pagecache, admin_heap=args.import_heap)
    except (GraphsvcError, RuntimeError) as exc:
        print(f"neo4j_server: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be made or written: the operator's to fix
        print(f"neo4j_server: error: {exc.filename}: {exc.strerror}" if exc.filename else f"neo4j_server: error: {exc}",
              file=sys.stderr)
        return 2
    took = sum(load.seconds.values())
    print(f"imported {load.rows:,} rows in {took:.1f}s ({load.rows / took:,.0f} rows/s; "
          + ", ".join(f"{k} {v:.1f}s" for k, v in load.seconds.items()) + ")")
    print(f"NEO4J_URI={load.server.uri}\nNEO4J_USER={load.server.user}\nNEO4J_PASSWORD={load.server.password}")
    return 0


def _memory_size(text: str) -> str:
    """A JVM memory size (``-Xmx`` / page cache form: digits and k, m or g), checked before any work starts."""
    if not re.fullmatch(r"[1-9][0-9]*[kmgKMG]?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a memory size such as 512m or 4g")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A development Neo4j from Maven Central, on loopback.")
    parser.add_argument("action", choices=["fetch", "start", "stop", "import"])
    parser.add_argument("folder", nargs="?", help="import: the contract folder of the first load")
    parser.add_argument("--data", default=".neo4j-dev", help="folder of the server's store, logs and config")
    parser.add_argument("--home", default=os.environ.get("GRAPHSVC_HOME", "graphsvc-home"),
                        help="import: the graphsvc home (its rejects folder gets the rejected rows)")
    parser.add_argument("--csv-only", metavar="OUT",
                        help="import into a server not managed here (docker-compose): validate the folder, write "
                             "the import CSVs into OUT/csv (a new or empty folder) and print the neo4j-admin command to run "
                             "beside that server")
    parser.add_argument("--heap", default="1g", type=_memory_size, help="start, import: the server's heap")
    parser.add_argument("--pagecache", default="512m", type=_memory_size, help="start, import: the server's page cache")
    parser.add_argument("--import-heap", type=_memory_size, help="import: neo4j-admin's heap (default: a quarter of this machine's "
                                              "memory; a 1M-person city needs more than 1g)")
    args = parser.parse_args(argv)
    if args.action == "import":
        return _import(args)
    data = Path(args.data)
    try:
        if args.action == "fetch":
            print(fetch_neo4j())
        elif args.action == "start":
            server = start_neo4j(data, heap=args.heap, pagecache=args.pagecache)
            print(f"NEO4J_URI={server.uri}\nNEO4J_USER={server.user}\nNEO4J_PASSWORD={server.password}")
        else:
            pid_file = data / "pid"
            if pid_file.exists():
                _stop_pid(int(pid_file.read_text()), 60)
                pid_file.unlink()
    except RuntimeError as exc:
        print(f"neo4j_server: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
