"""Identifier resolution: one key per household and account, one person per valid ID number."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from graphsvc.detect.finding import in_memory_claims
from graphsvc.resolution import resolve_entities
from graphsvc.store import GraphStore
from graphsvc.store.embedded import EmbeddedStore
from helpers.csv_files import write_csv
from ingest.pipeline import ingest_folder
from ingest.resolve import ADDRESS_COMPLETION_SQL, canonical_account, canonical_address

CLEAN = "湖南省长沙市芙蓉区东湖街道12组35号"


@pytest.mark.parametrize("raw", [
    "长沙市芙蓉区东湖街道12组35号",              # no province
    "芙蓉区东湖街道12组35号",                    # no province, no city
    "湖南长沙芙蓉区东湖街道12组35号",            # no 省/市 suffixes
    "湖南省长沙市芙蓉区东湖街道十二组35号",      # Chinese numerals
    "湖南省长沙市芙蓉区东湖街道12组三十五号",
    "湖南省长沙市芙蓉区东湖街道十二组三十五号",
    "湖南省长沙市芙蓉区东湖街道１２组３５号",    # full-width digits
    " 湖南省 长沙市芙蓉区　东湖街道 12 组35号 ",  # stray (and ideographic) spaces
])
def test_variants_of_one_address_give_one_key(raw):
    assert canonical_address(raw) == canonical_address(CLEAN) == "430102|东湖街道12组35号"


@pytest.mark.parametrize("a, b", [
    ("湖南省长沙市芙蓉区东湖街道12组35号", "湖南省长沙市芙蓉区东湖街道12组36号"),   # two house numbers
    ("湖南省长沙市芙蓉区东湖街道12组35号", "湖南省长沙市芙蓉区东湖街道13组35号"),   # two groups
    ("湖南省长沙市芙蓉区东湖街道十二组35号", "湖南省长沙市芙蓉区东湖街道二十组35号"),
    ("湖南省长沙市芙蓉区十里铺村3组", "湖南省长沙市芙蓉区五里铺村3组"),            # two villages
    ("湖南省长沙市芙蓉区十里铺村3组", "湖南省长沙市芙蓉区十里村3组"),
    ("湖南省长沙市芙蓉区东湖街道12组35号", "湖南省长沙市天心区东湖街道12组35号"),   # two counties
    ("湖南省长沙市东湖街道12组35号", "湖南省长沙市芙蓉区东湖街道12组35号"),         # county left out: completed later
])
def test_look_alike_addresses_do_not_collide(a, b):
    assert canonical_address(a) != canonical_address(b)


def test_a_numeral_not_before_an_address_unit_stays_as_written():
    assert canonical_address("湖南省长沙市芙蓉区十里铺村三组") == "430102|十里铺村3组"
    assert canonical_address("湖南省长沙市芙蓉区一号楼二单元三〇一室") == "430102|1号楼2单元301室"


def test_a_village_named_like_a_county_elsewhere_is_no_division():
    """龙泉村 is a village, not 浙江 龙泉市: a division name inside the address is not its prefix."""
    assert canonical_address("寿镇龙泉村8组81号") == "|寿镇龙泉村8组81号"
    full = canonical_address("湖南省湘潭市韶山市寿镇龙泉村8组八十一号")
    assert full == "430382|寿镇龙泉村8组81号"
    assert _completions([canonical_address("寿镇龙泉村8组81号"), full]) == {"|寿镇龙泉村8组81号": full}
    # 丰镇 is a town here and a county-level city in Inner Mongolia: a short name alone is no division.
    assert canonical_address("丰镇前花桥村十五组二百四十八号") == "|丰镇前花桥村15组248号"
    assert canonical_address("长沙县丰镇前花桥村15组248号") == "430121|丰镇前花桥村15组248号"


def test_blank_and_unresolvable_addresses():
    assert canonical_address(None) is None
    assert canonical_address("  ") is None
    assert canonical_address("建设路 8 号") == "|建设路8号"


def _completions(keys: list[str | None]) -> dict[str, str]:
    """What ``ADDRESS_COMPLETION_SQL`` completes among ``keys`` (as ``canonical_address`` gives them)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE k (address_key VARCHAR)")
    con.executemany("INSERT INTO k VALUES (?)", [[k] for k in keys])
    return dict(con.execute(ADDRESS_COMPLETION_SQL.format(keys="SELECT address_key FROM k")).fetchall())


def test_a_key_without_its_county_is_completed_only_when_one_complete_key_matches():
    no_county = canonical_address("湖南省长沙市东湖街道12组35号")
    furong = canonical_address(CLEAN)
    tianxin = canonical_address("湖南省长沙市天心区东湖街道12组35号")
    other_city = canonical_address("湖南省株洲市荷塘区东湖街道12组35号")
    assert _completions([no_county, furong, other_city]) == {no_county: furong}
    assert _completions([no_county, furong, tianxin]) == {}   # two candidates: left as it is
    assert _completions([no_county, other_city]) == {}        # none in its city


@pytest.mark.parametrize("raw, expected", [
    ("6222 0000 0000 0017", "6222000000000017"),
    ("6222-0000-0000-0017", "6222000000000017"),
    ("６２２２ ００００ ００００ ００１７", "6222000000000017"),
    ("6222000000000017", "6222000000000017"),
    ("ALIPAY:abc 1", "ALIPAY:abc1"),
    ("", None),
])
def test_accounts(raw, expected):
    assert canonical_account(raw) == expected


def test_resolve_entities_works_on_in_memory_claims_without_derived_keys():
    con = in_memory_claims(
        persons=[{"person_id": "P2", "id_number": "11010519491231002X", "address": "芙蓉区东湖街道十二组35号"},
                 {"person_id": "P1", "id_number": "11010519491231002X"},
                 {"person_id": "P3", "id_number": "110105194912310021", "address": "长沙市芙蓉区东湖街道12组36号"},
                 {"person_id": "P4", "id_number": "110105194912310021"},   # an invalid ID number joins no one
                 {"person_id": "P5"}],
        cards=[{"card_id": "C2", "person_id": "P2"}],
        settlements=[{"settlement_id": "S1", "kind": "outpatient", "person_id": "P2", "institution_id": "H1",
                      "start_time": "2024-03-05 09:00:00", "agent_id": "P2"}])
    resolve_entities(con)
    persons = {r[0]: r[1:] for r in con.execute("SELECT person_id, person_ids, address, household FROM persons").fetchall()}
    assert persons["P1"] == (["P1", "P2"], "芙蓉区东湖街道十二组35号", "430102|东湖街道12组35号")
    assert persons["P3"][2] == "430102|东湖街道12组36号"
    assert persons["P4"][0] == ["P4"] and persons["P5"][2] == "P5"
    assert con.execute("SELECT person_id FROM cards").fetchall() == [("P1",)]
    assert con.execute("SELECT person_id, agent_id FROM settlements").fetchall() == [("P1", "P1")]
    resolve_entities(con)  # again: the views are refreshed, not an error
    assert con.execute("SELECT count(*) FROM persons").fetchall() == [(4,)]


PERSON_HEADER = ["person_id", "id_number", "name", "address"]
VARIANT_PERSONS = [
    ["P1", "11010519491231002x", "张三", "湖南省长沙市芙蓉区东湖街道十二组35号"],
    ["P2", "110105194912310011", "张四", "长沙市芙蓉区 东湖街道12组三十五号"],
    ["P3", "110105194912310021", "张五", "湖南省长沙市芙蓉区东湖街道12组36号"],
    ["P4", "", "张六", "湖南省长沙市东湖街道１２组35号"],
]
SETTLE_HEADER = ["settlement_id", "kind", "person_id", "institution_id", "start_time", "payee_account", "agent_id"]


def _folder(root: Path, persons: list[list[str]], settlements: list[list[str]] | None = None) -> Path:
    write_csv(root / "persons.csv", PERSON_HEADER, persons)
    if settlements:
        write_csv(root / "institutions.csv", ["institution_id", "address"], [["H1", "长沙市芙蓉区五一大道1号"]])
        write_csv(root / "settlements.csv", SETTLE_HEADER, settlements)
    return root


def test_ingest_stores_keys_and_joins_the_records_of_one_person(store: GraphStore, tmp_path):
    first = _folder(tmp_path / "a", VARIANT_PERSONS, [
        ["S1", "outpatient", "P1", "H1", "2024-03-05 09:00:00", "6222 0000 0000 0017", ""],
        ["S2", "outpatient", "P2", "H1", "2024-03-05 09:10:00", "6222-0000-0000-0017", ""]])
    ingest_folder(store, first, rejects_dir=tmp_path / "rejects", progress=False)
    persons = {r["person_id"]: r for r in store.rows("persons").to_pylist()}
    assert persons["P1"]["id_number"] == "11010519491231002X"
    assert persons["P1"]["address"] == "湖南省长沙市芙蓉区东湖街道十二组35号"   # the raw address stays
    assert persons["P1"]["address_key"] == persons["P2"]["address_key"] == "430102|东湖街道12组35号"
    assert persons["P3"]["address_key"] != persons["P1"]["address_key"]
    assert persons["P4"]["address_key"] == "430100|东湖街道12组35号"            # completed by resolution
    assert {r["payee_account"] for r in store.rows("settlements").to_pylist()} == {"6222000000000017"}
    assert {p: r["person_key"] for p, r in persons.items()} == {"P1": "P1", "P2": "P2", "P3": "P3", "P4": "P4"}

    # A later run brings a second record (another 参保人编号) of P1, its ID number spaced out.
    second = _folder(tmp_path / "b", [["P0", "110105 19491231 002X", "张三", "湖南省长沙市芙蓉区东湖街道12组35号"]])
    ingest_folder(store, second, rejects_dir=tmp_path / "rejects", progress=False)
    keys = {r["person_id"]: r["person_key"] for r in store.rows("persons").to_pylist()}
    assert keys == {"P0": "P0", "P1": "P0", "P2": "P2", "P3": "P3", "P4": "P4"}

    con = store.analysis_connection()
    resolve_entities(con)
    resolved = {r[0]: r[1:] for r in con.execute("SELECT person_id, person_ids, household FROM persons").fetchall()}
    assert resolved["P0"][0] == ["P0", "P1"]
    assert resolved["P0"][1] == resolved["P2"][1] == resolved["P4"][1] == "430102|东湖街道12组35号"
    assert con.execute("SELECT person_id FROM settlements ORDER BY settlement_id").fetchall() == [("P0",), ("P2",)]

    # Either id finds the person, and the profile shows both.
    found = [(h["id"], h["matched"]) for h in store.search("P1") if h["type"] == "person"]
    assert found == [("P1", "id"), ("P0", "same_person")]
    entity = store.entity("person", "P1")
    assert entity is not None
    assert entity["person_ids"] == ["P0", "P1"] and entity["person_key"] == "P0"
    assert entity["address_key"] == "430102|东湖街道12组35号"

    # In the network the two records are one hop apart; persons with one record have no such edge.
    store.prepare_reads()
    assert [(e.source, e.type, e.target) for e in store.network_edges("person:P1", 50).edges
            if e.type == "SAME_PERSON"] == [("person:P1", "SAME_PERSON", "person:P0")]
    assert [(e.source, e.target) for e in store.network_edges("person:P0", 50).edges
            if e.type == "SAME_PERSON"] == [("person:P1", "person:P0")]
    assert not [e for e in store.network_edges("person:P2", 50).edges if e.type == "SAME_PERSON"]


def test_reingesting_the_same_folder_adds_nothing(store: GraphStore, tmp_path):
    folder = _folder(tmp_path / "a", VARIANT_PERSONS)
    ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
    again = ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
    assert again.totals["loaded"] == 0 and again.totals["unchanged"] == len(VARIANT_PERSONS)


def test_the_records_of_a_person_come_from_the_index_as_from_the_table(store: GraphStore, tmp_path):
    """Three records (参保人编号) of one person under one ID number, the one holding the key with no claim,
    and persons with one record: the embedded store answers from its neighbour index's SAME_PERSON
    edges (a scan of every person at 10M took 100-150 ms a search), as the shared table lookup does."""
    folder = _folder(tmp_path / "three", [
        ["P0", "11010519491231002X", "张三", "湖南省长沙市芙蓉区东湖街道12组35号"],
        ["P1", "110105 19491231 002X", "张三", "湖南省长沙市芙蓉区东湖街道十二组35号"],
        ["P7", "11010519491231002x", "张三", "长沙市芙蓉区东湖街道12组35号"],
        ["P2", "43010219800101003X", "李四", "湖南省长沙市芙蓉区东湖街道12组36号"]],
        [["S1", "outpatient", "P1", "H1", "2024-03-05 09:00:00", "", ""],
         ["S2", "outpatient", "P7", "H1", "2024-03-06 09:00:00", "", ""],
         ["S3", "outpatient", "P2", "H1", "2024-03-07 09:00:00", "", ""]])
    ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
    asked = ["P0", "P1", "P7", "P2", "P-unknown"]
    from_table = GraphStore._same_person(store, asked)
    assert from_table == {"P0": ["P0", "P1", "P7"], "P1": ["P0", "P1", "P7"], "P7": ["P0", "P1", "P7"], "P2": ["P2"]}
    assert store._same_person(asked) == from_table
    assert [(h["id"], h["matched"]) for h in store.search("P7") if h["type"] == "person"] == [
        ("P7", "id"), ("P0", "same_person"), ("P1", "same_person")]


def test_search_finds_institutions_by_a_part_of_their_name_on_every_backend(store: GraphStore, tmp_path):
    """"人民医院" finds every 人民医院 of the city: by the start of the name first (name_prefix), then
    those with it inside (name_part), by institution id, at most ``limit``."""
    folder = tmp_path / "named"
    write_csv(folder / "institutions.csv", ["institution_id", "name", "kind"], [
        ["H3", "岳麓区人民医院", "hospital"], ["H1", "长沙市第一人民医院", "hospital"],
        ["H2", "人民医院门诊部", "clinic"], ["P1", "仁和大药房", "pharmacy"], ["H4", "湘雅医院", "hospital"]])
    ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
    hits = [(h["id"], h["matched"]) for h in store.search("人民医院")]
    assert hits == [("H2", "name_prefix"), ("H1", "name_part"), ("H3", "name_part")]
    assert [(h["id"], h["matched"]) for h in store.search("人民医院", limit=2)] == [("H2", "name_prefix"), ("H1", "name_part")]
    assert [(h["id"], h["label"]) for h in store.search("药房")] == [("P1", "仁和大药房")]
    assert store.search("儿童医院") == []
    if isinstance(store, EmbeddedStore):  # search drops repeats and cuts to the limit after it: asked alone
        index = store.adjacency()
        assert [h["id"] for h in index.institutions_naming("人民医院", 5)] == ["H1", "H3"]
        assert [h["id"] for h in index.institutions_naming("人民医院", 1)] == ["H1"]


def test_a_batch_that_overflows_the_address_cache_is_resolved_in_one_call(monkeypatch):
    """At 10M persons (2.8M addresses, a cache of 2M) the batch that overflowed the cache emptied it
    and then resolved every address it had held one ``cpca`` call each: 170 s where 1M took 6.8 s."""
    from ingest import resolve

    calls: list[int] = []
    real = resolve._resolve

    def counted(tidy: list[str]) -> list[str]:
        calls.append(len(tidy))
        return real(tidy)

    monkeypatch.setattr(resolve, "_resolve", counted)
    monkeypatch.setattr(resolve, "_cache", {})
    monkeypatch.setattr(resolve, "_CACHE_MAX", 4)
    first = ["长沙市芙蓉区东湖街道1号", "长沙市芙蓉区东湖街道2号", "长沙市芙蓉区东湖街道3号"]
    keys = resolve.canonical_addresses(first)
    second = [*first, "长沙市芙蓉区东湖街道4号", "长沙市芙蓉区东湖街道5号", None, "长沙市芙蓉区东湖街道1号"]
    again = resolve.canonical_addresses(second)  # 3 cached + 2 new > 4: the cache is emptied
    assert calls == [3, 2]  # the three it held were not resolved again, one call each
    assert again[:3] == keys and again[5] is None and again[6] == keys[0]
    assert again[3] == "430102|东湖街道4号" and again[4] == "430102|东湖街道5号"
    assert resolve.canonical_addresses(second) == again and calls == [3, 2, 3]  # emptied: what it held before
