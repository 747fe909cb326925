"""The words of the service, defined once: ring patterns, finding kinds, API roles, node types,
member roles, dispositions, export formats and webhook events, each with its Chinese label first and its English one beside it,
and the colour (and shape) the console and the police package draw a node type in.

Everything that names one of these to a person reads it here: the API (``GET /vocab``), the
console (which fetches ``/vocab`` when it starts), the police package and the CLI's choices.
The ids are the contract's and the API's; the labels are for people.

>>> PATTERNS["black_intermediary"].zh, PATTERNS["black_intermediary"].en
('黑中介', 'black intermediary')
>>> tuple(NODE_TYPES) == network.NODE_TYPES
True
>>> member_role_of_type("intermediary"), MEMBER_ROLES["broker"].zh
('broker', '中介')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from graphsvc import network

__all__ = ["Term", "PATTERNS", "FINDING_KINDS", "FLAGS", "ROLES", "IDENTITY_ROLES", "NODE_TYPES", "MEMBER_ROLES",
           "DISPOSITIONS", "EXPORT_FORMATS", "WEBHOOK_EVENTS", "COLUMNS", "VALUES", "LEAD_SOURCE_WORDS",
           "known_from_lead", "member_role_of_type", "vocabulary"]


@dataclass(frozen=True)
class Term:
    """One word: its id, Chinese and English labels, and how the console draws it (node types only)."""

    id: str
    zh: str
    en: str
    colour: str | None = None
    shape: str | None = None
    """A Cytoscape node shape, so that types stay apart for readers who do not tell the colours apart."""


def _terms(*terms: Term) -> dict[str, Term]:
    return {t.id: t for t in terms}


PATTERNS = _terms(
    Term("professional_gang", "职业骗保团伙", "professional gang"),
    Term("black_intermediary", "黑中介", "black intermediary"),
    Term("card_collector", "卡贩子（收卡刷卡）", "card collector"),
    Term("prescriber_pharmacy_collusion", "医药勾结", "prescriber–pharmacy collusion"),
    Term("care_home_collusion", "养老机构合谋", "care-home collusion"),
    Term("identity_misuse", "冒用身份", "identity misuse"),
    Term("other", "其他", "other"),
)
"""The contract's ring patterns, in its order."""

FINDING_KINDS = _terms(
    Term("shared_agent", "同一代办人", "shared agent"),
    Term("shared_contact_phone", "同一联系电话", "shared contact phone"),
    Term("shared_payee_account", "同一收款账户", "shared payee account"),
    Term("shared_bound_phone", "电子凭证绑定同一手机", "e-vouchers bound to one phone"),
    Term("shared_card_device", "同一设备存有多人电子凭证", "one device holding others' e-vouchers"),
    Term("shared_scan_device", "同一设备扫描多人医保凭证", "one device scanning others' cards"),
    Term("shared_own_phone", "多人登记同一本人电话", "one phone registered by many"),
    Term("card_used_by_others", "医保卡被他人使用", "card used by persons outside the holder's household"),
    Term("card_used_after_death", "参保人死亡后仍在使用医保卡", "card used after the holder's death"),
    Term("card_in_two_places", "同一医保卡短时间内在两地使用", "card used at two institutions minutes apart"),
    Term("dead_cards_one_operator", "同一操作员使用多名已故人员医保卡", "dead persons' cards used through one operator"),
    Term("co_admission_lockstep", "结伴同进同出住院", "admitted together again and again"),
    Term("shared_address", "多户同一地址", "many households at one address"),
    Term("card_burst", "医保卡集中突击使用", "cards used in a burst"),
    Term("unseen_prescriptions", "为未就诊者开处方", "prescriptions for patients the prescriber never saw"),
    Term("care_home_waves", "养老机构成批住院", "care-home residents admitted in waves"),
    Term("trace_code_resold", "药品追溯码重复销售", "drug box trace code sold more than once"),
)
"""What a detector reports (an evidence entry's ``kind``), each kind once: the evidence sentences
(``graphsvc.evidence``) say what one finding found, these labels name the kind."""

LEAD_SOURCE_WORDS = ("举报", "线索", "公安", "警方", "情报", "tip", "police", "intelligence", "informant")
"""Words of an intermediary's ``source`` (free text in the contract) saying he is known from a lead, a tip or
police intelligence, not from a registration with the fund: his claims are never explained as a registered
agent's routine work (``known_from_lead``)."""


def known_from_lead(source: str | None) -> bool:
    """Whether an intermediary's ``source`` says he is known from a lead.

    >>> [known_from_lead(s) for s in ("举报线索", "Police intelligence", "agent_registration", "经办人字段", None)]
    [True, True, False, False, False]
    """
    return source is not None and any(word in source.lower() for word in LEAD_SOURCE_WORDS)


FLAGS = {kind: FINDING_KINDS[kind] for kind in ("card_used_after_death", "card_used_by_others",
                                                "card_in_two_places", "trace_code_resold", "unseen_prescriptions")}
FLAGS["deceased"] = Term("deceased", "参保人已死亡", "insured person deceased")
"""What an entity's page flags about it: the findings that are about one card, box or prescriber by
themselves, and a death on record."""

ROLES = _terms(
    Term("admin", "管理员", "admin"),
    Term("investigator", "调查员", "investigator"),
    Term("police_liaison", "公安联络员", "police liaison"),
    Term("analyst", "分析员", "analyst"),
)
"""Who an API key belongs to (see the README's Security section for what each may do)."""

IDENTITY_ROLES = frozenset({"admin", "investigator", "police_liaison"})
"""Roles that see ID numbers, names, phones, addresses and accounts in clear; the others see them masked."""

_NODE_TYPE_TERMS = _terms(
    Term("person", "参保人", "person", "#4e79a7", "ellipse"),
    Term("card", "医保卡/电子凭证", "card / e-voucher", "#f28e2b", "round-rectangle"),
    Term("institution", "定点机构", "institution", "#e15759", "rectangle"),
    Term("prescriber", "医师", "prescriber", "#76b7b2", "diamond"),
    Term("intermediary", "中介", "intermediary", "#b07aa1", "star"),
    Term("phone", "电话", "phone", "#59a14f", "triangle"),
    Term("address", "地址", "address", "#edc948", "hexagon"),
    Term("device", "设备", "device", "#9c755f", "vee"),
    Term("account", "账户", "account", "#ff9da7", "octagon"),
)
NODE_TYPES = {node_type: _NODE_TYPE_TERMS[node_type] for node_type in network.NODE_TYPES}
"""The network's node types (``graphsvc.network.NODE_TYPES``, in its order) as people read them."""
if set(_NODE_TYPE_TERMS) != set(network.NODE_TYPES):
    raise RuntimeError("graphsvc.vocab: every network node type needs its labels, and only those")

MEMBER_ROLES = _terms(
    Term("agent", "代办人", "agent"),
    Term("card_user", "冒用他人卡", "uses others' cards"),
    Term("card_lender", "出借/出售卡", "lends or sells a card"),
    Term("beneficiary", "参保人", "beneficiary"),
    Term("broker", "中介", "broker"),
    Term("institution", "定点机构", "institution"),
    Term("prescriber", "医师", "prescriber"),
    Term("card", "卡", "card"),
    Term("shared_identifier", "共用标识", "shared identifier"),
)
"""What a member does in a ring (``queries.rings.member_roles``)."""

_ROLE_OF_TYPE = {"intermediary": "broker", "institution": "institution", "prescriber": "prescriber", "card": "card",
                 "phone": "shared_identifier", "address": "shared_identifier", "device": "shared_identifier",
                 "account": "shared_identifier"}
if set(_ROLE_OF_TYPE) | {"person"} != set(network.NODE_TYPES) or not set(_ROLE_OF_TYPE.values()) <= set(MEMBER_ROLES):
    raise RuntimeError("graphsvc.vocab: every node type but person needs a member role")


def member_role_of_type(node_type: str) -> str:
    """The role of a ring member that is not a person: it follows from its type."""
    return _ROLE_OF_TYPE[node_type]


DISPOSITIONS = _terms(
    Term("open", "待处置", "open"),
    Term("confirmed", "已确认", "confirmed"),
    Term("dismissed", "已排除", "dismissed"),
    Term("referred_to_police", "已移送公安", "referred to police"),
)
"""A ring's status in casework; ``open`` is every ring nobody decided on (or one reopened)."""

EXPORT_FORMATS = _terms(
    Term("xlsx", "Excel 工作簿", "Excel workbook"),
    Term("csv", "CSV 表格", "CSV tables"),
    Term("json", "JSON", "JSON"),
    Term("graphml", "GraphML 关系图", "GraphML graph"),
)
"""Formats of the police liaison package's data file."""

WEBHOOK_EVENTS = _terms(
    Term("ring.created", "发现新团伙", "ring created"),
    Term("ring.updated", "团伙情况更新", "ring updated"),
    Term("ring.reopened", "已排除团伙重新开启", "dismissed ring reopened"),
    Term("disposition.changed", "处置状态变更", "disposition changed"),
    Term("job.finished", "后台任务结束", "job finished"),
)
"""What a case system subscribed by webhook (``POST /webhooks``) is told of."""

WEBHOOK_STATES = _terms(
    Term("pending", "待发送", "pending"),
    Term("delivered", "已送达", "delivered"),
    Term("failed", "投递失败", "failed"),
    Term("cancelled", "已取消", "cancelled"),
)
"""Where one delivery of an event to a webhook stands: ``failed`` after its last attempt, ``cancelled``
when the webhook was deleted before it was made."""

COLUMNS = _terms(
    Term("person_id", "参保人编号", "insured person id"),
    Term("name", "名称", "name"),
    Term("id_number", "身份证号", "ID number"),
    Term("id_number_valid", "身份证号校验通过", "ID number valid"),
    Term("gender", "性别", "gender"),
    Term("birth_date", "出生日期", "birth date"),
    Term("death_date", "死亡日期", "date of death"),
    Term("insurance_type", "险种", "scheme"),
    Term("region_code", "统筹区", "pooling region"),
    Term("address", "地址", "address"),
    Term("address_key", "归一地址", "address as one household"),
    Term("phone", "联系电话", "phone"),
    Term("person_key", "同一人归并编号", "person key (records of one person)"),
    Term("card_id", "医保卡号", "card id"),
    Term("issued_date", "发卡日期", "issued"),
    Term("bound_phone", "绑定手机号", "bound phone"),
    Term("device_id", "设备号", "device id"),
    Term("institution_id", "定点机构编码", "institution id"),
    Term("level", "医院等级", "level"),
    Term("ownership", "所有制", "ownership"),
    Term("prescriber_id", "医保医师编码", "prescriber id"),
    Term("intermediary_id", "中介编号", "intermediary id"),
    Term("source", "线索来源", "source"),
    Term("settlement_id", "结算编号", "settlement id"),
    Term("start_time", "就诊时间", "start time"),
    Term("end_time", "出院时间", "end time"),
    Term("total_amount", "医疗费总额", "total amount"),
    Term("fund_amount", "统筹支付金额", "fund paid"),
    Term("items", "项目", "items"),
    Term("contact_phone", "联系电话", "contact phone"),
    Term("agent_id", "经办人", "agent id"),
    Term("agent_type", "经办人类别", "agent is a"),
    Term("payee_account", "收款账户", "payee account"),
    Term("operator_id", "操作员", "operator id"),
    Term("trace_codes", "药品追溯码", "trace codes"),
    Term("kind", "类别", "kind"),
    Term("person_ids", "同一人的全部参保人编号", "the person's records"),
    Term("value", "标识值", "value"),
)
"""The contract's columns, those ingest derives (``graphsvc.model``) and the two the entity page adds
(a person's records, an identifier's value), as the entity page labels an entity's attributes and a
claim's fields. Each Chinese label is one of the headers ingest reads for
the column (``ingest.aliases``; tests/test_vocab.py holds them to it) where it is an input column."""

VALUES = {
    "person.gender": _terms(Term("M", "男", "male"), Term("F", "女", "female")),
    "person.insurance_type": _terms(Term("employee", "职工", "employee"), Term("resident", "城乡居民", "resident")),
    "institution.kind": _terms(Term("hospital", "医院", "hospital"), Term("clinic", "诊所", "clinic"),
                               Term("pharmacy", "零售药店", "pharmacy"), Term("nursing_home", "养老机构", "care home")),
    "institution.ownership": _terms(Term("public", "公立", "public"), Term("private", "民营", "private")),
    "card.kind": _terms(Term("card", "医保卡", "card"), Term("evoucher", "医保电子凭证", "e-voucher")),
    "settlement.kind": _terms(Term("inpatient", "住院", "inpatient"), Term("outpatient", "门诊", "outpatient"),
                              Term("pharmacy", "药店购药", "pharmacy purchase")),
}
"""The contract's coded values, by ``type.column`` (the entity type whose attribute or claim field
holds it): what the entity page shows for ``M`` or ``inpatient``. Each Chinese label is one ingest
reads as that value (``ingest.aliases.VALUE_ALIASES``)."""


def vocabulary() -> dict[str, Any]:
    """Every list above as ``GET /vocab`` serves it, in order; colour and shape only where drawn."""
    def rows(terms: dict[str, Term]) -> list[dict[str, Any]]:
        return [{k: v for k, v in asdict(t).items() if v is not None} for t in terms.values()]

    return {"patterns": rows(PATTERNS), "finding_kinds": rows(FINDING_KINDS), "roles": rows(ROLES), "node_types": rows(NODE_TYPES),
            "member_roles": rows(MEMBER_ROLES), "dispositions": rows(DISPOSITIONS),
            "export_formats": rows(EXPORT_FORMATS), "webhook_events": rows(WEBHOOK_EVENTS),
            "webhook_states": rows(WEBHOOK_STATES),
            "columns": rows(COLUMNS), "values": {field: rows(terms) for field, terms in VALUES.items()}}
