"""Logging: one configuration for the command line and the server, and a timer for long work.

Plain text by default; with ``json`` one JSON object a line, for a server whose output is
collected. A record's structured fields travel in ``extra={"fields": {...}}`` and are written
as ``key=value`` (text) or as keys of the object (JSON).

What is logged is ids, counts, kinds of error and durations, never a value from the data: the
claims hold names, ID numbers, phones, addresses and accounts, and a log is copied and kept
far more widely than the store. So the message of an error is not logged either (it may quote
what the user typed, a phone number say), only its kind.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

from graphsvc.errors import GraphsvcError
from graphsvc.terminal import terminal_text

__all__ = ["configure_logging", "timed"]


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return getattr(record, "fields", None) or {}


def _where(exc_info: Any) -> str:
    """A traceback's frames and the exception's kind, without its message: an engine's message
    may quote the row it failed on."""
    _, exc, tb = exc_info
    frames = "".join(traceback.format_list(traceback.extract_tb(tb)))
    return f"Traceback (most recent call last):\n{frames}{type(exc).__name__} (its message is not logged)"


class _TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return _where(ei)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        # A field may carry data's text (a file's name): written escaped, it can start no forged log line.
        fields = " ".join(f"{key}={terminal_text(str(value))}" for key, value in _fields(record).items())
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # fields stay on the message's line, before any traceback
        return f"{head} {fields}{newline}{rest}"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
            **_fields(record)}
        if record.exc_info:
            entry["traceback"] = _where(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(*, json_lines: bool = False, level: int | str = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send every logger's records at ``level`` and above to ``stream`` (stderr), as text or JSON lines.

    Called once by each entry point; calling it again replaces the handler it made before.

    >>> import io
    >>> out = io.StringIO()
    >>> configure_logging(json_lines=True, stream=out)
    >>> logging.getLogger("graphsvc.example").info("rings found", extra={"fields": {"rings": 3}})
    >>> entry = json.loads(out.getvalue())
    >>> entry["level"], entry["message"], entry["rings"]
    ('info', 'rings found', 3)
    >>> configure_logging(level=logging.WARNING)
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "graphsvc", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.graphsvc = True  # type: ignore[attr-defined]  # marks the handler this function owns
    handler.setFormatter(_JsonFormatter() if json_lines else _TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)


@contextmanager
def timed(log: logging.Logger, action: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Log the start of ``action``, then its end and duration; the body adds counts to the dict it gets.

    A failure is logged with its kind only: a user's error (``GraphsvcError``) as a warning, any
    other exception as an error with its traceback, for the operator.
    """
    log.info("%s started", action, extra={"fields": {"action": action, **fields}})
    started = time.perf_counter()
    outcome: dict[str, Any] = {}
    try:
        yield outcome
    except BaseException as exc:
        failure = {"action": action, **fields, "seconds": round(time.perf_counter() - started, 3),
                   "error": type(exc).__name__}
        if isinstance(exc, GraphsvcError | KeyboardInterrupt):
            log.warning("%s failed", action, extra={"fields": failure})
        else:
            log.error("%s failed", action, exc_info=True, extra={"fields": failure})
        raise
    log.info("%s finished", action, extra={"fields": {"action": action, **fields, **outcome,
                                                       "seconds": round(time.perf_counter() - started, 3)}})
