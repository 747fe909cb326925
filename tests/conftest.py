"""Shared fixtures: every store test runs once per backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from api import create_app
from graphsvc.config import Settings
from graphsvc.store import GraphStore, open_store
from graphsvc.store.neo4j import Neo4jStore
from helpers.api_city import Cities, City
from helpers.browser import Chromium

BACKENDS = ["embedded", "neo4j"]

_SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=240m"
"""Options for the JVMs the tests start (Neo4j servers, neo4j-admin, Spark): each lives seconds or
minutes on tiny data, where C2's compilations cost more than they return; C1 alone starts a Neo4j
on about half the CPU (23 s against 12.6 s measured), and the session's Spark runs two detections in
42 s of CPU against 69 s with C2. How code is compiled changes no answer. The code cache is set to
the size tiered compilation has by default: with C1 alone the JVM reserves 48 MB, which the session's
Spark (each query's generated classes compiled) fills in two of its tests (jcmd: max_used 49,149 of
49,152 KB), and then a query may fail with "Out of space in CodeCache for method handle intrinsic"
(seen once in five runs of those two tests)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs the Neo4j server or Chromium, so ``scripts/test --quick`` can leave it out."""
    for item in items:
        used = getattr(item, "fixturenames", ())
        backend = item.callspec.params.get("settings") if hasattr(item, "callspec") else None
        if "neo4j_server" in used or backend == "neo4j":
            item.add_marker(pytest.mark.neo4j)
        if "browser" in used:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session", autouse=True)
def short_lived_jvms() -> Iterator[None]:
    """Every ``java`` the session starts (its launcher reads ``JDK_JAVA_OPTIONS``) runs with ``_SHORT_LIVED_JVM``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JDK_JAVA_OPTIONS", f"{os.environ.get('JDK_JAVA_OPTIONS', '')} {_SHORT_LIVED_JVM}".strip())
        yield


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "neo4j":
        server = request.getfixturevalue("neo4j_server")
        settings = Settings(home=tmp_path / "home", backend="neo4j", neo4j_uri=server.uri, neo4j_user=server.user,
                            neo4j_password=server.password)
        with open_store(settings) as fresh:
            assert isinstance(fresh, Neo4jStore)
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
def embedded_store(tmp_path: Path) -> Iterator[GraphStore]:
    """An empty embedded store, for tests whose subject (validation, detection) does not depend on the backend."""
    with open_store(Settings(home=tmp_path / "home", backend="embedded")) as s:
        yield s


@pytest.fixture
def embedded_city(cities: Cities, tmp_path: Path) -> Iterator[City]:
    """The API test city on the embedded store, for tests whose subject does not depend on the backend."""
    with cities.copy(Settings(home=tmp_path / "home", backend="embedded")) as city:
        yield city


@pytest.fixture
def embedded_client(embedded_city: City, tmp_path: Path) -> Iterator[TestClient]:
    """The API over ``embedded_city`` in process; a 500 is what the caller gets: answered, not raised into
    the test."""
    app = create_app(Settings(home=tmp_path / "home", backend="embedded"), store=embedded_city.store)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


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
        server.kill()  # its data folder is thrown away: no clean shutdown to wait for


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark for the test session. One fixture for every module: ``getOrCreate`` hands all
    callers the process's one session, so a module that stopped "its own" stopped everyone's."""
    from graphsvc.store.engine import local_spark

    session = local_spark("local[2]")
    yield session
    session.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # The background-networking flags keep Chromium from dialling Google on this closed network.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-quic", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations are logged there
    driver = Chromium(options=options, service=Service("/usr/bin/chromedriver"))
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()
