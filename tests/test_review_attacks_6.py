"""Review attacks on today's changes: the heavy-read bulkhead as an anyio semaphore (``api.bulkhead``),
``graphsvc detect`` publishing to the home's webhooks (``cli.commands._case_systems``) and the console's
webhooks page (``#/webhooks``).

Each test states a behaviour the product must have and fails today for the reason in its docstring.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By

import api.routes.entities as entity_routes
from api import create_app
from graphsvc.config import Settings
from graphsvc.store import open_store
from helpers.api_city import Cities, City
from test_console_views import _open, _wait, server  # noqa: F401 (server is a fixture)
from test_webhooks import SECRET, Receiver, _hooked, _subscribe, receiver, undetected  # noqa: F401 (fixtures)


@pytest.fixture
def city(cities: Cities, tmp_path: Path) -> Iterator[City]:
    with cities.copy(Settings(home=tmp_path / "home", backend="embedded")) as made:
        yield made


# ---- the bulkhead ------------------------------------------------------------------------------


def test_a_heavy_read_waiting_on_another_event_loop_is_woken_when_the_slot_frees(city: City, tmp_path: Path,
                                                                                   monkeypatch) -> None:
    """The bulkhead's anyio semaphore parks a waiting request on an ``asyncio.Future`` of the loop it
    waits on, and ``release()`` wakes it with ``fut.set_result`` from whichever loop releases: not
    thread-safe, it queues the wake-up on the waiter's loop without waking that loop's selector. One
    app served from more than one event loop (a ``TestClient`` used without ``with`` runs each request
    on a loop of its own in its own thread; tests make several clients and threads, ``create_app``'s
    app can be entered again) then leaves the second heavy read asleep for ever once the first one
    frees the slot. The threading semaphore it replaced woke waiters on any thread.
    Expected: the second network read is answered soon after the first (a slot shared safely across
    loops, e.g. a thread-safe wake-up, or a semaphore per loop / refusing a second loop loudly)."""
    real = entity_routes.entity_network

    def slow_network(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)  # holds the one slot a second
        return real(*args, **kwargs)

    monkeypatch.setattr(entity_routes, "entity_network", slow_network)
    app = create_app(Settings(home=tmp_path / "home", backend="embedded", heavy_reads=1), store=city.store)
    client = TestClient(app)  # each request on an event loop of its own
    answers: dict[str, int] = {}

    def get(name: str) -> None:
        answers[name] = client.get("/entities/person/BI000/network", headers=city.headers("investigator")).status_code

    first = threading.Thread(target=get, args=("first",), daemon=True)
    first.start()
    time.sleep(0.3)  # the first holds the slot
    second = threading.Thread(target=get, args=("second",), daemon=True)
    second.start()
    first.join(timeout=15)
    second.join(timeout=15)
    # Without ``with`` the app's lifespan never runs, nor its end: its audit writer, which stores
    # entries each second through the store's connection, is stopped here, before the store closes
    # (closing first raced it: "connection is busy with another call", once in a CI run).
    app.state.services.audit.close()
    assert answers.get("first") == 200
    assert answers.get("second") == 200, "the second heavy read was never woken after the first freed the slot"


# ---- graphsvc detect and the home's webhooks --------------------------------------------------


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)  # the command and the store in one home
def test_graphsvc_detect_says_when_it_gave_a_delivery_up(undetected, settings, receiver):  # noqa: F811
    """``graphsvc detect`` loads the deliveries a stopped server left pending and makes their next attempt;
    one on its last attempt that fails again is marked ``failed`` for good (never sent again). But the
    command's summary counts only ``counts()`` = (delivered, pending): it prints "已送达 3 次，待重试 0 次
    (3 deliveries made, 0 pending: the server retries them when it starts)" and exits 0, so the
    operator reads that nothing was lost while a case system never got the event and nobody is told
    (the delivery log is only read through the admin API). Expected: the summary names the deliveries
    it gave up (e.g. "投递失败 1 次 / 1 failed"), as it names those made and pending."""
    city = undetected
    receiver.answers = [503, 503]  # the server's attempt, then the command's (the last one allowed)
    hooked = _hooked(settings, webhook_backoff_s=3600, webhook_attempts=2)
    app = create_app(hooked, store=city.store)
    with TestClient(app) as client:
        hook = _subscribe(client, city, receiver.url + "/hook")
        app.state.services.webhooks.publish("job.finished", {"job": {"id": "J-before-the-stop"}})
        assert receiver.next().answered == 503  # its retry is an hour away: the server stops before it
    city.store.close()
    env = {**os.environ, "GRAPHSVC_WEBHOOK_HOSTS": "127.0.0.1", "GRAPHSVC_WEBHOOK_PRIVATE_NETWORKS": "127.0.0.1",
           "GRAPHSVC_WEBHOOK_ATTEMPTS": "2", "GRAPHSVC_WEBHOOK_BACKOFF_S": "3600"}
    done = subprocess.run([sys.executable, "-m", "cli", "detect", "--quiet", "--home", str(settings.home)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    with open_store(settings) as store:
        _, log = store.list_records(f"webhook_delivery:{hook['id']}", limit=10)
    given_up = [d for d in log if d["state"] == "failed"]
    assert [d["event"] for d in given_up] == ["job.finished"]  # the command gave it up for good
    line = next(line for line in done.stdout.splitlines() if "webhooks" in line)
    assert "失败" in line and "failed" in line, f"the command gave a delivery up and did not say so: {line!r}"


# ---- the console's webhooks page ---------------------------------------------------------------


def test_signing_out_leaves_the_webhooks_page_for_the_next_non_admin(server, browser):  # noqa: F811
    """``loadWebhooks`` shows the section before asking ``GET /webhooks``, and ``signOut`` clears only the
    sign-in key: the subscriptions table, the delivery log and the subscribe form keep the administrator's
    data. The hash stays ``#/webhooks`` after signing out, so the next person at the screen, an
    investigator, signs in straight onto the administrator's page: the 403 is printed above it, but the
    webhook URLs (a query string may carry the receiver's own token, which the audit log deliberately
    leaves out) and the secret typed into the form are still there, the section displayed.
    Expected: a non-admin never sees the webhooks section with an administrator's data (the role checked
    before ``show``, or the section emptied on sign-out/refusal), and the typed secret is cleared."""
    base, admin_key = server
    admin = {"X-API-Key": admin_key}
    case_system = Receiver()
    token_url = case_system.url + "/hook?token=casesys-own-token-7731"
    made = httpx.post(f"{base}/webhooks", json={"url": token_url, "secret": SECRET, "events": ["job.finished"]},
                      headers=admin)
    assert made.status_code == 201, made.text
    investigator = httpx.post(f"{base}/apikeys", json={"role": "investigator", "name": "研判员"},
                              headers=admin).json()["key"]
    try:
        _open(browser, base, admin_key, "#/webhooks")
        _wait(browser, lambda d: "casesys-own-token-7731" in d.find_element(By.ID, "webhook-table").text)
        # the administrator starts a second subscription; the server refuses its host
        browser.find_element(By.ID, "w-url").send_keys("http://not-allowed.example.org/x")
        browser.find_element(By.ID, "w-secret").send_keys("admins-typed-secret-9911")
        browser.find_element(By.CSS_SELECTOR, "#webhook-form button").click()
        _wait(browser, lambda d: d.find_element(By.ID, "error").text != "")
        browser.find_element(By.ID, "signout").click()
        _wait(browser, lambda d: d.find_element(By.ID, "signin").is_displayed())

        # the next person signs in on the same screen (no reload)
        browser.find_element(By.ID, "key").send_keys(investigator)
        browser.find_element(By.CSS_SELECTOR, "#signin-form button").click()
        _wait(browser, lambda d: d.find_element(By.ID, "signout").is_displayed())
        # signed out to the queue, not back onto the administrator's page
        _wait(browser, lambda d: d.find_element(By.ID, "queue").is_displayed())
        assert browser.execute_script("return location.hash") == "#/"
        browser.execute_script("location.hash = '#/webhooks'")  # the investigator asks for it
        _wait(browser, lambda d: d.find_element(By.ID, "error").text != "")  # the 403 of GET /webhooks
        assert browser.find_element(By.ID, "who").text.endswith("investigator")
        section = browser.find_element(By.ID, "webhooks")
        shown = section.is_displayed() and "casesys-own-token-7731" in section.text
        typed = browser.find_element(By.ID, "w-secret").get_attribute("value")
        assert not shown and typed == "", (
            f"an investigator sees the administrator's webhooks page (displayed={section.is_displayed()}, "
            f"table: {browser.find_element(By.ID, 'webhook-table').text!r}, typed secret kept: {typed!r})")
    finally:
        case_system.close()
