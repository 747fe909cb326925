"""Schemathesis generates requests from the OpenAPI spec; none may end in a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from api import create_app
from api_city import City, load_city


@pytest.fixture
def fuzz_city(store, tmp_path) -> City:
    return load_city(store, tmp_path)


@pytest.fixture
def api_schema(fuzz_city, settings):  # type: ignore[no-untyped-def]
    app = create_app(settings, store=fuzz_city.store)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.services.jobs.wait_idle(timeout=60)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_for_any_request_the_spec_allows(case, fuzz_city):  # type: ignore[no-untyped-def]
    case.call_and_validate(headers=fuzz_city.headers("admin"), checks=[not_a_server_error])
