"""What the API answers: one pydantic model per result, declared as each route's ``response_model``
so that the OpenAPI spec shows every answer's shape.

Personal fields are typed with their kind (``queries.masking``: ``PersonName``, ``IdNumber``,
``Phone``, ``Address``, ``Account``, ``BirthDate``, node ids and keys), and masking for the
caller's role happens once, when a route serialises its answer with ``answer(model, masker)``:
a field typed as a phone is masked wherever it appears, without the route doing anything.
Models shared with the police package (a ring's members and graph, its tips) are defined beside
the queries that build them and used here.

Jobs (``api.routes.jobs``) define their own models.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from graphsvc import vocab
from queries.casework import DECISIONS
from queries.masking import ENTITY_ATTRIBUTES, LabelledNodeRef, Masker, NodeKey, NodeRef, PersonId, masking
from queries.network import Graph, GraphEdge, GraphNode
from queries.rings import Member, Tip

__all__ = ["answer", "ring_answer", "view_json", "Pattern", "Status", "Role", "Decision", "RingSummary", "RingPage",
           "RingView", "RingDetail", "Evidence", "Member", "TimelineDay", "Disposition", "DispositionRecord",
           "Casework", "Tip", "TipReceipt", "EntityProfile", "EntityClaim", "EntityClaims", "ClaimSummary", "Network", "Paths", "SearchHit",
           "SearchResult", "SharedIdentifier", "SharedIdentifiers", "PersonBehindDevice", "PersonsBehindDevice",
           "CoAdmittedPair", "CoAdmittedPairs", "Stats", "Me", "ApiKeyCreated", "ApiKeyInfo", "ApiKeyList", "AuditEntry",
           "AuditPage", "Vocabulary", "Health", "AuditHealth", "WebhookEvent", "Webhook", "WebhookList",
           "WebhookAttempt", "WebhookDelivery", "WebhookDeliveryPage", "CalendarDay"]

if TYPE_CHECKING:  # the vocabulary's terms, known when it is loaded: str to the type checker
    Pattern = str
    Status = str
    Role = str
    Decision = str
    WebhookEvent = str
    WebhookState = str
else:
    Pattern = Literal[tuple(vocab.PATTERNS)]
    Status = Literal[tuple(vocab.DISPOSITIONS)]
    Role = Literal[tuple(vocab.ROLES)]
    Decision = Literal[DECISIONS]
    WebhookEvent = Literal[tuple(vocab.WEBHOOK_EVENTS)]
    WebhookState = Literal[tuple(vocab.WEBHOOK_STATES)]


def _calendar_day(value: object) -> object:
    """A day written ``YYYY-MM-DD`` in ASCII digits and nothing else: pydantic's lenient dates would
    read ``0`` or ``1774915200`` as Unix seconds and full-width digits as digits."""
    if isinstance(value, str) and not (len(value) == 10 and value[4] == value[7] == "-"
                                       and (value[:4] + value[5:7] + value[8:]).isascii()
                                       and (value[:4] + value[5:7] + value[8:]).isdigit()):
        raise ValueError("a day is written YYYY-MM-DD, e.g. 2026-03-31")
    return value


CalendarDay = Annotated[date, BeforeValidator(_calendar_day)]
"""A query's day (``since``, ``until``, ``as_of``): YYYY-MM-DD, a real day of the calendar."""


def answer(result: BaseModel, masker: Masker, *, status_code: int = 200) -> Response:
    """``result`` as JSON, each personal field masked for ``masker``'s role by its kind. Fields the
    query did not fill are left out (a disposition without a note has no ``note``)."""
    return Response(_json(result, masker), status_code=status_code, media_type="application/json")


def ring_answer(view: bytes, casework: Casework, masker: Masker) -> Response:
    """A ring's detail (``RingDetail``) from its view, serialised once per detection run and role
    (``view_json``), and its casework now."""
    return Response(view[:-1] + b',"casework":' + _json(casework, masker) + b"}", media_type="application/json")


def view_json(view: dict[str, Any], masker: Masker) -> bytes:
    """A ring's view as JSON for ``masker``'s role. Masking by kind calls Python for every personal
    field (hundreds in a big ring's picture): a ring's view is serialised once per detection run,
    role class and language (``RingBook.per_run``), its casework on every request."""
    return _json(RingView.model_validate(view), masker)


def _json(result: BaseModel, masker: Masker) -> bytes:
    return result.model_dump_json(context=masking(masker), exclude_unset=True).encode()


# ---- rings ---------------------------------------------------------------------------------------


class Disposition(BaseModel):
    """A ring's disposition now: ``open`` when none is in force, or a dismissed ring reopened because it grew."""

    status: Status
    note: str | None = None
    """Masked for a masked role like evidence: phones, ID numbers, accounts and members' names."""
    by: str | None = None
    at: str | None = None
    dismissed_before: bool | None = None
    reopened: str | None = None
    """Why a dismissed ring is open again (its evidence or persons grew)."""


class RingSummary(BaseModel):
    """One row of the ring queue."""

    id: str
    pattern: Pattern
    score: float
    priority: float
    """The score raised by tips: each tip touching the ring halves the remaining doubt."""
    tips: int
    persons: int
    members: int
    fund_amount: float
    first_seen: str | None
    last_seen: str | None
    regions: list[str]
    evidence: int
    disposition: Disposition


class RingPage(BaseModel):
    total: int
    page: int
    size: int
    pages: int
    run_id: str | None
    """The detection run the rings come from."""
    items: list[RingSummary]


class EvidenceEntity(BaseModel):
    # Evidence is masked where it is rendered (queries.rings), so its ids are already as the role sees them.
    type: str
    id: str


class Evidence(BaseModel):
    """One finding behind a ring: its sentence, the entities it names, its strength and its facts."""

    model_config = ConfigDict(extra="allow")

    kind: str
    detail: str
    strength: float
    entities: list[EvidenceEntity]
    settlements: int
    """How many claims the finding is made of."""
    facts: dict[str, Any]
    """The machine-readable facts (which phone, which dates, how many...), masked like the sentence."""
    whole_period: bool | None = None
    """Only in a ring as of a day: true when the finding's dated facts reach past that day, or it has none,
    so its sentence may count later claims (findings whose dated facts all fall after it are left out)."""


class TimelineDay(BaseModel):
    day: str
    claims: int
    fund_amount: float
    persons: int
    by_kind: dict[str, int]


class Casework(BaseModel):
    disposition: Disposition
    tips: list[Tip]
    priority: float


class RingView(BaseModel):
    """A ring's picture as detection left it: members with roles, evidence, timeline, subgraph."""

    id: str
    pattern: Pattern
    score: float
    fund_amount: float
    first_seen: str | None
    last_seen: str | None
    persons: int
    regions: list[str]
    members: list[Member]
    evidence: list[Evidence]
    claims: int
    timeline: list[TimelineDay]
    graph: Graph
    as_of: date | None = None
    """Only in a ring as of a day (``?as_of=``): the day whose end the picture is cut at; claims, fund,
    timeline, members and claim edges are then those up to it (``queries.rings``)."""


class RingDetail(RingView):
    """A ring's full picture: what detection found, and its casework now."""

    casework: Casework


class DispositionEntry(BaseModel):
    status: Decision
    note: str
    by: str
    at: str
    evidence: int
    """How many evidence items the ring had when this was decided (the reopen rule compares it)."""
    persons: int


class DispositionRecord(DispositionEntry):
    """The decision just recorded, with every earlier decision on the ring."""

    ring_id: str
    history: list[DispositionEntry]


class TipReceipt(NodeRef):
    """A stored tip as its sender sees it; ``touches``: how many nodes it reaches (a phone's users...)."""

    client_key: str
    note: str
    by: str
    at: str
    touches: int


# ---- entities ------------------------------------------------------------------------------------


class ClaimSummary(BaseModel):
    claims: int
    fund_amount: float
    total_amount: float
    first: str | None
    last: str | None
    by_kind: dict[str, int]


class RingRef(BaseModel):
    id: str
    pattern: Pattern
    score: float


class Flag(BaseModel):
    kind: str
    zh: str
    """What is flagged, in Chinese (``GET /vocab``'s label of the kind), then ``en``."""
    en: str
    since: date | None = None
    """The day it holds from, where one is known (a death)."""
    ring_id: str | None = None


if TYPE_CHECKING:  # one of the models built from the data model when it is loaded
    Attributes = BaseModel
else:
    Attributes = Union[tuple(ENTITY_ATTRIBUTES.values())]  # noqa: UP007 -- a union of a tuple has no X | Y spelling
"""The attributes of one of the node types (``queries.masking.ENTITY_ATTRIBUTES``)."""


class EntityProfile(NodeRef):
    """An entity's attributes (each masked by its kind), claim summary, rings and flags."""

    attributes: Attributes
    claims: ClaimSummary
    degree: int
    rings: list[RingRef]
    flags: list[Flag]

    @model_validator(mode="before")
    @classmethod
    def _typed_attributes(cls, data: Any) -> Any:
        """The attributes as the model of the entity's type, so that each is serialised by its kind."""
        if isinstance(data, dict) and isinstance(data.get("attributes"), dict):
            data = {**data, "attributes": ENTITY_ATTRIBUTES[data["type"]].model_validate(data["attributes"])}
        return data


class EntityClaim(BaseModel):
    """One claim (settlement) naming an entity; the nodes it joins by their keys (``type:id``), each masked
    for the role as everywhere else, so that a console links each to its own page."""

    settlement_id: str
    kind: str
    start_time: datetime | None
    end_time: datetime | None
    total_amount: float | None
    fund_amount: float | None
    person: NodeKey
    card: NodeKey | None = None
    institution: NodeKey | None = None
    prescriber: NodeKey | None = None
    agent: NodeKey | None = None
    contact_phone: NodeKey | None = None
    device: NodeKey | None = None
    account: NodeKey | None = None


class EntityClaims(NodeRef):
    """A page of the claims naming an entity, newest first (``total``: all of them)."""

    total: int
    page: int
    size: int
    pages: int
    items: list[EntityClaim]


class Hub(BaseModel):
    id: NodeKey
    degree: int


class Network(BaseModel):
    """An ego network: nodes and edges, at most ``limit`` nodes, hubs listed and not expanded."""

    center: NodeKey
    hops: int
    limit: int
    truncated: bool
    hubs: list[Hub]
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class Paths(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    source: NodeKey = Field(alias="from")
    target: NodeKey = Field(alias="to")
    max_hops: int
    hops: int | None
    """The length of the shortest paths; null when none was found."""
    paths: list[list[NodeKey]]
    exhausted: bool
    """The search stopped at its limit of visited nodes before it found every shortest path."""
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class SearchHit(LabelledNodeRef):
    matched: str
    """What matched: id, name, name_prefix, name_part, phone, id_number, same_person..."""


class SearchResult(BaseModel):
    q: str
    """The query, masked for a masked role as free text is."""
    hits: list[SearchHit]


class SharedIdentifier(BaseModel):
    identifier: NodeKey
    """A phone, address, device or account the person uses (a pseudonym's key for a masked role)."""
    persons: list[PersonId]
    """The other persons who use it."""


class SharedIdentifiers(BaseModel):
    """What a person shares with other persons, the identifier shared by most persons first."""

    person: PersonId
    shared: list[SharedIdentifier]


class PersonBehindDevice(BaseModel):
    person: PersonId
    how: Literal["card_on_device", "scanned"]
    """``card_on_device``: an e-voucher the person holds is on the device; ``scanned``: the device
    scanned the person's card for claims."""
    claims: int
    """Claims the device scanned for the person; 0 for an e-voucher's holder."""


class PersonsBehindDevice(BaseModel):
    device: str
    persons: list[PersonBehindDevice]


class CoAdmittedPair(BaseModel):
    a: PersonId
    b: PersonId
    times: int
    """Separate days the two were admitted to the institution on the same day."""
    days: list[str]


class CoAdmittedPairs(BaseModel):
    """Pairs of persons admitted to an institution on the same day again and again, most often first."""

    institution: str
    min_times: int
    pairs: list[CoAdmittedPair]


# ---- stats ---------------------------------------------------------------------------------------


class RingStats(BaseModel):
    total: int
    run_id: str | None
    by_pattern: dict[str, int]
    by_disposition: dict[str, int]
    fund_amount: float
    persons: int


class LedgerRow(BaseModel):
    """One month and region of the ledger, over the current rings' claims."""

    month: str
    region: str
    institutions: int
    persons: int
    claims: int
    fund_amount: float


class Stats(BaseModel):
    backend: str
    nodes: dict[str, int]
    rings: RingStats
    ledger: list[LedgerRow]


class ReportColumn(BaseModel):
    key: str
    zh: str
    en: str


class ReportRow(BaseModel):
    region: str
    institutions: int
    persons: int
    claims: int
    fund_amount: float
    rings_new: int
    rings_confirmed: int
    rings_dismissed: int
    rings_referred: int


class ReportRing(BaseModel):
    id: str
    pattern: str
    pattern_zh: str
    events: list[str]
    """``new``, or the month's last decision: confirmed, dismissed, referred_to_police."""
    regions: list[str]
    fund_amount: float | None
    """The ring's fund now, or when it was decided for a ring the current results no longer hold
    (None where that decision was kept before the ring was: pattern then ``unknown``)."""
    found_now: bool
    """False for a ring decided that month that later runs no longer found."""


class MonthlyReport(BaseModel):
    """The monthly report (月度统计): one row per region, a totals row, the rings with an event that month."""

    month: str
    generated_at: str
    columns: list[ReportColumn]
    rows: list[ReportRow]
    totals: ReportRow
    rings: list[ReportRing]
    notes: list[str]


# ---- keys, audit, vocabulary ---------------------------------------------------------------------


class Me(BaseModel):
    key_id: str
    name: str
    role: Role


class ApiKeyCreated(Me):
    key: str
    """The key itself: shown this once, never stored."""
    expires_at: AwareDatetime | None


class ApiKeyInfo(Me):
    created_at: str | None = None
    expires_at: str | None
    revoked_at: str | None


class ApiKeyList(BaseModel):
    total: int
    items: list[ApiKeyInfo]


class AuditEntry(BaseModel):
    id: str
    at: str
    key_id: str
    """The key's id, or for an unknown key the first 12 characters of its digest."""
    key_name: str
    role: str
    action: str
    target: str
    client: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[AuditEntry]
    not_yet_stored: int
    """Entries safe on disk that the store has not taken yet: listed once it recovers."""


class Term(BaseModel):
    id: str
    zh: str
    en: str
    colour: str | None = None
    shape: str | None = None


class Vocabulary(BaseModel):
    patterns: list[Term]
    finding_kinds: list[Term]
    """What each evidence entry's ``kind`` is called."""
    roles: list[Term]
    node_types: list[Term]
    """With the colour and shape the console draws each type in."""
    member_roles: list[Term]
    dispositions: list[Term]
    export_formats: list[Term]
    webhook_events: list[Term]
    """What a webhook may subscribe to (``POST /webhooks``)."""
    webhook_states: list[Term]
    """Where a delivery stands in a webhook's log (``GET /webhooks/{id}/deliveries``)."""
    columns: list[Term]
    """What an entity's attributes and a claim's fields are called."""
    values: dict[str, list[Term]]
    """What coded values are called, by ``type.column`` (``person.gender``, ``settlement.kind``)."""


# ---- webhooks ------------------------------------------------------------------------------------


class Webhook(BaseModel):
    """A case system's subscription; its secret is never answered, only its last four characters."""

    id: str
    url: str
    events: list[WebhookEvent]
    secret_hint: str
    """``…`` and the secret's last four characters, to tell which secret was given."""
    created_at: str
    created_by: str
    deleted_at: str | None = None
    """Set in the answer to ``DELETE``; webhooks in force have none."""


class WebhookList(BaseModel):
    items: list[Webhook]


class WebhookAttempt(BaseModel):
    attempt: int
    at: str
    status_code: int | None = None
    """The receiver's HTTP status; null when no answer came (see ``error``)."""
    error: str | None = None
    """Why no answer came (timeout, refused connection, a target no longer allowed)."""
    response: str | None = None
    """The first 200 characters of the receiver's answer."""


class WebhookDelivery(BaseModel):
    id: str
    event: WebhookEvent
    event_id: str
    """The payload's ``id``: the same on every attempt, for the receiver's idempotency."""
    created_at: str
    state: WebhookState
    attempts: list[WebhookAttempt]
    next_attempt_at: str | None = None
    """When the next retry is due; null once delivered, failed or cancelled."""


class WebhookDeliveryPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[WebhookDelivery]


class AuditHealth(BaseModel):
    backlog: int
    """Entries durable in the write-ahead file that the store has not taken yet."""
    writer_alive: bool


class Health(BaseModel):
    """Liveness for the load balancer and the operator: ``ok``, or ``unavailable`` (HTTP 503) and why."""

    status: Literal["ok", "unavailable"]
    backend: str
    rings: int | None = None
    """Rings of the current detection run (only when the store answered)."""
    audit: AuditHealth | None = None
    reason: str | None = None
    """What failed, without the home's path (the operator's log has the rest)."""
