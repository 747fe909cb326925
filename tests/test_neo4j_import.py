"""Neo4j at its own speed: a first load through neo4j-admin makes exactly the graph the Bolt path
makes (its network included), and the network follows a later batch in place, to the edges a whole
rebuild makes."""

from __future__ import annotations

import csv
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from graphsvc.errors import StoreError
from graphsvc.store.embedded import EmbeddedStore
from graphsvc.store.neo4j import Neo4jStore
from graphsvc.store.neo4j_import import import_folder, write_import_csv
from helpers.api_city import city_scene
from ingest.pipeline import ingest_folder

pytestmark = pytest.mark.neo4j

_EXTRA_SETTLEMENTS = [
    # list values (a trace code twice: two relationships to one node), a person as agent, a prescriber
    # with no prescribers.csv (a placeholder node), a name that needs quoting in CSV
    {"settlement_id": "SX1", "kind": "pharmacy", "person_id": "CC001", "institution_id": "H100",
     "prescriber_id": "DR-9", "start_time": "2026-03-05 10:00:00.250000", "total_amount": "1,234.50元",
     "fund_amount": "99.99", "items": "drug A; drug \"B\", 10mg", "trace_codes": "T1;T2;T1", "agent_id": "BI000"},
    {"settlement_id": "SX2", "kind": "outpatient", "person_id": "NOBODY", "institution_id": "H100",
     "start_time": "2026-03-05 10:00:00"},  # rejected: unknown person
    {"settlement_id": "SX3", "kind": "outpatient", "person_id": "CC001", "institution_id": "H100",
     "start_time": "2026-03-05", "fund_amount": "lots"},  # rejected: unparseable amount
]


def _append(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    with path.open("a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([[row.get(c, "") for c in header] for row in rows])


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _hashable(props: dict[str, Any]) -> tuple:
    """The properties with their types: 0 == 0.0 in Python, but a count stored as a float is not the Bolt path's."""
    return tuple(sorted((k, type(v).__name__, tuple(v) if isinstance(v, list) else v) for k, v in props.items()))


def _graph(store: Neo4jStore) -> dict[str, Any]:
    """Every node (by key), relationship and ingest log entry, less what differs per run by design
    (run ids, write times)."""
    nodes, typed, logs, others = {}, {}, [], []
    for r in store._run("MATCH (n) RETURN labels(n) AS labels, properties(n) AS p"):
        if "IngestLog" in r["labels"]:
            p = dict(r["p"])
            run_id = p.pop("run_id")
            for volatile in ("seq", "updated_at"):
                p.pop(volatile)
            p["rejects_path"] = Path(p["rejects_path"]).name.replace(run_id, "RUN") if p.get("rejects_path") else None
            logs.append(_hashable(p))
        elif "_key" in r["p"]:
            nodes[r["p"]["_key"]] = (sorted(r["labels"]), r["p"])
            typed[r["p"]["_key"]] = _hashable(r["p"])
        else:
            others.append((tuple(sorted(r["labels"])), _hashable(r["p"])))
    relationships = Counter((r["t"], r["a"], r["b"], _hashable(r["p"])) for r in store._run(
        "MATCH (a)-[r]->(b) RETURN type(r) AS t, a._key AS a, b._key AS b, properties(r) AS p"))
    return {"nodes": nodes, "typed": typed, "logs": sorted(logs), "others": sorted(others),
            "relationships": relationships}


def _fresh(server: Any, home: Path) -> Neo4jStore:
    with closing(Neo4jStore(server.uri, server.user, server.password, home)) as old:
        old.clear()
    return Neo4jStore(server.uri, server.user, server.password, home)  # an empty database, as a new one opens


def test_admin_import_makes_the_graph_the_bolt_path_makes(neo4j_server, tmp_path):
    scene, _ = city_scene()
    folder = scene.write_folder(tmp_path / "city")
    _append(folder / "settlements.csv", _EXTRA_SETTLEMENTS)
    _append(folder / "persons.csv", [{"person_id": "Q1", "name": '王"小,明', "address": "长沙市 1号, 2楼"}])

    with closing(_fresh(neo4j_server, tmp_path / "bolt")) as store:
        bolt_report = ingest_folder(store, folder, rejects_dir=tmp_path / "bolt" / "rejects", progress=False)
        store.prepare_reads()
        bolt = _graph(store)

    load = import_folder(folder, tmp_path / "neo4j-import", home=tmp_path / "bulk")
    try:
        assert load.report.totals == bolt_report.totals
        with closing(Neo4jStore(load.server.uri, load.server.user, load.server.password, tmp_path / "bulk")) as store:
            net_ids = "MATCH ()-[r:NET]->() RETURN elementId(r) AS id ORDER BY id"
            came_with_the_import = store._run(net_ids)
            store.prepare_reads()
            imported = _graph(store)
            # the network came with the import and is current: reads do not rebuild it
            assert store._run(net_ids) == came_with_the_import
            indexes = {r["name"] for r in store._run("SHOW INDEXES YIELD name, state WHERE state = 'ONLINE' "
                                                     "RETURN name")}
        with pytest.raises(StoreError, match="holds a graph already"):
            import_folder(folder, tmp_path / "neo4j-import", home=tmp_path / "bulk")
    finally:
        load.server.stop()

    assert imported["nodes"] == bolt["nodes"] and imported["typed"] == bolt["typed"]
    assert imported["relationships"] == bolt["relationships"]
    assert imported["logs"] == bolt["logs"] and imported["others"] == bolt["others"]
    assert {"node_key", "settlement_person_id", "net_type"} <= indexes
    # the city exercises what the comparison is about
    assert bolt_report.totals["rejected"] == 2 and bolt_report.totals["loaded"] > 250
    assert bolt["nodes"]["prescriber:DR-9"] == (["Node", "Prescriber"], {"_key": "prescriber:DR-9",
                                                                        "prescriber_id": "DR-9"})
    assert bolt["nodes"]["settlement:SX1"][1]["items"] == ["drug A", 'drug "B", 10mg']
    assert bolt["nodes"]["person:Q1"][1]["name"] == '王"小,明'
    sold = [k for k in bolt["relationships"].elements() if k[0] == "SOLD_BOX" and k[1] == "settlement:SX1"]
    assert sorted(k[2] for k in sold) == ["trace_code:T1", "trace_code:T1", "trace_code:T2"]
    assert sum(n for k, n in bolt["relationships"].items() if k[0] == "NET") > 100
    bolt_rejects = (tmp_path / "bolt" / "rejects").glob("*.csv")
    bulk_rejects = (tmp_path / "bulk" / "rejects").glob("*.csv")
    assert [p.read_text().splitlines() for p in bolt_rejects] == [p.read_text().splitlines() for p in bulk_rejects]


def _valid_id_number(first17: str) -> str:
    """GB 11643: the check character of the first 17 digits."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def _net(store: Neo4jStore) -> Counter:
    return Counter((r["a"], r["type"], r["b"], r["claims"], r["fund"], r["first"], r["last"]) for r in store._run(
        "MATCH (a)-[r:NET]->(b) RETURN a._key AS a, r.type AS type, b._key AS b, r.claims AS claims, r.fund AS fund, "
        "r.first AS first, r.last AS last"))


def test_a_batch_updates_the_network_in_place_to_what_a_rebuild_makes(neo4j_server, tmp_path):
    scene, _ = city_scene()
    full = scene.write_folder(tmp_path / "full")
    persons = _rows(full / "persons.csv")
    settlements = _rows(full / "settlements.csv")
    later = {p["person_id"] for p in persons[-9:-1]}  # the last, NAMED1, has an ID number: the twin's
    twin = next(p for p in persons if p["person_id"] == "NAMED1")
    twin["id_number"] = _valid_id_number("43010219900101123")  # only a valid ID number joins records
    _write(full / "persons.csv", persons)
    # the first batch: all but eight persons (and their cards), every other claim of the rest
    first = tmp_path / "first"
    for name in ("institutions.csv", "intermediaries.csv"):
        _write(first / name, _rows(full / name))
    _write(first / "persons.csv", [p for p in persons if p["person_id"] not in later])
    _write(first / "cards.csv", [c for c in _rows(full / "cards.csv") if c["person_id"] not in later])
    _write(first / "settlements.csv", [s for s in settlements[::2] if s["person_id"] not in later])
    # the second: everything, and a second record (a smaller 参保人编号) of a first-batch person,
    # which re-keys that person without touching its row
    _append(full / "persons.csv", [{**twin, "person_id": "0TWIN"}])
    bystander = next(s["person_id"] for s in settlements[::2]
                     if s["person_id"] not in later and s["person_id"] != twin["person_id"]
                     and all(t["person_id"] != s["person_id"] for t in settlements[1::2]))

    with closing(_fresh(neo4j_server, tmp_path / "home")) as store:
        ingest_folder(store, first, rejects_dir=tmp_path / "rejects", progress=False)
        store.prepare_reads()
        untouched = store._run("MATCH (:Node {_key: $k})-[r:NET]->() RETURN elementId(r) AS id ORDER BY id",
                               k=f"person:{bystander}")
        ingest_folder(store, full, rejects_dir=tmp_path / "rejects", progress=False)
        store.prepare_reads()
        updated = _net(store)
        # the bystander's edges are the same relationships: updated in place, not rebuilt
        assert store._run("MATCH (:Node {_key: $k})-[r:NET]->() RETURN elementId(r) AS id ORDER BY id",
                          k=f"person:{bystander}") == untouched and untouched
        assert not store._run("MATCH (n:NetPending) RETURN n LIMIT 1")
        store._run("MATCH (m:Meta {id: 'network'}) DELETE m")
        store.prepare_reads()
        rebuilt = _net(store)

    assert updated == rebuilt
    assert (f"person:{twin['person_id']}", "SAME_PERSON", "person:0TWIN") in {k[:3] for k in updated}
    assert any(k[0] in {f"person:{p}" for p in later} for k in updated)


def test_an_import_short_of_heap_says_why_and_a_rerun_with_the_default_completes(tmp_path):
    """A 1M-person import that failed (its disk filled) said nothing but "Critical error occurred":
    the error now quotes neo4j-admin's reason and names the heap and the disk's free space. A
    claim's items hold a line break: neo4j-admin is told to read fields over lines, and does."""
    scene, _ = city_scene()
    folder = scene.write_folder(tmp_path / "city")
    _append(folder / "settlements.csv", [{"settlement_id": "SX4", "kind": "pharmacy", "person_id": "CC001",
                                          "institution_id": "H100", "start_time": "2026-03-05 10:00:00",
                                          "items": "药A 每日两次\r\n饭后;药B"}])
    with pytest.raises(StoreError, match=r"with heap 24m and [0-9.]+ GB free on .*: .*OutOfMemoryError: Java heap space"):
        import_folder(folder, tmp_path / "neo4j", home=tmp_path / "home", admin_heap="24m")
    load = import_folder(folder, tmp_path / "neo4j", home=tmp_path / "home")
    try:
        with closing(Neo4jStore(load.server.uri, load.server.user, load.server.password, tmp_path / "home")) as store:
            assert store.node_counts()["Person"] == len(_rows(folder / "persons.csv"))
            [sx4] = store._run("MATCH (s:Settlement {settlement_id: 'SX4'}) RETURN s.items AS items")
            assert sx4["items"] == ["药A 每日两次\r\n饭后", "药B"]
    finally:
        load.server.stop()


@pytest.mark.parametrize("column, value, multiline", [
    (None, None, False),
    ("settlements.items", "药A;第二\n行", True),  # an element of a list
    ("settlements.device_id", "DEV\r7", True),  # an id
    ("persons.address", "五一路\n1号", False), ("persons.name", "王\r\n五", False),  # ingest takes white space out
])
def test_neo4j_admin_reads_fields_over_lines_only_when_a_value_holds_a_line_break(tmp_path, column, value, multiline):
    """Reading fields over lines makes neo4j-admin parse each file in one thread (12% of a 1M-person
    import): asked for only when a stored value holds a line break."""
    scene, _ = city_scene()
    folder = scene.write_folder(tmp_path / "city")
    if column is not None:
        table, name = column.split(".")
        rows = _rows(folder / f"{table}.csv")
        rows[0][name] = value
        _write(folder / f"{table}.csv", rows)
    with EmbeddedStore(tmp_path / "validated") as store:
        report = ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
        assert report.totals["rejected"] == 0
        with closing(store.analysis_connection()) as con:
            args = write_import_csv(con, tmp_path / "csv")
    assert ("--multiline-fields=true" in args) == multiline


def test_a_memory_size_that_is_not_one_is_refused_before_any_work(tmp_path, capsys):
    from graphsvc.store.neo4j_server import main

    for option in ("--import-heap", "--heap", "--pagecache"):
        with pytest.raises(SystemExit) as exit_:
            main(["import", str(tmp_path / "city"), "--data", str(tmp_path / "data"), option, "lots"])
        assert exit_.value.code == 2
        assert "'lots' is not a memory size such as 512m or 4g" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
