"""The web console in a real browser: Debian's Chromium (headless) against a real `graphsvc serve`.

Screenshots of the queue and the ring view are written to tests/artifacts/.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from api.process import start_serve
from queries.export import verify_manifest

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def server(cities, tmp_path):
    home = cities.home(tmp_path)
    served = start_serve(home)
    try:
        yield served.base, (home / "admin-key").read_text().strip()
    finally:
        served.stop()


def _wait(driver, condition, timeout: float = 20):
    # The console redraws its tables as answers arrive: an element read mid-redraw is stale, so look again.
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d))


def _texts(driver, selector: str, attribute: str | None = None) -> list[str]:
    """Texts (or an attribute) of the elements matching ``selector``, read in one script: no stale element between."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => arguments[1] ? e.getAttribute(arguments[1]) "
        ": e.innerText)", selector, attribute)


def _sign_in(driver, key: str) -> None:
    """Sign in on the page shown; the console keeps the key in memory only, so every (re)load asks for it."""
    _wait(driver, lambda d: d.find_element(By.ID, "signin").is_displayed())
    driver.find_element(By.ID, "key").clear()
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    _wait(driver, lambda d: d.find_element(By.ID, "signout").is_displayed())


def script_problems(driver) -> list[str]:
    """Browser log lines since the last call that report a Content-Security-Policy refusal or an uncaught error."""
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Uncaught" in entry["message"]]


def test_sign_in_open_the_top_ring_dispose_and_export(server, browser):
    base, admin_key = server
    ARTIFACTS.mkdir(exist_ok=True)
    browser.get(base + "/")
    _wait(browser, lambda d: d.find_element(By.ID, "signin").is_displayed())
    assert browser.find_element(By.CSS_SELECTOR, "header strong").text == "医保基金欺诈团伙研判"  # Chinese by default
    browser.find_element(By.ID, "key").send_keys("gsk_wrong")
    browser.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    _wait(browser, lambda d: d.find_element(By.ID, "signin-error").text)
    browser.find_element(By.ID, "key").clear()
    browser.find_element(By.ID, "key").send_keys(admin_key)
    browser.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rings tbody tr")) == 3)
    assert "admin" in browser.find_element(By.ID, "who").text
    assert _texts(browser, "#rings tbody tr", "data-id") == [
        "R-000001", "R-000002", "R-000003"]
    browser.save_screenshot(str(ARTIFACTS / "console-queue.png"))
    browser.execute_script("localStorage.setItem('seen', JSON.stringify(['R-000001', 'R-000002']))")
    browser.refresh()  # as if R-000003 came with a detection run since the last visit
    _sign_in(browser, admin_key)
    _wait(browser, lambda d: _texts(d, "#rings tr.new", "data-id")
          == ["R-000003"])
    region = browser.find_element(By.ID, "f-region")
    region.send_keys("430102")
    browser.execute_script("document.getElementById('f-region').dispatchEvent(new Event('change'))")
    _wait(browser, lambda d: _texts(d, "#rings tbody tr", "data-id")
          == ["R-000003"])
    region.clear()
    browser.execute_script("document.getElementById('f-region').dispatchEvent(new Event('change'))")
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rings tbody tr")) == 3)
    browser.find_element(By.ID, "q").send_keys("15900000017")
    browser.find_element(By.ID, "go-search").click()
    _wait(browser, lambda d: "intermediary" in d.find_element(By.ID, "search-hits").text.lower()
          or "中介" in d.find_element(By.ID, "search-hits").text)

    browser.find_element(By.CSS_SELECTOR, "#rings tbody tr").click()
    # `cy` is the console's Cytoscape instance (null until drawn; window.cy would be the #cy div)
    _wait(browser, lambda d: d.execute_script("return cy ? cy.nodes().length : 0"))
    expected = httpx.get(f"{base}/rings/R-000001", headers={"X-API-Key": admin_key}).json()["graph"]
    # cards are folded into their holders until asked for: then the picture is the API's subgraph
    held = {e["source"] for e in expected["edges"] if e["type"] == "HELD_BY"}
    assert held and browser.execute_script("return cy.nodes().length") == len(expected["nodes"]) - len(held)
    browser.find_element(By.ID, "show-cards").click()
    _wait(browser, lambda d: d.execute_script("return cy.nodes().length") == len(expected["nodes"]))
    assert browser.execute_script("return cy.edges().length") == len(expected["edges"])
    assert len(browser.find_elements(By.CSS_SELECTOR, "#members tbody tr")) == 13
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline rect")) > 0
    browser.save_screenshot(str(ARTIFACTS / "console-ring.png"))

    Select(browser.find_element(By.ID, "d-status")).select_by_value("referred_to_police")
    browser.find_element(By.ID, "d-note").send_keys("移送市公安局")
    browser.find_element(By.CSS_SELECTOR, "#disposition-form button").click()
    _wait(browser, lambda d: "移送市公安局" in d.find_element(By.ID, "d-current").text)
    browser.refresh()
    _sign_in(browser, admin_key)
    _wait(browser, lambda d: "已移送公安" in d.find_element(By.ID, "d-current").text)

    browser.find_element(By.ID, "export").click()
    package = browser.downloads / "R-000001-xlsx.zip"
    _wait(browser, lambda d: package.exists() and package.stat().st_size > 0)
    time.sleep(0.5)
    with zipfile.ZipFile(io.BytesIO(package.read_bytes())) as z:
        assert verify_manifest({n.split("/", 1)[1]: z.read(n) for n in z.namelist()}) == []

    browser.execute_script("cy.getElementById('person:IM000').emit('tap')")
    _wait(browser, lambda d: "IM000" in d.find_element(By.ID, "node-info").text)
    before = browser.execute_script("return cy.nodes().length")
    browser.find_element(By.ID, "expand").click()  # IM000's own phone and address join the picture
    _wait(browser, lambda d: d.execute_script("return cy.nodes().length") > before)
    browser.find_element(By.ID, "tip-note").send_keys("举报：冒用已故人员医保卡")
    browser.find_element(By.ID, "tip").click()
    _wait(browser, lambda d: d.find_element(By.ID, "tip-result").text == "线索已登记")
    tips = httpx.get(f"{base}/rings/R-000001", headers={"X-API-Key": admin_key}).json()["casework"]["tips"]
    assert [(tip["type"], tip["id"]) for tip in tips] == [("person", "IM000")]
    _wait(browser, lambda d: "举报：冒用已故人员医保卡" in d.find_element(By.ID, "tips").text)

    browser.find_element(By.ID, "back").click()
    _wait(browser, lambda d: d.find_element(By.ID, "queue").is_displayed())
    browser.find_element(By.ID, "p-from").send_keys("person:BI000")
    browser.find_element(By.ID, "p-to").send_keys("person:BI005")
    browser.find_element(By.ID, "go-paths").click()
    _wait(browser, lambda d: "person:BI000 → " in d.find_element(By.ID, "ring-summary").text)
    assert browser.execute_script("return cy.nodes().length") >= 5

    browser.find_element(By.ID, "lang").click()
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "header strong").text == "Medical-insurance fraud rings")
    assert script_problems(browser) == []


def test_an_analyst_sees_masked_members(server, browser):
    base, admin_key = server
    analyst = httpx.post(f"{base}/apikeys", json={"role": "analyst", "name": "分析员"},
                         headers={"X-API-Key": admin_key}).json()["key"]
    browser.get(base + "/#/ring/R-000003")
    browser.find_element(By.ID, "key").send_keys(analyst)
    browser.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#members tbody tr")) == 10)
    assert "analyst" in browser.find_element(By.ID, "who").text
    assert "15900000017" not in browser.page_source
    # By its id cell: a phone's or account's pseudonym is random text that may hold "IBI" too.
    [broker] = [text for text in _texts(browser, "#members tbody tr") if text.split("\t")[1] == "IBI"]
    assert "王*" in broker


def test_console_without_its_browser_library_says_what_to_do(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    import api.app as app_module
    from api import create_app
    from graphsvc.config import Settings

    monkeypatch.setattr(app_module, "_CYTOSCAPE", tmp_path / "missing")
    with TestClient(create_app(Settings(home=tmp_path / "home"))) as client:
        page = client.get("/")
    assert page.status_code == 503 and "scripts/setup" in page.text
