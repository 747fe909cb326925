"""Review attacks on issue 15's features (the referral PDF and ``graphsvc verify``, the mapping
ingest, webhooks, the monthly report).

Each test states a behaviour the product must have and fails today for the reason in its
docstring, unless it is marked as a guard. All run on the embedded store; the hostile city is
loaded and detected once for the module.
"""

from __future__ import annotations

import io
import json
import queue
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api import create_app
from api.webhooks import Webhooks
from cli.commands import main
from graphsvc.config import Settings
from graphsvc.errors import InputError
from graphsvc.signing import home_key
from graphsvc.store import GraphStore, open_store
from helpers.api_city import Cities, City, city_scene, load_scene
from ingest.mapping import MappingError, SourceMapping
from ingest.pipeline import ingest_folder
from queries.export import build_package
from queries.masking import Masker
from queries.report import check_month, monthly_report, report_xlsx
from queries.rings import RingBook

NONCHARACTER_NAME = "张\uffff三"
"""U+FFFF: valid UTF-8, kept by NFKC and by ingest (which refuses C0 controls only), but no XML may hold it."""
LONG_NAME = "长" * 1000
"""As long as ingest allows (``ingest.validate.MAX_VALUE_CHARS``)."""
FORMULA_REGION = '=HYPERLINK("http://evil.example/","x")'


def _hostile_city(store: GraphStore, tmp_path: Path) -> City:
    """The API test city with a noncharacter in recruit BI001's name (black intermediary ring), a
    1,000-character name for holder CC001 (card collector ring) and a formula as H100's region."""
    scene, facts = city_scene()
    names = {"BI001": NONCHARACTER_NAME, "CC001": LONG_NAME}
    for person in scene.tables["persons"]:
        if person["person_id"] in names:
            person["name"] = names[person["person_id"]]
    for institution in scene.tables["institutions"]:
        if institution["institution_id"] == "H100":
            institution["region_code"] = FORMULA_REGION
    return load_scene(store, tmp_path, scene, facts)


@pytest.fixture
def hostile(cities: Cities, tmp_path: Path) -> Iterator[City]:
    with cities.copy(Settings(home=tmp_path / "home", backend="embedded"), _hostile_city) as made:
        yield made


def _ring_of(store: GraphStore, person_id: str) -> str | None:
    return next((r["id"] for r in store.rings() if any(m["id"] == person_id for m in r["members"])), None)


def _export(city: City, ring_id: str, role: str, home: Path) -> dict[str, bytes]:
    files = build_package(city.store, RingBook(city.store), ring_id, "xlsx", Masker(role, secret="s" * 32),
                          generated_by="tester", signing_key=home_key(home))
    assert files is not None
    return files


# ---- the police package ------------------------------------------------------------------------


def test_a_member_named_with_a_noncharacter_does_not_break_the_police_package(hostile: City, tmp_path: Path) -> None:
    """A data supplier names a recruit '张\\uFFFF三'. Ingest keeps it (it refuses C0 controls only,
    ``ingest.validate._CONTROL_CHARS``), the name becomes a label of ``network.svg``, and fpdf2
    parsing that SVG for ``report.pdf`` raises ``xml.etree.ElementTree.ParseError`` (not well-formed):
    the investigator's export of the black intermediary ring is a 500 and the ring cannot be referred.
    The workbook would be unreadable too (openpyxl writes the character; no XML reader opens it).
    Expected: the package builds and every XML file in it parses (the character refused at ingest,
    or left out or replaced where XML is written: ``queries.export.network_svg`` / ``_xlsx``)."""
    ring_id = _ring_of(hostile.store, "BI001") or _ring_of(hostile.store, "BI000")
    assert ring_id is not None
    files = _export(hostile, ring_id, "investigator", tmp_path / "key-home")
    ET.fromstring(files["network.svg"])
    load_workbook(io.BytesIO(files[f"ring-{ring_id}.xlsx"]))


def test_a_long_name_within_the_ingest_limit_does_not_stop_the_referral_pdf(hostile: City, tmp_path: Path) -> None:
    """A holder of the card collector ring is named with 1,000 characters, which ingest accepts
    (``MAX_VALUE_CHARS``). In ``queries.referral_pdf._Letter.grid`` the 22 mm 姓名 column wraps it
    into a row taller than a page and fpdf2 raises ``ValueError: The row with index 2 is too high and
    cannot be rendered on a single page``: every role's export of that ring is a 500 (the analyst's
    too). Expected: the package builds (a cell clipped or shortened with a mark, the full value in
    the data files) and its PDF still lists the member."""
    ring_id = _ring_of(hostile.store, "CC001")
    assert ring_id is not None
    for role in ("investigator", "analyst"):
        files = _export(hostile, ring_id, role, tmp_path / "key-home")
        assert files["report.pdf"].startswith(b"%PDF")


# ---- graphsvc verify ------------------------------------------------------------------------------


@pytest.mark.parametrize("manifest", [
    pytest.param(json.dumps({"ring_id": "R-1", "files": [{"name": "a.csv", "bytes": 1}]}), id="entry-without-sha256"),
    pytest.param(json.dumps({"ring_id": "R-1", "files": [{"name": 1, "bytes": 1, "sha256": "0"},
                                                         {"name": "a.csv", "bytes": 1, "sha256": "0"}]}),
                 id="a-name-that-is-a-number"),
    pytest.param(json.dumps({"ring_id": "R-1", "files": [], "data_digest": "0" * 64}), id="data-digest-as-text"),
    pytest.param("[" * 100_000 + "]" * 100_000, id="nested-100000-deep"),
])
def test_verify_refuses_a_malformed_manifest_instead_of_failing_as_a_defect(
        manifest: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A forger (or a damaged copy) hands over a folder whose manifest.json is JSON but not the
    shape ``verify_package`` expects. Only ``manifest["files"]`` and ``f["name"]`` are guarded: an
    entry without ``sha256`` is a KeyError in ``_sha256sum_lines``, a name that is a number a
    TypeError in ``sorted(listed.items())``, a ``data_digest`` that is text an AttributeError in
    ``_digest_problems``, and deep nesting a RecursionError out of ``json.loads``. ``graphsvc verify``
    then answers 'an internal error' with exit 1, which README reserves for the tool's own defects.
    Expected: refused (3, the manifest named) or unreadable (2), with a message, no traceback."""
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "manifest.json").write_text(manifest)
    (folder / "a.csv").write_bytes(b"1")
    code = main(["verify", str(folder)])
    err = capsys.readouterr().err
    assert code in (2, 3), err
    assert "manifest.json" in err and "internal error" not in err


# ---- the monthly report ---------------------------------------------------------------------------


def test_a_region_that_reads_as_a_formula_stays_text_in_the_monthly_workbook(hostile: City) -> None:
    """A data supplier gives H100 the region code ``=HYPERLINK("http://evil.example/","x")`` (a
    region code is free text at ingest). ``queries.report.report_xlsx`` appends the region to the
    table (``sheet.append``) and the rings' regions to the annex with no guard, so openpyxl stores a
    formula that runs in the fund's and the police's Excel: the package export guards exactly this
    (``queries.export._append``, ``_FORMULA_START``), the report does not. Expected: every cell
    holding that text is a text cell (data type 's'), never a formula ('f')."""
    book = RingBook(hostile.store)
    formulas = []
    for month in ("2026-01", datetime.now().strftime("%Y-%m")):  # its claims' month; the month its ring was new
        workbook = load_workbook(io.BytesIO(report_xlsx(monthly_report(hostile.store, book, month))))
        for sheet in workbook.worksheets:
            formulas += [(month, sheet.title, c.coordinate) for row in sheet.iter_rows() for c in row
                         if isinstance(c.value, str) and "HYPERLINK" in c.value and c.data_type == "f"]
    assert formulas == []


@pytest.fixture
def city(cities: Cities, tmp_path: Path) -> Iterator[City]:
    """The session's plain test city on the embedded store."""
    with cities.copy(Settings(home=tmp_path / "home", backend="embedded")) as made:
        yield made


def test_a_month_in_full_width_or_other_digits_is_a_422_not_an_empty_report_or_a_500(city: City, tmp_path: Path) -> None:
    """An analyst types the month with a Chinese input method: ``２０２６-01``. ``\\d`` matches any
    Unicode digit both in the route's pattern and in ``queries.report.check_month`` (``_MONTH``), so
    the month is accepted: ``GET /reports/monthly`` answers 200 with an all-zero report (no ledger
    month equals it) and the .xlsx/.pdf routes a 500, their Content-Disposition header
    (``monthly-report-２０２６-01.xlsx``) not being Latin-1; the audit records a report of month
    '２０２６-01' each time. ``graphsvc report --month ２０２６-01`` writes the empty report and exits 0.
    Expected: 422 / exit 2, 'month must be YYYY-MM' (ASCII digits: ``[0-9]`` or ``re.ASCII``)."""
    settings = Settings(home=tmp_path / "home", backend="embedded")
    with TestClient(create_app(settings, store=city.store), raise_server_exceptions=False) as client:
        answers = {path: client.get(path, params={"month": month}, headers=city.headers("analyst")).status_code
                   for path in ("/reports/monthly", "/reports/monthly.xlsx", "/reports/monthly.pdf")
                   for month in ("２０２６-01", "٢٠٢٦-03")}
    assert set(answers.values()) == {422}, answers
    with pytest.raises(InputError):
        check_month("２０２６-01")


# ---- the mapping ingest ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    pytest.param("tables: {persons: {file: a.csv, columns: {person_id: BeneID, person_id: OtherID}}}",
                 id="a-contract-column-twice"),
    pytest.param("tables:\n  persons: {file: a.csv, columns: {person_id: BeneID}}\n"
                 "  persons: {file: b.csv, columns: {person_id: OtherID}}\n", id="a-table-twice"),
    pytest.param("tables: {persons: {file: a.csv, columns: {gender: {column: Sex, values: {'1': M, 1: F}}}}}",
                 id="one-source-value-mapped-twice"),
])
def test_a_mapping_that_says_one_thing_twice_is_refused(text: str, tmp_path: Path) -> None:
    """A careless analyst maps ``person_id`` twice (a copy-paste), lists ``persons`` twice, or maps
    source value 1 to M (quoted) and to F (unquoted). PyYAML's ``safe_load`` keeps the last of
    duplicate keys without a word, and ``_column_rule`` turns ``'1'`` and ``1`` into the same key
    "1", the last one winning: the load silently uses half of what the file says (all women become
    men, or the other file is loaded). README: what cannot be used is refused before anything is
    loaded, naming the file and key. Expected: ``MappingError`` naming the repeated key."""
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(MappingError):
        SourceMapping.load(tmp_path / "m.yaml")


def test_a_time_format_with_an_offset_keeps_the_local_time(tmp_path: Path) -> None:
    """An export writes admissions as ``2026-03-05 21:14:00+0800`` and the analyst maps them with
    ``format: "%Y-%m-%d %H:%M:%S%z"``. ``ingest.mapping._apply`` parses with pyarrow, which makes a
    UTC timestamp, and writes it back without the zone: the admission is stored at 13:14, eight
    hours early, so the contract's local times are silently wrong (a night settlement is a day one
    for the risk ranking; card-in-two-places windows move). Expected: the stored time is the local
    21:14 written in the file, or the mapping is refused saying that %z is not supported."""
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "claims.csv").write_text("ClaimID,BeneID,Provider,Admitted\nC1,B1,PRV1,2026-03-05 21:14:00+0800\n",
                                       encoding="utf-8")
    (tmp_path / "m.yaml").write_text(
        "tables:\n  settlements:\n    file: claims.csv\n    columns:\n      settlement_id: ClaimID\n"
        "      kind: {value: inpatient}\n      person_id: BeneID\n      institution_id: Provider\n"
        "      start_time: {column: Admitted, format: \"%Y-%m-%d %H:%M:%S%z\"}\n", encoding="utf-8")
    try:
        mapping = SourceMapping.load(tmp_path / "m.yaml")
    except MappingError:
        return  # refused, saying so: acceptable
    with open_store(Settings(home=tmp_path / "home", backend="embedded")) as store:
        try:
            ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False, mapping=mapping)
        finally:
            mapping.close()
        con = store.analysis_connection()
        try:
            row = con.execute("SELECT start_time FROM settlements WHERE settlement_id = 'C1'").fetchone()
        finally:
            con.close()
    assert row is not None and str(row[0]).startswith("2026-03-05 21:14"), row


# ---- webhooks ------------------------------------------------------------------------------------


def _dripping_receiver(seconds: float) -> socket.socket:
    """A receiver that answers a status line, then one header line every 0.2 s for ``seconds``:
    never silent for as long as a read timeout, never done."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(1)
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    conn.sendall(b"X-Slow: 1\r\n")
                    time.sleep(0.2)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_a_receiver_that_drips_its_answer_does_not_hold_up_every_other_webhook(tmp_path: Path) -> None:
    """A case system (broken, or hostile) answers one header line every 0.2 s. ``webhook_timeout_s``
    (0.5 s here, README: 'a timeout (GRAPHSVC_WEBHOOK_TIMEOUT_S, 5 s)') is httpx's limit per read,
    not per request, so ``Webhooks._attempt`` keeps reading as long as bytes trickle in (h11 takes up
    to 16 KiB of headers, and the body is read up to 200 bytes), and the one delivery thread sends
    nothing else meanwhile: the other subscriber gets its event only when the drip stops (5 s here;
    hours for a patient receiver). Expected: an attempt ends within about its timeout (a total
    deadline per request), so the other webhook is served within a couple of seconds."""
    got: queue.Queue[float] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            got.put(time.monotonic())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    good = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=good.serve_forever, daemon=True).start()
    slow = _dripping_receiver(5.0)
    settings = Settings(home=tmp_path / "home", backend="embedded", webhook_hosts="127.0.0.1",
                        webhook_private_networks="127.0.0.1", webhook_timeout_s=0.5, webhook_backoff_s=60)
    store = open_store(settings)
    hooks = Webhooks(store, RingBook(store), settings, secret="s" * 32)
    try:
        hooks.create("WH-slow", f"http://127.0.0.1:{slow.getsockname()[1]}/", "x" * 16, ["job.finished"], by="t")
        time.sleep(0.01)  # created later: delivered second
        hooks.create("WH-good", f"http://127.0.0.1:{good.server_address[1]}/", "x" * 16, ["job.finished"], by="t")
        hooks.start()
        start = time.monotonic()
        hooks.publish("job.finished", {"job": {"id": "J-1"}})
        waited = got.get(timeout=20) - start
    finally:
        hooks.close()
        store.close()
        good.shutdown()
        good.server_close()
        slow.close()
    assert waited < 2.5, f"the other webhook waited {waited:.1f} s behind the dripping receiver"
