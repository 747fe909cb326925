"""Shared fixtures: every store test runs once per backend."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphsvc.config import Settings
from graphsvc.store import GraphStore, open_store

BACKENDS = ["embedded", "neo4j"]


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "neo4j":
        server = request.getfixturevalue("neo4j_server")
        settings = Settings(home=tmp_path / "home", backend="neo4j", neo4j_uri=server.uri, neo4j_user=server.user,
                            neo4j_password=server.password)
        with open_store(settings) as fresh:
            fresh.clear()  # one server for the session, an empty graph for each test
        return settings
    return Settings(home=tmp_path / "home", backend=request.param)


@pytest.fixture
def store(settings: Settings) -> Iterator[GraphStore]:
    with open_store(settings) as s:
        yield s


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, encoding: str = "utf-8-sig") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One real Neo4j 5.26 for the test session, fetched from Maven Central on first use."""
    from graphsvc.store.neo4j_server import start_neo4j

    server = start_neo4j(tmp_path_factory.mktemp("neo4j"))
    try:
        yield server
    finally:
        server.stop()
