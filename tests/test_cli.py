"""The command line as a user runs it: real processes, real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import write_csv


def graphsvc(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "graphsvc.cli", *args, "--home", str(home)] if args[0] != "generate"
                          else [sys.executable, "-m", "graphsvc.cli", *args],
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
    total = next(line for line in result.stdout.splitlines() if line.startswith("total"))
    assert total.split()[1:] == ["2", "1", "0", "1"]


def test_clear_errors_and_nonzero_exit(tmp_path):
    missing = graphsvc("ingest", str(tmp_path / "nowhere"), home=tmp_path / "home")
    assert missing.returncode == 2 and "is not a folder" in missing.stderr and "Traceback" not in missing.stderr
    stats = graphsvc("stats", home=tmp_path / "empty-home")
    assert stats.returncode == 2 and "graphsvc ingest" in stats.stderr
    help_text = subprocess.run([sys.executable, "-m", "graphsvc.cli", "--help"], capture_output=True, text=True)
    assert all(word in help_text.stdout for word in ("generate", "ingest", "stats", "demo"))
