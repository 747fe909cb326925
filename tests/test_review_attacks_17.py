"""Attacks from a hostile review of ingest: messy but legitimate exports of a Chinese fund's own
systems (医保信息平台 code tables, Chinese Excel, the ID-number habits of 20 years of databases)
that are rejected, silently changed or merged wrongly."""

from __future__ import annotations

import openpyxl
import pytest

from graphsvc.store import GraphStore
from helpers.csv_files import ingest_into as _ingest
from helpers.csv_files import reject_reasons as _reasons
from helpers.csv_files import rows_by as _rows
from helpers.csv_files import write_csv

# Validation is the same for both backends: the embedded store alone keeps these fast.


@pytest.fixture
def store(embedded_store: GraphStore) -> GraphStore:
    return embedded_store


SETTLE_HEADER = ["settlement_id", "kind", "person_id", "institution_id", "start_time", "fund_amount"]


def test_a_first_generation_15_digit_id_number_is_valid_and_joins_the_persons_18_digit_record(store, tmp_path):
    """Attack: one person under two 参保人编号 (domain.md: 'two schemes or two regions under one ID
    number'): the old scheme's record carries the 15-digit first-generation ID number
    (一代身份证, GB 11643-1989: region, YYMMDD, sequence) ``110105491231002``, the new one its
    18-digit form ``11010519491231002X`` (the same number with 19 inserted and a check digit).
    Found: the 15-digit number is flagged ``id_number_valid = false`` (``_id_number_valid`` knows
    only 18 digits), so a real, correct ID number becomes an 'invalid ID number' lead, and
    ``PERSON_KEY_SQL`` leaves the two records two persons (person_key P1 and P2): the same
    beneficiary's claims in the two schemes are never seen together.
    Must: a 15-digit number with a real birth date is valid, and is matched to its 18-digit form:
    both records get one person_key."""
    folder = tmp_path / "in"
    write_csv(folder / "persons.csv", ["person_id", "id_number", "name", "region_code"], [
        ["P1", "110105491231002", "张三", "110105"],       # 新农合 record of 2005, first-generation ID
        ["P2", "11010519491231002X", "张三", "110100"],    # 职工医保 record, 18-digit ID
    ])
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    persons = _rows(store, "persons", "person_id")
    assert persons["P1"]["id_number_valid"] is True, (
        f"15-digit ID number {persons['P1']['id_number']} flagged invalid: {persons['P1']['id_number_valid']}")
    assert persons["P1"]["person_key"] == persons["P2"]["person_key"], (
        "the 15- and 18-digit records of one person are not joined: "
        f"person_key {persons['P1']['person_key']} vs {persons['P2']['person_key']}")


@pytest.mark.parametrize("written", [
    '="11010519491231002X"',        # Excel text guard written by the fund's export ("=" formula)
    "'11010519491231002X",          # Excel's leading apostrophe, kept by a CSV save
    "11010519491231002X\u200b",     # zero-width space from a copy out of a web page or WeChat
])
def test_an_id_number_with_an_excel_text_guard_or_invisible_character_is_the_persons_id(store, tmp_path, written):
    """Attack: the same person's second 参保人编号 with its ID number written the way Chinese systems
    keep Excel from turning 18 digits into 1.10105E+17 (``="…"`` or a leading ``'``), or with a
    zero-width space pasted in. Found: ingest removes only white space from an ID number
    (``_cleaned``), so the guard characters are stored as part of it, the number is flagged
    ``id_number_valid = false`` (a false 'invalid ID' lead) and the record is not joined to the
    same person's other record (different person_key). Headers get the zero-width space
    stripped (``_clean_headers``); values do not.
    Must: the stored ID number is the 18 characters, valid, and both records share one person_key."""
    folder = tmp_path / "in"
    write_csv(folder / "persons.csv", ["person_id", "id_number", "name"], [
        ["P1", "11010519491231002X", "张三"],
        ["P2", written, "张三"],
    ])
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    p2 = _rows(store, "persons", "person_id")["P2"]
    assert (p2["id_number"], p2["id_number_valid"], p2["person_key"]) == ("11010519491231002X", True, "P1")


def test_an_amount_header_with_its_unit_keeps_the_amounts(store, tmp_path):
    """Attack: a settlement export with the headers the fund's report tool writes, the unit in
    parentheses: ``医疗费总额（元）`` (full-width) and ``统筹支付金额(元)`` (half-width).
    Found: ``map_headers`` folds only width and case, so neither header maps; both columns are
    listed as 'ignored' and every claim loads with total_amount and fund_amount NULL: no reject,
    'rejected 0', and every ring's fund_amount (the contract's 'how much') is 0.
    Must: a header that is an alias followed by its unit ((元), （元）) maps to the alias's
    column; the amounts load."""
    folder = tmp_path / "in"
    write_csv(folder / "settlements.csv",
              ["结算流水号", "医疗类别", "参保人编号", "定点机构编码", "入院时间", "医疗费总额（元）", "统筹支付金额(元)"],
              [["S1", "住院", "P1", "H1", "2024-03-05 09:00:00", "8,000.00", "6,000.00"]])
    report = _ingest(store, folder, tmp_path)
    [settlements] = report.files
    assert settlements.ignored_columns == [], f"amount columns ignored: {settlements.ignored_columns}"
    s1 = _rows(store, "settlements", "settlement_id")["S1"]
    assert (str(s1["total_amount"]), str(s1["fund_amount"])) == ("8000.00", "6000.00")


def test_a_two_character_header_padded_with_a_space_maps(store, tmp_path):
    """Attack: Chinese Excel templates pad two-character headers to the width of the others with a
    (full-width) space: ``姓　名``, ``性　别``. Found: ``_fold`` turns the space into ``_`` and
    ``姓_名`` matches no alias, so names and genders are ignored columns and every person loads
    nameless and without gender, with no reject.
    Must: spaces inside a Chinese header are insignificant; 姓　名 is 姓名."""
    folder = tmp_path / "in"
    write_csv(folder / "persons.csv", ["参保人编号", "姓　名", "性 别"], [["P1", "张三", "男"]])
    report = _ingest(store, folder, tmp_path)
    assert report.files[0].ignored_columns == []
    p1 = _rows(store, "persons", "person_id")["P1"]
    assert (p1["name"], p1["gender"]) == ("张三", "M")


def test_the_national_medical_type_names_are_settlement_kinds(store, tmp_path):
    """Attack: ``医疗类别`` (which ingest maps to ``kind``) as the national 医保信息平台 code table
    writes it: 普通门诊 (11), 急诊 (13), 门诊慢特病 (14), 普通住院 (21), 定点药店购药 (41).
    Found: ``VALUE_ALIASES['settlements.kind']`` knows only 住院/门诊/门急诊/购药/药店…, so every
    one of these claims is rejected 'invalid kind': a whole month's export from the fund's own
    platform loads nothing.
    Must: each loads with its kind (outpatient, outpatient, outpatient, inpatient, pharmacy)."""
    expected = {"S1": ("普通门诊", "outpatient"), "S2": ("急诊", "outpatient"), "S3": ("门诊慢特病", "outpatient"),
                "S4": ("普通住院", "inpatient"), "S5": ("定点药店购药", "pharmacy")}
    folder = tmp_path / "in"
    write_csv(folder / "settlements.csv", SETTLE_HEADER,
              [[sid, written, "P1", "H1", "2024-03-05 09:00:00", "10"] for sid, (written, _) in expected.items()])
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    assert {s: r["kind"] for s, r in _rows(store, "settlements", "settlement_id").items()} == {
        s: kind for s, (_, kind) in expected.items()}


def test_the_official_insurance_scheme_names_are_insurance_types(store, tmp_path):
    """Attack: ``险种`` as the fund's platform writes it: the full scheme names 职工基本医疗保险 /
    城镇职工基本医疗保险 / 城乡居民基本医疗保险 or the national codes 310 / 390, and one claim of
    the employee. Found: only 职工/城镇职工/职工医保/居民/城乡居民/居民医保 are known, so each person
    row is rejected 'invalid insurance_type', and then (P6, written 职工, loads, so references are
    checked) P1's claim is rejected 'unknown person_id P1 (not in persons)': an optional enum cell
    costs the person and all their claims.
    Must: the six persons load (employee, employee, resident, employee, resident, employee) and the
    claim loads."""
    expected = {"P1": ("职工基本医疗保险", "employee"), "P2": ("城镇职工基本医疗保险", "employee"),
                "P3": ("城乡居民基本医疗保险", "resident"), "P4": ("310", "employee"), "P5": ("390", "resident"),
                "P6": ("职工", "employee")}
    folder = tmp_path / "in"
    write_csv(folder / "persons.csv", ["person_id", "insurance_type"], [[p, w] for p, (w, _) in expected.items()])
    write_csv(folder / "settlements.csv", SETTLE_HEADER, [["S1", "outpatient", "P1", "H1", "2024-03-05 09:00:00", "10"]])
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    assert {p: r["insurance_type"] for p, r in _rows(store, "persons", "person_id").items()} == {
        p: t for p, (_, t) in expected.items()}
    assert list(_rows(store, "settlements", "settlement_id")) == ["S1"]


def test_an_unknown_gender_code_is_missing_not_a_reason_to_lose_the_person(store, tmp_path):
    """Attack: gender as GB/T 2261.1 writes it (ingest already reads its 1 and 2): 0 未知的性别,
    9 未说明的性别, and the names 男性 / 女性 / 未知; P1 has a claim. Found: each person is rejected
    'invalid gender' (``_typed`` enum: any value outside the aliases is a reject of the row), and
    P1's claim is then rejected 'unknown person_id P1 (not in persons)': an unknown sex costs a
    beneficiary and his claims.
    Must: 男性 is M, 女性 is F; 0, 9 and 未知 load as a missing gender (NULL); the claim loads."""
    expected = {"P1": ("未知", None), "P2": ("0", None), "P3": ("9", None), "P4": ("男性", "M"), "P5": ("女性", "F"),
                "P6": ("男", "M")}
    folder = tmp_path / "in"
    write_csv(folder / "persons.csv", ["person_id", "gender"], [[p, w] for p, (w, _) in expected.items()])
    write_csv(folder / "settlements.csv", SETTLE_HEADER, [["S1", "outpatient", "P1", "H1", "2024-03-05 09:00:00", "10"]])
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    assert {p: r["gender"] for p, r in _rows(store, "persons", "person_id").items()} == {
        p: g for p, (_, g) in expected.items()}
    assert list(_rows(store, "settlements", "settlement_id")) == ["S1"]


def test_the_kinds_of_designated_institutions_in_chinese_are_institution_kinds(store, tmp_path):
    """Attack: ``机构类型`` as a fund's 定点机构 list writes it: 定点零售药店, 连锁药店, 单体药店, 综合医院,
    中医院, 乡镇卫生院, 社区卫生服务中心, 村卫生室; each institution has a claim. Found: only
    医院/卫生院/诊所/门诊部/药店/零售药店/药房/养老院… are known, so every institution is rejected
    'invalid kind' and then every claim at it 'unknown institution_id' (H0, written 'hospital',
    loads, so references are checked): an optional descriptive column costs all of a pharmacy's sales.
    Must: all load; pharmacies as pharmacy, hospitals and township health centres as hospital,
    community health service centres and village clinics as hospital or clinic."""
    kinds = {"I1": "定点零售药店", "I2": "连锁药店", "I3": "单体药店", "I4": "综合医院", "I5": "中医院",
             "I6": "乡镇卫生院", "I7": "社区卫生服务中心", "I8": "村卫生室"}
    folder = tmp_path / "in"
    write_csv(folder / "institutions.csv", ["institution_id", "kind"], [["H0", "hospital"]] + [[i, k] for i, k in kinds.items()])
    write_csv(folder / "settlements.csv", SETTLE_HEADER,
              [[f"S{i}", "outpatient", "P1", i, "2024-03-05 09:00:00", "10"] for i in kinds])
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    stored = {i: r["kind"] for i, r in _rows(store, "institutions", "institution_id").items()}
    assert {i: stored.get(i) for i in ("I1", "I2", "I3", "I4", "I5", "I6")} == {
        "I1": "pharmacy", "I2": "pharmacy", "I3": "pharmacy", "I4": "hospital", "I5": "hospital", "I6": "hospital"}
    assert stored.get("I7") in ("hospital", "clinic") and stored.get("I8") in ("hospital", "clinic")
    assert len(_rows(store, "settlements", "settlement_id")) == len(kinds)


@pytest.mark.parametrize("written", ["1949/12/31 0:00", "1949-12-31 00:00", "1949年12月31日", "1949.12.31"])
def test_a_birth_date_as_chinese_excel_saves_it_is_a_date(store, tmp_path, written):
    """Attack: ``birth_date`` as Chinese Excel writes a date cell into CSV: ``1949/12/31 0:00`` (a
    date-time cell, zh-CN default format), ``1949-12-31 00:00``, ``1949年12月31日`` (the long date
    format), ``1949.12.31``. Found: ``_DATE_FORMATS`` takes ``%Y/%m/%d`` and ``%Y-%m-%d %H:%M:%S``
    but not these, so the person row is rejected 'unparseable birth_date' (the times parser takes
    ``%Y/%m/%d %H:%M``, the dates parser does not), and P1's claim with it ('unknown person_id').
    Must: the person loads with birth_date 1949-12-31, and the claim loads."""
    folder = tmp_path / "in"
    write_csv(folder / "persons.csv", ["person_id", "birth_date"], [["P1", written], ["P2", "1950-01-01"]])
    write_csv(folder / "settlements.csv", SETTLE_HEADER, [["S1", "outpatient", "P1", "H1", "2024-03-05 09:00:00", "10"]])
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    assert str(_rows(store, "persons", "person_id")["P1"]["birth_date"]) == "1949-12-31"
    assert list(_rows(store, "settlements", "settlement_id")) == ["S1"]


def test_every_sheet_of_a_workbook_split_by_month_is_read(store, tmp_path):
    """Attack: ``settlements.xlsx`` as a fund analyst saves a quarter: one sheet per month (1月, 2月,
    3月), each with the same header (also how an export over Excel's 1,048,576 rows is split).
    Found: ``_open_xlsx`` reads ``workbook.worksheets[0]`` only; February's and March's claims are
    dropped without a word: read 1, loaded 1, rejected 0, no note on the file.
    Must: the claims of every sheet with the table's header load, or at the very least the file's note
    says which sheets were left unread and how to load them. Done: the note (a reject names a file and
    a line, and a line is a row of one sheet); reading every sheet is left open."""
    header = ["结算流水号", "医疗类别", "参保人编号", "定点机构编码", "结算时间", "统筹支付金额"]
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "1月"
    for n, month in enumerate(("1月", "2月", "3月"), start=1):
        sheet = first if n == 1 else book.create_sheet(month)
        sheet.append(header)
        sheet.append([f"S{n}", "门诊", "P1", "H1", f"2024-0{n}-05 09:00:00", "10"])
    folder = tmp_path / "in"
    folder.mkdir()
    book.save(folder / "settlements.xlsx")
    report = _ingest(store, folder, tmp_path)
    [file] = report.files
    assert sorted(_rows(store, "settlements", "settlement_id")) == ["S1"], f"read {file.read}, loaded {file.loaded}"
    assert file.note == ("sheet(s) 2月, 3月 not read: only the first sheet of a workbook is; save each sheet as a file "
                         "of its own (settlements_2月.xlsx) and ingest again"), file.note


def test_a_workbook_with_a_title_row_above_its_header_is_read(store, tmp_path):
    """Attack: a 医保局 report workbook whose first row is the merged title
    ``某市医疗保障局2024年1月结算明细`` and whose header is the second row. Found: ``_open_xlsx`` takes
    row 1 as the header: the one 'column' is the title, every required column is missing, and the
    header row itself is rejected as a data row (line 2, 'missing required settlement_id; ...')
    beside the claim.
    Must: the header is found below the title (the first row that names the table's required
    columns); the claim loads and nothing is rejected."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["某市医疗保障局2024年1月结算明细"])
    sheet.merge_cells("A1:F1")
    sheet.append(["结算流水号", "医疗类别", "参保人编号", "定点机构编码", "结算时间", "统筹支付金额"])
    sheet.append(["S1", "门诊", "P1", "H1", "2024-01-05 09:00:00", "10"])
    folder = tmp_path / "in"
    folder.mkdir()
    book.save(folder / "settlements.xlsx")
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    assert list(_rows(store, "settlements", "settlement_id")) == ["S1"]


@pytest.mark.parametrize("written", ["2024年3月5日 15:05", "2024/3/5 下午3:05", "2024.03.05 15:05:00"])
def test_a_claim_time_as_chinese_systems_write_it_is_a_time(store, tmp_path, written):
    """Attack: ``start_time`` as Chinese exports write it: the long date ``2024年3月5日 15:05``, a
    zh-CN time with 上午/下午 (``2024/3/5 下午3:05``, Windows' zh-CN 'tt h:mm'), a dotted date
    ``2024.03.05 15:05:00``. Found: ``_DATETIME_FORMATS`` holds ISO and slash forms only, so the
    claim is rejected 'unparseable start_time'.
    Must: each is 2024-03-05 15:05 local time and the claim loads."""
    folder = tmp_path / "in"
    write_csv(folder / "settlements.csv", SETTLE_HEADER, [["S1", "outpatient", "P1", "H1", written, "10"]])
    report = _ingest(store, folder, tmp_path)
    assert _reasons(report) == []
    assert str(_rows(store, "settlements", "settlement_id")["S1"]["start_time"]) == "2024-03-05 15:05:00"
