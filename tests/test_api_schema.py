"""The OpenAPI spec declares every answer's shape; schemathesis generates requests from it, and none
may end in a server error."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from api import create_app
from graphsvc.config import Settings


@pytest.fixture
def api_schema(city, settings):
    app = create_app(settings, store=city.store)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.services.jobs.wait_idle(timeout=60)


schema = schemathesis.pytest.from_fixture("api_schema")


# The monthly report's workbook and PDF take the month GET /reports/monthly takes (one ``Month`` type)
# and render its figures; a PDF takes half a second to make, so their own tests try fewer months.
_RENDERED_REPORTS = r"^/reports/monthly\.(pdf|xlsx)$"


@pytest.mark.slow  # hundreds of generated requests
@schema.exclude(path_regex=_RENDERED_REPORTS).parametrize()
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_for_any_request_the_spec_allows(case, city):
    case.call_and_validate(headers=city.headers("admin"), checks=[not_a_server_error])


@pytest.mark.slow
@schema.include(path_regex=_RENDERED_REPORTS).parametrize()
@hypothesis_settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_for_a_rendered_report_the_spec_allows(case, city):
    case.call_and_validate(headers=city.headers("admin"), checks=[not_a_server_error])


_SCHEMA_KEYWORDS = ("properties", "additionalProperties", "items", "anyOf", "oneOf", "allOf", "prefixItems")


def _subschemas(schema: dict, components: dict, seen: set[str]):
    """``schema`` and every schema inside it, following references (each component once)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name not in seen:
            seen.add(name)
            yield from _subschemas(components[name], components, seen)
        return
    yield schema
    for keyword in _SCHEMA_KEYWORDS:
        inner = schema.get(keyword)
        children = (list(inner.values()) if keyword == "properties" else [inner]) if isinstance(inner, dict) \
            else inner if isinstance(inner, list) else []
        for child in children:
            yield from _subschemas(child, components, seen)


def test_every_route_declares_the_shape_of_its_answer(tmp_path):
    spec = create_app(Settings(home=tmp_path / "home")).openapi()
    components = spec["components"]["schemas"]
    declared = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            success = next(r for code, r in operation["responses"].items() if code.startswith("2"))
            [(media_type, content)] = success["content"].items()
            schema = content.get("schema")
            assert schema, f"{method.upper()} {path}: no schema for its {media_type} answer"
            empty = [s for s in _subschemas(schema, components, set()) if s == {}]
            assert not empty, f"{method.upper()} {path}: a part of its answer has no schema"
            declared[f"{method.upper()} {path}"] = schema.get("$ref", "").rsplit("/", 1)[-1] or schema.get("type")
    # the answers the console and investigators read, by name
    assert declared["GET /rings"] == "RingPage" and declared["GET /rings/{ring_id}"] == "RingDetail"
    assert declared["GET /entities/{node_type}/{node_id}"] == "EntityProfile"
    assert declared["GET /vocab"] == "Vocabulary" and declared["GET /rings/{ring_id}/export"] == "string"
    assert declared["GET /health"] == "Health"
    profile = components["EntityProfile"]["properties"]["attributes"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in profile["anyOf"]} >= {"PersonAttributes", "CardAttributes"}


def _dependants(dependant) -> int:
    return 1 + sum(_dependants(sub) for sub in dependant.dependencies)


def test_each_route_asks_for_its_caller_once_and_every_keyed_route_says_so(tmp_path):
    """FastAPI walks a route's whole dependency tree on every request before its cache answers: a
    route that asked for its principal, masker, auditor and role apart (each re-declaring the key's
    sub-tree) walked 41 dependants, a third of a 2-hop network request's server time. One caller
    dependency (with the key's two security schemes) and at most one bulkhead slot keep it at 4."""
    app = create_app(Settings(home=tmp_path / "home"))
    spec = app.openapi()
    routes = [context.route for context in iter_route_contexts(app.routes)]
    sizes = {f"{method} {route.path}": _dependants(route.dependant) - 1
             for route in routes if isinstance(route, APIRoute) and route.include_in_schema
             for method in route.methods or ()}
    assert sizes["GET /entities/{node_type}/{node_id}/network"] == 4
    assert max(sizes.values()) <= 4, {route: n for route, n in sizes.items() if n > 4}
    # the OpenAPI spec still names both ways to send the key on every route that wants one
    open_routes = {"GET /health"}
    for name in sizes.keys() - open_routes:
        method, path = name.split(" ", 1)
        security = spec["paths"][path][method.lower()].get("security")
        assert security and {scheme for s in security for scheme in s} == {"APIKeyHeader", "HTTPBearer"}, name
    assert "security" not in spec["paths"]["/health"]["get"]
