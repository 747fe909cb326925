"""One settings object for every entry point (CLI now, API later), read from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

_KNOWN_DEFAULTS = {"changeme", "changethis", "secret", "password", "admin", "neo4j", "test", "default"}


class Settings(BaseSettings):
    """Where the graph lives and how to reach it.

    Environment variables carry the ``GRAPHSVC_`` prefix: ``GRAPHSVC_HOME``,
    ``GRAPHSVC_BACKEND``, ``GRAPHSVC_MEMORY_LIMIT``.
    """

    model_config = SettingsConfigDict(env_prefix="GRAPHSVC_", populate_by_name=True)

    home: Path = Field(default=Path("graphsvc-home"), description="folder of the embedded store, rejects and outputs")
    backend: Literal["embedded", "neo4j"] = "embedded"
    neo4j_uri: str | None = Field(default=None, validation_alias=AliasChoices("NEO4J_URI", "neo4j_uri"),
                                  description="with backend neo4j: bolt://host:7687 or neo4j://host:7687")
    neo4j_user: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_USER", "neo4j_user"))
    neo4j_password: SecretStr | None = Field(default=None,
                                             validation_alias=AliasChoices("NEO4J_PASSWORD", "neo4j_password"))
    memory_limit: str = Field(default="2GB", description="memory cap of the embedded engine; larger joins spill to disk")
    secret_key: SecretStr | None = Field(
        default=None, description="keys the pseudonyms of masked phones and accounts; when unset, a random one is "
                                  "made once and kept in HOME/secret_key")
    admin_key: SecretStr | None = Field(
        default=None, description="an API key with the admin role taken from the environment (deployments); "
                                  "otherwise create keys with `graphsvc apikey create`")
    rate_limit_per_minute: int = Field(default=1200, ge=1, description="requests per minute per API key")
    failed_lookups_per_minute: int = Field(
        default=30, ge=1, description="lookups finding nothing (or refused) per minute per masked-role API key; "
                                      "past it every lookup by that key waits (429), so probing which values exist "
                                      "runs dry")
    hub_degree: int = Field(default=200, ge=2, description="nodes with more edges are shown but not expanded")
    heavy_reads: int = Field(default=1, ge=1, description="network, paths and export requests served at once; the rest "
                                                      "wait, so that light requests are not slowed (one per spare core)")
    upload_max_bytes: int = Field(default=2 * 1024**3, ge=1, description="largest upload accepted (all its files)")
    upload_max_unpacked_bytes: int = Field(default=8 * 1024**3, ge=1,
                                           description="largest total size the files of an upload may unpack to (zips included)")
    upload_max_ratio: int = Field(default=200, ge=1, description="largest unpacked/packed size ratio of a zip member")
    upload_max_members: int = Field(default=200, ge=1, description="most files an upload may hold, counting the members of its zips")
    log_json: bool = Field(default=False, description="log one JSON object a line (servers whose output is "
                                                       "collected) instead of text")
    trusted_proxies: str | None = Field(
        default=None, description="comma-separated addresses of reverse proxies whose X-Forwarded-For is believed; "
                                  "unset: the client address is the socket's")
    webhook_hosts: str = Field(
        default="", description="comma-separated host names webhooks may post to (e.g. casesys.example.org); "
                                "empty: every webhook target is refused")
    webhook_private_networks: str = Field(
        default="", description="comma-separated addresses or networks (10.8.0.0/16, 127.0.0.1) an allowed host "
                                "may resolve to although they are loopback, link-local or private; empty: none")
    webhook_max_subscriptions: int = Field(default=20, ge=1, description="most webhooks at once")
    webhook_attempts: int = Field(default=6, ge=1, le=20, description="tries of one delivery before it is given up")
    webhook_backoff_s: float = Field(
        default=120.0, gt=0, description="wait before the first retry, doubled for each next one "
                                         "(6 tries at 120 s: retries over about an hour)")
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60, description="time limit of one delivery request")

    @field_validator("secret_key", "admin_key")
    @classmethod
    def _refuse_weak_secrets(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        secret = value.get_secret_value()
        if secret.lower() in _KNOWN_DEFAULTS or len(secret) < 24:
            raise ValueError("is a default or short secret; use at least 24 random characters, "
                             "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return value
