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


def test_spark_profile_runs_a_master_workers_and_a_detection_driver_only_when_asked():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    spark = {name: s for name, s in services.items() if "spark" in s.get("profiles", [])}
    assert set(spark) == {"spark-master", "spark-worker"}
    assert services["spark-detect"]["profiles"] == ["spark-job"]  # run on demand, never started by `up`
    assert "profiles" not in services["neo4j"] and "profiles" not in services["api"]  # `up` alone stays as it was
    import pyspark

    for name in ("spark-master", "spark-worker"):
        image, _, tag = services[name]["image"].partition(":")
        # the official image, at the version of the PySpark driver that talks to it
        assert image == "apache/spark" and tag == f"${{SPARK_VERSION:-{pyspark.__version__}}}"
    assert "org.apache.spark.deploy.master.Master" in services["spark-master"]["command"]
    worker = services["spark-worker"]
    assert "org.apache.spark.deploy.worker.Worker" in worker["command"]
    assert "spark://spark-master:7077" in worker["command"]
    assert worker["depends_on"]["spark-master"]["condition"] == "service_healthy"
    driver = services["spark-detect"]
    assert driver["hostname"] == "spark-detect"  # executors connect back to the driver by this name
    command = driver["command"]
    assert command[:4] == ["graphsvc", "detect", "--engine", "spark"]
    assert command[command.index("--spark-master") + 1] == "spark://spark-master:7077"
    assert driver["environment"]["NEO4J_URI"] == services["api"]["environment"]["NEO4J_URI"]  # rings go to the API's store
    assert driver["environment"]["NEO4J_PASSWORD"].startswith("${NEO4J_PASSWORD:?")
    assert all(port.startswith("127.0.0.1:") for s in spark.values() for port in s.get("ports", []))
    dockerfile = (ROOT / driver["build"]["dockerfile"]).read_text()
    assert "openjdk-17-jre" in dockerfile and "USER graphsvc" in dockerfile  # PySpark's driver needs Java
