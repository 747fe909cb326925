"""Review attacks on issue 15 item 5: a ring as of a day (``GET /rings/{id}?as_of=``), an entity's
claims (``GET /entities/{type}/{id}/claims``) and the console's entity page.

Each test states a behaviour the product must have and fails today for the reason in its docstring.
The API tests run on the embedded store, on a copy of the API test city (``helpers.api_city``):
R-000003 is the black intermediary ring, six recruits admitted to H100 (region 430102) in three
waves, the first on 2026-01-21/22, the last starting 2026-05-21/22 and discharged 2026-05-29.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.bulkhead import Bulkhead
from graphsvc.config import Settings
from helpers.api_city import City
from test_console import _sign_in, _wait, server  # noqa: F401 (server is a fixture)

RING = "R-000003"


@pytest.fixture
def city(embedded_city: City) -> City:
    """The API test city on the embedded store: these attacks do not depend on the backend."""
    return embedded_city


@pytest.fixture
def client(city: City, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(home=tmp_path / "home", backend="embedded"), store=city.store)) as c:
        yield c


def _get(client: TestClient, city: City, role: str, url: str, **params: object) -> httpx.Response:
    return client.get(url, params=params, headers=city.headers(role))


class _CountingBulkhead(Bulkhead):
    def __init__(self) -> None:
        super().__init__(1)
        self.entered = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self.entered += 1
        async with super().slot():
            yield


# ---- a ring as of a day ------------------------------------------------------------------------


def test_a_ring_as_of_a_day_waits_for_a_heavy_read_slot(client: TestClient, city: City) -> None:
    """A slider sends one ``?as_of=`` request per stop, and none is cached (``queries.rings``: "each
    day of a slider is one read of the ring's claims and of its persons' claims"): each reads every
    claim of every claimant of the ring (their claims outside the ring too) and recounts the claim
    edges in Python, in the thread pool. The network, paths, export, shared-identifier, device and
    co-admitted reads take a slot of the heavy-read bulkhead (``api.bulkhead``) for exactly this kind
    of work; ``api.routes.rings.get_ring`` does not, so sweeping days (one key, a loop over 365 days,
    or several analysts' sliders) runs unbounded next to /health. Expected: an as_of read takes a
    heavy-read slot (``_heavy: HeavyReadDep`` on the route, or a dependency taken only when as_of
    is given); the ring's cached detail without as_of need not."""
    counting = _CountingBulkhead()
    client.app.state.services.heavy_reads = counting  # type: ignore[attr-defined]
    assert _get(client, city, "investigator", "/entities/person/BI000/network").status_code == 200
    assert counting.entered == 1  # the bulkhead in place is the one the heavy routes use
    assert _get(client, city, "investigator", f"/rings/{RING}", as_of="2026-03-31").status_code == 200
    assert counting.entered == 2, "an as_of read ran outside the heavy-read bulkhead"


def test_a_ring_before_its_first_claim_names_no_region(client: TestClient, city: City) -> None:
    """The API promises "a day before its first claim gives an empty ring", and the view cuts
    claims, fund, members, timeline, graph and evidence at the day; but ``queries.rings._view``
    takes ``regions`` from the whole ring (``ring.get("regions")``), so the empty ring of 2026-01-20
    still says it is in 430102, and any day's view lists the regions of institutions the ring only
    reaches later (the future leaking into a "what did we know then" view; the console prints
    them in the summary line). Expected: as of a day, ``regions`` are those of the claims by then
    (none before the first claim); fix in ``_detail_as_of`` (regions of the cut claims)."""
    full = _get(client, city, "investigator", f"/rings/{RING}").json()
    assert full["regions"] == ["430102"]
    empty = _get(client, city, "investigator", f"/rings/{RING}", as_of="2026-01-20").json()
    assert (empty["claims"], empty["members"]) == (0, [])
    assert empty["regions"] == []


def test_a_ring_as_of_a_day_after_it_ended_reads_as_the_ring(client: TestClient, city: City) -> None:
    """As of any day after the ring's last claim ended, the picture is the whole ring (the module's
    notes: "the same picture cut at the end of that day"). But the ring's ``last_seen`` is detection's,
    the last day a claim *ended* (``graphsvc.detect.rings._ring``: max of end dates, 2026-05-29, a
    discharge), while ``_detail_as_of`` takes it from the timeline's last *start* day (2026-05-22):
    the console's summary reads "2026-01-21 – 2026-05-22" at the slider's last day and as of
    2099-12-31, and "– 2026-05-29" at "all". Expected: first_seen and last_seen as of a day after the
    end equal the ring's (``_detail_as_of`` reading them as detection does, capped at the day)."""
    full = _get(client, city, "investigator", f"/rings/{RING}").json()
    late = _get(client, city, "investigator", f"/rings/{RING}", as_of="2099-12-31").json()
    assert (late["claims"], late["fund_amount"]) == (full["claims"], full["fund_amount"])
    assert (late["first_seen"], late["last_seen"]) == (full["first_seen"], full["last_seen"])


@pytest.mark.parametrize("value", [
    pytest.param("0", id="unix-epoch-0"),
    pytest.param("1774915200", id="unix-seconds"),
    pytest.param("86400", id="one-day-after-the-epoch"),
])
def test_as_of_is_a_calendar_day_and_nothing_else(client: TestClient, city: City, value: str) -> None:
    """``as_of`` is documented as "this day (YYYY-MM-DD)", and the console sends only that; but the
    route types it ``date`` in pydantic's lax mode, which also takes a number as Unix seconds
    (``as_of=0`` is the ring as of 1970-01-01, ``1774915200`` is 2026-03-31 UTC, a number that is
    not a UTC midnight is a 422 that talks of datetimes), then audits the day it guessed: a client
    that sends epoch seconds, or a typo of digits, gets an answer for some day without an error.
    (A datetime at midnight, ``2026-03-31T00:00:00``, is taken too; that one at least names the day.)
    Expected: 422 for anything but
    ``YYYY-MM-DD`` (a strict date or a pattern on the query, as ``/reports/monthly`` does for its
    month); fix in ``api.routes.rings.get_ring``."""
    answer = _get(client, city, "investigator", f"/rings/{RING}", as_of=value)
    assert answer.status_code == 422, f"as_of={value!r} was read as {answer.json().get('as_of')!r}"


# ---- the console's entity page ---------------------------------------------------------------


def _audit(base: str, admin: str) -> list[dict[str, Any]]:
    found = httpx.get(f"{base}/audit", params={"size": 500}, headers={"X-API-Key": admin}, timeout=30)
    found.raise_for_status()
    items: list[dict[str, Any]] = found.json()["items"]
    return items


def test_a_console_link_cannot_make_the_entity_page_call_another_endpoint(server, browser) -> None:  # noqa: F811 (server is the imported fixture)
    """``#/entity/{type}/{id}`` takes its type from the link unchecked (``route`` in api/console/app.js),
    and ``loadEntity`` fetches ``/entities/${type}/${id}``. A link with the type ``..`` and the id
    ``rings/R-…/export`` (sent to a signed-in user in a chat, or pasted into a note) makes the browser
    resolve ``/entities/../rings%2FR-…%2Fexport`` to ``/rings%2F…``, which the server decodes to
    ``/rings/R-…/export``: the console, with the signed-in user's key, builds the ring's police
    package and the audit log records an ``export_ring`` by that user, who only opened a link.
    Any GET of the API is reachable this way. Expected: the entity page opens only for a node type
    of /vocab (anything else is refused before any request), so no export is made or audited;
    fix in app.js (``route``/``loadEntity``: check the type against ``vocab.node_types``)."""
    base, admin = server
    ring = httpx.get(f"{base}/rings", headers={"X-API-Key": admin}, timeout=30).json()["items"][0]["id"]
    browser.get(f"{base}/")
    _sign_in(browser, admin)
    before = sum(e["action"] == "export_ring" for e in _audit(base, admin))
    browser.execute_script("location.hash = arguments[0]", f"#/entity/../rings%2F{ring}%2Fexport")
    _wait(browser, lambda d: d.execute_script("return location.hash.startsWith('#/entity/')"))
    time.sleep(2)  # the three requests of the entity page are sent at once; give the export time to be built
    exports = [e for e in _audit(base, admin) if e["action"] == "export_ring"]
    assert len(exports) == before, f"opening a link exported {ring}: {exports[-1]}"
