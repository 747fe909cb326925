"""What each role may see of a person: masking of ID numbers, names, phones, addresses and accounts.

Analysts work on patterns, not on people: they see ``430102********945X``, ``杨*``,
``130****2230`` and a birth year (a full birth date fills in the eight hidden digits of
the ID number). A phone, address or bank account is also a *node* of the network, and its
id is the value itself; for a masked role such a node gets a pseudonym: the masked value
and the clear one sealed with the server's secret (deterministic authenticated encryption,
AES-SIV from the ``cryptography`` package), so the same phone is the same node across answers, the server can
open a pseudonym an analyst sends back, and nobody without the secret can recover the number
from the 10,000 candidates its visible digits leave, nor forge a pseudonym for a guess.
Many agencies' 个人编号 is the 身份证号 itself: a person or intermediary whose id is shaped like
an ID number gets such a pseudonym too (``430102********0634~...``), wherever an answer names it.

A masked role may look nodes up only through what it was shown: a clear phone, address,
account or ID number is refused (``MaskedIdentifier``) whether or not the graph has it, so
the answer says nothing about the value.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, overload

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from pydantic import (
    BaseModel,
    ConfigDict,
    SerializationInfo,
    TypeAdapter,
    WrapSerializer,
    create_model,
    field_serializer,
)

from graphsvc import vocab
from graphsvc.errors import Forbidden
from graphsvc.model import ENTITY_TABLES
from graphsvc.network import ENTITY_TYPES
from graphsvc.phones import is_phone_key, phone_key
from graphsvc.store.base import SHOWN_DERIVED
from graphsvc.vocab import IDENTITY_ROLES, ROLES

__all__ = ["Masker", "MaskedIdentifier", "ROLES", "IDENTITY_ROLES", "MASKED_NODE_TYPES", "mask_id_number",
           "mask_phone", "mask_name", "mask_text", "masking", "PersonName", "IdNumber", "Phone", "Address", "Account",
           "BirthDate", "PersonId", "IntermediaryId", "NodeKey", "NodeType", "NodeRef", "LabelledNodeRef",
           "ENTITY_ATTRIBUTES", "masked_dump", "masker_in"]

MASKED_NODE_TYPES = ("phone", "address", "account")
"""Node types whose id is a personal value: a masked role sees and sends only pseudonyms."""
_NAMED_TYPES = ("person", "intermediary")
"""Node types whose records carry an ID number (a masked role may not look them up by one)."""
_ID_NUMBER = re.compile(r"\d{17}[0-9Xx]|\d{15}")
# Phones are written 13812345678, 138-1234-5678 or 138 1234 5678 in notes.
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1\d{2})[- ]?\d{4}[- ]?(\d{4})(?!\d)")
# ...and, as graphsvc.phones reads them, landlines with their area code (0571-8723 6114), numbers of other
# countries (+852 9123 4567) and local numbers written in two halves (8888-6666).
_LANDLINE_IN_TEXT = re.compile(r"(?<![\d+*])(0\d{2,3})[- ]?\d{3,4}[- ]?(\d{4})(?!\d)")
_FOREIGN_IN_TEXT = re.compile(r"(?<![\d*])(\+\d{1,3})[- ]?\d[\d -]{4,12}(\d{4})(?!\d)")
_LOCAL_IN_TEXT = re.compile(r"(?<![\d*-])(\d{2})\d{1,2}-\d{2}(\d{2})(?![\d-])")
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_ACCOUNT_IN_TEXT = re.compile(r"(?<![0-9A-Za-z*])(\d{4})\d{4,11}(\d{4})(?![0-9A-Za-z])")


@overload
def mask_id_number(value: str) -> str: ...
@overload
def mask_id_number(value: None) -> None: ...
def mask_id_number(value: str | None) -> str | None:
    """Keep the region (6) and the last 4 characters of an ID number.

    >>> mask_id_number("43010219400723945X")
    '430102********945X'
    """
    if not value:
        return value
    return value[:6] + "*" * max(len(value) - 10, 0) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_phone(value: str | None) -> str | None:
    """Keep the carrier or area prefix (3) and the last 4 digits of a phone (``graphsvc.phones`` keys);
    of a local number 2 and 2, so that 4 digits at least are always hidden; an extension as it is.

    >>> mask_phone("13000052230"), mask_phone("057187236114-8001"), mask_phone("+85291234567")
    ('130****2230', '057****6114-8001', '+85****4567')
    >>> mask_phone("88886666"), mask_phone("8888888-1"), mask_phone("95518")
    ('88****66', '88****88-1', '*****')
    """
    if not value:
        return value
    number, dash, extension = value.partition("-")
    if len(number) >= 11:
        shown = number[:3] + "****" + number[-4:]
    elif len(number) >= 7:
        shown = number[:2] + "****" + number[-2:]
    else:
        shown = "*" * len(number)
    return shown + dash + extension


def mask_name(value: str | None) -> str | None:
    """Keep the first character of a name (the family name, mostly).

    >>> mask_name("杨梅"), mask_name("欧阳娜娜")
    ('杨*', '欧***')
    """
    if not value:
        return value
    return value[0] + "*" * (len(value) - 1)


def mask_text(text: str) -> str:
    """Mask phones, ID numbers and bank accounts inside free text (evidence details, notes).

    >>> mask_text("contact phone 13000052230 of 43010219400723945X, paid to 6222000000000001")
    'contact phone 130****2230 of 430102********945X, paid to 6222****0001'
    >>> mask_text("举报人电话 138-1234-5678 或 138 1234 5678")
    '举报人电话 138****5678 或 138****5678'
    >>> mask_text("诊所 0571-8723 6114转8001, 香港 +852 9123 4567, 小卖部 8888-6666, 2026-03-05")
    '诊所 0571****6114转8001, 香港 +852****4567, 小卖部 88****66, 2026-03-05'
    """
    text = _ID_IN_TEXT.sub(lambda m: m.group(1) + "********" + m.group(2), text)
    text = _ACCOUNT_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)
    text = _PHONE_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)
    text = _FOREIGN_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)
    text = _LANDLINE_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)
    return _LOCAL_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)


class MaskedIdentifier(Forbidden):
    """A masked role sent a clear personal value (or something that is not its pseudonym) to look up."""


@functools.lru_cache(maxsize=8)
def _pseudonym_cipher(secret: bytes) -> AESSIV:
    """AES-SIV (RFC 5297) keyed from the server's secret: deterministic authenticated encryption."""
    return AESSIV(hmac.new(secret, b"graphsvc pseudonym", hashlib.sha512).digest())


@functools.lru_cache(maxsize=1 << 16)
def _seal(cipher: AESSIV, node_type: str, node_id: str) -> str:
    """``node_id`` sealed for ``node_type``, base64: kept, since a network names a broker's phone on every
    edge and the same nodes come back in answer after answer."""
    sealed = cipher.encrypt(node_id.encode(), [node_type.encode()])
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def _birth_year(value: Any) -> str:
    return str(value.year) if hasattr(value, "year") else str(value)[:4]


class Masker:
    """Masks what ``role`` may not see; a pass-through for roles that see identities.

    >>> analyst = Masker("analyst", secret="s" * 32)
    >>> analyst.entity("person", {"person_id": "P1", "name": "杨梅", "phone": "13000052230",
    ...                           "birth_date": "1983-03-27"})
    {'person_id': 'P1', 'name': '杨*', 'birth_date': '1983', 'phone': '130****2230'}
    >>> pseudonym = analyst.node_id("phone", "13000052230")
    >>> pseudonym.startswith("130****2230~"), analyst.lookup_id("phone", pseudonym)
    (True, '13000052230')
    >>> analyst.lookup_id("phone", "13000052230")
    Traceback (most recent call last):
    ...
    queries.masking.MaskedIdentifier: phone values are masked for the analyst role: look one up by the id an answer gave you
    >>> card = analyst.entity("card", {"card_id": "C1", "person_id": "430102197508090634"})
    >>> card["person_id"].startswith("430102********0634~"), analyst.lookup_id("person", card["person_id"])
    (True, '430102197508090634')
    >>> Masker("investigator", secret="s" * 32).node_id("phone", "13000052230")
    '13000052230'
    """

    def __init__(self, role: str, *, secret: str) -> None:
        self.role = role
        self.active = role not in IDENTITY_ROLES
        self._cipher = _pseudonym_cipher(secret.encode())

    def value(self, kind: str, value: Any) -> Any:
        if not self.active or value is None:
            return value
        if kind == "birth_date":
            return _birth_year(value)
        if not isinstance(value, str):
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
        """An entity's attributes as the role may see them, each by its kind (``ENTITY_ATTRIBUTES``:
        institutions and prescribers are public)."""
        shown = ENTITY_ATTRIBUTES[node_type].model_validate(attributes)
        return shown.model_dump(context=masking(self), exclude_unset=True)

    def node_id(self, node_type: str, node_id: str) -> str:
        """The id a role sees for a node: identifier values, and person ids that are ID numbers,
        get a masked, sealed pseudonym."""
        if not self.active or not _sealed(node_type, node_id):
            return node_id
        return f"{self._visible(node_type, node_id)}~{_seal(self._cipher, node_type, node_id)}"

    def shown(self, node_type: str, node_id: str) -> str:
        """A node's id as a sentence shows it to the role: a pseudonym's masked part, without the seal
        that only a lookup needs (``130****2230``).

        >>> Masker("analyst", secret="s" * 32).shown("phone", "13000052230")
        '130****2230'
        """
        return self._visible(node_type, node_id) if self.active and _sealed(node_type, node_id) else node_id

    def _visible(self, node_type: str, clear: str) -> str:
        """The masked part of a pseudonym: as the value is shown where it is an attribute."""
        return mask_id_number(clear) if node_type in _NAMED_TYPES else self.value(node_type, clear)

    def node_key(self, key: str) -> str:
        if not self.active:
            return key
        node_type, _, node_id = key.partition(":")
        return f"{node_type}:{self.node_id(node_type, node_id)}"

    def label(self, node_type: str, label: str | None) -> str | None:
        if not self.active or label is None:
            return label
        if node_type in MASKED_NODE_TYPES:
            return self.value(node_type, label)
        if node_type in _NAMED_TYPES:
            return mask_name(label)
        return label

    def text(self, text: str, names: Iterable[str] = (), addresses: Iterable[str] = ()) -> str:
        """``text`` with phones, ID numbers and accounts masked, and each of ``names`` and
        ``addresses`` (which no pattern can tell in prose) where it occurs.

        >>> Masker("analyst", secret="s" * 32).text("李四说 13812345678 是王小明的", names=["王小明", "李四"])
        '李*说 138****5678 是王**的'
        >>> Masker("analyst", secret="s" * 32).text("registered at 长沙市雨花区新建村5栋302室", addresses=["长沙市雨花区新建村5栋302室"])
        'registered at 长沙市雨花区***'
        """
        if not self.active:
            return text
        text = mask_text(text)
        known = {**{n: mask_name(n) for n in names}, **{a: self.value("address", a) for a in addresses}}
        for value in sorted(known, key=len, reverse=True):  # 王小明 before a 王小 it contains
            text = text.replace(value, known[value])
        return text

    def reveal(self, node_type: str, pseudonym: str) -> str | None:
        """The clear value behind one of this server's pseudonyms for ``node_type``; None for anything else."""
        masked, tilde, sealed = pseudonym.rpartition("~")
        if not tilde:
            return None
        try:
            raw = base64.b64decode(sealed + "=" * (-len(sealed) % 4), altchars=b"-_", validate=True)
            clear = self._cipher.decrypt(raw, [node_type.encode()]).decode()
        except (ValueError, InvalidTag):  # not base64, forged or altered, or not UTF-8: not a pseudonym
            return None
        # the visible part must be the one this value gets, so that a pseudonym reads true
        return clear if _sealed(node_type, clear) and masked == self._visible(node_type, clear) else None

    def lookup_id(self, node_type: str, node_id: str) -> str:
        """The id to look ``node_id`` up by for this role: a pseudonym opened, anything else as sent.

        Raises ``MaskedIdentifier`` when a masked role sends a clear phone, address or account (or a
        string that is not its pseudonym), or an ID number as a person's or intermediary's id (the
        id they were shown is its pseudonym): the message names only the type.
        """
        if not self.active:
            # A phone as an investigator writes it (+86 159-0000-0017) is looked up by its key, as search finds it.
            key = phone_key(node_id) if node_type == "phone" else None
            return key if key is not None and is_phone_key(key) else node_id
        clear = self.reveal(node_type, node_id)
        if clear is not None:
            return clear
        if node_type in MASKED_NODE_TYPES:
            raise MaskedIdentifier(f"{node_type} values are masked for the {self.role} role: "
                                   "look one up by the id an answer gave you",
                                   zh=f"{ROLES[self.role].zh}看到的{vocab.NODE_TYPES[node_type].zh}是脱敏的：请用查询结果中给出的编号查找")
        if _sealed(node_type, node_id):
            raise MaskedIdentifier(f"ID numbers are masked for the {self.role} role: "
                                   f"look a {node_type} up by the id an answer gave you",
                                   zh=f"{ROLES[self.role].zh}看到的身份证号是脱敏的：请用查询结果中给出的编号查找"
                                      f"{vocab.NODE_TYPES[node_type].zh}")
        return node_id


def _sealed(node_type: str, node_id: str) -> bool:
    """Whether a masked role sees ``node_id`` only as a pseudonym: a phone, address or account, or a
    person or intermediary whose id is an ID number."""
    return node_type in MASKED_NODE_TYPES or (node_type in _NAMED_TYPES and bool(_ID_NUMBER.fullmatch(node_id)))


# ---- field kinds: a result model types each personal field, and it is masked when serialised ----
#
# ``model.model_dump(context=masking(masker))`` (or ``model_dump_json``) masks every field typed
# with one of these kinds for the masker's role; the routes and the export serialise that way, so a
# field typed ``Phone`` is masked wherever a model has it, with nothing to remember at the call site.
# Without a masker in the context serialising a personal field fails: nothing is shown by default.


def masking(masker: Masker) -> dict[str, Masker]:
    """The serialisation context that masks a result for ``masker``'s role.

    >>> class Contact(BaseModel):
    ...     name: PersonName
    ...     phone: Phone | None = None
    ...     holder: PersonId
    >>> contact = Contact(name="杨梅", phone="13000052230", holder="430102197508090634")
    >>> shown = contact.model_dump(context=masking(Masker("analyst", secret="s" * 32)))
    >>> shown["name"], shown["phone"], shown["holder"].startswith("430102********0634~")
    ('杨*', '130****2230', True)
    >>> contact.model_dump(context=masking(Masker("investigator", secret="s" * 32)))["phone"]
    '13000052230'
    >>> contact.model_dump()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.PydanticSerializationError: ...a result with personal fields was serialised without a masker...
    """
    return {"masker": masker}


def masker_in(info: SerializationInfo) -> Masker:
    """The masker a result is being serialised for (``masking(masker)`` in the context)."""
    if not isinstance(info.context, dict) or "masker" not in info.context:
        raise TypeError("a result with personal fields was serialised without a masker: "
                        "dump it with context=masking(masker)")
    return info.context["masker"]


def _value_kind(kind: str) -> WrapSerializer:
    def serialise(value: Any, handler: Any, info: SerializationInfo) -> str:
        return handler(masker_in(info).value(kind, value))
    return WrapSerializer(serialise, when_used="unless-none")


def _node_kind(node_type: str) -> WrapSerializer:
    def serialise(value: Any, handler: Any, info: SerializationInfo) -> str:
        return handler(masker_in(info).node_id(node_type, value))
    return WrapSerializer(serialise, when_used="unless-none")


def _birth_date(value: Any, handler: Any, info: SerializationInfo) -> date | str:
    masker = masker_in(info)
    return masker.value("birth_date", value) if masker.active else handler(value)


def _node_key(value: Any, handler: Any, info: SerializationInfo) -> str:
    return handler(masker_in(info).node_key(value))


PersonName = Annotated[str, _value_kind("name")]
"""A person's or intermediary's name: ``杨*``."""
IdNumber = Annotated[str, _value_kind("id_number")]
Phone = Annotated[str, _value_kind("phone")]
Address = Annotated[str, _value_kind("address")]
Account = Annotated[str, _value_kind("account")]
BirthDate = Annotated[date | str, WrapSerializer(_birth_date, when_used="unless-none")]
"""A birth date; the year only for a masked role (a full date fills in the ID number's hidden digits)."""
PersonId = Annotated[str, _node_kind("person")]
"""A person's id (it may be an ID number: then a pseudonym)."""
IntermediaryId = Annotated[str, _node_kind("intermediary")]
NodeKey = Annotated[str, WrapSerializer(_node_key, when_used="unless-none")]
"""A node's key, ``type:id``; a personal id in it is a pseudonym for a masked role."""


if TYPE_CHECKING:  # the node types are the vocabulary's, known when it is loaded: a str to the type checker
    NodeType = str
else:
    NodeType = Literal[tuple(vocab.NODE_TYPES)]


class NodeRef(BaseModel):
    """A result naming a node by ``type`` and ``id``, whose id's kind is its type: a phone's, an
    address's or an account's id, or a person's that is an ID number, is a pseudonym for a masked role."""

    type: NodeType
    id: str

    @field_serializer("id")
    def _shown_id(self, value: str, info: SerializationInfo) -> str:
        return masker_in(info).node_id(self.type, value)


class LabelledNodeRef(NodeRef):
    """…with the node's label, whose kind is its type too (a person's name, a phone's value)."""

    label: str | None = None

    @field_serializer("label")
    def _shown_label(self, value: str | None, info: SerializationInfo) -> str | None:
        return masker_in(info).label(self.type, value)


_PLAIN: TypeAdapter[Any] = TypeAdapter(Any)


def masked_dump(result: Any, masker: Masker) -> Any:
    """``result`` (a model, or dicts and lists holding models) as plain JSON data, masked for the role."""
    return _PLAIN.dump_python(result, mode="json", context=masking(masker))


_VALUE_TYPES: dict[str, Any] = {"date": date | str, "datetime": datetime | str, "amount": float, "list": list[str]}
"""How each column kind of the data model is read back, unless it holds a personal value."""
_PERSONAL_KINDS: dict[str, Any] = {"address": Address, "phone": Phone, "id_number": IdNumber, "account": Account}
_PERSONAL_COLUMNS: dict[str, Any] = {"name": PersonName, "birth_date": BirthDate, "address_key": Address}
"""Columns personal by their name: a person's or agent's name, a birth date, the household's address key."""
_ID_COLUMNS: dict[str, Any] = {"person_id": PersonId, "person_key": PersonId, "intermediary_id": IntermediaryId}
_PUBLIC_TYPES = ("institution", "prescriber")
"""Node types whose records are public (a hospital's phone and address are on its sign)."""


def _attribute_kind(node_type: str, name: str, column_kind: str) -> Any:
    if name in _ID_COLUMNS:
        return _ID_COLUMNS[name]
    if node_type not in _PUBLIC_TYPES:
        if name in _PERSONAL_COLUMNS:
            return _PERSONAL_COLUMNS[name]
        if column_kind in _PERSONAL_KINDS:
            return _PERSONAL_KINDS[column_kind]
    return _VALUE_TYPES.get(column_kind, str)


def _attribute_model(node_type: str) -> type[BaseModel]:
    """The attributes of ``node_type``'s records, each typed with its kind, read from the data model.

    >>> card = _attribute_model("card").model_validate({"card_id": "C1", "bound_phone": "13000052230"})
    >>> card.model_dump(context=masking(Masker("analyst", secret="s" * 32)), exclude_unset=True)
    {'card_id': 'C1', 'bound_phone': '130****2230'}
    >>> hospital = _attribute_model("institution").model_validate({"institution_id": "H1", "phone": "073188888888"})
    >>> hospital.model_dump(context=masking(Masker("analyst", secret="s" * 32)), exclude_unset=True)["phone"]
    '073188888888'
    """
    if node_type in ENTITY_TYPES:
        table = ENTITY_TABLES[ENTITY_TYPES[node_type]]
        fields = {c.name: _attribute_kind(node_type, c.name, c.kind) for c in table.columns}
        fields |= {name: _attribute_kind(node_type, name, "id") for name, _ in table.derived if name in SHOWN_DERIVED}
        if node_type == "person":
            fields["person_ids"] = list[PersonId]  # the person's other records (one ID number, two 参保人编号)
    else:  # an identifier node: its value is its id
        fields = {"value": Annotated[str, _node_kind(node_type)]}
    optional: dict[str, Any] = {name: (kind | None, None) for name, kind in fields.items()}
    return create_model(f"{node_type.title()}Attributes", __config__=ConfigDict(extra="ignore"), **optional)


ENTITY_ATTRIBUTES: dict[str, type[BaseModel]] = {t: _attribute_model(t) for t in vocab.NODE_TYPES}
"""Each node type's attributes (a new phone column of the data model is a ``Phone`` here, so masked
for analysts wherever a record is shown)."""
