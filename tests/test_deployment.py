"""The deployment files: docker-compose.yml wires the API to Neo4j 5.26 with secrets from the environment."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_runs_neo4j_526_and_the_api_against_it_with_healthchecks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    neo4j, api = compose["services"]["neo4j"], compose["services"]["api"]
    assert neo4j["image"] == "neo4j:5.26-community"
    assert neo4j["environment"]["NEO4J_AUTH"].startswith("neo4j/${NEO4J_PASSWORD:?")  # no default password
    assert "neo4j-data:/data" in neo4j["volumes"] and "healthcheck" in neo4j
    assert any(k.startswith("NEO4J_server_memory") for k in neo4j["environment"])
    assert api["build"] == "." and api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    env = api["environment"]
    assert env["GRAPHSVC_BACKEND"] == "neo4j" and env["NEO4J_URI"] == "bolt://neo4j:7687"
    assert all(env[k].startswith("${") and ":?" in env[k]
               for k in ("NEO4J_PASSWORD", "GRAPHSVC_SECRET_KEY", "GRAPHSVC_ADMIN_KEY"))
    assert "/health" in " ".join(api["healthcheck"]["test"])
    assert all(port.startswith("127.0.0.1:") for service in (neo4j, api) for port in service["ports"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "graphsvc\", \"serve\"" in dockerfile and "USER graphsvc" in dockerfile
