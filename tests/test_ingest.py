"""Ingest: rejects with file, line and reason; normalisation; idempotence; formats; restart."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from graphsvc.config import Settings
from graphsvc.store import GraphStore, open_store
from helpers.csv_files import read_rejects, write_csv
from ingest.pipeline import IngestError, ingest_folder
from ingest.validate import MAX_VALUE_CHARS

PERSON_HEADER = ["person_id", "id_number", "name", "gender", "birth_date", "phone", "address", "region_code",
                 "insurance_type", "death_date"]
PERSONS = [
    ["P1", "11010519491231002X", "张三", "M", "1949-12-31", "13800138000", "北京市朝阳区幸福村1号", "110105", "resident", ""],
    ["P2", "110105194912310021", "李四", "F", "1949-12-31", "13900139000", "北京市朝阳区幸福村1号", "110105", "resident", ""],
    ["P3", "", "王五", "M", "1980-01-02", "", "北京市朝阳区幸福村2号", "110105", "employee", "2026-03-01"],
]
INSTITUTIONS = [["H1", "康民医院", "hospital", "1", "private", "北京市朝阳区民主街1号", "01088886666", "110105"],
                ["PH1", "益丰大药房", "pharmacy", "", "private", "北京市朝阳区解放路2号", "", "110105"]]
INST_HEADER = ["institution_id", "name", "kind", "level", "ownership", "address", "phone", "region_code"]
SETTLE_HEADER = ["settlement_id", "kind", "person_id", "card_id", "institution_id", "start_time", "end_time",
                 "total_amount", "fund_amount", "contact_phone", "items"]
GOOD_SETTLEMENTS = [
    ["S1", "inpatient", "P1", "", "H1", "2026-03-05T09:14:00", "2026-03-10 10:00:00", "8000.00", "6000.00", "15900000001", ""],
    ["S2", "inpatient", "P2", "", "H1", "2026-03-05 09:20:00", "2026-03-10 10:00:00", "7000", "5000", "15900000001", ""],
    ["S3", "pharmacy", "P3", "", "PH1", "2026-04-01 10:00:00", "", "120.5", "80", "", "人血白蛋白;阿莫西林"],
]


def city_folder(root: Path, settlements: list[list[str]] = GOOD_SETTLEMENTS) -> Path:
    folder = root / "city"
    write_csv(folder / "persons.csv", PERSON_HEADER, PERSONS)
    write_csv(folder / "institutions.csv", INST_HEADER, INSTITUTIONS)
    write_csv(folder / "settlements.csv", SETTLE_HEADER, settlements)
    return folder


def ingest(store: GraphStore, folder: Path, tmp_path: Path):
    return ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)


def test_each_kind_of_bad_row_is_rejected_with_line_and_reason_and_good_rows_load(store, tmp_path):
    bad = [
        ["S10", "outpatient", "", "", "H1", "2026-03-05 09:00:00", "", "10", "5", "", ""],            # line 5
        ["S11", "outpatient", "P1", "", "H1", "2026-02-30 09:00:00", "", "10", "5", "", ""],          # line 6
        ["S12", "outpatient", "P1", "", "H1", "2026-03-05 09:00:00", "", "ten yuan", "5", "", ""],    # line 7
        ["S13", "outpatient", "P404", "", "H1", "2026-03-05 09:00:00", "", "10", "5", "", ""],        # line 8
        ["S14", "checkup", "P1", "", "H1", "2026-03-05 09:00:00", "", "10", "5", "", ""],             # line 9
        ["S15", "inpatient", "P1", "", "H1", "2026-03-05 09:00:00", "2026-03-01 09:00:00", "1", "1", "", ""],  # line 10
        ["S1", "inpatient", "P1", "", "H1", "2026-03-05T09:14:00", "2026-03-10 10:00:00", "9999", "6000", "", ""],  # 11
        ["S16", "outpatient", "P1", "", "H9", "2026-03-05 09:00:00", "", "10", "5", "", ""],          # line 12
        ["S17", "outpatient", "P1", "", "H1", "2026-03-05 09:00:00", "", "10", "5", "12", ""],        # line 13
    ]
    folder = city_folder(tmp_path, GOOD_SETTLEMENTS + bad + [["S18", "outpatient", "P2", "", "H1", "2026-05-01 08:00:00", "", "10", "5", "", ""]])
    report = ingest(store, folder, tmp_path)

    settlements = next(f for f in report.files if f.table == "settlements")
    assert (settlements.read, settlements.loaded, settlements.rejected) == (13, 4, 9)
    rejects = {int(r["line"]): r["reason"] for r in read_rejects(report.rejects_path) if r["file"] == "settlements.csv"}
    assert rejects == {
        5: "missing required person_id",
        6: 'unparseable start_time "2026-02-30 09:00:00"',
        7: 'unparseable total_amount "ten yuan"',
        8: "unknown person_id P404 (not in persons)",
        9: 'invalid kind "checkup" (expected inpatient, outpatient, pharmacy)',
        10: "end_time before start_time",
        11: "duplicate settlement_id S1 with other content (first at line 2)",
        12: "unknown institution_id H9 (not in institutions)",
        13: 'unparseable contact_phone "12"',
    }
    loaded = set(store.rows("settlements").column("settlement_id").to_pylist())
    assert loaded == {"S1", "S2", "S3", "S18"}
    # Chinese first beside each, the column named as the clerk's header says it
    chinese = {int(r["line"]): r["reason_zh"] for r in read_rejects(report.rejects_path) if r["file"] == "settlements.csv"}
    assert chinese == {
        5: "缺少必填项 参保人编号（person_id）",
        6: '就诊时间（start_time） 无法识别："2026-02-30 09:00:00"',
        7: '医疗费总额（total_amount） 无法识别："ten yuan"',
        8: "参保人编号（person_id） P404 不存在（参保人中没有）",
        9: '类别（kind） 取值无效："checkup"（应为 inpatient, outpatient, pharmacy）',
        10: "出院时间早于入院时间",
        11: "结算编号（settlement_id） S1 重复且内容不同（首次出现在第 2 行）",
        12: "定点机构编码（institution_id） H9 不存在（定点机构中没有）",
        13: '联系电话（contact_phone） 无法识别："12"',
    }


def test_a_value_longer_than_any_real_one_is_rejected_and_the_rest_of_its_batch_loads(store, tmp_path):
    """A 1,000-character name loads; one character more is rejected by its reason, on both backends
    (Neo4j cannot index a value over about 8 KB, which would fail the whole batch). Lists may be longer."""
    folder = city_folder(tmp_path, GOOD_SETTLEMENTS + [
        ["S4", "pharmacy", "P3", "", "PH1", "2026-04-02 10:00:00", "", "1", "1", "", ";".join(["阿莫西林"] * 400)]])
    persons = PERSONS + [["P4", "", "王" * MAX_VALUE_CHARS, "M", "", "", "", "", "", ""],
                         ["P5", "", "王" * (MAX_VALUE_CHARS + 1), "M", "", "", "", "", "", ""]]
    write_csv(folder / "persons.csv", PERSON_HEADER, persons)
    report = ingest(store, folder, tmp_path)
    rejects = {(r["file"], int(r["line"])): r["reason"] for r in read_rejects(report.rejects_path)}
    assert rejects == {("persons.csv", 6): f"name over {MAX_VALUE_CHARS:,} characters (超过 {MAX_VALUE_CHARS} 个字符)"}
    names = dict(zip(*store.rows("persons").select(["person_id", "name"]).to_pydict().values()))
    assert set(names) == {"P1", "P2", "P3", "P4"} and len(names["P4"]) == MAX_VALUE_CHARS
    items = dict(zip(*store.rows("settlements").select(["settlement_id", "items"]).to_pydict().values()))
    assert len(items["S4"]) == 400


def test_rejected_row_keeps_its_original_content(store, tmp_path):
    folder = city_folder(tmp_path, [["S9", "outpatient", "P1", "", "H1", "yesterday", "", "10", "5", "", ""]])
    report = ingest(store, folder, tmp_path)
    [reject] = read_rejects(report.rejects_path)
    assert reject["file"] == "settlements.csv" and reject["line"] == "2"
    assert '"start_time": "yesterday"' in reject["row"] and '"settlement_id": "S9"' in reject["row"]


def test_malformed_records_are_rejected_and_later_lines_stay_exact(store, tmp_path):
    folder = city_folder(tmp_path)
    lines = [",".join(SETTLE_HEADER),
             "S1,inpatient,P1,,H1,2026-03-05T09:14:00,2026-03-10 10:00:00,8000,6000,,",
             "S2,inpatient,P2",                                                              # line 3: too few
             "",                                                                              # line 4: blank
             'S3,pharmacy,P3,,PH1,2026-04-01 10:00:00,,120.5,80,,"人血白蛋白;',                # line 5-6: quoted break
             '阿莫西林"',
             "S4,pharmacy,P3,,PH1,2026-04-01 10:00:00,,1,1,,,extra",                          # line 7: too many
             "S5,pharmacy,P3,,PH1,not a time,,1,1,,"]                                        # line 8
    (folder / "settlements.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ingest(store, folder, tmp_path)
    rejects = {int(r["line"]): r["reason"] for r in read_rejects(report.rejects_path)}
    assert rejects == {3: "expected 11 fields, found 3", 7: "expected 11 fields, found 12",
                       8: 'unparseable start_time "not a time"'}
    s3 = store.rows("settlements").filter(pa.compute.equal(store.rows("settlements").column("settlement_id"), "S3"))
    assert s3.column("items").to_pylist() == [["人血白蛋白", "阿莫西林"]]


def test_real_world_dirt_is_normalised_not_rejected(store, tmp_path):
    folder = tmp_path / "dirty"
    write_csv(folder / "persons.csv", PERSON_HEADER, [
        ["P１ ", "11010519491231002x", " 张三 ", "男", "1949/12/31", "+86 138-0013-8000", "北京市 朝阳区　幸福村1号", "110105", "城乡居民", ""],
        ["P2", "110105194912310021", "李四", "F", "19491231", "００８６１３９００１３９０００", "北京市朝阳区幸福村1号", "110105", "resident", ""],
    ])
    write_csv(folder / "settlements.csv", SETTLE_HEADER, [
        ["S1 ", "住院", "P1", "", "H1", "2026-03-05T09:14", "", "1,234.50元", "１０００", "138 0013 8000", "A；B"],
    ])
    report = ingest(store, folder, tmp_path)
    assert report.totals["rejected"] == 0
    persons = {r["person_id"]: r for r in store.rows("persons").to_pylist()}
    assert set(persons) == {"P1", "P2"}
    p1 = persons["P1"]
    assert (p1["phone"], p1["address"], p1["gender"], p1["insurance_type"]) == ("13800138000", "北京市朝阳区幸福村1号", "M", "resident")
    assert (p1["id_number"], p1["id_number_valid"]) == ("11010519491231002X", True)
    assert (persons["P2"]["phone"], persons["P2"]["id_number_valid"]) == ("13900139000", False)  # bad check digit: flagged
    [s1] = store.rows("settlements").to_pylist()
    assert (s1["settlement_id"], s1["kind"], str(s1["total_amount"]), str(s1["fund_amount"])) == ("S1", "inpatient", "1234.50", "1000.00")
    assert (s1["contact_phone"], s1["items"]) == ("13800138000", ["A", "B"])
    # The shared phone is one Phone node linking the person and the claim.
    assert store.identifier_hubs(1)["Phone"] == [{"value": "13800138000", "persons": 1}]


def test_one_phone_written_as_exports_write_it_is_one_phone_node(store, tmp_path):
    """A household's landline with and without its country code, in brackets and spaced; a hospital's
    switchboard with an extension behind 转, a dash or #; a Hong Kong mobile. Before graphsvc.phones,
    +86 571 8888 8888 became 865718888888 (not the same phone as 0571-88888888, so the household's
    link was lost) and a number with an extension or +86 before a landline's 11 digits was rejected,
    the person and every claim of his with it. A float's text and two numbers in one cell are still
    rejected: a key made of half a text would link strangers."""
    folder = tmp_path / "phones"
    written = {"P1": "0571-88888888", "P2": "+86 571 8888 8888", "P3": "(0571)8888 8888", "P4": "0086-571-88888888",
               "P5": "+852 9123 4567", "P6": "+86 (0)10 1234 5678", "P7": "1.3800138e+10", "P8": "13800138000/13900139000",
               "P9": "无"}
    write_csv(folder / "persons.csv", ["person_id", "phone"], [[p, phone] for p, phone in written.items()])
    write_csv(folder / "institutions.csv", INST_HEADER, [
        ["H1", "康民医院", "hospital", "1", "private", "", "0571-87236114转8001", "330106"]])
    write_csv(folder / "settlements.csv", SETTLE_HEADER, [
        [f"S{i}", "outpatient", "P1", "", "H1", "2026-03-05 09:00:00", "", "10", "5", phone, ""]
        for i, phone in enumerate(["0571 8723 6114-8002", "0571-87236114#8001", "0571-87236114"], start=1)])
    report = ingest(store, folder, tmp_path)
    rejects = {(r["file"], int(r["line"])): r["reason"] for r in read_rejects(report.rejects_path)}
    assert rejects == {("persons.csv", 8): 'unparseable phone "1.3800138e+10"',
                       ("persons.csv", 9): 'unparseable phone "13800138000/13900139000"'}
    phones = dict(zip(*store.rows("persons").select(["person_id", "phone"]).to_pydict().values()))
    assert phones == {"P1": "057188888888", "P2": "057188888888", "P3": "057188888888", "P4": "057188888888",
                      "P5": "+85291234567", "P6": "01012345678", "P9": None}
    contact = dict(zip(*store.rows("settlements").select(["settlement_id", "contact_phone"]).to_pydict().values()))
    assert contact == {"S1": "057187236114-8002", "S2": "057187236114-8001", "S3": "057187236114"}
    [institution] = store.rows("institutions").to_pylist()
    assert institution["phone"] == "057187236114-8001"
    assert store.identifier_hubs(1)["Phone"][0] == {"value": "057188888888", "persons": 4}
    # An investigator finds the household by the phone as anyone writes it.
    store.prepare_reads()
    for typed in ("0571-8888 8888", "+86 571 88888888"):
        found = {(hit["type"], hit["id"]) for hit in store.search(typed)}
        assert {("person", p) for p in ("P1", "P2", "P3", "P4")} | {("phone", "057188888888")} <= found, (typed, found)


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)  # validation is the same for both stores
def test_commas_are_taken_out_of_an_amount_only_as_thousands_separators(store, tmp_path):
    """1,234.50元 and ¥1234 are amounts as exports write them; 1.234,50 (European), 1,2 and 12,3456 are
    not: taking every comma out stored 1.23, 12 and 123456 without a word."""
    amounts = {"S1": "1,234.50元", "S2": "¥1234", "S3": "-1,000,000.5", "S4": "1.234,50", "S5": "1,2", "S6": "12,3456"}
    rows = [[sid, "outpatient", "P1", "", "H1", "2026-03-05 09:00:00", "", amount, "1", "", ""]
            for sid, amount in amounts.items()]
    report = ingest(store, city_folder(tmp_path, rows), tmp_path)
    stored = {r["settlement_id"]: str(r["total_amount"]) for r in store.rows("settlements").to_pylist()}
    assert stored == {"S1": "1234.50", "S2": "1234.00", "S3": "-1000000.50"}
    rejects = [r for r in read_rejects(report.rejects_path) if r["file"] == "settlements.csv"]
    assert sorted(r["reason"] for r in rejects) == sorted(f"unparseable total_amount \"{amounts[s]}\"" for s in ("S4", "S5", "S6"))


def test_reingest_adds_nothing_and_a_new_folder_adds_its_settlements(store, tmp_path):
    folder = city_folder(tmp_path)
    first = ingest(store, folder, tmp_path)
    nodes, rels = store.node_counts(), store.relationship_counts()
    again = ingest(store, folder, tmp_path)
    assert first.totals["loaded"] == 8 and again.totals["loaded"] == 0
    assert again.totals["unchanged"] == 8 and again.totals["rejected"] == 0
    assert store.node_counts() == nodes and store.relationship_counts() == rels

    month2 = tmp_path / "month2"
    write_csv(month2 / "settlements_2026-04.csv", SETTLE_HEADER, [
        GOOD_SETTLEMENTS[2],  # already loaded: unchanged
        ["S20", "outpatient", "P1", "", "H1", "2026-04-02 09:00:00", "", "10", "5", "", ""],
        ["S21", "outpatient", "P404", "", "H1", "2026-04-02 09:00:00", "", "10", "5", "", ""],  # checked against the store
    ])
    report = ingest(store, month2, tmp_path)
    assert (report.totals["loaded"], report.totals["unchanged"], report.totals["rejected"]) == (1, 1, 1)
    assert store.node_counts()["Settlement"] == 4


def test_references_are_not_checked_when_the_referent_file_is_absent(store, tmp_path):
    folder = tmp_path / "claims-only"
    write_csv(folder / "settlements.csv", SETTLE_HEADER, GOOD_SETTLEMENTS)
    report = ingest(store, folder, tmp_path)
    assert report.totals == {"read": 3, "loaded": 3, "unchanged": 0, "rejected": 0}


def test_a_file_without_a_required_column_rejects_its_rows_and_says_why(store, tmp_path):
    folder = tmp_path / "nokey"
    write_csv(folder / "persons.csv", ["name", "phone"], [["张三", "13800138000"]])
    write_csv(folder / "settlements.csv", SETTLE_HEADER, [])
    report = ingest(store, folder, tmp_path)
    persons = report.files[0]
    assert persons.missing_columns == ["person_id"] and persons.rejected == 1
    assert read_rejects(report.rejects_path)[0]["reason"] == "missing required person_id"


def _graph(store: GraphStore) -> dict[str, list[dict]]:
    return {t: store.rows(t).to_pylist() for t in ("persons", "institutions", "settlements")}


CHINESE = {"person_id": "参保人编号", "id_number": "身份证号", "name": "姓名", "gender": "性别", "birth_date": "出生日期",
           "phone": "联系电话", "address": "家庭住址", "region_code": "统筹区", "insurance_type": "险种", "death_date": "死亡日期",
           "settlement_id": "结算流水号", "kind": "医疗类别", "card_id": "医保卡号", "institution_id": "定点机构编码",
           "start_time": "入院时间", "end_time": "出院时间", "total_amount": "医疗费总额", "fund_amount": "统筹支付金额",
           "contact_phone": "联系电话", "items": "项目名称"}
CHINESE_INSTITUTIONS = {"institution_id": "定点机构编码", "name": "机构名称", "kind": "机构类型", "level": "医院等级",
                        "ownership": "经营性质", "address": "机构地址", "phone": "联系电话", "region_code": "统筹区"}


def test_chinese_headers_xlsx_and_parquet_load_the_same_graph_as_csv(tmp_path):
    graphs = {}
    for form in ("csv", "chinese", "xlsx", "parquet"):
        folder = tmp_path / form
        tables = {"persons": (PERSON_HEADER, PERSONS), "institutions": (INST_HEADER, INSTITUTIONS),
                  "settlements": (SETTLE_HEADER, GOOD_SETTLEMENTS)}
        for name, (header, rows) in tables.items():
            if form == "chinese":
                aliases = CHINESE_INSTITUTIONS if name == "institutions" else CHINESE
                chinese = [aliases[h] for h in header]
                write_csv(folder / f"{name}.csv", chinese, rows)
            elif form == "xlsx":
                folder.mkdir(exist_ok=True)
                book = openpyxl.Workbook()
                sheet = book.active
                assert isinstance(sheet, Worksheet)  # a new workbook opens on its one worksheet
                sheet.append(header)
                for row in rows:
                    sheet.append(row)
                book.save(folder / f"{name}.xlsx")
            elif form == "parquet":
                folder.mkdir(exist_ok=True)
                pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)}), folder / f"{name}.parquet")
            else:
                write_csv(folder / f"{name}.csv", header, rows)
        with open_store(Settings(home=tmp_path / f"home-{form}")) as store:
            report = ingest(store, folder, tmp_path)
            assert report.totals["rejected"] == 0, form
            graphs[form] = _graph(store)
    assert graphs["chinese"] == graphs["csv"]
    assert graphs["xlsx"] == graphs["csv"]
    assert graphs["parquet"] == graphs["csv"]


def test_gb18030_export_is_read(store, tmp_path):
    folder = tmp_path / "gbk"
    write_csv(folder / "persons.csv", ["参保人编号", "姓名"], [["P1", "张三"]], encoding="gb18030")
    report = ingest(store, folder, tmp_path)
    assert report.files[0].note == "not UTF-8; read as GB18030"
    assert store.rows("persons").column("name").to_pylist() == ["张三"]


def test_store_survives_a_restart(settings, tmp_path):
    folder = city_folder(tmp_path)
    with open_store(settings) as store:
        ingest(store, folder, tmp_path)
        before = (store.node_counts(), store.relationship_counts(), _graph(store))
    with open_store(settings) as reopened:
        assert (reopened.node_counts(), reopened.relationship_counts(), _graph(reopened)) == before
        assert [r.file for r in reopened.ingest_log()] == ["institutions.csv", "persons.csv", "settlements.csv"]


def test_a_corrupt_file_is_reported_and_the_other_files_still_load(store, tmp_path):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "persons.xlsx").write_bytes(b"not a workbook")
    write_csv(folder / "settlements.csv", SETTLE_HEADER, GOOD_SETTLEMENTS)
    report = ingest(store, folder, tmp_path)
    persons, settlements = report.files
    assert persons.note.startswith("could not be read") and persons.read == 0
    assert settlements.loaded == 3 and store.node_counts()["Settlement"] == 3


def test_unreadable_folder_is_an_error(store, tmp_path):
    with pytest.raises(IngestError, match="not a folder"):
        ingest(store, tmp_path / "missing", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="no contract files"):
        ingest(store, tmp_path / "empty", tmp_path)
