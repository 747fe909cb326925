"""What each role may see of a person: masking of ID numbers, names, phones, addresses and accounts.

Analysts work on patterns, not on people: they see ``430102********945X``, ``杨*``,
``130****2230``. A phone, address or bank account is also a *node* of the network, and its
id is the value itself; for a masked role such a node gets a keyed pseudonym (HMAC with the
server's secret) so that the same phone is the same node across answers, yet the number
cannot be recovered by hashing the 10,000 candidates its visible digits leave.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

__all__ = ["Masker", "ROLES", "IDENTITY_ROLES", "mask_id_number", "mask_phone", "mask_name", "mask_text"]

ROLES = ("admin", "investigator", "police_liaison", "analyst")
IDENTITY_ROLES = frozenset({"admin", "investigator", "police_liaison"})
"""Roles that see ID numbers, names and phones in clear."""

_MASKED_NODE_TYPES = ("phone", "address", "account")
_PERSON_FIELDS = {"id_number": "id_number", "name": "name", "phone": "phone", "address": "address",
                  "bound_phone": "phone", "contact_phone": "phone", "payee_account": "account"}
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1\d{2})\d{4}(\d{4})(?!\d)")
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_ACCOUNT_IN_TEXT = re.compile(r"(?<![0-9A-Za-z*])(\d{4})\d{4,11}(\d{4})(?![0-9A-Za-z])")


def mask_id_number(value: str | None) -> str | None:
    """Keep the region (6) and the last 4 characters of an ID number.

    >>> mask_id_number("43010219400723945X")
    '430102********945X'
    """
    if not value:
        return value
    return value[:6] + "*" * max(len(value) - 10, 0) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_phone(value: str | None) -> str | None:
    """Keep the carrier prefix (3) and the last 4 digits of a phone.

    >>> mask_phone("13000052230")
    '130****2230'
    """
    if not value:
        return value
    return value[:3] + "****" + value[-4:] if len(value) >= 8 else "*" * len(value)


def mask_name(value: str | None) -> str | None:
    """Keep the first character of a name (the family name, mostly).

    >>> mask_name("杨梅"), mask_name("欧阳娜娜")
    ('杨*', '欧***')
    """
    if not value:
        return value
    return value[0] + "*" * (len(value) - 1)


def mask_text(text: str) -> str:
    """Mask phones, ID numbers and bank accounts inside free text (evidence details).

    >>> mask_text("contact phone 13000052230 of 43010219400723945X, paid to 6222000000000001")
    'contact phone 130****2230 of 430102********945X, paid to 6222****0001'
    """
    text = _ID_IN_TEXT.sub(lambda m: m.group(1) + "********" + m.group(2), text)
    text = _ACCOUNT_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)
    return _PHONE_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)


class Masker:
    """Masks what ``role`` may not see; a pass-through for roles that see identities.

    >>> analyst = Masker("analyst", secret="s" * 32)
    >>> analyst.entity("person", {"person_id": "P1", "name": "杨梅", "phone": "13000052230"})
    {'person_id': 'P1', 'name': '杨*', 'phone': '130****2230'}
    >>> analyst.node_id("phone", "13000052230").startswith("130****2230~")
    True
    >>> Masker("investigator", secret="s" * 32).node_id("phone", "13000052230")
    '13000052230'
    """

    def __init__(self, role: str, *, secret: str) -> None:
        self.role = role
        self.active = role not in IDENTITY_ROLES
        self._secret = secret.encode()

    def value(self, kind: str, value: Any) -> Any:
        if not self.active or not isinstance(value, str):
            return value
        if kind == "id_number":
            return mask_id_number(value)
        if kind == "phone":
            return mask_phone(value)
        if kind == "name":
            return mask_name(value)
        if kind == "address":
            return value[:6] + "***" if len(value) > 6 else "***"
        if kind == "account":
            return value[:4] + "****" + value[-4:] if len(value) > 8 else "****"
        return value

    def entity(self, node_type: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """An entity's attributes as the role may see them (institutions and prescribers are public)."""
        if not self.active or node_type in ("institution", "prescriber"):
            return attributes
        masked = {k: self.value(_PERSON_FIELDS[k], v) if k in _PERSON_FIELDS else v for k, v in attributes.items()}
        if node_type in _MASKED_NODE_TYPES and "value" in masked:
            masked["value"] = self.node_id(node_type, attributes["value"])
        return masked

    def node_id(self, node_type: str, node_id: str) -> str:
        """The id a role sees for a node: identifier values get a masked, keyed pseudonym."""
        if not self.active or node_type not in _MASKED_NODE_TYPES:
            return node_id
        tag = hmac.new(self._secret, f"{node_type}:{node_id}".encode(), hashlib.sha256).hexdigest()[:10]
        return f"{self.value(node_type, node_id)}~{tag}"

    def node_key(self, key: str) -> str:
        if not self.active:
            return key
        node_type, _, node_id = key.partition(":")
        return f"{node_type}:{self.node_id(node_type, node_id)}"

    def label(self, node_type: str, label: str | None) -> str | None:
        if not self.active or label is None:
            return label
        if node_type in _MASKED_NODE_TYPES:
            return self.value(node_type, label)
        if node_type in ("person", "intermediary"):
            return mask_name(label)
        return label

    def text(self, text: str) -> str:
        return mask_text(text) if self.active else text

    def is_masked_id(self, node_type: str, node_id: str) -> bool:
        """Whether ``node_id`` is one of this role's pseudonyms (it cannot be looked up)."""
        return self.active and node_type in _MASKED_NODE_TYPES and "~" in node_id
