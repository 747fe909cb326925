"""The query API for investigators, police liaison and case-management systems (FastAPI)."""

from api.app import create_app

__all__ = ["create_app"]
