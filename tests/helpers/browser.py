"""The Chromium the console tests drive (the ``browser`` fixture of tests/conftest.py makes one)."""

from __future__ import annotations

from pathlib import Path

from selenium import webdriver


class Chromium(webdriver.Chrome):
    downloads: Path
    """Where the browser saves what it downloads."""
