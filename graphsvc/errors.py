"""What can go wrong that a user or caller can act on, as one hierarchy.

Each kind is raised where the problem is found and turned into an answer in one place per
entry point: an exit code in the command line (``cli.commands``), an HTTP status in the API
(``api.app``). The message of an error is written for the person who made the request and is
shown to them; an exception outside this hierarchy is a defect, reported without its text.

The kinds that mean a bad value, a missing thing or a refusal also derive from the built-in
exception of that meaning, so ``except ValueError`` around a parser still catches its
``InputError``.

>>> issubclass(NotFound, LookupError) and issubclass(InputError, GraphsvcError)
True
"""

from __future__ import annotations

__all__ = ["GraphsvcError", "InputError", "NotFound", "Conflict", "Forbidden", "StoreError", "SchemaError",
           "Unavailable"]


class GraphsvcError(Exception):
    """A problem the user can do something about; its message says what, and is shown to them."""


class InputError(GraphsvcError, ValueError):
    """A value the user gave (argument, file, configuration, parameter) cannot be used."""


class NotFound(GraphsvcError, LookupError):
    """The ring, job, key or entity named does not exist."""


class Conflict(GraphsvcError):
    """The request contradicts what is already there (a reused key, a folder that has files)."""


class Forbidden(GraphsvcError, PermissionError):
    """The caller's role may not do or see this."""


class StoreError(GraphsvcError):
    """The store cannot be opened or read: unreachable, refused credentials, damaged, held by another process."""


class SchemaError(StoreError):
    """The store was written with a layout this release cannot read."""


class Unavailable(GraphsvcError):
    """Something the request depends on does not answer now (the audit log's disk, a server); retry later."""
