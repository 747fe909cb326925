"""API keys: random tokens, stored only as their SHA-256 digest, each with one role.

A key is 32 random bytes, so a plain SHA-256 is enough to store it (no dictionary to
guess from, unlike a password); the digest is what requests are checked against.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from graphsvc.store import GraphStore
from queries.masking import ROLES

__all__ = ["Principal", "create_api_key", "principal_for", "digest", "KEY_PREFIX"]

KEY_PREFIX = "gsk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (its digest's head), name and role."""

    key_id: str
    name: str
    role: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(store: GraphStore, role: str, name: str) -> tuple[str, Principal]:
    """Make and store a new key; the clear key is returned once and never stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    hashed = digest(key)
    principal = Principal(hashed[:12], name, role)
    store.put_record("api_key", hashed, {"key_id": principal.key_id, "name": name, "role": role,
                                         "created_at": datetime.now().astimezone().isoformat(timespec="seconds")})
    return key, principal


def principal_for(store: GraphStore, key: str, *, admin_key: str | None = None) -> Principal | None:
    """The principal a presented key stands for, or None."""
    if admin_key and secrets.compare_digest(key.encode(), admin_key.encode()):
        return Principal("env-admin", "GRAPHSVC_ADMIN_KEY", "admin")
    record = store.get_record("api_key", digest(key))
    if record is None or record.get("revoked"):
        return None
    return Principal(record["key_id"], record["name"], record["role"])
