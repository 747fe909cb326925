"""The command line as a user runs it: real processes, real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.cli_error import cli_error
from helpers.csv_files import write_csv

pytestmark = pytest.mark.slow  # every test runs the CLI in its own process


def graphsvc(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args, "--home", str(home)] if args[0] != "generate"
                          else [sys.executable, "-m", "cli", *args],
                          capture_output=True, text=True, timeout=300)


def test_demo_then_stats_json(tmp_path):
    home = tmp_path / "home"
    demo = graphsvc("demo", "--persons", "6000", "--seed", "2", "--quiet", home=home)
    assert demo.returncode == 0, demo.stderr
    assert "settlements.csv" in demo.stdout and "biggest hubs" in demo.stdout
    stats = graphsvc("stats", "--json", home=home)
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    assert data["nodes"]["Person"] == 6000
    assert data["nodes"]["Settlement"] == data["ingest"]["loaded"] - sum(
        data["nodes"][label] for label in ("Person", "Card", "Institution", "Prescriber", "Intermediary"))
    # The biggest address hubs of a city are its care homes and dormitories, not its families.
    top_addresses = [h["value"] for h in data["hubs"]["Address"]]
    assert any("养老院" in a or "夕阳红" in a or "宿舍" in a for a in top_addresses)


def test_ingest_reports_counts_and_rejects_and_exits_zero(tmp_path):
    folder = tmp_path / "in"
    write_csv(folder / "settlements.csv", ["settlement_id", "kind", "person_id", "institution_id", "start_time"],
              [["S1", "outpatient", "P1", "H1", "2026-01-02 09:00:00"], ["S2", "outpatient", "P1", "H1", "soon"]])
    result = graphsvc("ingest", str(folder), "--quiet", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "settlements.csv" in result.stdout and "rejected rows" in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("正在导入 loading ")
    assert lines[1].split()[:4] == ["文件", "file", "读入", "read"]
    total = next(line for line in result.stdout.splitlines() if line.startswith("合计 total"))
    assert total.split()[2:] == ["2", "1", "0", "1"]


def test_progress_bars_go_to_a_terminal_and_never_into_a_log(tmp_path):
    """Run from cron or a CI job, stderr is a file: tqdm's redraws (carriage returns, one line of
    thousands of characters) must not land there. On a terminal the bars are still drawn."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    from helpers.api_city import city_scene

    folder = city_scene()[0].write_folder(tmp_path / "city")
    logged = {}
    for command in (["ingest", str(folder)], ["detect"]):
        done = graphsvc(*command, home=tmp_path / "logged")
        assert done.returncode == 0, done.stderr
        logged[command[0]] = done.stderr
    assert not any("\r" in err or "%|" in err for err in logged.values()), logged

    # the same two commands with stderr on a pseudo-terminal
    drawn = b""
    for command in (["ingest", str(folder)], ["detect"]):
        leader, follower = pty.openpty()
        # a terminal of 0 columns (a new pseudo-terminal's size) gets no bar at all from tqdm
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        try:
            process = subprocess.Popen([sys.executable, "-m", "cli", *command, "--home", str(tmp_path / "terminal")],
                                       stdout=subprocess.DEVNULL, stderr=follower)
            os.close(follower)
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal's other end closed: the command is done
                    break
                if not chunk:
                    break
                drawn += chunk
            assert process.wait(timeout=300) == 0, drawn.decode(errors="replace")
        finally:
            os.close(leader)
    assert b"settlements.csv" in drawn and b"detect:" in drawn and b"%|" in drawn


def test_a_file_name_cannot_forge_a_log_line_or_drive_the_terminal(tmp_path):
    """Attack: a data file named ``settlements_ESC[31mX<newline>2026-11-30 INFO fake: ok.csv`` (names are the
    exporter's; the glob takes them). Its name is logged as each file starts and printed in the summary:
    written raw, it recoloured the terminal and started a log line of the sender's choosing."""
    folder = tmp_path / "in"
    name = "settlements_\x1b[31mX\n2026-11-30 INFO fake: ok.csv"
    write_csv(folder / name, ["settlement_id", "kind", "person_id", "institution_id", "start_time"],
              [["S1", "outpatient", "P1", "H1", "2026-01-02 09:00:00"]])
    result = graphsvc("ingest", str(folder), "--log-level", "info", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    for out in (result.stdout, result.stderr):
        assert "\x1b" not in out and not any(line.startswith("2026-11-30 INFO fake") for line in out.splitlines())
    assert "settlements_\\x1b[31mX\\x0a2026-11-30 INFO fake: ok.csv" in result.stdout  # shown, escaped
    assert "file=settlements_\\x1b[31mX\\x0a" in result.stderr

def test_clear_errors_and_nonzero_exit(tmp_path):
    missing = graphsvc("ingest", str(tmp_path / "nowhere"), home=tmp_path / "home")
    assert missing.returncode == 2 and "is not a folder" in missing.stderr and "Traceback" not in missing.stderr
    stats = graphsvc("stats", home=tmp_path / "empty-home")
    assert stats.returncode == 2 and "graphsvc ingest" in stats.stderr
    help_text = subprocess.run([sys.executable, "-m", "cli", "--help"], capture_output=True, text=True)
    assert all(word in help_text.stdout for word in ("generate", "ingest", "stats", "demo"))


def test_a_home_another_process_holds_names_the_process_and_what_to_use_instead(tmp_path):
    """While a server holds a home, every CLI command that writes it is refused: the message names the
    holder's PID (not DuckDB's internals) and the API to use meanwhile, in one line, exit 2."""
    home = tmp_path / "home"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from graphsvc.store.embedded import "
                               "EmbeddedStore; s = EmbeddedStore(sys.argv[1]); print('open', flush=True); time.sleep(60)",
                               str(home)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        refused = graphsvc("apikey", "create", "--role", "analyst", home=home)
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode == 2, refused
    [line] = refused.stderr.strip().splitlines()
    assert f"is in use by process {holder.pid}" in line and "POST /apikeys" in line, line
    assert "IO Error" not in line and "duckdb.org" not in line, line


def test_export_and_apikey_commands(tmp_path):
    import hashlib

    from helpers.api_city import city_scene

    home = tmp_path / "home"
    scene, _ = city_scene()
    assert graphsvc("ingest", str(scene.write_folder(tmp_path / "city")), "--quiet", home=home).returncode == 0
    assert graphsvc("detect", "--quiet", home=home).returncode == 0
    made = graphsvc("apikey", "create", "--role", "analyst", "--name", "王分析", home=home)
    assert made.returncode == 0 and made.stdout.startswith("gsk_") and "only its digest is kept" in made.stderr
    listed = graphsvc("apikey", "list", home=home)
    assert "analyst" in listed.stdout and "王分析" in listed.stdout and made.stdout.strip() not in listed.stdout
    exported = graphsvc("export", "R-000003", "--out", str(tmp_path / "out"), "--format", "graphml", home=home)
    assert exported.returncode == 0, exported.stderr
    package = tmp_path / "out" / "R-000003-graphml"
    for line in (package / "manifest.sha256").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((package / name).read_bytes()).hexdigest() == digest
    assert {"ring-R-000003.graphml", "report.html", "network.svg", "manifest.json"} <= {p.name for p in package.iterdir()}
    missing = graphsvc("export", "R-999999", "--out", str(tmp_path / "out"), home=home)
    assert missing.returncode == 2 and "no ring R-999999" in missing.stderr
    weak = subprocess.run([sys.executable, "-m", "cli", "serve", "--home", str(home)], capture_output=True,
                          text=True, timeout=60, env={**__import__("os").environ, "GRAPHSVC_SECRET_KEY": "changeme"})
    assert weak.returncode == 2 and "default or short secret" in weak.stderr and "Traceback" not in weak.stderr


def test_unreachable_or_misconfigured_neo4j_is_a_clear_error(tmp_path):
    import os

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", "stats", "--home", str(tmp_path)],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "GRAPHSVC_BACKEND": "neo4j", **env})

    unreachable = run(NEO4J_URI="bolt://127.0.0.1:9", NEO4J_PASSWORD="anything-will-do")
    assert unreachable.returncode == 2 and "cannot reach Neo4j at bolt://127.0.0.1:9" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    unset = run()
    assert unset.returncode == 2 and "needs NEO4J_URI and NEO4J_PASSWORD" in unset.stderr


def test_a_malformed_or_non_bolt_neo4j_address_is_a_clear_error(tmp_path, monkeypatch, capsys):
    """The driver refuses some addresses while it is being made, before any connection: a bad IPv6
    bracket (ValueError), an HTTP scheme (its preview HTTP support needs a package graphsvc does not
    install: ModuleNotFoundError), an unknown scheme. Each was "an internal error" (exit 1)."""
    from cli.commands import main

    monkeypatch.setenv("GRAPHSVC_BACKEND", "neo4j")
    monkeypatch.setenv("NEO4J_PASSWORD", "anything-will-do")
    for uri, said in (("bolt://[::1", "is not a valid address (Invalid IPv6 URL)"),
                      ("http://127.0.0.1:7474", "is not a Bolt address"), ("neo4j+zz://h", "is not a Bolt address")):
        monkeypatch.setenv("NEO4J_URI", uri)
        assert main(["stats", "--home", str(tmp_path)]) == 2, uri
        err = capsys.readouterr().err.strip()
        assert cli_error(err)[1].startswith(f"NEO4J_URI {uri!r} {said}"), err


def test_apikey_revoke_and_expiry(tmp_path, capsys):
    from api.keys import principal_for
    from graphsvc.config import Settings
    from graphsvc.store import open_store

    home = tmp_path / "home"
    made = graphsvc("apikey", "create", "--role", "analyst", "--name", "临时", "--expires-days", "30", home=home)
    assert made.returncode == 0, made.stderr
    key, key_id = made.stdout.strip(), made.stderr.split("key id ")[1].split(",")[0]
    assert "expires" in made.stderr
    [line] = graphsvc("apikey", "list", home=home).stdout.splitlines()
    assert line.startswith(key_id) and "expires" in line and "REVOKED" not in line
    revoked = graphsvc("apikey", "revoke", key_id, home=home)
    assert revoked.returncode == 0 and f"revoked {key_id}" in revoked.stdout
    assert "REVOKED" in graphsvc("apikey", "list", home=home).stdout
    with open_store(Settings(home=home)) as store:
        assert principal_for(store, key) is None
    # Options before the key id, and before the action, as people type them.
    from cli.commands import main

    assert main(["apikey", "create", "--home", str(home), "--quiet", "--name", "二号"]) == 0
    second = capsys.readouterr().err.split("key id ")[1].split(",")[0]
    assert main(["apikey", "revoke", "--home", str(home), "--quiet", second]) == 0
    assert main(["apikey", "--home", str(tmp_path / "elsewhere"), "list", "--home", str(home)]) == 0
    assert sum("REVOKED" in line for line in capsys.readouterr().out.splitlines()) == 2
    with pytest.raises(SystemExit) as refused_option:  # argparse's own exit: create's option, not list's
        main(["apikey", "list", "--home", str(home), "--role", "admin"])
    assert refused_option.value.code == 2
    assert "unrecognized arguments: --role admin" in capsys.readouterr().err
    for args, message in ((("revoke", "000000000000"), "no API key with id 000000000000"),
                          (("revoke", "env-admin"), "cannot be revoked"),
                          (("create", "--expires-days", "0"), "at least 1")):
        refused = graphsvc("apikey", *args, home=home)
        assert refused.returncode == 2 and message in refused.stderr and "Traceback" not in refused.stderr
