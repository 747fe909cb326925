"""The shared test city: every copy starts as the loaded and detected city, whatever an earlier copy wrote."""

from __future__ import annotations

from helpers.api_city import Cities


def test_a_copy_of_the_city_holds_nothing_an_earlier_copy_wrote(cities: Cities, settings, tmp_path):
    with cities.copy(settings) as first:
        assert [r["id"] for r in first.store.rings()] == ["R-000001", "R-000002", "R-000003"]
        first.store.put_record("tip", "t1", {"client_key": "t1", "note": "written in the first copy"})
        first.keys["admin"] = "changed in the first copy"
    with cities.copy(settings.model_copy(update={"home": tmp_path / "second"})) as second:
        assert second.store.list_records("tip", limit=10) == (0, [])
        assert [r["id"] for r in second.store.rings()] == ["R-000001", "R-000002", "R-000003"]
        assert second.keys["admin"].startswith("gsk_") and second.cc["collector"] == "CCX"
