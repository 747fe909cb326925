"""A small city with three planted rings and a family look-alike, loaded and detected, plus a key per role.

Known answers: R-000001 identity misuse (4 victims, device DIM), R-000002 card collector
(collector CCX and 10 holders), R-000003 black intermediary (broker IBI, 6 recruits at H100,
18 claims on 6 days, phone 15900000017, account 6222000000000001).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from api.keys import create_api_key
from graphsvc.config import Settings
from graphsvc.detect import detect_and_save
from graphsvc.store import GraphStore, open_store
from graphsvc.store.neo4j import Neo4jStore
from helpers.scenes import Scene, black_intermediary, card_collector, family, identity_misuse
from ingest.pipeline import ingest_folder

BROKER_PHONE = "15900000017"
NAMED_ID_NUMBER = "430102199001011234"
NAMED_PHONE = "13812345678"


@dataclass
class City:
    store: GraphStore
    keys: dict[str, str]
    bi: dict
    cc: dict
    im: dict
    family: list[str]
    folder: Path

    def headers(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}

    def __enter__(self) -> City:
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def city_scene() -> tuple[Scene, dict]:
    scene = Scene()
    facts = {"bi": black_intermediary(scene), "cc": card_collector(scene), "im": identity_misuse(scene),
             "family": family(scene)}
    for row in scene.tables["institutions"]:
        row["region_code"] = "430102" if row["institution_id"] == "H100" else "430112"
    scene.person("NAMED1", name="李四", id_number=NAMED_ID_NUMBER, phone=NAMED_PHONE)
    return scene, facts


def load_city(store: GraphStore, tmp_path: Path) -> City:
    return load_scene(store, tmp_path, *city_scene())


def load_scene(store: GraphStore, tmp_path: Path, scene: Scene, facts: dict) -> City:
    """``city_scene()``'s scene (as changed by a test) loaded and detected, with a key per role."""
    folder = scene.write_folder(tmp_path / "city")
    ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
    detect_and_save(store)
    keys = {role: create_api_key(store, role, f"{role} tester")[0]
            for role in ("admin", "investigator", "police_liaison", "analyst")}
    return City(store, keys, facts["bi"], facts["cc"], facts["im"], facts["family"], folder)


def _cli_city_home(root: Path) -> Path:
    """A home where the CLI, as a user runs it, loaded the city and detected its rings."""
    home = root / "home"
    scene, _ = city_scene()
    for args in (["ingest", str(scene.write_folder(root / "city")), "--quiet"], ["detect", "--quiet"]):
        done = subprocess.run([sys.executable, "-m", "cli", *args, "--home", str(home)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    return home


@dataclass(frozen=True)
class _Graph:
    """Every node and relationship of a Neo4j database, as the driver reads them."""
    nodes: list[tuple[str, list[str], dict[str, Any]]]
    relationships: list[tuple[str, str, str, dict[str, Any]]]


@dataclass(frozen=True)
class _Template:
    home: Path
    graph: _Graph | None
    city: City


@contextmanager
def _neo4j_session(settings: Settings) -> Iterator[Any]:
    from neo4j import GraphDatabase

    assert settings.neo4j_uri and settings.neo4j_password is not None
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with (GraphDatabase.driver(settings.neo4j_uri, auth=auth, notifications_min_severity="OFF") as driver,
          driver.session(database="neo4j") as session):
        yield session


def _read_graph(settings: Settings) -> _Graph:
    with _neo4j_session(settings) as session:
        nodes = [(r["id"], sorted(r["labels"]), r["props"]) for r in session.run(
            "MATCH (n) RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS props")]
        relationships = [(r["a"], r["b"], r["type"], r["props"]) for r in session.run(
            "MATCH (a)-[r]->(b) RETURN elementId(a) AS a, elementId(b) AS b, type(r) AS type, properties(r) AS props")]
    return _Graph(nodes, relationships)


def _write_graph(settings: Settings, graph: _Graph) -> None:
    """Replace the database's nodes and relationships with ``graph``'s, in one transaction.

    Nodes get new element ids, so relationships are linked through the map from old ids to new.
    """
    def work(tx: Any) -> None:
        tx.run("MATCH (n) DETACH DELETE n").consume()
        new_id: dict[str, str] = {}
        for labels, group in groupby(sorted(graph.nodes, key=lambda n: n[1]), key=lambda n: n[1]):
            written = tx.run("UNWIND $rows AS x CREATE (n" + "".join(f":`{label}`" for label in labels) + ") "
                             "SET n = x.props RETURN x.id AS old, elementId(n) AS new",
                             rows=[{"id": node_id, "props": props} for node_id, _, props in group])
            new_id.update((r["old"], r["new"]) for r in written)
        for kind, links in groupby(sorted(graph.relationships, key=lambda r: r[2]), key=lambda r: r[2]):
            tx.run("UNWIND $rows AS x MATCH (a) WHERE elementId(a) = x.a MATCH (b) WHERE elementId(b) = x.b "
                   f"CREATE (a)-[r:`{kind}`]->(b) SET r = x.props",
                   rows=[{"a": new_id[a], "b": new_id[b], "props": props} for a, b, _, props in links]).consume()

    with _neo4j_session(settings) as session:
        session.execute_write(work)


class Cities:
    """Test cities loaded and detected once per session and backend; each test gets its own copy.

    A copy is the template's home copied file by file and, on Neo4j, the template's graph written
    back into the one test server, so a test that writes (casework, keys, audit) changes only its
    own copy and a test that reads costs no ingest and no detection.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._templates: dict[tuple[Callable[..., City], str], _Template] = {}
        self._cli_home: Path | None = None

    def copy(self, settings: Settings, load: Callable[[GraphStore, Path], City] = load_city) -> City:
        """``load``'s city in a store at ``settings.home`` (which the caller closes through ``city.store``)."""
        template = self._templates.get((load, settings.backend))
        if template is None:
            template = self._templates[load, settings.backend] = self._make(settings, load)
        if template.graph is not None:
            _write_graph(settings, template.graph)
        shutil.copytree(template.home, settings.home, dirs_exist_ok=True)
        made = template.city
        # copies: a test may change its keys or facts (a key of its own)
        keys, bi, cc, im, family = copy.deepcopy((made.keys, made.bi, made.cc, made.im, made.family))
        return City(open_store(settings), keys, bi, cc, im, family, made.folder)

    def home(self, tmp_path: Path) -> Path:
        """A copy of a home where the CLI, as a user runs it, loaded the city and detected its rings."""
        if self._cli_home is None:
            self._cli_home = _cli_city_home(self._fresh_root("cli"))
        home = tmp_path / "home"
        shutil.copytree(self._cli_home, home)
        return home

    def _make(self, settings: Settings, load: Callable[[GraphStore, Path], City]) -> _Template:
        root = self._fresh_root(f"{load.__module__}.{load.__qualname__}-{settings.backend}")
        made = settings.model_copy(update={"home": root / "home"})
        with open_store(made) as store:
            if isinstance(store, Neo4jStore):
                store.clear()
            city = load(store, root)
        return _Template(made.home, _read_graph(made) if settings.backend == "neo4j" else None, city)

    def _fresh_root(self, name: str) -> Path:
        # a folder of its own even when two loaders share a name, or a failed build left one behind
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._root))
