"""Review attacks (round 15) on this session's changes: the amount rule that takes commas only as
thousands separators, and the masking of members' addresses in notes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from api import create_app
from graphsvc.config import Settings
from graphsvc.model import ENTITY_TABLES
from graphsvc.store import open_store
from helpers.api_city import City, city_scene, load_scene
from ingest.validate import _typed

RING = "R-000003"


def _amount(text: str) -> Decimal | None:
    table = ENTITY_TABLES["settlements"]
    col = next(c for c in table.columns if c.kind == "amount")
    row = duckdb.connect().execute(f"SELECT {_typed(table, col, 'v')} FROM (SELECT ? AS v)", [text]).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize(("text", "same_as"), [("-¥1,234.50", "-¥1234.50"), ("1,234.50 ¥", "1234.50 ¥")])
def test_a_negative_yuan_amount_with_thousands_separators_is_read_as_without_them(text: str, same_as: str) -> None:
    """The comma rule accepts a thousands-separated amount only in the shape ``[¥ ]*[-+]?d,ddd.dd[元 ]*``:
    Excel's ``-¥#,##0.00`` (a reversal as an export writes it) is now NULL, while the same amount without
    the separators (``-¥1234.50``) is read; before the change both were -1234.50."""
    assert _amount(same_as) == (Decimal("-1234.50") if same_as.startswith("-") else Decimal("1234.50"))
    assert _amount(text) == _amount(same_as), (text, _amount(text))


@pytest.fixture
def broker_city(tmp_path: Path) -> Iterator[City]:
    scene, facts = city_scene()
    for row in scene.tables["intermediaries"]:
        if row["intermediary_id"] == "IBI":
            row["address"] = "长沙市芙蓉区五一路88号中介公司"
    store = open_store(Settings(home=tmp_path / "home", backend="embedded"))
    with load_scene(store, tmp_path, scene, facts) as city:
        yield city


def test_an_intermediary_members_address_in_a_note_is_masked_for_the_analyst(broker_city: City, tmp_path: Path) -> None:
    """``RingBook.member_addresses`` reads only persons' addresses (and address nodes); member_names
    covers persons and intermediaries. The broker IBI is a member of R-000003 and his address is masked
    in his profile for the analyst, but written in a note it is shown to the analyst in clear."""
    address = "长沙市芙蓉区五一路88号中介公司"
    app = create_app(Settings(home=tmp_path / "home2", backend="embedded"), store=broker_city.store)
    with TestClient(app, raise_server_exceptions=False) as client:
        ring = client.get(f"/rings/{RING}", headers=broker_city.headers("investigator")).json()
        assert any("IBI" in str(m) for m in ring.get("members", ring.get("network", {}).get("nodes", []))) or "IBI" in str(ring)
        note = f"中介办公地点 {address}"
        assert client.put(f"/rings/{RING}/disposition", json={"status": "confirmed", "note": note},
                          headers=broker_city.headers("investigator")).status_code == 200
        profile = client.get("/entities/intermediary/IBI", headers=broker_city.headers("analyst")).json()
        assert address not in str(profile), profile
        shown = client.get(f"/rings/{RING}", headers=broker_city.headers("analyst")).json()["casework"]["disposition"]["note"]
        assert address not in shown, shown
