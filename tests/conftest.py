"""Shared fixtures: every store test runs once per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graphsvc.config import Settings
from graphsvc.store import GraphStore, open_store
from helpers.api_city import Cities, City

BACKENDS = ["embedded", "neo4j"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs the Neo4j server or Chromium, so ``scripts/test --quick`` can leave it out."""
    for item in items:
        used = getattr(item, "fixturenames", ())
        backend = item.callspec.params.get("settings") if hasattr(item, "callspec") else None
        if "neo4j_server" in used or backend == "neo4j":
            item.add_marker(pytest.mark.neo4j)
        if "browser" in used:
            item.add_marker(pytest.mark.browser)


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


@pytest.fixture(scope="session")
def cities(tmp_path_factory: pytest.TempPathFactory) -> Cities:
    return Cities(tmp_path_factory.mktemp("cities"))


@pytest.fixture
def city(cities: Cities, settings: Settings) -> Iterator[City]:
    """The API test city (``helpers.api_city``) in this test's own copy of the session's one on its backend."""
    with cities.copy(settings) as city:
        yield city


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One real Neo4j 5.26 for the test session, fetched from Maven Central on first use."""
    from graphsvc.store.neo4j_server import start_neo4j

    server = start_neo4j(tmp_path_factory.mktemp("neo4j"))
    try:
        yield server
    finally:
        server.stop()
