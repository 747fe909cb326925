"""The query API for investigators, police liaison and case-management systems (FastAPI)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.app import create_app

__all__ = ["create_app"]


if not TYPE_CHECKING:  # so mypy still refuses a name the package does not have

    def __getattr__(name: str) -> Any:
        # The app (FastAPI, the routes, exports with their PDF and spreadsheet libraries) loads on first
        # use, not when a command imports api.keys or api.audit: `graphsvc apikey list` started in 1.5 s,
        # 1 s of it importing the app it never serves.
        if name == "create_app":
            from api.app import create_app

            return create_app
        raise AttributeError(f"module 'api' has no attribute {name!r}")
