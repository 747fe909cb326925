"""Investigative queries over a ``GraphStore``: what the CLI and the API call, never the store's internals."""
