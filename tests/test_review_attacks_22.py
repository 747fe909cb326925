"""Attacks from a hostile review (22) of the ingest normalisations of review 17: Chinese times and dates,
Excel text guards, 15-digit ID numbers, invisible characters, title rows above a workbook's header,
coded 'unknown' values. Each is a value that loads silently wrong, or a legitimate one lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from graphsvc.store import GraphStore
from helpers.csv_files import ingest_into as _ingest
from helpers.csv_files import reject_reasons as _reasons
from helpers.csv_files import rows_by as _rows
from helpers.csv_files import write_csv
from ingest.pipeline import IngestReport


@pytest.fixture
def store(embedded_store: GraphStore) -> GraphStore:
    return embedded_store


SETTLE_HEADER = ["settlement_id", "kind", "person_id", "institution_id", "start_time", "fund_amount"]


def _one_claim(store: GraphStore, tmp_path: Path, start_time: str) -> tuple[IngestReport, dict | None]:
    folder = tmp_path / "in"
    write_csv(folder / "settlements.csv", SETTLE_HEADER, [["S1", "outpatient", "P1", "H1", start_time, "10"]])
    report = _ingest(store, folder, tmp_path)
    return report, _rows(store, "settlements", "settlement_id").get("S1")


# --- 上午/下午/中午/晚上 read as AM/PM ---------------------------------------------------------------


def test_zhongwu_before_noon_is_not_read_as_near_midnight(store, tmp_path):
    """Attack: a clinic's own system writes the time of day in words: ``2024/3/5 中午11:30`` (中午, 'noon',
    is the hours around midday: 11:00-13:00), a claim settled at 11:30 in the morning.
    Found: ``_cleaned`` replaces 中午 by PM (``_MERIDIEM``) before ``%p%I``, so it is stored as
    2024-03-05 23:30, twelve hours off and in the night, without a word: a night-time outpatient claim
    is itself a detection signal (timing), and the clinic's same-day sequence of claims is reordered.
    Must: 中午11:30 is 11:30 (中午 with an hour below 12 is the morning side of noon), or the claim is
    rejected as unparseable; never 23:30."""
    report, claim = _one_claim(store, tmp_path, "2024/3/5 中午11:30")
    if claim is not None:
        assert claim["start_time"] == dt.datetime(2024, 3, 5, 11, 30), (
            f"中午11:30 stored as {claim['start_time']}; reasons {_reasons(report)}")


def test_wanshang_twelve_is_midnight_not_noon(store, tmp_path):
    """Attack: ``2024/3/5 晚上12:00`` (晚上12点: midnight at the end of the evening of 5 March) on an
    inpatient discharge or a pharmacy sale. Found: 晚上 is made PM, and ``PM12:00`` under ``%p%I`` is
    noon: stored 2024-03-05 12:00, twelve hours early and in the daytime, silently.
    Must: 2024-03-06 00:00 (midnight after the evening of 5 March), or rejected; never noon."""
    report, claim = _one_claim(store, tmp_path, "2024/3/5 晚上12:00")
    if claim is not None:
        assert claim["start_time"] == dt.datetime(2024, 3, 6, 0, 0), (
            f"晚上12:00 stored as {claim['start_time']}; reasons {_reasons(report)}")


# --- two-digit years in the new date forms -----------------------------------------------------------


@pytest.mark.parametrize("written", ["24.3.5 09:00", "24年3月5日 09:00"])
def test_a_two_digit_year_in_a_new_date_form_is_not_year_24(store, tmp_path, written):
    """Attack: the dotted and 年月日 forms added today, written with a two-digit year as people and
    some Excel formats do (``yy.m.d``, ``24年3月5日``). Found: ``try_strptime``'s ``%Y`` reads ``24`` as
    the year 24 AD; the claim loads dated 0024-03-05 09:00 without a word (only year 0 is refused), and
    falls out of every month, report and time window.
    Must: the claim is rejected as unparseable (or read as 2024); never a date in year 24."""
    report, claim = _one_claim(store, tmp_path, written)
    if claim is not None:
        assert claim["start_time"].year >= 1900, f"{written} stored as {claim['start_time']}"


def test_a_two_digit_year_birth_date_is_not_year_49(store, tmp_path):
    """Attack: a persons export with 出生日期 ``49.12.31`` (yy.mm.dd, as first-generation ID numbers
    and old ledgers write it). Found: stored as 0049-12-31: the person is 1,975 years old, silently
    (age-based signals: an elderly beneficiary's ward stays, a child's adult drugs).
    Must: rejected as unparseable, or read as 1949-12-31; never year 49."""
    folder = tmp_path / "in"
    write_csv(folder / "persons.csv", ["person_id", "name", "birth_date"], [["P1", "张三", "49.12.31"]])
    report = _ingest(store, folder, tmp_path)
    person = _rows(store, "persons", "person_id").get("P1")
    if person is not None and person["birth_date"] is not None:
        assert person["birth_date"].year >= 1900, f"birth_date stored as {person['birth_date']}; {_reasons(report)}"


# --- Excel guards -------------------------------------------------------------------------------------


def test_an_id_padded_inside_an_excel_guard_is_the_same_id(store, tmp_path):
    """Attack: a fund system's CSV for Excel writes its CHAR(10) 参保人编号 column as ``="P001      "``
    (the field padded, the guard around it): the trailing spaces of ids are repaired elsewhere
    ("trailing spaces in ids", validate.py's docstring). Found: ``_normalise`` trims white space
    *before* it strips the guard, so ``="P001  "`` becomes ``P001  `` and is stored so: the claim's
    person ``P001  `` is not the person ``P001`` of persons.csv: the claim is rejected 'unknown
    person_id P001   (not in persons)' (and in persons.csv the same padding makes a second person).
    Must: the id inside the guard is trimmed too: the claim's person_id is ``P001``."""
    folder = tmp_path / "in"
    write_csv(folder / "persons.csv", ["person_id", "name"], [["P001", "张三"]])
    write_csv(folder / "settlements.csv", SETTLE_HEADER,
              [['="S1   "', "outpatient", '="P001  "', '="H1  "', "2024-03-05 09:00:00", "10"]])
    report = _ingest(store, folder, tmp_path)
    claims = _rows(store, "settlements", "settlement_id")
    assert list(claims) == ["S1"], f"settlement ids {list(claims)!r}; {_reasons(report)}"
    assert (claims["S1"]["person_id"], claims["S1"]["institution_id"]) == ("P001", "H1"), claims["S1"]


# --- invisible characters ---------------------------------------------------------------------------


@pytest.mark.parametrize("invisible", ["\u200e", "\u200f", "\u00ad", "\u202c", "\u2066"])
def test_every_invisible_character_is_removed_from_an_id(store, tmp_path, invisible):
    """Attack: an id copied out of a web page or an Office document with an invisible format character
    other than the zero-width ones: a left-to-right mark (U+200E, which Windows and Office insert around
    text), a right-to-left mark, a soft hyphen (U+00AD), a bidi pop or isolate (U+202C, U+2066).
    Found: ``_INVISIBLE`` holds U+200B-U+200D, U+2060 and U+FEFF only; the claim's person_id
    ``P001<U+200E>`` keeps it: another id than P001, invisibly (it prints the same): the claim is
    rejected 'unknown person_id P001 (not in persons)', a reason that reads as nonsense, and in a
    persons file the same character makes a second person P001 silently.
    Must: every default-ignorable format character (Unicode Cf) is removed like the zero-width ones."""
    folder = tmp_path / "in"
    write_csv(folder / "persons.csv", ["person_id", "name"], [["P001", "张三"]])
    write_csv(folder / "settlements.csv", SETTLE_HEADER,
              [["S1", "outpatient", f"P001{invisible}", "H1", "2024-03-05 09:00:00", "10"]])
    report = _ingest(store, folder, tmp_path)
    claims = _rows(store, "settlements", "settlement_id")
    assert [c["person_id"] for c in claims.values()] == ["P001"], (
        f"claims {[(k, c['person_id']) for k, c in claims.items()]!r}; {_reasons(report)}")


# --- 15-digit ID numbers ------------------------------------------------------------------------------


def test_a_person_is_found_by_the_15_digit_id_number_written_on_his_record(store, tmp_path):
    """Attack: an investigator holds a paper file (or a tip) with the beneficiary's first-generation
    ID number ``110105491231002``, exactly as the fund's export wrote it, and searches for it.
    Found: ingest now stores it upgraded (``11010519491231002X``, ``_eighteen_digits``) but search
    looks up the text as typed: no hit, where before today's change the same search found him.
    Must: the person whose record says 110105491231002 is found by that number."""
    folder = tmp_path / "in"
    write_csv(folder / "persons.csv", ["person_id", "id_number", "name"], [["P1", "110105491231002", "张三"]])
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    # Fixed by keeping the number as written (its 18-digit form joins records through PERSON_KEY_SQL)
    assert _rows(store, "persons", "person_id")["P1"]["id_number"] == "110105491231002"
    store.prepare_reads()
    hits = store.search("110105491231002")
    assert {"type": "person", "id": "P1"} in [{"type": h["type"], "id": h["id"]} for h in hits], hits


# --- title rows above a workbook's header ------------------------------------------------------------


def test_a_two_cell_title_above_a_narrow_header_is_not_the_header(store, tmp_path):
    """Attack: a 医保局 workbook of cards whose first row is a title in two cells (the report's name,
    and its date in a cell of its own, as such reports are laid out) above a 3-column header.
    Found: ``_header_row`` takes the first row naming two columns or more and at least half the widest
    (2 >= 3/2): the title row is taken as the header; no column maps, and the real header and every
    card are lost.
    Must: the header is the row that names the table's columns (the 3-column row); both cards load."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["某市医疗保障局医保卡发放明细", "制表日期：2024-03-31"])
    sheet.append(["医保卡号", "参保人编号", "卡类型"])
    sheet.append(["C1", "P1", "社保卡"])
    sheet.append(["C2", "P2", "电子凭证"])
    folder = tmp_path / "in"
    folder.mkdir()
    book.save(folder / "cards.xlsx")
    report = _ingest(store, folder, tmp_path)
    assert sorted(_rows(store, "cards", "card_id")) == ["C1", "C2"], (
        f"{[(f.read, f.loaded, f.note) for f in report.files]}; {_reasons(report)}")


# --- coded 'unknown' in a required column -----------------------------------------------------------


def test_a_required_coded_value_saying_unknown_is_named_in_its_reason(store, tmp_path):
    """Attack: a claim whose 医疗类别 cell reads ``未知`` (the platform's 'unknown'). Found: MISSING_VALUES
    makes the cell empty and the reject says 'missing required kind': the analyst opens the file, sees
    the cell filled (未知), and is told it is missing.
    Must: the reason quotes what the cell holds (未知), e.g. 'kind "未知" means unknown (missing required
    kind)'."""
    folder = tmp_path / "in"
    write_csv(folder / "settlements.csv", SETTLE_HEADER, [["S2", "未知", "P1", "H1", "2024-03-05 09:00:00", "10"]])
    report = _ingest(store, folder, tmp_path)
    [reason] = _reasons(report)
    assert "未知" in reason, reason


def test_a_15_digit_business_registration_number_is_not_made_a_valid_personal_id_number(store, tmp_path):
    """Attack: a broker that is a company (a 劳务公司 recruiting villagers, domain.md: recruiters), its
    证件号码 its 15-digit 工商注册号 ``110108000123456`` (6-digit authority, 8-digit sequence, check
    digit), as intermediaries lists kept before the 2015 unified credit code write it. Found:
    ``_eighteen_digits`` upgrades every 15-digit number in an id_number column: it is stored as
    ``110108190001234565`` and flagged ``id_number_valid = true``: a valid personal ID
    number of someone born 1900-01-23, invented by ingest; the number as written is no longer stored
    (a search for it finds nothing).
    Must: a 15-digit number is upgraded only where it can be a first-generation ID number of a living
    holder; this one is kept as written (or at least not flagged a valid ID number)."""
    folder = tmp_path / "in"
    write_csv(folder / "intermediaries.csv", ["intermediary_id", "name", "id_number"],
              [["I1", "某某劳务服务有限公司", "110108000123456"]])
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    broker = _rows(store, "intermediaries", "intermediary_id")["I1"]
    assert broker["id_number_valid"] is not True, (
        f"stored {broker['id_number']} flagged valid={broker['id_number_valid']}")


def test_a_windows_zh_cn_time_with_a_space_after_the_meridiem_is_read(store, tmp_path):
    """Attack: Windows' zh-CN short time 'tt h:mm' writes ``2024/3/5 上午 9:30`` (a space after 上午),
    as does an Excel cell formatted 上午/下午 h:mm. Found: 上午 is made ``AM`` but the formats read
    ``%p%I`` with nothing between: 'unparseable start_time', the claim lost (only 上午9:30 is read).
    Must: 2024-03-05 09:30."""
    report, claim = _one_claim(store, tmp_path, "2024/3/5 上午 9:30")
    assert claim is not None and claim["start_time"] == dt.datetime(2024, 3, 5, 9, 30), _reasons(report)
