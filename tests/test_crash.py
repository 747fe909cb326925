"""`graphsvc ingest` killed with SIGKILL in the middle of a folder, on both backends.

What was committed before the kill is what a restarted server shows (search, network), the
ingest log counts exactly the rows stored, and running the same ingest again completes the
load with nothing twice: the store ends as a clean single load leaves it.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.process import start_serve
from graphsvc.config import Settings
from graphsvc.generate import generate_city
from graphsvc.model import ENTITY_TABLES
from graphsvc.store import GraphStore, open_store
from graphsvc.store.embedded import EmbeddedStore
from ingest.pipeline import ingest_folder

pytestmark = pytest.mark.slow  # ingests killed and rerun in their own processes

_SETTLEMENTS = 18_000
"""Of the city's claims (the smallest city has 5000 persons): enough for parts that take a while to load."""
_PARTS = 6
_KILL_AT = "settlements_3.csv"
"""The kill comes when ingest opens this file: persons and two parts of the settlements are stored."""


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A city whose settlements come in several files (one file is one batch at this size, so
    parts give the ingest many commits to be killed between), and a clean load of it."""
    root = tmp_path_factory.mktemp("crash")
    generated = root / "generated"
    generate_city(generated, persons=5000, seed=5, progress=False)
    folder = root / "city"
    folder.mkdir()
    for path in generated.iterdir():
        if path.name != "settlements.csv":
            shutil.copy(path, folder / path.name)
    with (generated / "settlements.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[:1 + _SETTLEMENTS]
    size = -(-(len(rows) - 1) // _PARTS)
    for part in range(_PARTS):
        with (folder / f"settlements_{part + 1}.csv").open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([rows[0], *rows[1 + part * size:1 + (part + 1) * size]])
    earlier = root / "earlier"  # what the home held before: its network index is built
    earlier.mkdir()
    for name in ("institutions.csv", "prescribers.csv"):
        shutil.copy(folder / name, earlier / name)
    with EmbeddedStore(root / "clean") as clean:
        ingest_folder(clean, folder, rejects_dir=root / "rejects", progress=False)
        expected = _state(clean)
    with (folder / "persons.csv").open(newline="", encoding="utf-8") as f:
        person = next(csv.DictReader(f))
    return {"folder": folder, "earlier": earlier, "expected": expected, "person": person}


def _state(store: GraphStore) -> dict:
    persons = store.rows("persons")
    return {"nodes": store.node_counts(), "relationships": store.relationship_counts(),
            "person_keys": dict(zip(persons.column("person_id").to_pylist(), persons.column("person_key").to_pylist())),
            "settlements": sorted(store.rows("settlements").column("settlement_id").to_pylist())}


def _stored_rows(store: GraphStore) -> int:
    counts = store.node_counts()
    return sum(counts[t.label] for t in ENTITY_TABLES.values())


def _env(settings: Settings) -> dict[str, str]:
    env: dict[str, str] = {"GRAPHSVC_BACKEND": settings.backend}
    if settings.backend == "neo4j":
        # the neo4j backend's settings: the store the test opened from them needed both
        assert settings.neo4j_uri is not None and settings.neo4j_password is not None
        env.update(NEO4J_URI=settings.neo4j_uri, NEO4J_USER=settings.neo4j_user,
                   NEO4J_PASSWORD=settings.neo4j_password.get_secret_value())
    return env


def _cli(settings: Settings, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli", *args, "--home", str(settings.home)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **_env(settings)})


def _ingest_killed_at(settings: Settings, folder: Path, marker: str) -> str:
    """Run the CLI ingest and SIGKILL it once its log shows ``marker`` (the store itself cannot be
    watched: the embedded one is locked by the writer; progress bars go to a terminal only)."""
    process = _cli(settings, "ingest", str(folder), "--log-level", "info")
    seen: list[str] = []
    reached = threading.Event()

    def watch() -> None:
        assert process.stderr is not None
        while chunk := os.read(process.stderr.fileno(), 65536):
            seen.append(chunk.decode(errors="replace"))
            if marker in "".join(seen[-2:]):
                reached.set()

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 600
        while not reached.wait(0.05):
            assert process.poll() is None, f"ingest ended before {marker}: {''.join(seen)[-2000:]}"
            assert time.monotonic() < deadline, "ingest never reached " + marker
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(60)
        reader.join(10)
    assert process.returncode == -signal.SIGKILL
    return "".join(seen)


def test_a_killed_ingest_shows_what_it_committed_and_a_rerun_completes_it(settings, city, tmp_path):
    expected = city["expected"]
    earlier = _cli(settings, "ingest", str(city["earlier"]))
    assert earlier.wait(300) == 0
    with open_store(settings) as store:
        store.prepare_reads()  # a server ran on it: the network index of that data version is built

    _ingest_killed_at(settings, city["folder"], _KILL_AT)

    with open_store(settings) as store:
        counts = store.node_counts()
        assert counts["Person"] == expected["nodes"]["Person"]
        assert 0 < counts["Settlement"] < expected["nodes"]["Settlement"]  # killed mid-way
        log = store.ingest_log()
        # the log, which the data version is read from, counts exactly what is stored
        assert sum(r.loaded for r in log) == _stored_rows(store)
        assert any(not r.finished for r in log)

    # A restart: the server shows the persons the killed ingest committed.
    person = city["person"]
    server = start_serve(settings.home, env=_env(settings))
    try:
        admin = {"X-API-Key": (settings.home / "admin-key").read_text().strip()}
        hits = httpx.get(f"{server.base}/search", params={"q": person["name"]}, headers=admin, timeout=60)
        assert hits.status_code == 200, hits.text
        assert person["person_id"] in {h["id"] for h in hits.json()["hits"] if h["type"] == "person"}
        network = httpx.get(f"{server.base}/entities/person/{person['person_id']}/network", headers=admin, timeout=60)
        assert network.status_code == 200, network.text
        assert f"phone:{person['phone']}" in {n["id"] for n in network.json()["nodes"]}
    finally:
        assert server.stop() == 0

    rerun = _cli(settings, "ingest", str(city["folder"]))
    _, errors = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, errors.decode(errors="replace")[-2000:]
    with open_store(settings) as store:
        assert _state(store) == expected
        log = store.ingest_log()
        assert sum(r.loaded for r in log) == _stored_rows(store)  # nothing counted, or stored, twice
        assert all(r.finished for r in log)


def test_spill_files_of_a_killed_process_are_removed_when_the_store_opens(tmp_path):
    """A process killed in the middle of a big join (the kernel's OOM killer at 10M persons) leaves
    DuckDB's spill files under HOME/tmp: 18 GB there. The next writer removes those of dead processes
    and leaves a live reader's alone."""
    EmbeddedStore(tmp_path).close()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    spills = tmp_path / "tmp"
    spills.mkdir(exist_ok=True)
    left = [spills / f"duckdb_temp_{dead}_0_storage_DEFAULT-1.tmp", spills / f"duckdb_temp_{dead}_0_owner"]
    alive = spills / f"duckdb_temp_{os.getpid()}_0_storage_DEFAULT-1.tmp"
    for path in [*left, alive]:
        path.write_bytes(b"x" * 1024)
    EmbeddedStore(tmp_path, read_only=True).close()  # a reader takes no lock: it removes nothing
    assert all(path.exists() for path in left)
    EmbeddedStore(tmp_path).close()
    assert not any(path.exists() for path in left) and alive.exists()
