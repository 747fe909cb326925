"""The console's views of a big ring in a real browser: Debian's Chromium (headless) against a real `graphsvc serve`.

The city: a broker (黑中介) whose 80 recruits hold e-vouchers bound to his phone, each admitted to H100 in
three waves (2026-01-21/22, 03-22/23, 05-21/22), 5,000 of fund each: one ring of 166 members (80 persons,
80 cards, 2 devices, the broker, H100, his phone and his account), 240 claims; by the end of 2026-03-23,
160 claims. A neighbourhood pharmacy's everyday customers give the risk ranking a second institution.
Screenshots go to tests/artifacts/ (a test writes nothing tracked); the README's picture of the ring view,
docs/console-ring.png, is tests/artifacts/console-ring.png copied by hand after looking at it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from api.process import start_serve
from helpers.browser import Chromium
from helpers.scenes import Scene, black_intermediary, name_of, neighbourhood_pharmacy
from test_webhooks import Receiver

ARTIFACTS = Path(__file__).parent / "artifacts"
RECRUITS = 80


def _big_ring_scene() -> Scene:
    scene = Scene()
    broker = black_intermediary(scene, recruits=RECRUITS)
    neighbourhood_pharmacy(scene, scene.institution("PH1", "pharmacy"), prefix="NP")
    for i, row in enumerate(scene.tables["persons"]):
        row["name"] = name_of(i)
    for i, person in enumerate(broker["persons"]):
        scene.card(f"K{person}", person, kind="evoucher", bound_phone=broker["phone"], device_id=f"DBI{i % 2}")
    for claim in scene.tables["settlements"]:
        if claim["person_id"] in broker["persons"]:
            claim["card_id"] = f"K{claim['person_id']}"
    return scene


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("big-ring")
    home = root / "home"
    folder = _big_ring_scene().write_folder(root / "city")
    for args in (["ingest", str(folder), "--quiet"], ["detect", "--quiet"]):
        done = subprocess.run([sys.executable, "-m", "cli", *args, "--home", str(home)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    # Webhooks may post to this machine (a receiver on loopback); a failed delivery's retry is an hour away.
    served = start_serve(home, env={"GRAPHSVC_WEBHOOK_HOSTS": "127.0.0.1", "GRAPHSVC_WEBHOOK_PRIVATE_NETWORKS": "127.0.0.1",
                                    "GRAPHSVC_WEBHOOK_BACKOFF_S": "3600"})
    try:
        yield served.base, (home / "admin-key").read_text().strip()
    finally:
        served.stop()


def _wait(driver: Chromium, condition: Any, timeout: float = 30) -> Any:
    # The console redraws its tables as answers arrive: an element read mid-redraw is stale, so look again.
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d))


def _js(driver: Chromium, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def _open(driver: Chromium, base: str, key: str, hash_: str) -> None:
    """Open the console at ``hash_`` and sign in (the key is kept in memory only: every load asks for it)."""
    driver.get(f"{base}/{hash_}")
    _wait(driver, lambda d: d.find_element(By.ID, "signin").is_displayed())
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    _wait(driver, lambda d: d.find_element(By.ID, "signout").is_displayed())


def _script_problems(driver: Chromium) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Uncaught" in entry["message"]]


# The pairs of shown labels whose boxes (node and label, as drawn now) overlap: none on a readable picture.
_OVERLAPPING_LABELS = """
const boxes = cy.nodes('.labelled').map((n) => [n.id(), n.renderedBoundingBox({includeLabels: true})]);
const pairs = [];
for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
  const [a, b] = [boxes[i][1], boxes[j][1]];
  if (a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2) pairs.push([boxes[i][0], boxes[j][0]]);
}
return pairs;"""

# Each node's distance from the middle of the picture.
_DISTANCES = """
const box = cy.nodes().boundingBox();
const [cx, cy0] = [(box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2];
return Object.fromEntries(cy.nodes().map((n) => [n.id(), Math.hypot(n.position('x') - cx, n.position('y') - cy0)]));"""


def test_a_ring_of_166_members_reads_by_role_with_cards_folded_and_a_point_in_time(server, browser):
    base, admin_key = server
    ARTIFACTS.mkdir(exist_ok=True)
    _open(browser, base, admin_key, "#/ring/R-000001")
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#members tbody tr")) == 2 * RECRUITS + 6)
    _wait(browser, lambda d: _js(d, "return cy && window.labelsPlaced ? cy.nodes().length : 0"))
    # Cards are drawn into their holders: 80 persons, the broker, H100, his phone, his account, 2 devices.
    assert _js(browser, "return cy.nodes('[type = \"card\"]').length") == 0
    assert _js(browser, "return cy.nodes().length") == RECRUITS + 6
    # The broker's e-voucher bindings became his recruits' own edges to his phone.
    assert _js(browser, "return cy.edges('[source = \"person:BI000\"][target = \"phone:15900000017\"]').length") >= 1

    browser.save_screenshot(str(ARTIFACTS / "console-ring-big.png"))
    assert _js(browser, _OVERLAPPING_LABELS) == []
    labelled = set(_js(browser, "return cy.nodes('.labelled').map((n) => n.id())"))
    assert {"intermediary:IBI", "institution:H100", "phone:15900000017"} <= labelled

    distances = _js(browser, _DISTANCES)
    recruits = [distances[f"person:BI{i:03d}"] for i in range(RECRUITS)]
    assert distances["intermediary:IBI"] < min(recruits)
    assert max(distances[k] for k in ("institution:H100", "phone:15900000017")) < min(recruits)

    # A member's row picks its node, and a node its row.
    browser.find_element(By.CSS_SELECTOR, '#members tr[data-key="person:BI010"] td:nth-child(3)').click()
    _wait(browser, lambda d: _js(d, "return cy.$(':selected').map((n) => n.id())") == ["person:BI010"])
    assert "picked" in browser.find_element(By.CSS_SELECTOR, '#members tr[data-key="person:BI010"]').get_attribute("class")
    _wait(browser, lambda d: "BI010" in d.find_element(By.ID, "node-info").text)
    _js(browser, "cy.getElementById('person:BI020').emit('tap')")
    _wait(browser, lambda d: "picked" in d.find_element(By.CSS_SELECTOR, '#members tr[data-key="person:BI020"]')
          .get_attribute("class"))
    # A card's row picks its holder while cards are folded.
    browser.find_element(By.CSS_SELECTOR, '#members tr[data-key="card:KBI030"] td:nth-child(3)').click()
    _wait(browser, lambda d: _js(d, "return cy.$(':selected').map((n) => n.id())") == ["person:BI030"])

    browser.find_element(By.ID, "show-cards").click()
    _wait(browser, lambda d: _js(d, "return cy.nodes('[type = \"card\"]').length") == RECRUITS)
    _wait(browser, lambda d: _js(d, _OVERLAPPING_LABELS) == [])

    # The slider: the timeline's fourth day, 2026-03-23, is the end of the second wave.
    assert "结算笔数 240" in browser.find_element(By.ID, "ring-claims").text
    _js(browser, "const s = document.getElementById('as-of'); s.value = 3; s.dispatchEvent(new Event('change'))")
    _wait(browser, lambda d: d.find_element(By.ID, "ring-claims").text == "结算笔数 160")
    summary = browser.find_element(By.ID, "ring-summary").text
    assert "截至 2026-03-23" in summary and "800,000" in summary
    assert browser.find_element(By.ID, "as-of-day").text == "2026-03-23"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline rect")) == 4
    browser.save_screenshot(str(ARTIFACTS / "console-ring-as-of.png"))
    _js(browser, "const s = document.getElementById('as-of'); s.value = 0; s.dispatchEvent(new Event('change'))")
    _wait(browser, lambda d: d.find_element(By.ID, "ring-claims").text == "结算笔数 40")  # the even recruits
    _js(browser, "const s = document.getElementById('as-of'); s.value = s.max; s.dispatchEvent(new Event('change'))")
    _wait(browser, lambda d: d.find_element(By.ID, "ring-claims").text == "结算笔数 240")

    # The picture for the README: cards folded, as an investigator first sees it.
    browser.find_element(By.ID, "show-cards").click()
    _wait(browser, lambda d: _js(d, "return cy.nodes('[type = \"card\"]').length") == 0)
    _wait(browser, lambda d: _js(d, _OVERLAPPING_LABELS) == [])
    _js(browser, "document.getElementById('ring-title').scrollIntoView()")
    browser.save_screenshot(str(ARTIFACTS / "console-ring.png"))
    assert _script_problems(browser) == []


def test_entity_pages_show_claims_and_link_neighbours(server, browser):
    base, admin_key = server
    ARTIFACTS.mkdir(exist_ok=True)
    _open(browser, base, admin_key, "#/entity/person/BI000")
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#entity-claims tbody tr")) == 3)
    assert browser.find_element(By.ID, "entity-title").text == "参保人 BI000"
    assert browser.find_element(By.ID, "c-page").text == "1 / 1 (3)"
    assert "R-000001" in browser.find_element(By.ID, "entity-rings").text
    cells = browser.find_element(By.CSS_SELECTOR, "#entity-claims tbody tr").text
    assert "H100" in cells and "IBI" in cells and "5,000" in cells
    # Chinese first: the attributes and the claims' fields by the agencies' own words, coded values too
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#entity-claims th")]
    assert headers[:4] == ["结算编号", "类别", "就诊时间", "统筹支付金额"], headers
    assert cells.split()[1] == "住院", cells
    profile = browser.find_element(By.ID, "entity-profile").text
    assert "参保人编号: BI000" in profile and "person_id" not in profile, profile
    browser.save_screenshot(str(ARTIFACTS / "console-entity.png"))
    # Its neighbour H100's page: every recruit's three claims, 20 a page.
    browser.find_element(By.CSS_SELECTOR, '#entity-neighbours a[href="#/entity/institution/H100"]').click()
    _wait(browser, lambda d: d.find_element(By.ID, "c-page").text == f"1 / 12 ({3 * RECRUITS})")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#entity-claims tbody tr")) == 20
    browser.find_element(By.ID, "c-next").click()
    _wait(browser, lambda d: d.find_element(By.ID, "c-page").text.startswith("2 / 12"))
    assert _script_problems(browser) == []


def test_risk_and_monthly_report_pages_in_chinese_with_a_pdf_download(server, browser):
    base, admin_key = server
    ARTIFACTS.mkdir(exist_ok=True)
    _open(browser, base, admin_key, "#/")
    ranking = httpx.get(f"{base}/institutions/risk", headers={"X-API-Key": admin_key}).json()["institutions"]
    assert {x["id"] for x in ranking} == {"H100", "PH1"}
    browser.find_element(By.ID, "nav-risk").click()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#risk-table tbody tr")) == 2)
    assert browser.find_element(By.CSS_SELECTOR, "#risk h2").text == "机构风险排名"
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#risk-table th")]
    assert headers[:3] == ["名次", "定点机构", "风险分"]
    first = browser.find_element(By.CSS_SELECTOR, "#risk-table tbody tr")
    assert first.find_element(By.TAG_NAME, "a").get_attribute("href").endswith(f"#/entity/institution/{ranking[0]['id']}")
    assert ranking[0]["reasons"][0]["zh"] in first.text  # reasons in Chinese first
    browser.save_screenshot(str(ARTIFACTS / "console-risk.png"))
    browser.find_element(By.ID, "lang").click()
    _wait(browser, lambda d: ranking[0]["reasons"][0]["en"] in d.find_element(By.CSS_SELECTOR, "#risk-table tbody tr").text)
    browser.find_element(By.ID, "lang").click()

    browser.find_element(By.ID, "nav-report").click()
    _wait(browser, lambda d: d.find_element(By.ID, "report").is_displayed())
    report = httpx.get(f"{base}/reports/monthly", params={"month": "2026-03"}, headers={"X-API-Key": admin_key}).json()
    assert (report["totals"]["claims"], report["totals"]["fund_amount"]) == (RECRUITS, 400000.0)  # the second wave
    _js(browser, "const m = document.getElementById('r-month'); m.value = '2026-03'; m.dispatchEvent(new Event('change'))")
    _wait(browser, lambda d: "400,000" in d.find_element(By.CSS_SELECTOR, "#report-table tfoot").text)
    assert browser.find_element(By.CSS_SELECTOR, "#report h2").text == "月度统计"
    assert [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#report-table th")] == [c["zh"] for c in report["columns"]]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#report-table tbody tr")) == len(report["rows"]) > 0
    browser.save_screenshot(str(ARTIFACTS / "console-report.png"))
    browser.find_element(By.ID, "r-pdf").click()
    pdf = browser.downloads / "monthly-report-2026-03.pdf"
    # Chromium writes a .crdownload and renames it when done: the final name means the whole file.
    _wait(browser, lambda d: pdf.exists() and pdf.stat().st_size > 0)
    assert pdf.read_bytes().startswith(b"%PDF")
    assert _script_problems(browser) == []


def test_police_liaison_gets_no_link_to_the_pages_it_is_refused(server, browser):
    base, admin_key = server
    police = httpx.post(f"{base}/apikeys", json={"role": "police_liaison", "name": "公安联络员"},
                        headers={"X-API-Key": admin_key}).json()["key"]
    _open(browser, base, police, "#/")
    assert browser.find_element(By.ID, "nav").is_displayed()
    assert not browser.find_element(By.ID, "nav-risk").is_displayed()
    assert not browser.find_element(By.ID, "nav-report").is_displayed()
    assert httpx.get(f"{base}/institutions/risk", headers={"X-API-Key": police}).status_code == 403
    # Sent straight to a page it is refused, it is told so in the console's language, the server's words after
    _js(browser, "location.hash = '#/report'")
    said = _wait(browser, lambda d: d.find_element(By.ID, "error").get_attribute("textContent"))
    assert said.startswith("公安联络员无权执行此操作；允许的角色：") and "（403）: " in said, said
    assert "police_liaison" in said.split("（403）: ", 1)[1], said


def test_an_administrator_subscribes_reads_the_delivery_log_and_deletes_a_webhook(server, browser):
    """The webhooks page: subscribe a receiver to finished jobs, see the refused first delivery waiting for
    its retry in the log, in Chinese, then delete the webhook; other roles get no link to the page."""
    base, admin_key = server
    admin = {"X-API-Key": admin_key}
    receiver = Receiver()
    receiver.answers = [503]
    try:
        _open(browser, base, admin_key, "#/")
        browser.find_element(By.ID, "nav-webhooks").click()
        _wait(browser, lambda d: d.find_element(By.ID, "webhooks").is_displayed())
        assert browser.find_element(By.CSS_SELECTOR, "#webhooks h2").text == "案件系统推送"
        browser.find_element(By.ID, "w-url").send_keys(receiver.url + "/case-system")
        browser.find_element(By.ID, "w-secret").send_keys("a-case-system-secret-0042")
        boxes = browser.find_elements(By.CSS_SELECTOR, "#w-events label")
        assert [b.text for b in boxes] == ["发现新团伙", "团伙情况更新", "已排除团伙重新开启", "处置状态变更", "后台任务结束"]
        boxes[-1].find_element(By.TAG_NAME, "input").click()
        browser.find_element(By.CSS_SELECTOR, "#webhook-form button").click()
        _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#webhook-table tbody tr")) == 1)
        row = browser.find_element(By.CSS_SELECTOR, "#webhook-table tbody tr")
        [hook] = httpx.get(f"{base}/webhooks", headers=admin).json()["items"]
        assert hook["events"] == ["job.finished"] and hook["url"] == receiver.url + "/case-system"
        assert "后台任务结束" in row.text and "…0042" in row.text and "secret-0042" not in browser.page_source

        job = httpx.post(f"{base}/detect", headers=admin).json()
        assert receiver.next().answered == 503  # refused: the retry waits an hour (GRAPHSVC_WEBHOOK_BACKOFF_S)
        _wait(browser, lambda d: httpx.get(f"{base}/jobs/{job['id']}", headers=admin).json()["state"] == "succeeded")
        row.find_element(By.CSS_SELECTOR, "button[data-action=deliveries]").click()
        _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#delivery-table tbody tr")) == 1)
        cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#delivery-table tbody td")]
        assert cells[1:5] == ["后台任务结束", "待发送", "1", "HTTP 503"] and cells[5]  # the retry's time
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "console-webhooks.png"))

        row.find_element(By.CSS_SELECTOR, "button[data-action=delete]").click()
        alert = browser.switch_to.alert
        assert hook["id"] in alert.text and "尚未送达的通知将取消" in alert.text
        alert.accept()
        _wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#webhook-table tbody tr"))
        assert httpx.get(f"{base}/webhooks", headers=admin).json()["items"] == []
        log = httpx.get(f"{base}/webhooks/{hook['id']}/deliveries", headers=admin).json()["items"]
        assert [d["state"] for d in log] == ["cancelled"]  # the retry will not be made
        assert _script_problems(browser) == []
    finally:
        receiver.close()

    investigator = httpx.post(f"{base}/apikeys", json={"role": "investigator", "name": "研判员"}, headers=admin).json()["key"]
    browser.find_element(By.ID, "signout").click()
    assert browser.find_element(By.ID, "key").get_attribute("value") == ""  # signing out forgets the typed key
    _open(browser, base, investigator, "#/")
    assert not browser.find_element(By.ID, "nav-webhooks").is_displayed()
