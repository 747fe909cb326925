"""The ``graphsvc`` command line: the composition root, the one place that imports both the
library (``graphsvc``, ``ingest``, ``queries``, ``services``) and the API (``api``), which its
``serve``, ``apikey`` and ``backup`` commands need."""

from cli.commands import main

__all__ = ["main"]
