"""The investigative network: the graph an investigator looks at, with claims folded into edges.

The stored model keeps each settlement as a node (see ``graphsvc.model``). Investigators ask
"who is this person linked to", and a person with 300 pharmacy visits would drown that
answer in 300 settlement nodes. So the network served by the API folds a person's claims
into one edge per thing they touch: ``person -SETTLED_AT-> institution`` (×n claims, fund,
first and last time), ``USED_CARD`` (another holder's card), ``CONTACT_PHONE``,
``HANDLED_BY`` (the agent), ``PAID_TO``, ``SCANNED_ON``, ``PRESCRIBED_BY``; plus the
registered links (phone, address, card holder, device, workplace), and ``SAME_PERSON`` from a
person's second record (another 参保人编号 under the same ID number) to the first. Operators and drug
trace codes stay out: a cashier links every customer of a pharmacy, and a box code one
claim; both are evidence facts, not network edges.

A node is named by its key ``"type:id"``, e.g. ``"person:P0001"`` or ``"phone:13800000000"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from graphsvc.errors import InputError

__all__ = ["NODE_TYPES", "ENTITY_TYPES", "IDENTIFIER_TYPES", "NETWORK_RELATIONSHIPS", "Edge", "Neighbourhood",
           "node_key", "split_key"]

ENTITY_TYPES: dict[str, str] = {
    "person": "persons", "card": "cards", "institution": "institutions", "prescriber": "prescribers",
    "intermediary": "intermediaries",
}
"""Node types backed by an input file, and that file's table."""

IDENTIFIER_TYPES: tuple[str, ...] = ("phone", "address", "device", "account")
"""Node types that are a normalised value shared by whoever uses it."""

NODE_TYPES: tuple[str, ...] = tuple(ENTITY_TYPES) + IDENTIFIER_TYPES

NETWORK_RELATIONSHIPS: dict[str, tuple[str, str]] = {
    "HAS_PHONE": ("registered phone", "登记电话"),
    "LIVES_AT": ("lives at", "居住地址"),
    "SAME_PERSON": ("another record of the same person", "同一人的另一参保记录"),
    "LOCATED_AT": ("located at", "机构地址"),
    "HELD_BY": ("card held by", "持卡人"),
    "BOUND_TO_PHONE": ("e-voucher bound to phone", "电子凭证绑定手机"),
    "ON_DEVICE": ("e-voucher on device", "电子凭证所在设备"),
    "WORKS_AT": ("works at", "执业机构"),
    "SETTLED_AT": ("claims at", "就诊结算"),
    "USED_CARD": ("used another's card", "冒用他人医保卡"),
    "PRESCRIBED_BY": ("prescribed by", "开方医生"),
    "CONTACT_PHONE": ("claim contact phone", "结算联系电话"),
    "HANDLED_BY": ("claims handled by agent", "代办人"),
    "PAID_TO": ("claims paid to account", "收款账户"),
    "SCANNED_ON": ("card scanned on device", "扫码设备"),
}
"""Relationship types of the network, with an English and a Chinese label for people."""


class Edge(NamedTuple):
    """One network edge from ``source`` to ``target`` (both node keys); a tuple because a 2-hop
    answer builds hundreds of them per request.

    For claim edges ``claims`` counts the folded settlements, ``fund_amount`` sums their fund
    share and ``first``/``last`` are the first and last claim's day (ISO); registered links
    have ``claims == 0``.
    """

    source: str
    type: str
    target: str
    claims: int = 0
    fund_amount: float = 0.0
    first: str | None = None
    last: str | None = None


@dataclass(frozen=True)
class Neighbourhood:
    """A node's edges as a backend returns them: its ``degree``, up to a limit of its heaviest
    ``edges``, and the (degree, label) of each node at their other end, so a traversal needs
    no second lookup to decide whether a neighbour is a hub."""

    degree: int
    edges: list[Edge]
    neighbours: dict[str, tuple[int, str | None]]


def node_key(node_type: str, node_id: str) -> str:
    """The node key of an entity.

    >>> node_key("person", "P0001")
    'person:P0001'
    """
    if node_type not in NODE_TYPES:
        raise InputError(f"unknown node type {node_type!r}; one of: {', '.join(NODE_TYPES)}",
                         zh=f"未知的节点类型 {node_type!r}；可选：{'、'.join(NODE_TYPES)}")
    return f"{node_type}:{node_id}"


def split_key(key: str) -> tuple[str, str]:
    """``"type:id"`` back to (type, id); ids may contain colons.

    >>> split_key("address:北京市:朝阳区")
    ('address', '北京市:朝阳区')
    """
    node_type, sep, node_id = key.partition(":")
    if not sep or node_type not in NODE_TYPES or not node_id:
        raise InputError(f"bad node {key!r}: write TYPE:ID with TYPE one of {', '.join(NODE_TYPES)}",
                         zh=f"节点 {key!r} 写法有误：应为 类型:编号，类型为 {'、'.join(NODE_TYPES)} 之一")
    return node_type, node_id
