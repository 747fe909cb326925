"""The service layer: the command line and the API's jobs do the same work through it, errors
end in one exit code or status per kind, and logs hold ids and counts, never personal data."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.keys import create_api_key
from cli.commands import _exit_code
from graphsvc.config import Settings
from graphsvc.errors import Conflict, InputError, NotFound, StoreError
from graphsvc.logs import configure_logging
from graphsvc.store import open_store
from helpers.api_city import NAMED_ID_NUMBER, NAMED_PHONE, city_scene

NAMED_NAME = "李四"
PERSONAL = (NAMED_NAME, NAMED_PHONE, NAMED_ID_NUMBER)


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args, "--home", str(home), "--quiet"], capture_output=True,
                          text=True, timeout=300)


def _rings(store) -> list[tuple[str, str, int]]:
    return sorted((r["id"], r["pattern"], r["persons"]) for r in store.rings())


@pytest.mark.slow  # the CLI in its own process
def test_the_cli_and_an_api_job_find_the_same_rings_and_export_the_same_files(tmp_path):
    folder = city_scene()[0].write_folder(tmp_path / "city")
    cli_home = tmp_path / "cli-home"
    for args in (["ingest", str(folder)], ["detect"], ["export", "R-000003", "--format", "json", "--out",
                                                       str(tmp_path / "cli-export")]):
        done = _cli(*args, home=cli_home)
        assert done.returncode == 0, done.stderr

    api_settings = Settings(home=tmp_path / "api-home")
    with open_store(api_settings) as store:
        key, _ = create_api_key(store, "investigator", "tester")
        headers = {"X-API-Key": key}
        app = create_app(api_settings, store=store)
        with TestClient(app) as client:
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, "w") as z:
                for path in folder.iterdir():
                    z.write(path, path.name)
            for job in (client.post("/ingest", files={"files": ("city.zip", archive.getvalue())}, headers=headers),
                        client.post("/detect", headers=headers)):
                assert job.status_code == 202, job.text
                app.state.services.jobs.wait_idle()
                assert client.get(f"/jobs/{job.json()['id']}", headers=headers).json()["state"] == "succeeded"
            exported = client.get("/rings/R-000003/export", params={"format": "json"}, headers=headers)
            assert exported.status_code == 200
        api_rings = _rings(store)
        audited = [e for e in store.list_records("audit", limit=1000)[1] if e["action"] == "export_ring"]
        assert [(e["target"], e["detail"]["format"]) for e in audited] == [("R-000003", "json")]
    with open_store(Settings(home=cli_home)) as store:
        cli_rings = _rings(store)
        audited = [e for e in store.list_records("audit", limit=1000)[1] if e["action"] == "export_ring"]
        assert [(e["target"], e["client"], e["detail"]["format"]) for e in audited] == [("R-000003", "cli", "json")]

    assert [(pattern, persons) for _, pattern, persons in cli_rings] == [
        ("identity_misuse", 4), ("card_collector", 11), ("black_intermediary", 6)]
    assert api_rings == cli_rings
    cli_files = {p.name: p.read_bytes() for p in (tmp_path / "cli-export" / "R-000003-json").iterdir()}
    api_files = {Path(n).name: z.read(n) for z in [zipfile.ZipFile(io.BytesIO(exported.content))] for n in z.namelist()}
    assert sorted(cli_files) == sorted(api_files) and "manifest.sha256" in cli_files
    data = "ring-R-000003.json"
    members = [{m["id"] for m in json.loads(files[data])["members"]} for files in (cli_files, api_files)]
    assert members[0] == members[1] and len(members[0]) >= 6


def test_each_kind_of_error_has_one_exit_code():
    assert [_exit_code(e) for e in (InputError("x"), NotFound("x"), StoreError("x"), KeyboardInterrupt())] == [2, 2, 2, 130]
    assert _exit_code(KeyError("a defect")) == 1


def test_each_kind_of_error_has_one_status_and_a_store_error_tells_nothing_internal(store, settings):
    key, _ = create_api_key(store, "investigator", "tester")
    app = create_app(settings, store=store)
    failures = {"/bad": InputError("sort must be one of score"), "/none": NotFound("no job 'J-1'"),
                "/taken": Conflict("this client key was already used"),
                "/store": StoreError(f"cannot open the embedded store in {settings.home}/graph.duckdb")}
    for path, exc in failures.items():
        app.add_api_route(path, lambda exc=exc: (_ for _ in ()).throw(exc))
    with TestClient(app) as client:
        answers = {path: client.get(path, headers={"X-API-Key": key}) for path in failures}
        job = client.get("/jobs/J-nope", headers={"X-API-Key": key})
    assert {p: a.status_code for p, a in answers.items()} == {"/bad": 422, "/none": 404, "/taken": 409, "/store": 503}
    assert answers["/bad"].json() == {"detail": "sort must be one of score", "detail_zh": "请求内容有误"}
    assert str(settings.home) not in answers["/store"].text and "Traceback" not in answers["/store"].text
    assert job.status_code == 404 and job.json() == {"detail": "no job 'J-nope'", "detail_zh": "没有任务 'J-nope'"}


def _json_lines(text: str) -> list[dict]:
    # every line is a JSON object but the one the command line prints for the user
    lines = [json.loads(line) for line in text.splitlines() if line.strip() and not line.startswith("graphsvc: ")]
    assert lines, "nothing was logged"
    return lines


@pytest.mark.slow  # the CLI in its own process
def test_json_logs_are_one_object_a_line_with_counts_and_no_personal_data(tmp_path):
    folder = city_scene()[0].write_folder(tmp_path / "city")
    assert NAMED_NAME in (folder / "persons.csv").read_text(encoding="utf-8-sig")
    home = tmp_path / "home"
    ingest = _cli("ingest", str(folder), "--log-json", home=home)
    detect = _cli("detect", "--log-json", home=home)
    missing = _cli("export", NAMED_PHONE, "--out", str(tmp_path / "x"), "--log-json", home=home)
    assert (ingest.returncode, detect.returncode, missing.returncode) == (0, 0, 2)
    logged = [_json_lines(done.stderr) for done in (ingest, detect, missing)]
    finished = {e["action"]: e for lines in logged for e in lines if e["message"].endswith("finished")}
    assert finished["ingest"]["loaded"] > 0 and finished["detect"]["rings"] == 3
    assert any(e.get("error") == "NotFound" for e in logged[2])
    everything = "\n".join(done.stderr for done in (ingest, detect))
    assert not any(value in everything for value in PERSONAL)
    # the one place a typed value comes back is the error line to the user, not the log
    assert not any(NAMED_PHONE in json.dumps(e, ensure_ascii=False) for e in logged[2])

    out = io.StringIO()
    configure_logging(json_lines=True, stream=out)
    try:
        api_settings = Settings(home=tmp_path / "api-home")
        with open_store(api_settings) as store:
            key, _ = create_api_key(store, "investigator", "tester")
            app = create_app(api_settings, store=store)
            with TestClient(app) as client:
                archive = io.BytesIO()
                with zipfile.ZipFile(archive, "w") as z:
                    for path in folder.iterdir():
                        z.write(path, path.name)
                client.post("/ingest", files={"files": ("city.zip", archive.getvalue())}, headers={"X-API-Key": key})
                app.state.services.jobs.wait_idle()
                client.get(f"/entities/phone/{NAMED_PHONE}9/network", headers={"X-API-Key": key})
    finally:
        configure_logging(level=logging.WARNING)
    # httpx is the test's client, logging the URLs it requests: not the server's log
    entries = [e for e in _json_lines(out.getvalue()) if e["logger"] != "httpx"]
    assert {(e["message"], e.get("kind")) for e in entries} >= {("job finished", "ingest")}
    assert any(e["message"] == "ingest finished" and e["loaded"] > 0 for e in entries)
    assert not any(value in json.dumps(entries, ensure_ascii=False) for value in PERSONAL)


@pytest.fixture(autouse=True)
def _quiet_logs():
    yield
    configure_logging(level=logging.WARNING)
