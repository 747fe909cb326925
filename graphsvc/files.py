"""Durable file operations shared by the audit log, backups and the home's secrets."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["fsync_path", "create_once"]


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (so a new file's name survives a power cut), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_once(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` unless a file is there already: the first writer wins, whole.

    Written 0600 (never readable by others, not even between a write and a chmod) under a name of
    its own, then linked into place: two processes making the same secret at the same moment both
    end up reading the first one linked, never half a file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
