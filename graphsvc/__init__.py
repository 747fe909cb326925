"""graphsvc: find organised medical-insurance fraud rings in claims data."""

__version__ = "0.1.0"
