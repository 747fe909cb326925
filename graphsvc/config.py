"""One settings object for every entry point (CLI now, API later), read from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Where the graph lives and how to reach it.

    Environment variables carry the ``GRAPHSVC_`` prefix: ``GRAPHSVC_HOME``,
    ``GRAPHSVC_BACKEND``, ``GRAPHSVC_MEMORY_LIMIT``.
    """

    model_config = SettingsConfigDict(env_prefix="GRAPHSVC_")

    home: Path = Field(default=Path("graphsvc-home"), description="folder of the embedded store, rejects and outputs")
    backend: Literal["embedded"] = "embedded"
    memory_limit: str = Field(default="2GB", description="memory cap of the embedded engine; larger joins spill to disk")
