"""Review attacks (round 12) on surfaces the earlier attack files leave alone: what one odd value in a
data supplier's export does to the rest of the service. A Parquet export whose phone column pandas
wrote as floating point (it holds a missing value); a date of the year 0000 that ingest stores and
Python cannot read back (detection and the entity page then fail); and one claim far from the rest
(a ``1900-01-01`` placeholder, or a year-older claim of someone else) that stretches the "period"
every base rate is measured over, so that a regular care home becomes a care-home-collusion ring; and
a Parquet export whose times are typed as pandas types them (nanosecond timestamps), of which nothing loads.

Each test states a behaviour the product must have; its docstring says what the attack does now.
All run on the embedded store.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.keys import create_api_key
from cli.commands import main
from graphsvc.config import Settings
from graphsvc.detect import detect_rings_in
from graphsvc.evidence import explain
from graphsvc.store import open_store
from helpers import scenes
from helpers.csv_files import read_rejects
from helpers.scenes import Scene
from ingest.pipeline import ingest_folder


def _embedded(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", backend="embedded")


# ---- 1. a Parquet phone column written as floating point -------------------------------------------


def test_parquet_phones_written_as_floats_load_as_the_phones_they_are(tmp_path):
    """Attack (careless data supplier): pandas writes a column holding a missing value as float64, so a
    ``persons.parquet`` exported from a DataFrame carries phones as ``13800138000.0``. The XLSX reader
    turns whole floats back into digits (``_cell_text``); the Parquet reader casts them to text with
    Arrow, which writes ``1.3800138e+10``. Ingest then keeps the digits of that: P1's phone is stored
    as ``1380013810`` (a wrong phone, silently: it joins P1 to whoever really has 1380013810 and
    loses his real one), P2's ``1.3912345678e+10`` is rejected as "unparseable phone" and with him
    every claim of his ("unknown person_id P2"), and the broker's contact phone on S1 is rejected
    as 'unparseable contact_phone "1.5900000017e+10"'.

    Must: a whole float is the number it holds, as in XLSX: the phones load as written, nothing is
    rejected."""
    folder = tmp_path / "export"
    folder.mkdir()
    pq.write_table(pa.table({"person_id": ["P1", "P2", "P3"], "name": ["张三", "李四", "王五"],
                             "phone": pa.array([13800138000.0, 13912345678.0, None], pa.float64())}),
                   folder / "persons.parquet")
    pq.write_table(pa.table({"institution_id": ["H1"], "kind": ["hospital"]}), folder / "institutions.parquet")
    pq.write_table(pa.table({"settlement_id": ["S1", "S2"], "kind": ["outpatient", "outpatient"],
                             "person_id": ["P1", "P2"], "institution_id": ["H1", "H1"],
                             "start_time": ["2026-03-05 09:00:00", "2026-03-05 09:30:00"],
                             "contact_phone": pa.array([15900000017.0, None], pa.float64()),
                             "fund_amount": [100.0, 200.0]}), folder / "settlements.parquet")
    with open_store(_embedded(tmp_path)) as store:
        report = ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
        rejects = read_rejects(report.rejects_path) if report.rejects_path else []
        phones = {r["person_id"]: r["phone"] for r in store.rows("persons").select(["person_id", "phone"]).to_pylist()}
        contact = {r["settlement_id"]: r["contact_phone"]
                   for r in store.rows("settlements").select(["settlement_id", "contact_phone"]).to_pylist()}
    assert phones == {"P1": "13800138000", "P2": "13912345678", "P3": None}, phones
    assert rejects == [], rejects
    assert contact == {"S1": "15900000017", "S2": None}, contact


# ---- 2. a date of the year 0000 ---------------------------------------------------------------------


def _scene_with(tmp_path: Path, **odd: str) -> Path:
    """The black-intermediary scene plus person PX1 (one outpatient visit at H9), with ``odd`` values."""
    scene = Scene()
    scenes.black_intermediary(scene)
    scene.institution("H9", "hospital")
    birth = odd.pop("birth_date", "1960-05-01")
    scene.person("PX1", birth_date=birth, **{k: v for k, v in odd.items() if k == "death_date"})
    scene.claim("outpatient", "PX1", "H9", odd.get("start_time", "2026-03-01 10:00:00"))
    return scene.write_folder(tmp_path / "city")


def test_a_claim_dated_year_0000_does_not_stop_detection(tmp_path, capsys):
    """Attack (careless data supplier): one outpatient claim of an unrelated person written
    ``0000-01-01 10:00:00`` (a zero date some databases export for an unknown time). Ingest accepts it
    (DuckDB parses the year 0000 as 1 BC) and stores it; ``graphsvc detect`` then fails for the whole
    fund: "graphsvc: error: an internal error (TypeError); run again with --log-level debug to see
    where" (``shared_identifier._usual_institutions`` gets the first day of the data as something
    Python cannot subtract), so the broker's ring planted beside it is never reported.

    Must: such a row is rejected at ingest with its file, line and reason (no date Python cannot hold
    is stored), or detection copes with it; either way detection runs and finds the broker's ring."""
    folder = _scene_with(tmp_path, start_time="0000-01-01 10:00:00")
    home = tmp_path / "home"
    assert main(["ingest", str(folder), "--home", str(home), "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "rings.json"
    code = main(["detect", "--home", str(home), "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    rings = json.loads(out.read_text(encoding="utf-8"))["rings"]
    assert [r["pattern"] for r in rings] == ["black_intermediary"], rings


@pytest.mark.parametrize("field", ["birth_date", "death_date"])
def test_a_person_born_in_year_0000_has_an_entity_page(tmp_path, field):
    """Attack (careless data supplier): a person's ``birth_date`` (or ``death_date``) written
    ``0000-01-01``, a placeholder for "unknown". Ingest stores it as a date of 1 BC; Python's ``date``
    cannot hold it, so every read of that person fails: ``GET /entities/person/PX1`` and
    ``/entities/person/PX1/claims`` answer 500 Internal Server Error (``OverflowError: date value out
    of range`` in ``Date32Scalar.as_py``) for every role, and the investigator cannot open the person
    at all.

    Must: either the row was rejected at ingest, with file, line and a reason naming the field, or the
    person's page answers 200."""
    folder = _scene_with(tmp_path, **{field: "0000-01-01"})
    settings = _embedded(tmp_path)
    with open_store(settings) as store:
        report = ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
        rejects = read_rejects(report.rejects_path) if report.rejects_path else []
        if any(r["file"] == "persons.csv" and field in r["reason"] for r in rejects):
            return  # refused with its reason: fine
        key = create_api_key(store, "investigator", "investigator tester")[0]
        with TestClient(create_app(settings, store=store), raise_server_exceptions=False) as client:
            page = client.get("/entities/person/PX1", headers={"X-API-Key": key})
            claims = client.get("/entities/person/PX1/claims", headers={"X-API-Key": key})
    assert page.status_code == 200, page.text
    assert claims.status_code == 200, claims.text


# ---- 3. one claim far from the rest stretches every base rate ---------------------------------------


@pytest.mark.parametrize("stamp", ["1900-01-01 00:00:00", "2025-01-02 10:00:00"],
                         ids=["placeholder-1900", "a-year-older-claim"])
def test_a_regular_care_home_stays_explained_whatever_else_the_export_holds(stamp):
    """Attack (careless data supplier, or an export window opened a year earlier for one pharmacy):
    the regular care home of tests/test_detect_lookalikes.py (a hundred residents, each admitted one to
    three times in 2026 to the nearby hospital at random) is explained as "its waves are what chance
    brings" (p = 0.46). Add ONE pharmacy purchase of an unrelated person, at a pharmacy the home never
    uses, dated ``1900-01-01`` (SQL Server's placeholder for a missing date) or simply 2025-01-02 (a
    year before the rest): the home's base rate is its admissions divided by the days from the first
    to the last claim of the WHOLE fund (``care_home_waves``: ``min(start_time)``/``max(start_time)``
    FROM settlements; ``co_admission_lockstep`` does the same), so its rate falls 127-fold (or by
    half) and the same admissions become a care_home_collusion ring of 88 (or 69) residents, score
    0.97 (0.95): ``period_days`` 46386 (730), ``p_value`` 6.7e-112 (1.5e-7).

    Must: a home is judged against its own admissions over the time they were made; an unrelated
    claim elsewhere changes nothing: no ring, the home explained as chance."""
    scene = Scene()
    planted = scenes.regular_care_home(scene)
    scene.institution("PHZZ", "pharmacy")
    scene.person("ZZ001")
    scene.claim("pharmacy", "ZZ001", "PHZZ", stamp, fund_amount=20.0)
    result = detect_rings_in(scene.connection())
    rings = [(r.pattern, len(r.persons), r.score) for r in result.rings]
    assert rings == [], rings
    [home] = [f for f in result.findings + result.explained if f.kind == "care_home_waves"]
    assert home.explained == "care_home_chance", (home.facts["period_days"], home.facts["p_value"])
    assert explain(home.explained, home.facts).startswith(
        "regular admissions of a home's residents: its waves are what chance brings"), planted["home"]


# ---- 4. a Parquet export with typed times, as pandas writes them -----------------------------------


def test_parquet_times_typed_as_pandas_writes_them_load(tmp_path):
    """Attack (careless data supplier): a fund's analyst exports the tables with pandas
    (``df.to_parquet``), whose date and time columns are ``datetime64[ns]``: Parquet ``timestamp[ns]``,
    for ``start_time`` as for ``birth_date``. The Parquet reader turns a timestamp into text with
    ``strftime("%Y-%m-%d %H:%M:%S")``, which for nanoseconds writes ``2026-03-05 09:00:00.000000000``;
    no format of validation reads nine fractional digits, and no date format reads a time at all.
    Every person is rejected (``unparseable birth_date "1960-05-01 00:00:00.000000000"``) and then
    every claim (``unparseable start_time "2026-03-05 09:00:00.000000000"``): nothing of the export
    loads but the institutions.

    Must: a typed Parquet time is the time it holds (and a typed midnight in a date column is that
    date): everything loads with these values, nothing is rejected."""
    folder = tmp_path / "export"
    folder.mkdir()
    ns = pa.timestamp("ns")
    pq.write_table(pa.table({"person_id": ["P1", "P2"],
                             "birth_date": pa.array([datetime(1960, 5, 1), datetime(1950, 1, 2)], ns)}),
                   folder / "persons.parquet")
    pq.write_table(pa.table({"institution_id": ["H1"], "kind": ["hospital"]}), folder / "institutions.parquet")
    pq.write_table(pa.table({"settlement_id": ["S1", "S2"], "kind": ["inpatient", "outpatient"],
                             "person_id": ["P1", "P2"], "institution_id": ["H1", "H1"],
                             "start_time": pa.array([datetime(2026, 3, 5, 9, 0), datetime(2026, 3, 5, 9, 30)], ns),
                             "end_time": pa.array([datetime(2026, 3, 12, 10, 0), None], ns),
                             "fund_amount": [5000.0, 200.0]}), folder / "settlements.parquet")
    with open_store(_embedded(tmp_path)) as store:
        report = ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
        rejects = read_rejects(report.rejects_path) if report.rejects_path else []
        persons = {r["person_id"]: r["birth_date"] for r in store.rows("persons").to_pylist()}
        claims = {r["settlement_id"]: (r["start_time"], r["end_time"]) for r in store.rows("settlements").to_pylist()}
    assert [r["reason"] for r in rejects] == [], rejects
    assert persons == {"P1": date(1960, 5, 1), "P2": date(1950, 1, 2)}, persons
    assert claims == {"S1": (datetime(2026, 3, 5, 9, 0), datetime(2026, 3, 12, 10, 0)),
                      "S2": (datetime(2026, 3, 5, 9, 30), None)}, claims
