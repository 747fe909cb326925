"""The monthly report (月度统计): per region, what the current rings touched that month, and the rings'
casework flow, in the table form of the fund notices' ledgers.

One row per institution region (区划): the suspicious institutions (定点医药机构 with claims in a ring
that month), the insured persons, the claims and the fund (统筹基金) of those claims; then the rings
new that month (their ids issued by a detection run of that month), and those confirmed, dismissed and
referred to police that month (the last decision taken in the month on each ring). A ring spanning
two regions counts in each; the totals row counts it once. Persons are counted per region; the totals
row adds the regions' counts (a person treated in two regions in one month counts twice), which it says.

``monthly_report`` gives the figures (JSON); ``report_xlsx`` a workbook and ``report_pdf`` a printable
A4 page (the referral letter's embedded CJK font), both with Chinese headers and English beside them.
Only aggregates and ring ids are in it: no personal data, so every role but police liaison may read it.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any

from fpdf import FPDF, FontFace
from fpdf.enums import WrapMode
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from graphsvc import vocab
from graphsvc.errors import InputError
from graphsvc.store import GraphStore
from queries.referral_pdf import font_file
from queries.rings import RingBook
from queries.sheets import append_row

__all__ = ["monthly_report", "report_xlsx", "report_pdf", "COLUMNS", "check_month", "REPORT_FORMATS", "MONTH_PATTERN"]

REPORT_FORMATS = ("json", "xlsx", "pdf")
"""What the report is written as: its figures, a workbook, a printable page."""

COLUMNS: list[tuple[str, str, str]] = [
    ("region", "统筹区划", "region"),
    ("institutions", "可疑定点医药机构数", "suspicious institutions"),
    ("persons", "涉及参保人数", "insured persons"),
    ("claims", "涉及结算笔数", "claims"),
    ("fund_amount", "涉及统筹基金（元）", "fund (yuan)"),
    ("rings_new", "新发现线索团伙", "rings new"),
    ("rings_confirmed", "确认", "confirmed"),
    ("rings_dismissed", "排除", "dismissed"),
    ("rings_referred", "移送公安", "referred to police"),
]
"""The report's columns: key, Chinese header, English header, in the ledgers' order."""

_DECIDED = {"confirmed": "rings_confirmed", "dismissed": "rings_dismissed", "referred_to_police": "rings_referred"}
MONTH_PATTERN = "(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])"
"""A month, ``YYYY-MM`` of the years 1900–2999, here and in the API's query parameter (0000-01 is no
month, and 9999-12 a typo a report of zeros would hide). ASCII digits only: ``\\d`` takes any
script's (２０２６-01, a month no ledger row equals, and a file name no HTTP header can carry)."""
_MONTH = re.compile(MONTH_PATTERN)
_RING_NUMBER = re.compile(r"R-([0-9]+)")


def check_month(month: str) -> str:
    """``month`` if it is ``YYYY-MM``; a clear error otherwise.

    >>> check_month("2026-03")
    '2026-03'
    >>> check_month("2026-13")
    Traceback (most recent call last):
    ...
    graphsvc.errors.InputError: month must be YYYY-MM of the years 1900-2999, e.g. 2026-03; got '2026-13'
    """
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise InputError(f"month must be YYYY-MM of the years 1900-2999, e.g. 2026-03; got {str(month)[:20]!r}",
                         zh=f"月份须写作 年-月（YYYY-MM，1900-2999 年），如 2026-03；收到 {str(month)[:20]!r}")
    return month


def monthly_report(store: GraphStore, book: RingBook, month: str) -> dict[str, Any]:
    """The month's figures: ``{"month", "generated_at", "rows": [...], "totals": {...}, "rings": [...], "notes"}``.

    ``rows`` hold one dict per region with the keys of ``COLUMNS``; ``rings`` lists the rings with an
    event that month (``new``, or a decision) with their pattern and regions, for the annex.
    """
    check_month(month)
    snap = book.snapshot()
    rows: dict[str, dict[str, Any]] = {}

    def row(region: str) -> dict[str, Any]:
        return rows.setdefault(region, {key: 0 for key, _, _ in COLUMNS} | {"region": region, "fund_amount": 0.0})

    ledger = store.ledger()
    for entry in ledger:
        if entry["month"] == month:
            row(entry["region"]).update({k: entry[k] for k in ("institutions", "persons", "claims", "fund_amount")})

    events: dict[str, list[str]] = {}
    issued_before, issued_in = _ids_issued(store, month)
    for ring in snap.rings:
        number = _RING_NUMBER.fullmatch(ring["id"])
        if number and issued_before < int(number.group(1)) <= issued_before + issued_in:
            events.setdefault(ring["id"], []).append("new")
    # A decision is counted in its month whatever later runs find: a ring referred to police in March
    # stays referred in March's report after a run in April no longer finds it (then described as it
    # was when decided; a record from before that was kept: pattern and regions unknown).
    decided_rings: dict[str, dict[str, Any]] = {}
    for record in book.casework().dispositions.values():
        in_month = [h for h in record.get("history", [record]) if str(h.get("at", "")).startswith(month)]
        if in_month and in_month[-1]["status"] in _DECIDED:
            events.setdefault(record["ring_id"], []).append(in_month[-1]["status"])
            decided_rings[record["ring_id"]] = {"pattern": "unknown", "regions": [], "fund_amount": None,
                                                **(in_month[-1].get("ring") or {}), "found_now": False}

    totals: dict[str, Any] = {key: 0 for key, _, _ in COLUMNS} | {"region": "合计 total", "fund_amount": 0.0}
    annex = []
    for ring_id, happened in sorted(events.items()):
        ring = snap.by_id.get(ring_id) or decided_rings[ring_id]
        regions = ring["regions"] or ["unknown"]
        for event in happened:
            column = "rings_new" if event == "new" else _DECIDED[event]
            totals[column] += 1
            for region in regions:
                row(region)[column] += 1
        pattern = vocab.PATTERNS.get(ring["pattern"])
        annex.append({"id": ring_id, "pattern": ring["pattern"], "pattern_zh": pattern.zh if pattern else ring["pattern"],
                      "events": happened, "regions": regions, "fund_amount": ring["fund_amount"],
                      "found_now": ring.get("found_now", True)})
    # Ids issued that month whose rings a later run no longer found are new that month all the same.
    totals["rings_new"] = issued_in
    ordered = [rows[r] for r in sorted(rows)]
    for key in ("institutions", "persons", "claims"):
        totals[key] = sum(r[key] for r in ordered)
    totals["fund_amount"] = round(sum(r["fund_amount"] for r in ordered), 2)
    return {
        "month": month,
        "generated_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "columns": [{"key": k, "zh": zh, "en": en} for k, zh, en in COLUMNS],
        "rows": ordered,
        "totals": totals,
        "rings": annex,
        "notes": [
            "机构、人数、笔数、金额按当月结算日期统计，仅含当前线索团伙的结算（每笔只计一次）。"
            " Institutions, persons, claims and fund count the current rings' claims settled that month, each once.",
            "跨区划的团伙在各区划分别计数，合计行只计一次；人数按区划分别计数后相加。"
            " A ring spanning regions counts in each region and once in the total; persons are summed over regions.",
            "新发现：当月检测运行新编号的团伙（含此后不再出现的）；确认/排除/移送：当月最后一次处置。"
            " New: ring ids issued by that month's detection runs (also those no longer found since);"
            " confirmed/dismissed/referred: the last decision of the month on each ring.",
            *_coverage_note(month, sorted({str(entry["month"]) for entry in ledger})),
        ],
    }


def _coverage_note(month: str, months: list[str]) -> list[str]:
    """A note when the month holds none of the rings' claims, saying which months do: a mistyped
    month (2062-03) would otherwise read as a month with nothing to report."""
    if month in months:
        return []
    if not months:
        return ["当前没有线索团伙的结算。 The current rings have no claims (no detection run yet, or no rings found)."]
    return [f"当前线索团伙在 {month} 没有结算；其结算月份为 {months[0]} 至 {months[-1]}。"
            f" The current rings have no claims settled in {month}; theirs were settled from {months[0]} to {months[-1]}."]


def _ids_issued(store: GraphStore, month: str) -> tuple[int, int]:
    """How many ring ids were issued before ``month`` and in it.

    Ids are numbered in issue order and never reused, each run issuing ``new_ids`` of them, so the runs
    up to a month say which numbers it issued."""
    before = within = 0
    for run in store.detection_runs():
        started = run.started_at[:7]
        if started < month:
            before += run.new_ids
        elif started == month:
            within += run.new_ids
    return before, within


def report_xlsx(report: dict[str, Any]) -> bytes:
    """The report as a workbook: the table (Chinese headers, English beneath), the notes, and the rings."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has its first sheet
    sheet.title = "月度统计"
    year, month = report["month"].split("-")
    sheet.append([f"打击欺诈骗保 月度统计 {year}年{int(month)}月  Monthly report {report['month']}"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([f"生成时间 generated {report['generated_at']}"])
    sheet.append([zh for _, zh, _ in COLUMNS])
    sheet.append([en for _, _, en in COLUMNS])
    for cell in sheet[3] + sheet[4]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True)
    # Regions and notes are data (a region code is free text at ingest): written through the
    # package's guard, so a region reading as a formula stays text.
    for r in [*report["rows"], report["totals"]]:
        append_row(sheet, [r[key] for key, _, _ in COLUMNS])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for line in ["", *report["notes"]]:
        append_row(sheet, [line])
    for column, width in zip("ABCDEFGHI", (14, 14, 12, 12, 16, 12, 8, 8, 10)):
        sheet.column_dimensions[column].width = width
    rings = book.create_sheet("线索团伙 rings")
    rings.append(["线索编号 ring", "模式 pattern", "当月事项 events", "区划 regions", "涉案统筹金额 fund"])
    for cell in rings[1]:
        cell.font = Font(bold=True)
    for ring in report["rings"]:
        append_row(rings, [ring["id"], f"{ring['pattern_zh']} {ring['pattern']}",
                           _events_text(ring), "、".join(ring["regions"]),
                           ring["fund_amount"]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _events_text(ring: dict[str, Any]) -> str:
    """The month's events of an annex ring, and whether the current results still hold it."""
    text = "、".join(_event_label(e) for e in ring["events"])
    return text if ring.get("found_now", True) else f"{text}（当前结果中已无此团伙 no longer found）"


def _event_label(event: str) -> str:
    if event == "new":
        return "新发现 new"
    term = vocab.DISPOSITIONS[event]
    return f"{term.zh} {term.en}"


def report_pdf(report: dict[str, Any]) -> bytes:
    """The report as a landscape A4 PDF: title, the table with its totals row, the notes, the rings."""
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.add_font("cjk", fname=str(font_file()))
    pdf.set_title(f"打击欺诈骗保 月度统计 {report['month']}")
    pdf.set_creator("graphsvc")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    year, month = report["month"].split("-")
    pdf.set_font("cjk", size=15)
    pdf.cell(0, 9, f"打击欺诈骗保 月度统计 {year}年{int(month)}月", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    pdf.cell(0, 6, f"Monthly report {report['month']}  ·  生成时间 generated {report['generated_at']}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    widths = (30, 34, 30, 28, 36, 30, 24, 24, 30)
    heading = FontFace(emphasis="", fill_color=(235, 235, 235))
    with pdf.table(col_widths=widths, width=sum(widths), text_align="CENTER", wrapmode=WrapMode.CHAR,
                   line_height=5, headings_style=heading) as table:
        table.row([f"{zh}\n{en}" for _, zh, en in COLUMNS])
        for r in [*report["rows"], report["totals"]]:
            table.row([_cell(r[key]) for key, _, _ in COLUMNS])
    pdf.ln(3)
    pdf.set_font("cjk", size=7.5)
    for note in report["notes"]:
        pdf.multi_cell(0, 4, note, wrapmode=WrapMode.CHAR, new_x="LMARGIN", new_y="NEXT")
    if report["rings"]:
        pdf.ln(3)
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 7, "当月线索团伙 Rings with an event this month", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=8)
        ring_widths = (30, 70, 70, 60, 36)
        with pdf.table(col_widths=ring_widths, width=sum(ring_widths), text_align="LEFT", wrapmode=WrapMode.CHAR,
                       line_height=4.5, headings_style=heading) as table:
            table.row(["线索编号 ring", "模式 pattern", "当月事项 events", "区划 regions", "涉案统筹金额 fund"])
            for ring in report["rings"]:
                table.row([ring["id"], f"{ring['pattern_zh']} {ring['pattern']}",
                           _events_text(ring), "、".join(ring["regions"]),
                           _cell(ring["fund_amount"])])
    return bytes(pdf.output())


def _cell(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else "—" if value is None else str(value)
