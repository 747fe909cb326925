"""API keys: random tokens, stored only as their SHA-256 digest, each with one role.

A key is 32 random bytes, so a plain SHA-256 is enough to store it (no dictionary to
guess from, unlike a password); the digest is what requests are checked against. A key
may carry an expiry (``expires_at``) and can be revoked; either way it is refused as an
unknown one would be.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphsvc.errors import InputError
from graphsvc.store import GraphStore
from queries.masking import ROLES

__all__ = ["Principal", "create_api_key", "revoke_api_key", "list_api_keys", "principal_for", "digest", "KEY_PREFIX",
           "ENV_ADMIN_ID", "MAX_KEY_NAME", "key_name_problem"]

KEY_PREFIX = "gsk_"
ENV_ADMIN_ID = "env-admin"
"""The key id of GRAPHSVC_ADMIN_KEY: not stored, so it cannot be revoked, only unset."""
MAX_KEY_NAME = 100
"""Longest key name, the same for the command line and POST /apikeys."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (its digest's head), name and role."""

    key_id: str
    name: str
    role: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now().astimezone()


def key_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a key (None when it can): the audit log names a key's holder by it, and
    ``graphsvc apikey list`` prints it on a terminal.

    >>> key_name_problem("王分析"), key_name_problem("  "), key_name_problem("a\x1b[2Jb")
    (None, 'a key names who it is for: give a name', 'a control character in the name')
    """
    if not name.strip():
        return "a key names who it is for: give a name"
    if len(name) > MAX_KEY_NAME:
        return f"over {MAX_KEY_NAME} characters"
    if any(unicodedata.category(c) == "Cc" and c != "\t" for c in name):  # a tab moves no cursor but along
        return "a control character in the name"
    return None


def create_api_key(store: GraphStore, role: str, name: str, *,
                   expires_at: datetime | None = None) -> tuple[str, Principal]:
    """Make and store a new key; the clear key is returned once and never stored."""
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}", zh=f"角色须为 {'、'.join(ROLES)} 之一")
    if (problem := key_name_problem(name)) is not None:
        raise InputError(f"key name {name!r}: {problem}", zh=f"密钥名称 {name!r} 不可用：{problem}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    hashed = digest(key)
    principal = Principal(hashed[:12], name, role)
    store.put_record("api_key", hashed, {
        "key_id": principal.key_id, "name": name, "role": role, "created_at": _now().isoformat(timespec="seconds"),
        "expires_at": expires_at.astimezone().isoformat(timespec="seconds") if expires_at else None})
    return key, principal


def revoke_api_key(store: GraphStore, key_id: str) -> dict[str, Any] | None:
    """Revoke the key with this id; its record (with ``revoked_at``), or None if there is no such key.

    The key's own record is kept (the audit log's key ids keep their names). Revocation is a
    record of its own, keyed by the key id: a key's record is keyed by its whole digest,
    which is not kept anywhere else, and the id is all a caller presents here.
    """
    record = next((k for k in list_api_keys(store) if k["key_id"] == key_id), None)
    if record is None:
        return None
    if not record["revoked_at"]:
        record["revoked_at"] = _now().isoformat(timespec="seconds")
        store.put_record("api_key_revocation", key_id, {"key_id": key_id, "revoked_at": record["revoked_at"]})
    return record


def list_api_keys(store: GraphStore) -> list[dict[str, Any]]:
    """Every key's id, name, role, creation, expiry and revocation (never the key or its digest)."""
    _, keys = store.list_records("api_key", limit=100_000)
    _, revocations = store.list_records("api_key_revocation", limit=100_000)
    revoked = {r["key_id"]: r["revoked_at"] for r in revocations}
    return [{**k, "expires_at": k.get("expires_at"), "revoked_at": revoked.get(k["key_id"])} for k in keys]


def principal_for(store: GraphStore, key: str, *, admin_key: str | None = None) -> Principal | None:
    """The principal a presented key stands for, or None (unknown, revoked or expired)."""
    if admin_key and secrets.compare_digest(key.encode(), admin_key.encode()):
        return Principal(ENV_ADMIN_ID, "GRAPHSVC_ADMIN_KEY", "admin")
    record = store.get_record("api_key", digest(key))
    if record is None or store.get_record("api_key_revocation", record["key_id"]) is not None:
        return None
    expires_at = record.get("expires_at")
    if expires_at and datetime.fromisoformat(expires_at) <= _now():
        return None
    return Principal(record["key_id"], record["name"], record["role"])
