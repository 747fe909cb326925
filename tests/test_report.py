"""The monthly report (月度统计, issue 15 item 6) on a city with known rings, on every backend.

Known answers (tests/helpers/api_city.py): the black intermediary ring R-000003 has 6 recruits at H100
in region 430102 with 18 claims of 5,000 yuan on 2026-01-21/22, 2026-03-22/23 and 2026-05-21/22; the
three rings were detected (their ids issued) in the month the test runs.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from api import create_app
from cli.commands import main
from graphsvc.config import Settings
from helpers.api_city import City, city_scene


@pytest.fixture
def client(city: City, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=city.store)) as c:
        yield c


def _report(client: TestClient, city: City, month: str, role: str = "analyst") -> dict:
    answer = client.get("/reports/monthly", params={"month": month}, headers=city.headers(role))
    assert answer.status_code == 200, answer.text
    report: dict = answer.json()
    return report


def test_a_month_of_claims_counts_the_rings_institutions_persons_claims_and_fund(client: TestClient, city: City) -> None:
    march = _report(client, city, "2026-03")
    by_region = {r["region"]: r for r in march["rows"]}
    assert {k: by_region["430102"][k] for k in ("institutions", "persons", "claims", "fund_amount")} == {
        "institutions": 1, "persons": 6, "claims": 6, "fund_amount": 30000.0}
    assert march["totals"]["claims"] == sum(r["claims"] for r in march["rows"])
    assert march["totals"]["rings_new"] == 0 and march["rings"] == []
    assert [c["zh"] for c in march["columns"]][:2] == ["统筹区划", "可疑定点医药机构数"]
    # a month without any of the rings' claims has no rows
    assert _report(client, city, "2025-12")["rows"] == []


def test_rings_new_and_decided_this_month_are_counted_by_their_last_decision(client: TestClient, city: City) -> None:
    investigator = city.headers("investigator")
    for status in ("confirmed", "referred_to_police"):  # confirmed, then referred: the month's last decision counts
        put = client.put("/rings/R-000003/disposition", json={"status": status, "note": "核实"}, headers=investigator)
        assert put.status_code == 200, put.text
    now = datetime.now().astimezone().strftime("%Y-%m")
    report = _report(client, city, now)
    totals = report["totals"]
    assert (totals["rings_new"], totals["rings_confirmed"], totals["rings_referred"], totals["rings_dismissed"]) == (3, 0, 1, 0)
    assert {r["id"]: r["events"] for r in report["rings"]} == {
        "R-000001": ["new"], "R-000002": ["new"], "R-000003": ["new", "referred_to_police"]}
    assert {r["region"]: r["rings_referred"] for r in report["rows"]}["430102"] == 1


def test_the_report_is_a_workbook_and_a_pdf_in_chinese(client: TestClient, city: City) -> None:
    headers = city.headers("investigator")
    xlsx = client.get("/reports/monthly.xlsx", params={"month": "2026-03"}, headers=headers)
    assert xlsx.status_code == 200 and "monthly-report-2026-03.xlsx" in xlsx.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert str(rows[0][0]).startswith("打击欺诈骗保 月度统计 2026年3月")
    assert rows[2][:3] == ["统筹区划", "可疑定点医药机构数", "涉及参保人数"] and rows[3][0] == "region"
    assert ["430102", 1, 6, 6, 30000.0] in [r[:5] for r in rows]
    pdf = client.get("/reports/monthly.pdf", params={"month": "2026-03"}, headers=headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "打击欺诈骗保 月度统计 2026年3月" in text and "可疑定点医药机构数" in text and "30,000.00" in text


def test_police_liaison_bad_months_and_formats_are_refused(client: TestClient, city: City) -> None:
    police = client.get("/reports/monthly", params={"month": "2026-03"}, headers=city.headers("police_liaison"))
    assert police.status_code == 403
    for month in ("2026-13", "2026-3", "2026-03'; DROP TABLE rings;--", "", "２０２６-03"):
        bad = client.get("/reports/monthly", params={"month": month}, headers=city.headers("analyst"))
        assert bad.status_code == 422, month
    doc = client.get("/reports/monthly.doc", params={"month": "2026-03"}, headers=city.headers("analyst"))
    assert doc.status_code == 404


def test_every_report_read_is_audited(client: TestClient, city: City) -> None:
    _report(client, city, "2026-05")
    log = client.get("/audit", params={"size": 200}, headers=city.headers("admin")).json()["items"]
    assert [(e["role"], e["target"], e["detail"]["format"]) for e in log if e["action"] == "monthly_report"] == [
        ("analyst", "2026-05", "json")]


def test_the_command_line_writes_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = city_scene()[0].write_folder(tmp_path / "city")
    home = str(tmp_path / "home")
    assert main(["ingest", str(folder), "--home", home, "--quiet"]) == 0
    assert main(["detect", "--home", home, "--quiet", "--top", "0"]) == 0
    capsys.readouterr()
    assert main(["report", "--home", home, "--month", "2026-03", "--out", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert {r["region"]: r["claims"] for r in report["rows"]}["430102"] == 6
    assert main(["report", "--home", home, "--month", "2026-03", "--out", str(tmp_path / "r.pdf")]) == 0
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert main(["report", "--home", home, "--month", "2026-03"]) == 0
    assert "合计 total" in capsys.readouterr().out
    assert main(["report", "--home", home, "--month", "March", "--out", str(tmp_path / "r.xlsx")]) == 2
    assert main(["report", "--home", home, "--month", "２０２６-03", "--out", str(tmp_path / "r.xlsx")]) == 2  # full-width
    for no_month in ("0000-01", "9999-12"):  # no calendar month, and a typo a report of zeros would hide
        assert main(["report", "--home", home, "--month", no_month, "--out", str(tmp_path / "r.xlsx")]) == 2
    assert main(["report", "--home", home, "--month", "2026-03", "--out", str(tmp_path / "r.doc")]) == 2
    assert not (tmp_path / "r.doc").exists() and not (tmp_path / "r.xlsx").exists()
    assert "month must be YYYY-MM" in capsys.readouterr().err
    (tmp_path / "taken.xlsx").mkdir()  # a path that cannot be written is the user's to change: exit 2, one line
    assert main(["report", "--home", home, "--month", "2026-03", "--out", str(tmp_path / "taken.xlsx")]) == 2
    assert "cannot write" in capsys.readouterr().err
    # A month none of the rings' claims fall in says which months they do fall in, not only zeros.
    assert main(["report", "--home", home, "--month", "2062-03"]) == 0
    printed = capsys.readouterr().out
    assert "合计 total  0  0  0  0.00" in printed
    assert "当前线索团伙在 2062-03 没有结算；其结算月份为 2026-01 至 2026-06" in printed
    assert main(["report", "--home", home, "--month", "2026-03"]) == 0
    assert "没有结算" not in capsys.readouterr().out
