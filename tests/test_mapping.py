"""``graphsvc ingest --mapping``: a foreign export read through a mapping file, and hostile mapping files."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest

from cli.commands import main
from graphsvc.config import Settings
from graphsvc.store import open_store
from ingest.mapping import MappingError, SourceMapping
from ingest.pipeline import ingest_folder

_MAPPING = """
tables:
  persons:
    file: bene*.csv.zip
    empty: ["NA"]
    columns:
      person_id: BeneID
      gender: {column: Sex, values: {"1": M, "2": F}}
      birth_date: {column: DOB, format: "%d/%m/%Y"}
      insurance_type: {value: resident}
      region_code: {columns: [State, County], sep: "-"}
      phone: {lookup: {file: "phones.csv", key: Bene, column: Mobile}, by: BeneID}
  settlements:
    file: claims.csv
    columns:
      settlement_id: ClaimID
      kind: {value: inpatient}
      person_id: BeneID
      institution_id: Provider
      start_time: {column: Admitted, format: "%m/%d/%Y"}
      fund_amount: Paid
"""


def _csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    _csv(tmp_path / "bene.csv", [["BeneID", "Sex", "DOB", "State", "County"],
                                 ["B1", "1", "05/03/1950", "39", "230"],
                                 ["B2", "2", "NA", "39", "NA"],
                                 ["B3", "3", "01/01/1960", "10", "1"]])
    with zipfile.ZipFile(folder / "bene-2009.csv.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(tmp_path / "bene.csv", "bene.csv")
    _csv(folder / "phones.csv", [["Bene", "Mobile"], ["B1", "13800138000"]])
    _csv(folder / "claims.csv", [["ClaimID", "BeneID", "Provider", "Admitted", "Paid"],
                                 ["C1", "B1", "PRV1", "04/12/2009", "26000"],
                                 ["C2", "B2", "PRV1", "2009-13-45", "100"],
                                 ["C3", "B9", "PRV2", "04/13/2009", "5"]])
    (tmp_path / "m.yaml").write_text(_MAPPING, encoding="utf-8")
    return folder


def test_a_mapped_export_loads_and_rejects_name_the_source_file_and_line(export: Path, tmp_path: Path) -> None:
    store = open_store(Settings(home=tmp_path / "home"))
    try:
        report = ingest_folder(store, export, rejects_dir=tmp_path / "rejects", progress=False,
                               mapping=SourceMapping.load(tmp_path / "m.yaml"))
        persons = {r["person_id"]: r for r in store.rows("persons").to_pylist()}
        claims = store.rows("settlements").to_pylist()
    finally:
        store.close()
    assert [(f.file, f.loaded, f.rejected) for f in report.files] == [
        ("bene-2009.csv.zip", 2, 1), ("claims.csv", 1, 2)]
    assert persons["B1"]["gender"] == "M" and str(persons["B1"]["birth_date"]) == "1950-03-05"
    assert persons["B1"]["region_code"] == "39-230" and persons["B1"]["phone"] == "13800138000"
    assert persons["B1"]["insurance_type"] == "resident"
    assert persons["B2"]["birth_date"] is None and persons["B2"]["region_code"] == "39"
    [claim] = claims
    assert claim["settlement_id"] == "C1" and str(claim["start_time"]) == "2009-04-12 00:00:00"
    assert report.rejects_path is not None
    with report.rejects_path.open(encoding="utf-8") as f:
        rejects = {(r["file"], r["line"]): r["reason"] for r in csv.DictReader(f)}
    assert rejects[("bene-2009.csv.zip", "4")] \
        == "Sex value '3' is not in the value map (m.yaml: tables.persons.columns.gender.values)"
    assert "start_time" in rejects[("claims.csv", "3")] and "B9" in rejects[("claims.csv", "4")]


@pytest.mark.parametrize(("text", "message"), [
    ("tables: [1", "m.yaml: not YAML"),
    ("- persons", "m.yaml: a mapping file is a YAML mapping with a 'tables' mapping"),
    ("tables: {patients: {file: a.csv, columns: {x: y}}}", "m.yaml: tables.patients: unknown table"),
    ("tables: {persons: {file: a.csv, columns: {sex: G}}}", "m.yaml: tables.persons.columns.sex: persons has no column"),
    ("tables: {persons: {file: a.csv, columns: {gender: {column: G, values: [M, F]}}}}",
     "m.yaml: tables.persons.columns.gender.values: expected a mapping"),
    ("tables: {persons: {file: a.csv, columns: {gender: {column: G, value: M}}}}",
     "m.yaml: tables.persons.columns.gender: give exactly one of"),
    ("tables: {persons: {file: ../a.csv, columns: {person_id: P}}}", "m.yaml: tables.persons.file"),
    ("tables:\n  persons: {file: a.csv, columns: {person_id: P}}\n  persons: {file: b.csv, columns: {person_id: Q}}\n",
     "m.yaml: line 3: key 'persons' is given twice in one mapping"),
    ("tables: {persons: {file: a.csv, columns: {gender: {column: G, values: {'1': M, 1.0: F}}}}}",
     "m.yaml: tables.persons.columns.gender.values: source value '1' is mapped twice"),
])
def test_a_hostile_mapping_file_is_a_clear_error_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        SourceMapping.load(tmp_path / "m.yaml")
    assert str(caught.value).startswith(message)


def test_a_source_column_the_export_lacks_stops_the_run_before_loading(export: Path, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m.yaml").write_text(_MAPPING.replace("fund_amount: Paid", "fund_amount: Reimbursed"), encoding="utf-8")
    home = tmp_path / "home"
    assert main(["ingest", "--mapping", str(tmp_path / "m.yaml"), str(export), "--home", str(home), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "m.yaml: tables.settlements.columns.fund_amount: claims.csv has no column 'Reimbursed'" in err
    assert "Traceback" not in err and not (home / "graph.duckdb").exists()


def test_the_cli_loads_a_mapped_export(export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--mapping", str(tmp_path / "m.yaml"), str(export), "--home", str(tmp_path / "h"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "bene-2009.csv.zip" in out and "rejected rows" in out
