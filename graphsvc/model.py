"""The property-graph model: entity tables, derived identifier nodes and relationships.

Everything that knows the shape of the data reads it from here: ingest validates against
``ENTITY_TABLES``, the stores create their schema from it, and stats counts by it.

Settlements are nodes, not edges. A settlement ties together up to nine things at once
(beneficiary, card, institution, prescriber, agent, contact phone, payee account, device,
operator, plus the drug boxes it sold); an edge joins only two, so modelling it as an edge
would either lose most of those links or duplicate the settlement across many edges. As a
node, "who else used this pharmacy's operator within minutes" or "which persons share this
contact phone" is one hop from the settlement, and evidence can cite the settlement id.

Phones, addresses, devices, bank accounts, operators and drug trace codes have no input file
of their own: they are identifier nodes whose key is the normalised value itself, so two
persons who share a phone are two hops apart through one Phone node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Column",
    "EntityTable",
    "Relationship",
    "ENTITY_TABLES",
    "IDENTIFIER_LABELS",
    "RELATIONSHIPS",
    "LOAD_ORDER",
    "table",
]


@dataclass(frozen=True)
class Column:
    """One input column and how ingest normalises and validates it.

    ``kind`` is one of: ``id``, ``text``, ``address``, ``phone``, ``id_number``, ``account``
    (a bank account: digits written in groups are stored as digits only), ``date``,
    ``datetime``, ``amount``, ``enum``, ``list``.
    ``ref`` names the entity tables a non-empty value must exist in (when those tables hold
    data), e.g. ``("persons",)``.
    """

    name: str
    kind: str
    required: bool = False
    values: tuple[str, ...] = ()
    ref: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntityTable:
    name: str
    label: str
    key: str
    columns: tuple[Column, ...]
    derived: tuple[tuple[str, str], ...] = field(default=())
    """Columns ingest adds, as (name, column type of ``graphsvc.store.schema``): not in the input,
    computed from it.

    ``id_number_valid``: the ID number's length, birth date and check digit are right.
    ``address_key``: the address resolved to one key per household (``ingest.resolve``); the
    raw ``address`` is kept as written. ``person_key``: the smallest person_id among the
    records sharing a valid ID number (one person with two 参保人编号), else its own id;
    recomputed over the whole table at the end of each ingest. ``agent_type``: which table
    a settlement's ``agent_id`` names."""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class Relationship:
    """A relationship type stored as a column: ``source`` table row -> node keyed by ``column``."""

    type: str
    source: str
    column: str
    target: str
    """Target label; for the agent column it depends on the row (see ``agent_type``)."""


ENTITY_TABLES: dict[str, EntityTable] = {
    t.name: t
    for t in (
        EntityTable(
            "institutions",
            "Institution",
            "institution_id",
            (
                Column("institution_id", "id", required=True),
                Column("name", "text"),
                Column("kind", "enum", values=("hospital", "clinic", "pharmacy", "nursing_home")),
                Column("level", "text"),
                Column("ownership", "enum", values=("public", "private")),
                Column("address", "address"),
                Column("phone", "phone"),
                Column("region_code", "id"),
            ),
            derived=(("address_key", "id"),),
        ),
        EntityTable(
            "prescribers",
            "Prescriber",
            "prescriber_id",
            (
                Column("prescriber_id", "id", required=True),
                Column("name", "text"),
                Column("institution_id", "id", ref=("institutions",)),
                Column("phone", "phone"),
            ),
        ),
        EntityTable(
            "intermediaries",
            "Intermediary",
            "intermediary_id",
            (
                Column("intermediary_id", "id", required=True),
                Column("name", "text"),
                Column("phone", "phone"),
                Column("address", "address"),
                Column("id_number", "id_number"),
                Column("source", "text"),
            ),
            derived=(("id_number_valid", "boolean"), ("address_key", "id")),
        ),
        EntityTable(
            "persons",
            "Person",
            "person_id",
            (
                Column("person_id", "id", required=True),
                Column("id_number", "id_number"),
                Column("name", "text"),
                Column("gender", "enum", values=("M", "F")),
                Column("birth_date", "date"),
                Column("phone", "phone"),
                Column("address", "address"),
                Column("region_code", "id"),
                Column("insurance_type", "enum", values=("employee", "resident")),
                Column("death_date", "date"),
            ),
            derived=(("id_number_valid", "boolean"), ("address_key", "id"), ("person_key", "id")),
        ),
        EntityTable(
            "cards",
            "Card",
            "card_id",
            (
                Column("card_id", "id", required=True),
                Column("person_id", "id", required=True, ref=("persons",)),
                Column("kind", "enum", values=("card", "evoucher")),
                Column("issued_date", "date"),
                Column("bound_phone", "phone"),
                Column("device_id", "id"),
            ),
        ),
        EntityTable(
            "settlements",
            "Settlement",
            "settlement_id",
            (
                Column("settlement_id", "id", required=True),
                Column("kind", "enum", required=True, values=("inpatient", "outpatient", "pharmacy")),
                Column("person_id", "id", required=True, ref=("persons",)),
                Column("card_id", "id", ref=("cards",)),
                Column("institution_id", "id", required=True, ref=("institutions",)),
                Column("prescriber_id", "id", ref=("prescribers",)),
                Column("start_time", "datetime", required=True),
                Column("end_time", "datetime"),
                Column("total_amount", "amount"),
                Column("fund_amount", "amount"),
                Column("items", "list"),
                Column("contact_phone", "phone"),
                Column("agent_id", "id", ref=("intermediaries", "persons")),
                Column("payee_account", "account"),
                Column("device_id", "id"),
                Column("operator_id", "id"),
                Column("trace_codes", "list"),
            ),
            derived=(("agent_type", "enum"),),
        ),
    )
}

# Referenced tables first, so references can be checked against what is already loaded.
LOAD_ORDER: tuple[str, ...] = ("institutions", "prescribers", "intermediaries", "persons", "cards", "settlements")

IDENTIFIER_LABELS: tuple[str, ...] = ("Phone", "Address", "Device", "BankAccount", "Operator", "TraceCode")

RELATIONSHIPS: tuple[Relationship, ...] = (
    Relationship("HAS_PHONE", "persons", "phone", "Phone"),
    Relationship("LIVES_AT", "persons", "address", "Address"),
    Relationship("HELD_BY", "cards", "person_id", "Person"),
    Relationship("BOUND_TO_PHONE", "cards", "bound_phone", "Phone"),
    Relationship("ON_DEVICE", "cards", "device_id", "Device"),
    Relationship("HAS_PHONE", "institutions", "phone", "Phone"),
    Relationship("LOCATED_AT", "institutions", "address", "Address"),
    Relationship("WORKS_AT", "prescribers", "institution_id", "Institution"),
    Relationship("HAS_PHONE", "prescribers", "phone", "Phone"),
    Relationship("HAS_PHONE", "intermediaries", "phone", "Phone"),
    Relationship("LIVES_AT", "intermediaries", "address", "Address"),
    Relationship("FOR_PERSON", "settlements", "person_id", "Person"),
    Relationship("USED_CARD", "settlements", "card_id", "Card"),
    Relationship("AT_INSTITUTION", "settlements", "institution_id", "Institution"),
    Relationship("PRESCRIBED_BY", "settlements", "prescriber_id", "Prescriber"),
    Relationship("CONTACT_PHONE", "settlements", "contact_phone", "Phone"),
    Relationship("HANDLED_BY", "settlements", "agent_id", "Intermediary|Person"),
    Relationship("PAID_TO", "settlements", "payee_account", "BankAccount"),
    Relationship("SCANNED_ON", "settlements", "device_id", "Device"),
    Relationship("OPERATED_BY", "settlements", "operator_id", "Operator"),
    Relationship("SOLD_BOX", "settlements", "trace_codes", "TraceCode"),
)


def table(name: str) -> EntityTable:
    try:
        return ENTITY_TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(ENTITY_TABLES)}") from None
