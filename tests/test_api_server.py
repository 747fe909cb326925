"""The API as deployed: `graphsvc serve` in its own process, spoken to over real HTTP on loopback.

The store is prepared with the CLI (ingest, detect, apikey), the server is started the way
the README says, and its answers are compared with the in-process app's on the same store
once the server has stopped (the embedded store has one writer at a time).
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api import create_app
from api_city import BROKER_PHONE, city_scene
from graphsvc.config import Settings
from graphsvc.store import open_store
from queries.export import verify_manifest


def _cli(*args: str, home: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "graphsvc.cli", *args, "--home", str(home)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    scene, _ = city_scene()
    _cli("ingest", str(scene.write_folder(tmp_path / "city")), "--quiet", home=home)
    _cli("detect", "--quiet", home=home)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "graphsvc.cli", "serve", "--home", str(home), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"graphsvc serve did not come up: {server.stdout.read() if server.stdout else ''}")
        time.sleep(0.2)
    try:
        yield {"base": base, "home": home, "server": server, "admin": (home / "admin-key").read_text().strip()}
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)


def test_real_server_answers_like_the_in_process_app_and_keeps_its_audit(served):
    """First run: no key yet, so serve made an admin key (mode 600); the admin makes an analyst key over HTTP."""
    base, admin = served["base"], {"X-API-Key": served["admin"]}
    assert oct((served["home"] / "admin-key").stat().st_mode & 0o777) == "0o600"
    over_http = {url: httpx.get(base + url, headers=admin, timeout=30).json()
                 for url in ("/rings", "/rings/R-000003", "/entities/intermediary/IBI/network?hops=2",
                             "/paths?from=person:BI000&to=person:BI005")}
    assert [r["id"] for r in over_http["/rings"]["items"]] == ["R-000001", "R-000002", "R-000003"]
    analyst = httpx.post(f"{base}/apikeys", json={"role": "analyst", "name": "analyst over http"}, headers=admin,
                         timeout=30).json()["key"]
    masked = httpx.get(f"{base}/rings/R-000003", headers={"X-API-Key": analyst}, timeout=30)
    assert masked.status_code == 200 and BROKER_PHONE not in masked.text
    assert httpx.get(f"{base}/rings", timeout=30).status_code == 401
    package = httpx.get(f"{base}/rings/R-000003/export", params={"format": "xlsx"}, headers=admin, timeout=60)
    with zipfile.ZipFile(io.BytesIO(package.content)) as z:
        assert verify_manifest({n.split("/", 1)[1]: z.read(n) for n in z.namelist()}) == []
    spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
    assert {"/rings", "/rings/{ring_id}", "/rings/{ring_id}/export", "/paths", "/search", "/audit"} <= set(spec["paths"])
    docs = httpx.get(f"{base}/docs", timeout=30)
    assert docs.status_code == 200 and "cdn" not in docs.text  # closed networks: Swagger UI comes from the server
    script = docs.text.split('<script src="')[1].split('"')[0]
    assert httpx.get(base + script, timeout=30).status_code == 200

    served["server"].send_signal(signal.SIGINT)  # a clean stop flushes the audit log
    assert served["server"].wait(timeout=30) == 0

    settings = Settings(home=served["home"])
    with open_store(settings) as store:
        _, audit = store.list_records("audit", limit=100)
        actions = {(e["action"], e["target"], e["role"]) for e in audit}
        assert {("read_ring", "R-000003", "admin"), ("read_ring", "R-000003", "analyst"),
                ("export_ring", "R-000003", "admin"), ("read_network", "intermediary:IBI", "admin")} <= actions
        assert all(e["client"].startswith("127.0.0.1:") for e in audit)
        with TestClient(create_app(settings, store=store)) as client:
            for url, answer in over_http.items():
                assert client.get(url, headers=admin).json() == answer, url
