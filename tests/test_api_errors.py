"""Every refusal the API answers says itself in Chinese (``detail_zh``) beside the English ``detail``
clients have always read, whichever layer refused: a route, a dependency, the router, FastAPI's
validation, or an error raised in graphsvc."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from helpers.api_city import City

_HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def client(embedded_client: TestClient) -> TestClient:
    return embedded_client


def test_every_kind_of_refusal_says_itself_in_chinese_and_english(client: TestClient, embedded_city: City) -> None:
    admin, analyst, police = (embedded_city.headers(r) for r in ("admin", "analyst", "police_liaison"))
    refusals = {
        "no key (a dependency)": (client.get("/rings"), 401, "X-API-Key"),
        "a bad key": (client.get("/rings", headers={"X-API-Key": "not-a-key"}), 401, "无效"),
        "a role refused": (client.get("/stats", headers=police), 403, "公安联络员无权执行此操作"),
        "no such ring (a route)": (client.get("/rings/R-999999", headers=admin), 404, "没有团伙 R-999999"),
        "a blank search": (client.get("/search", params={"q": " "}, headers=admin), 422, "搜索内容不能为空"),
        "validation (FastAPI)": (client.get("/rings", params={"min_score": "high"}, headers=analyst), 422, "请求内容有误"),
        "no such route (the router)": (client.get("/no/such/page", headers=analyst), 404, "未找到"),
        "a method not allowed": (client.delete("/rings", headers=analyst), 405, "不支持"),
    }
    for what, (answer, status, chinese) in refusals.items():
        assert answer.status_code == status, (what, answer.status_code, answer.text)
        body = answer.json()
        assert body["detail"], (what, body)
        assert chinese in body["detail_zh"], (what, body)
        english = body["detail"] if isinstance(body["detail"], str) else str(body["detail"])
        assert not _HAN.search(english), (what, body)
    refused = refusals["a role refused"][0].json()
    assert "police_liaison" in refused["detail"] and "管理员" in refused["detail_zh"], refused
    assert refusals["a bad key"][0].headers["www-authenticate"] == "Bearer"  # headers kept by the one handler


def test_an_error_raised_in_graphsvc_answers_its_own_chinese_sentence(client: TestClient, embedded_city: City) -> None:
    """A refusal raised as a ``GraphsvcError`` (the webhook target check, a job looked up) carries its
    own Chinese sentence through the one handler, not only its status's general one."""
    admin = embedded_city.headers("admin")
    job = client.get("/jobs/nope", headers=admin)
    assert job.status_code == 404 and job.json()["detail_zh"] == "没有任务 'nope'", job.json()
    webhook = client.post("/webhooks", headers=admin,
                          json={"url": "ftp://casesys.example.org/hook", "secret": "s" * 40})
    assert webhook.status_code == 422, webhook.text
    assert webhook.json()["detail_zh"] == "回调网址须以 http:// 或 https:// 开头", webhook.json()


def test_a_store_error_answers_its_summary_in_both_languages_never_its_own_words(
        client: TestClient, embedded_city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store's own sentence names paths and hosts: the caller gets the summary in both languages,
    even though the error carries a Chinese sentence of its own."""
    import services
    from graphsvc.errors import StoreError

    def broken(*args: object, **kwargs: object) -> None:
        raise StoreError("cannot open /srv/fund/home/graph.duckdb", zh="无法打开 /srv/fund/home/graph.duckdb")

    monkeypatch.setattr(services, "monthly_report", broken)
    answer = client.get("/reports/monthly", params={"month": "2025-03"}, headers=embedded_city.headers("admin"))
    assert answer.status_code == 503, answer.text
    assert "/srv/fund" not in answer.text and answer.json()["detail_zh"] == "服务暂时不可用，请稍后重试", answer.json()
