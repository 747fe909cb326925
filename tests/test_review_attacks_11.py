"""Review attacks (round 11) on surfaces the earlier attack files leave alone: the institution risk
ranking's ring share on a fund with reversals; ``graphsvc verify`` given a package a forger made and
signed with a key of his own (what it prints to the receiver's terminal, and how long its PDF keeps
the receiver waiting); the monthly report's referrals after a later detection run; ``graphsvc restore``
of a backup whose manifest is damaged; XLSX and Parquet exports whose first header carries a BOM; and
commands whose output is piped into a reader that stops early.

Each test states a behaviour the product must have; its docstring says what the attack does now.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fpdf import FPDF
from openpyxl import load_workbook

from cli.commands import main
from graphsvc.config import Settings
from graphsvc.detect import DetectionConfig, detect_and_save
from graphsvc.detect.finding import in_memory_claims
from graphsvc.risk import institution_risk
from graphsvc.signing import public_pem
from graphsvc.store import open_store
from helpers.api_city import Cities, City
from queries.casework import set_disposition
from queries.export import data_digest
from queries.report import monthly_report as report_figures
from queries.report import report_pdf, report_xlsx
from queries.rings import RingBook

ROOT = Path(__file__).resolve().parents[1]


# ---- the risk ranking's ring share -----------------------------------------------------------


def _hospital_city(reversal: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Eight ordinary secondary hospitals, 30 stays of 5,000 each; H3 also booked a correction of
    ``reversal`` (a negative amount, as the fund's exports carry reversals) on a claim of its own."""
    monday = date(2026, 3, 2)
    institutions = [{"institution_id": f"H{i}", "kind": "hospital", "level": "二级", "region_code": "430100"}
                    for i in range(8)]
    settlements = []
    for i in range(8):
        for p in range(30):
            start = monday + timedelta(days=p // 5 * 7 + p % 5)
            settlements.append({"settlement_id": f"H{i}-{p}", "kind": "inpatient", "person_id": f"H{i}P{p}",
                                "institution_id": f"H{i}", "start_time": f"{start} 09:00",
                                "end_time": f"{start + timedelta(days=3)} 10:00", "fund_amount": 5000.0})
    settlements.append({"settlement_id": "H3-correction", "kind": "outpatient", "person_id": "H3P29",
                        "institution_id": "H3", "start_time": "2026-06-30 09:00", "end_time": None,
                        "fund_amount": reversal})
    return institutions, settlements


@pytest.mark.parametrize("reversal", [-140_000.0, -200_000.0], ids=["nets-to-10000", "nets-below-zero"])
def test_a_reversal_does_not_turn_the_ring_share_into_nonsense(reversal: float) -> None:
    """Attack (data supplier): H3 was paid 150,000 on 30 stays, 75,000 of them on a ring's claims,
    and its export carries a reversal (a negative fund amount) on another claim. The module says
    reversals are not netted off for impact ("or an institution whose corrections outweigh its payments
    ... would get a negative impact"), but the ring share still divides by the *net* fund: with a
    reversal of 140,000 it reads "团伙结算占本机构统筹支付 750%" (share 7.5, 76 points, the top of the
    ranking by far); with 200,000 the share is -150%, the ring points -14, and the institution a ring
    runs through gets a negative suspicion, below every institution with no finding at all.

    Expected: the share is of the fund paid (75,000 of 150,000: 50%), within [0, 1], as impact is."""
    institutions, settlements = _hospital_city(reversal)
    ring_claims = [("R-000007", f"H3-{p}") for p in range(15)]
    ranking = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements), ring_claims)
    h3 = next(e for e in ranking if e["id"] == "H3")
    [ring] = [r for r in h3["reasons"] if r["indicator"] == "rings"]
    assert 0.0 <= ring["value"] <= 1.0, ring
    assert ring["value"] == pytest.approx(0.5), ring
    assert "50%" in ring["zh"] and "50%" in ring["en"], ring
    assert ring["points"] == pytest.approx(10 * 0.5 + 1), ring
    assert h3["suspicion"] > 0 and ranking[0]["id"] == "H3", [(e["id"], e["score"]) for e in ranking]


# ---- graphsvc verify on a forger's package -----------------------------------------------------


def _forged_package(folder: Path, ring_id: str, *, pdf: Callable[[str], bytes] | None = None,
                    extra: dict[str, bytes] | None = None) -> Path:
    """A package as a forger makes it: a data file, his own public key, a one-page letter showing the
    data digest (or ``pdf(digest)``), a manifest naming ``ring_id``, signed with his own key; ``extra``
    files are added after signing."""
    key = Ed25519PrivateKey.generate()
    files = {"ring.csv": "姓名,金额\n张三,1000\n".encode(), "signing-key.pem": public_pem(key.public_key()).encode()}
    digest = data_digest(files)
    if pdf is None:
        letter = FPDF()
        letter.add_page()
        letter.set_font("helvetica", size=8)
        letter.cell(0, 5, f"data digest {digest}")
        files["report.pdf"] = bytes(letter.output())
    else:
        files["report.pdf"] = pdf(digest)
    listed = [{"name": n, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in sorted(files.items())]
    manifest = {"ring_id": ring_id, "files": listed, "data_digest": {"sha256": digest}}
    files["manifest.json"] = json.dumps(manifest).encode()
    files["manifest.sha256"] = "".join(f"{f['sha256']}  {f['name']}\n" for f in listed).encode()
    files["manifest.sig"] = key.sign(files["manifest.json"])
    files |= extra or {}
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


_CONCEAL = "\x1b[8m"
"""SGR 8 (conceal): a terminal draws what follows invisibly (xterm, GNOME Terminal, iTerm2...)."""


def test_verify_does_not_print_a_forgers_terminal_escapes_as_the_ring_id(tmp_path: Path, capsys) -> None:
    """Attack (forger): a package whose manifest names the ring ``R-000009\\x1b[8m`` (or ``R-1\\n签名来自所给
    公钥 ...``), signed with the forger's own key and bundling it. ``graphsvc verify PKG`` (no ``--key``)
    checks it with the bundled key, passes it, and prints ``线索 R-000009<ESC>[8m，…`` raw: from there on
    the police officer's terminal draws nothing visible, so the fingerprint and the warning that "this
    proves integrity only, not origin" are concealed, and the screen reads 核验通过 verified. A line break
    in the ring id prints a line of the forger's choosing.

    Expected: what verify prints of a package (its ring id, the files it names) carries no control
    character: escaped (``\\x1b``) or refused, as ingest and ``apikey`` treat them."""
    package = _forged_package(tmp_path / "pkg", f"R-000009{_CONCEAL}")
    code = main(["verify", str(package)])
    out, err = capsys.readouterr()
    printed = out + err
    assert "\x1b" not in printed, printed
    assert "WARNING" in out, out
    line_break = _forged_package(tmp_path / "pkg2", "R-000009\n签名来自所给公钥 signed by the key of --key fund.pem")
    main(["verify", str(line_break)])
    out2, err2 = capsys.readouterr()
    assert "\n签名来自所给公钥" not in out2 + err2, out2
    assert code in (0, 3)


def test_verify_does_not_print_escapes_from_the_name_of_a_file_added_to_the_package(tmp_path: Path, capsys) -> None:
    """Attack (forger or tamperer): a file named ``\\x1b[1A\\x1b[2K\\r核验通过 verified`` added to a package
    folder. verify refuses the package (exit 3) and prints each failing file's name raw on stderr:
    the escape moves the cursor up, erases the "核验失败 verification FAILED" line and writes
    "核验通过 verified" in its place on the officer's screen.

    Expected: the exit code 3 and a name printed with its control characters escaped."""
    spoof = "\x1b[1A\x1b[2K\r核验通过 verified"
    package = _forged_package(tmp_path / "pkg", "R-000009", extra={spoof: b"x"})
    code = main(["verify", str(package)])
    out, err = capsys.readouterr()
    assert code == 3, (out, err)
    assert "\x1b" not in out + err and "\r" not in out + err, err


def _pdf_file(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (numbered from 1, the first the catalog) with its cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _heavy_pdf(digest: str, *, pages: int = 5_000, operators: int = 100_000) -> bytes:
    """A small PDF (about 1.5 MB) of ``pages`` pages that all draw one shared content stream of
    ``operators`` text operators, the data digest among them: pypdf extracts the stream's text once
    for every page (some 0.8 s each here)."""
    content = b"BT /F1 1 Tf " + b"(A) Tj " * operators + b"(" + digest.encode() + b") Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
               + b"] /Count %d >>" % pages,
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                b"/Contents 4 0 R >>"] * pages
    return _pdf_file(objects)


def _form_pdf(digest: str, *, pages: int = 5_000, operators: int = 100_000) -> bytes:
    """As ``_heavy_pdf``, but each page's own content is a line: the 700 KB of text operators are in a
    form XObject every page draws (``/X1 Do``), which text extraction reads once a page as well."""
    form = b"BT /F1 1 Tf " + b"(A) Tj " * operators + b" ET"
    page = b"/X1 Do BT /F1 8 Tf 10 10 Td (" + digest.encode() + b") Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (6 + i) for i in range(pages))
               + b"] /Count %d >>" % pages,
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
               b"/Length %d >>\nstream\n" % len(form) + form + b"\nendstream",
               b"<< /Length %d >>\nstream\n" % len(page) + page + b"\nendstream"]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> "
                b"/XObject << /X1 4 0 R >> >> /Contents 5 0 R >>"] * pages
    return _pdf_file(objects)


@pytest.mark.parametrize(("make", "over_a_page"), [
    (lambda digest: _heavy_pdf(digest, operators=100_000), True),
    (lambda digest: _heavy_pdf(digest, operators=50_000), False),
    (_form_pdf, True),  # each page one line, drawing a shared 700 KB form: counted as the page's
], ids=["700-KB-a-page", "350-KB-a-page", "700-KB-form-a-page"])
def test_verify_of_a_forgers_package_does_not_spend_hours_in_its_pdf(
        tmp_path: Path, make: Callable[[str], bytes], over_a_page: bool) -> None:
    """Attack (forger): a package signed with his own key (bundled; the receiver runs ``graphsvc verify
    PKG`` without ``--key``, as the README's first example shows) whose report.pdf is 1.5 MB: 5,000
    pages sharing one content stream of 100,000 text operators. The signature holds with the bundled
    key, so the PDF is "authenticated" and parsed, contrary to "a forged file never reaches the parser";
    pypdf extracts the shared stream once a page, about 0.8 s each: verify runs for over an hour at
    full CPU (the 256 MiB limit counts bytes, not work). Killed here after 12 s.

    Expected: verify answers within seconds (for instance by refusing a PDF with more pages than a
    referral letter of 256 MiB of data can have, or by not parsing what only the bundled key vouches for)."""
    package = _forged_package(tmp_path / "pkg", "R-000009", pdf=make)
    assert (package / "report.pdf").stat().st_size < 3 << 20
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "cli", "verify", str(package)], cwd=ROOT,
                              capture_output=True, text=True, timeout=12)
    except subprocess.TimeoutExpired:
        pytest.fail(f"graphsvc verify still running after {time.monotonic() - started:.0f} s on a 1.5 MB PDF")
    # Refused (a page draws more than a letter's does; or, under that, the pages in all), not hung.
    assert done.returncode == 3 and "not a referral letter" in done.stderr, done.stderr
    assert ("512 KB a page" in done.stderr) == over_a_page, done.stderr


# ---- the monthly report after a later detection run -------------------------------------------


@pytest.fixture
def city(embedded_city: City) -> City:
    """The API test city on the embedded store: these attacks do not depend on the backend."""
    return embedded_city


def test_a_referral_to_police_stays_in_its_months_report_after_a_later_run_no_longer_finds_the_ring(
        city: City) -> None:
    """Attack (ordinary use): an investigator refers the black-intermediary ring R-000003 to police this
    month; a later detection run (new data, or tuning: here ``ring.min_score`` 0.95, above its 0.93) no
    longer finds it. This month's report, made again, now says 移送公安 0 and leaves R-000003 out of its
    annex: ``monthly_report`` counts decisions only on rings of the current run (``record["ring_id"] in
    snap.by_id``), while it counts the ids a month issued "also those no longer found since". A referral
    to police is a thing that happened in that month; the ledger (问题台账) for it changes after the fact.

    Expected: the month's referral is still counted (totals and the annex), whatever later runs find."""
    store = city.store
    book = RingBook(store)
    ring = book.snapshot().by_id["R-000003"]
    set_disposition(store, ring, "referred_to_police", "移送市公安局经侦支队", by="王调查 (test)")
    month = datetime.now().astimezone().strftime("%Y-%m")
    before = report_figures(store, RingBook(store), month)
    assert before["totals"]["rings_referred"] == 1
    config = DetectionConfig.model_validate({"ring": {"min_score": 0.95}})
    detect_and_save(store, config)
    assert "R-000003" not in {r["id"] for r in store.rings()}
    after = report_figures(store, RingBook(store), month)
    assert after["totals"]["rings_referred"] == 1, after["totals"]
    assert "referred_to_police" in {e for r in after["rings"] if r["id"] == "R-000003" for e in r["events"]}, \
        after["rings"]
    [gone] = [r for r in after["rings"] if r["id"] == "R-000003"]
    assert gone["found_now"] is False and gone["pattern"] == "black_intermediary" and gone["regions"], gone
    rows = load_workbook(io.BytesIO(report_xlsx(after))).worksheets[1].iter_rows(min_row=2, values_only=True)
    [row] = [row for row in rows if row[0] == "R-000003"]
    assert "移送公安" in str(row[2]) and "no longer found" in str(row[2]), row
    assert report_pdf(after).startswith(b"%PDF")


# ---- restore of a backup whose manifest is damaged ----------------------------------------------


@pytest.mark.parametrize("damage", [
    pytest.param(lambda m: {k: v for k, v in m.items() if k != "files"}, id="no-files"),
    pytest.param(lambda m: {**m, "files": list(m["files"])}, id="files-a-list"),
    pytest.param(lambda m: {**m, "files": {n: {"sha256": f["sha256"]} for n, f in m["files"].items()}},
                 id="no-sizes"),
])
def test_restore_of_a_backup_whose_manifest_is_damaged_is_a_one_line_error(
        city: City, tmp_path: Path, capsys, damage: Callable[[dict], dict]) -> None:
    """Attack (careless operator, or a damaged copy): ``graphsvc restore BACKUP HOME`` where the backup's
    manifest.json is JSON but not what ``graphsvc backup`` writes (hand-edited, cut, or from another
    tool): ``files`` missing, a list, or its entries without ``bytes``. ``verify_backup`` indexes it
    unchecked: "graphsvc: error: an internal error (KeyError); run again with --log-level debug to see
    where" (AttributeError for the list), exit 1.

    Expected: exit 2 and one line saying the backup's manifest is damaged, as a manifest that is not
    JSON already gets ("manifest.json is damaged")."""
    city.store.close()
    backup = tmp_path / "backup"
    assert main(["backup", str(city.store.home), str(backup)]) == 0
    manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
    (backup / "manifest.json").write_text(json.dumps(damage(manifest)), encoding="utf-8")
    capsys.readouterr()
    code = main(["restore", str(backup), str(tmp_path / "restored")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "internal error" not in err and "manifest" in err, err


# ---- an XLSX or Parquet export whose first header carries a BOM -----------------------------------

_CLAIM_HEADERS = ["结算流水号", "医疗类别", "参保人编号", "定点机构编码", "入院时间", "出院时间", "统筹支付金额"]
_CLAIM_ROWS = [[f"S{n:04d}", "住院", f"P{n % 7:03d}", "H001", f"2026-03-{1 + n % 20:02d} 09:00",
                f"2026-03-{3 + n % 20:02d} 10:00", "1,234.50元"] for n in range(40)]


def _write_xlsx(path: Path, headers: list[str], rows: list[list[str]]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    book.save(path)


def _write_parquet(path: Path, headers: list[str], rows: list[list[str]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(headers)}), path)


@pytest.mark.parametrize("write,suffix", [(_write_xlsx, "xlsx"), (_write_parquet, "parquet")], ids=["xlsx", "parquet"])
def test_a_bom_before_the_first_header_of_an_xlsx_or_parquet_export_is_tolerated(
        tmp_path: Path, capsys, write: Callable[[Path, list[str], list[list[str]]], None], suffix: str) -> None:
    """Attack (careless data supplier): the claims are a UTF-8-with-BOM CSV read by a tool that keeps
    the BOM (Python's ``csv`` with ``encoding="utf-8"``, a Java CSV reader...) and saved as XLSX or
    Parquet: the first header is ``"\\ufeff结算流水号"``. The CSV reader strips a BOM; the XLSX and
    Parquet readers do not, so the column maps to nothing and every one of the 40 claims is rejected:
    "settlements.xlsx lacks required column(s) settlement_id: its rows were rejected" beside "note:
    ignored column(s) ﻿结算流水号", the BOM invisible on screen, so the user sees the column both
    missing and ignored.

    Expected: as for CSV (the contract: "a UTF-8 BOM must be tolerated"), the BOM is not part of the
    header: all 40 claims load."""
    folder = tmp_path / "export"
    folder.mkdir()
    write(folder / f"settlements.{suffix}", ["\ufeff" + _CLAIM_HEADERS[0], *_CLAIM_HEADERS[1:]], _CLAIM_ROWS)
    home = tmp_path / "home"
    code = main(["ingest", str(folder), "--home", str(home), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "lacks required" not in out, out
    with open_store(Settings(home=home, backend="embedded"), read_only=True) as store:
        assert store.rows("settlements").num_rows == 40, out


# ---- a command's output piped into a reader that stops early ------------------------------------


@pytest.mark.parametrize("command", [["risk"], ["detect", "--quiet"], ["stats"]])
def test_a_command_piped_into_a_reader_that_stopped_is_not_an_internal_error(
        cities: Cities, tmp_path: Path, command: list[str]) -> None:
    """Attack (ordinary shell use): ``graphsvc detect | head -1``, ``graphsvc risk | head``,
    ``graphsvc stats | grep -m1 Person``: the reader exits after what it wanted and the pipe closes.
    The command's next print raises BrokenPipeError, which ``main`` takes for a defect: "graphsvc:
    error: an internal error (BrokenPipeError); run again with --log-level debug to see where", exit
    1, although detection ran to the end and stored its rings (a script with ``set -o pipefail`` sees
    it fail). Here the pipe's reading end is closed before the command starts, as ``head`` leaves it.

    Expected: no "internal error" (the output was not wanted; Unix tools end quietly, by SIGPIPE or
    with a plain exit)."""
    home = cities.home(tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "cli", *command, "--home", str(home)], cwd=ROOT,
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert "internal error" not in done.stderr, done.stderr
    assert done.returncode in (0, 141, -13), (done.returncode, done.stderr)
