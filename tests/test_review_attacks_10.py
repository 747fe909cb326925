"""Review attacks (the tenth file): an operator's mistakes on the command line (Spark master, serve's port and
host, Neo4j unreachable) must each be one line ``graphsvc: error: ...`` naming the bad value, exit 2,
quickly: not a Java stack trace, "an internal error", a minute's wait, or a server on another port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.cli_error import cli_error

pytestmark = pytest.mark.slow  # every test runs the CLI in its own process

ROOT = Path(__file__).resolve().parent.parent


def graphsvc(*args: str, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process; a run past ``timeout`` is a failure (a hang), not a test stuck."""
    try:
        return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"graphsvc {' '.join(args)} still ran after {timeout}s: "
                    f"stdout {str(exc.stdout or b'')[-300:]!r}, stderr {str(exc.stderr or b'')[-300:]!r}")


def one_line_error(done: subprocess.CompletedProcess[str], value: str) -> None:
    err = done.stderr.strip()
    last = err.splitlines()[-1] if err else ""
    assert done.returncode == 2, (done.returncode, err[-600:])
    assert "Traceback" not in err and "\tat " not in err and "internal error" not in err, err[-600:]
    assert value in cli_error(last)[1], err[-600:]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small city, loaded and detected once for the module."""
    base = tmp_path_factory.mktemp("attacks10")
    city, home = base / "city", base / "home"
    for args in (("generate", str(city), "--persons", "5000", "--quiet"),
                 ("ingest", str(city), "--home", str(home), "--quiet"),
                 ("detect", "--home", str(home), "--quiet")):
        done = graphsvc(*args, timeout=120)
        assert done.returncode == 0, done.stderr[-600:]
    return home


@pytest.mark.parametrize("master", ["local[0]", "local[-1]", "localhost", ""])
def test_a_local_spark_master_spark_cannot_parse_is_a_one_line_error(home, master):
    """Attack: ``graphsvc detect --engine spark --spark-master`` with a local master Spark refuses
    (``local[0]``, ``local[-1]``, ``localhost``: anything starting "local" skips the cluster check) or an
    empty one.

    Before a fix: the value goes straight to ``SparkSession.builder.master``; Spark starts, fails, prints
    a Java stack trace on stderr and graphsvc ends with "graphsvc: error: an internal error
    (Py4JJavaError); run again with --log-level debug to see where", exit 1. An empty --spark-master is
    taken as no --spark-master (``spark_master or "local[*]"``) and detection runs, exit 0.

    Expected: before Spark starts, ``graphsvc: error: ...`` naming the master (``'local[0]'``, ``''``)
    and what a master looks like, exit 2."""
    # an empty master runs a whole detection (about 40 s here) before a fix: 20 s is ample for a refusal
    done = graphsvc("detect", "--home", str(home), "--quiet", "--engine", "spark", "--spark-master", master,
                    timeout=20)
    one_line_error(done, master if master else repr(master))


def test_an_unreachable_spark_cluster_is_a_quick_one_line_error(home, tmp_path):
    """Attack: ``graphsvc detect --engine spark --spark-master spark://nowhere:7077 --input URI`` (a
    cluster name mistyped, or the cluster down).

    Before a fix: Spark's standalone client retries registration for about a minute ("All masters are
    unresponsive! Giving up."), pours netty stack traces onto stderr, and graphsvc ends after ~65 s with
    "graphsvc: error: an internal error (Py4JJavaError); run again with --log-level debug to see
    where", exit 1.

    Expected: within seconds, ``graphsvc: error: cannot reach the Spark master spark://nowhere:7077 ...``
    (the name does not resolve), exit 2."""
    started = time.monotonic()
    done = graphsvc("detect", "--home", str(home), "--quiet", "--engine", "spark",
                    "--spark-master", "spark://nowhere:7077", "--input", (tmp_path / "lake").as_uri(), timeout=30)
    one_line_error(done, "spark://nowhere:7077")
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("port", ["70000", "0"])
def test_serve_on_a_port_outside_one_to_65535_is_refused_not_served_elsewhere(home, port):
    """Attack: ``graphsvc serve --port 70000`` (a digit too many) or ``--port 0``.

    Before a fix: --port is any int; uvicorn binds 70000 modulo 65536 (port 4464) or, for 0, a port the
    kernel picks, while graphsvc prints "serving http://127.0.0.1:70000" (or ":0"): the server runs,
    at an address no one was told, until killed (here: the subprocess timeout).

    Expected: ``graphsvc: error: --port must be 1 to 65535; got 70000``, exit 2, before anything
    starts."""
    done = graphsvc("serve", "--home", str(home), "--port", port, timeout=12)
    one_line_error(done, port)


@pytest.mark.parametrize("attack", ["in use", "bad host", "negative port"])
def test_serve_that_cannot_listen_is_a_one_line_error_with_exit_2(home, attack):
    """Attack: ``graphsvc serve`` on a port another process holds, with ``--host no-such-host.invalid``,
    or with ``--port -1``.

    Before a fix: the store is checked, the admin key made and "serving http://..." printed, then
    uvicorn logs "ERROR uvicorn.error: [Errno 98] error while attempting to bind on address
    ('127.0.0.1', P): address already in use" (or "[Errno -2] Name or service not known", "[Errno -8]
    Servname not supported for ai_socktype") and exits 3; no ``graphsvc: error:`` line names the value.

    Expected: ``graphsvc: error: cannot listen on HOST:PORT (...)`` naming the port or host, exit 2."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        args, value = {"in use": (["--port", str(holder.getsockname()[1])], str(holder.getsockname()[1])),
                       "bad host": (["--host", "no-such-host.invalid", "--port", "18791"], "no-such-host.invalid"),
                       "negative port": (["--port", "-1"], "-1")}[attack]
        done = graphsvc("serve", "--home", str(home), *args, timeout=30)
    finally:
        holder.close()
    one_line_error(done, value)


def test_an_unreachable_neo4j_is_said_on_one_line(tmp_path):
    """Attack: any command with GRAPHSVC_BACKEND=neo4j and NEO4J_URI=bolt://127.0.0.1:1 (a closed port).

    Before a fix: exit 2 quickly, but the message is the driver's, with its own newline, on two lines:
    "graphsvc: error: cannot reach Neo4j at bolt://127.0.0.1:1 (Couldn't connect to 127.0.0.1:1
    (resolved to ('127.0.0.1:1',)):" then "Failed to establish connection to ... Connection refused));
    is it running? check NEO4J_URI". A log collector or a wrapper reading the last line gets no
    "graphsvc: error:" line.

    Expected: one line ``graphsvc: error: cannot reach Neo4j at bolt://127.0.0.1:1 (...)``, exit 2."""
    env = {"GRAPHSVC_BACKEND": "neo4j", "NEO4J_URI": "bolt://127.0.0.1:1", "NEO4J_PASSWORD": "x"}
    for args in (("stats",), ("report", "--month", "2026-01")):
        done = graphsvc(*args, "--home", str(tmp_path), timeout=60, env=env)
        one_line_error(done, "bolt://127.0.0.1:1")
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
