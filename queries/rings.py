"""The ring queue and a ring's full picture: members with roles, evidence, timeline, subgraph.

``RingBook`` parses the current rings once per detection run and keeps each ring's
detail (subgraph, timeline, member roles) once computed: both only change when detection
runs again. Dispositions and tips (casework) are laid over them on every request, from a
copy re-read when this process writes casework or at most a second old otherwise, so a
second API replica's decisions show within a second.

A ring *as of* a day (``ring_view(..., as_of=day)``) is the same picture cut at the end of that
day: only the ring's claims that started by then (timeline, claim counts and fund per member),
its claim edges recounted from the claims by then (an edge with none is gone), and the members
present by then: those a claim by then names (claimant, agent, institution, card, phone, device,
account...) and those a card, phone, device or account so present leads to by a registered link
(the holder of a lent card, the collector whose phone holds the e-vouchers). Registered links
carry no date, so they are taken as there all along. Findings are detection's, over the ring's
whole period, and record no claims, only dated facts: a finding whose dated facts all fall after
the day, or that names no member present by then, is left out, and every finding kept is marked ``whole_period`` unless all its dated facts
fall on or before it (its counts then may include later claims). Such views are not cached: each
day of a slider is one read of the ring's claims and of its persons' claims.
"""

from __future__ import annotations

import gc
import re
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from graphsvc import vocab
from graphsvc.detect.shared_identifier import VIA_NODE_TYPES
from graphsvc.errors import InputError
from graphsvc.evidence import Lang, MissingFacts, fact_type, render
from graphsvc.network import NODE_TYPES, node_key, split_key
from graphsvc.store import GraphStore
from queries.casework import effective_disposition, priority
from queries.masking import LabelledNodeRef, Masker, NodeRef
from queries.network import graph_json, subgraph

__all__ = ["RingBook", "RingFilter", "list_rings", "ring_detail", "ring_view", "casework_view", "member_roles",
           "Member", "Tip", "SORT_KEYS"]

SORT_KEYS = ("priority", "score", "fund_amount", "persons", "first_seen", "last_seen", "id")
_STALE_AFTER_S = 1.0
"""How long the book trusts its copy before asking the store which detection run is current."""
_QUEUES_KEPT = 64
"""Ordered queues kept per casework read (per filter, role and sort); past it the oldest goes."""
T = TypeVar("T")
if TYPE_CHECKING:  # the roles are the vocabulary's, known when it is loaded: a str to the type checker
    MemberRole = str
else:
    MemberRole = Literal[tuple(vocab.MEMBER_ROLES)]


class Member(LabelledNodeRef):
    """A ring member: what it does in the ring, and (for a person) their claims in it."""

    role: MemberRole
    claims: int
    fund_amount: float


class Tip(NodeRef):
    """A tip touching a ring, as its casework shows it: what it names, and the caller's note."""

    client_key: str
    note: str
    at: str


@dataclass
class _Snapshot:
    run_id: str | None
    rings: list[dict[str, Any]]
    by_id: dict[str, dict[str, Any]]
    member_keys: dict[str, frozenset[str]]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    views: dict[tuple[str, bool, str], dict[str, Any]] = field(default_factory=dict)
    """Each ring's detail as seen unmasked / masked, in each language, without casework."""
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Names of each ring's persons and intermediaries, masked wherever a note mentions them."""
    addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Addresses of each ring's persons and intermediaries and its address members, masked in notes
    as its names are."""
    memo: dict[Hashable, Any] = field(default_factory=dict)
    """What callers computed from this run's rings (``RingBook.per_run``)."""
    queues: _Queues = field(default_factory=lambda: _Queues())  # defined below
    """The ordered queues of the last casework read (``list_rings``)."""


@dataclass(frozen=True)
class _Casework:
    run_id: str | None
    dispositions: dict[str, dict[str, Any]]
    tips_by_ring: dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class _Queues:
    read: _Casework | None = None
    """The casework read the queues show."""
    kept: dict[Hashable, list[dict[str, Any]]] = field(default_factory=dict)
    """The ordered queue per filter, role and sort, oldest first."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held to add a queue (and drop the oldest): callers' threads add at once."""


@dataclass(frozen=True)
class _CaseworkRead:
    casework: _Casework
    writes: int
    """``casework_changed`` calls before the read began: it shows those writes."""
    at: float

    def usable(self, snap: _Snapshot, writes: int) -> bool:
        """Of the current run, and begun after the ``writes`` a caller knows of."""
        return self.casework.run_id == snap.run_id and self.writes >= writes


class RingBook:
    """The current rings of a store, re-read when a new detection run is saved.

    ``freeze_when_warm``: the book is its process's only one (``graphsvc serve``), so each time
    its rings are warm the process's objects are frozen out of the garbage collector's full passes
    (see ``warm``); not in a process that makes many books and throws them away (the tests').
    """

    def __init__(self, store: GraphStore, *, freeze_when_warm: bool = False) -> None:
        self.store = store
        self._freeze_when_warm = freeze_when_warm
        self._lock = threading.Lock()  # one thread asks the store which run is current
        self._snapshot: _Snapshot | None = None
        self._checked = 0.0
        self._casework_turn = threading.Condition()  # one thread reads casework at a time
        self._casework_reading = False
        self._casework: _CaseworkRead | None = None
        self._writes_lock = threading.Lock()
        self._casework_writes = 0  # casework writes so far: a read counts those before it began

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None
            self._casework = None

    def casework_changed(self) -> None:
        """A disposition or tip was written: the writer's next read, and everyone's, shows it."""
        with self._writes_lock:
            self._casework_writes += 1

    def casework(self) -> _Casework:
        """Dispositions and tips from a read at most ``_STALE_AFTER_S`` old and begun after every
        write this caller could know of (``casework_changed`` before this call).

        One thread reads at a time. When the last read is merely stale, the others answer from it
        meanwhile (when every thread that found it stale read the store, 40 server threads read
        together once a second, and that second's requests all waited: ring detail's p99). After
        a write, callers wait for a read begun after it and all take the first such read, so under
        a stream of writes a caller waits for at most the read in flight and the next.
        """
        snap = self.snapshot()
        writes = self._casework_writes
        with self._casework_turn:
            while True:
                last = self._casework
                if last is not None and last.usable(snap, writes) and (
                        self._casework_reading or time.monotonic() - last.at < _STALE_AFTER_S):
                    return last.casework
                if not self._casework_reading:
                    self._casework_reading = True  # this thread reads
                    break
                self._casework_turn.wait()  # for the read in flight, then look again
        read: _CaseworkRead | None = None
        try:
            read = self._read_casework(snap)
            return read.casework
        finally:
            with self._casework_turn:
                if read is not None:
                    self._casework = read
                self._casework_reading = False
                self._casework_turn.notify_all()

    def _read_casework(self, snap: _Snapshot) -> _CaseworkRead:
        now, writes = time.monotonic(), self._casework_writes
        _, decisions = self.store.list_records("disposition", limit=1_000_000)
        _, tips = self.store.list_records("tip", limit=1_000_000)
        by_ring: dict[str, list[dict[str, Any]]] = {}
        for tip in tips:
            for ring in self.rings_touching(set(tip["touches"])):
                by_ring.setdefault(ring["id"], []).append({k: tip[k] for k in ("client_key", "type", "id", "note", "at")})
        return _CaseworkRead(_Casework(snap.run_id, {d["ring_id"]: d for d in decisions}, by_ring), writes, now)

    def snapshot(self) -> _Snapshot:
        """The current run's rings, checked against the store at most once per ``_STALE_AFTER_S`` by
        one thread at a time; the others answer from the copy they have meanwhile."""
        snap = self._snapshot
        if snap is not None:
            if time.monotonic() - self._checked < _STALE_AFTER_S:
                return snap
            if not self._lock.acquire(blocking=False):
                return snap  # another thread is asking the store
        else:
            self._lock.acquire()
        try:
            now = time.monotonic()
            if self._snapshot is not None and now - self._checked < _STALE_AFTER_S:
                return self._snapshot  # checked by another thread while this one waited
            runs = self.store.detection_runs()
            run_id = runs[-1].run_id if runs else None
            if self._snapshot is None or self._snapshot.run_id != run_id:
                rings = self.store.rings()
                self._snapshot = _Snapshot(
                    run_id, rings, {r["id"]: r for r in rings},
                    {r["id"]: frozenset(node_key(m["type"], m["id"]) for m in r["members"]) for r in rings})
            self._checked = now
            return self._snapshot
        finally:
            self._lock.release()

    def rings_touching(self, keys: set[str]) -> list[dict[str, Any]]:
        snap = self.snapshot()
        return [r for r in snap.rings if snap.member_keys[r["id"]] & keys]

    def member_names(self, ring_id: str) -> tuple[str, ...]:
        """Names of the ring's persons and intermediaries (what a note about the ring may name)."""
        snap = self.snapshot()
        found = snap.names.get(ring_id)
        if found is None:
            keys = [k for k in snap.member_keys[ring_id] if k.startswith(("person:", "intermediary:"))]
            found = snap.names[ring_id] = tuple(label for _, label in self.store.network_nodes(keys).values() if label)
        return found

    def member_addresses(self, ring_id: str) -> tuple[str, ...]:
        """Addresses of the ring's persons and intermediaries and its address members (what a note may
        write out)."""
        snap = self.snapshot()
        found = snap.addresses.get(ring_id)
        if found is None:
            ids: dict[str, list[str]] = {"person": [], "intermediary": [], "address": []}
            for key in snap.member_keys[ring_id]:
                node_type, node_id = split_key(key)
                if node_type in ids:
                    ids[node_type].append(node_id)
            found = snap.addresses[ring_id] = tuple(sorted({
                *self.store.registered_addresses("person", ids["person"]),
                *self.store.registered_addresses("intermediary", ids["intermediary"]), *ids["address"]}))
        return found

    def warm(self) -> None:
        """Compute every ring's detail now (a big ring's subgraph takes a few hundred ms at 1M
        persons), so the first investigator to open it does not wait.

        With ``freeze_when_warm``, then move everything the process holds (modules, the network
        index's maps, these details) out of the garbage collector's sight. A full collection walks
        every tracked object with the GIL held: at 1M persons about 300,000 of them, nearly all alive
        until exit, 150-200 ms a pass and a pass every few seconds under load, which every request in
        flight waited for. Frozen objects are still freed by reference counting (a replaced
        snapshot's are: they hold no cycles); the cyclic garbage of the moment is collected first.
        """
        for ring in self.snapshot().rings:
            self.detail(ring["id"])
        if self._freeze_when_warm:
            gc.collect()
            gc.freeze()

    def per_run(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, computed once per detection run for ``key`` (e.g. a ring's view as an answer)."""
        memo = self.snapshot().memo
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def detail(self, ring_id: str) -> dict[str, Any] | None:
        """The ring's document with subgraph, timeline and member roles (unmasked, no casework)."""
        snap = self.snapshot()
        ring = snap.by_id.get(ring_id)
        if ring is None:
            return None
        found = snap.details.get(ring_id)
        if found is None:
            found = snap.details[ring_id] = _build_detail(self.store, ring, snap.member_keys[ring_id])
        return found


@dataclass(frozen=True)
class RingFilter:
    pattern: tuple[str, ...] = ()
    min_score: float = 0.0
    region: str | None = None
    institution: str | None = None
    since: date | None = None
    until: date | None = None
    status: tuple[str, ...] = ()
    """Effective dispositions to keep (open, confirmed, dismissed, referred_to_police); empty = all but dismissed."""
    ring_ids: frozenset[str] | None = None
    """Only these rings (a police liaison sees the rings referred to police)."""


def list_rings(book: RingBook, flt: RingFilter, masker: Masker, *, sort: str = "priority", descending: bool = True,
               page: int = 1, size: int = 50) -> dict[str, Any]:
    """One page of the ring queue with totals; casework (disposition, tips, priority) is current, its
    notes masked for ``masker``'s role."""
    if sort not in SORT_KEYS:
        raise InputError(f"sort must be one of {', '.join(SORT_KEYS)}", zh=f"排序方式须为 {'、'.join(SORT_KEYS)} 之一")
    snap = book.snapshot()
    casework = book.casework()
    # The whole ordered queue is kept per casework read: every page of it was O(rings) in Python
    # (dispositions, priorities, a sort), which at 425 rings (3M persons) put /rings at p99 450 ms
    # under 50 clients. A new read (a write, or once a second) starts them afresh; bounded, the
    # oldest going first, as the filters come from callers.
    queues = snap.queues
    if queues.read is not casework:  # replaced whole, so no thread takes a queue of another read
        queues = snap.queues = _Queues(casework)
    key = (flt, masker.active, sort, descending)
    items = queues.kept.get(key)
    if items is None:
        items = _queue(book, snap, casework, flt, masker)
        items.sort(key=lambda r: (r[sort] is not None, r[sort] if r[sort] is not None else 0, r["id"]),
                   reverse=descending)
        with queues.lock:
            if len(queues.kept) >= _QUEUES_KEPT:
                del queues.kept[next(iter(queues.kept))]
            queues.kept[key] = items
    start = (page - 1) * size
    return {"total": len(items), "page": page, "size": size, "pages": (len(items) + size - 1) // size,
            "run_id": snap.run_id, "items": items[start:start + size]}


def _queue(book: RingBook, snap: _Snapshot, casework: _Casework, flt: RingFilter,
           masker: Masker) -> list[dict[str, Any]]:
    items = []
    for ring in snap.rings:
        if flt.ring_ids is not None and ring["id"] not in flt.ring_ids:
            continue
        if flt.pattern and ring["pattern"] not in flt.pattern:
            continue
        if ring["score"] < flt.min_score:
            continue
        if flt.region and flt.region not in ring.get("regions", []):
            continue
        if flt.institution and node_key("institution", flt.institution) not in snap.member_keys[ring["id"]]:
            continue
        if flt.since and (ring["last_seen"] or "") < flt.since.isoformat():
            continue
        if flt.until and (ring["first_seen"] or "9999") > flt.until.isoformat():
            continue
        disposition = _disposition(book, ring, casework.dispositions.get(ring["id"]), masker)
        if disposition["status"] not in (flt.status or ("open", "confirmed", "referred_to_police")):
            continue
        n_tips = len(casework.tips_by_ring.get(ring["id"], ()))
        items.append({
            "id": ring["id"], "pattern": ring["pattern"], "score": ring["score"],
            "priority": priority(ring["score"], n_tips), "tips": n_tips, "persons": ring["persons"],
            "members": len(ring["members"]), "fund_amount": ring["fund_amount"], "first_seen": ring["first_seen"],
            "last_seen": ring["last_seen"], "regions": ring.get("regions", []), "evidence": len(ring["evidence"]),
            "disposition": disposition,
        })
    return items


def ring_detail(book: RingBook, ring_id: str, masker: Masker, lang: Lang = "zh") -> dict[str, Any] | None:
    """A ring's full picture as ``masker``'s role may see it, with current casework; evidence in ``lang``."""
    view = ring_view(book, ring_id, masker, lang)
    if view is None:
        return None
    return {**view, "casework": casework_view(book, ring_id, masker)}


def ring_view(book: RingBook, ring_id: str, masker: Masker, lang: Lang = "zh",
              as_of: date | None = None) -> dict[str, Any] | None:
    """The ring's detail without casework, as the role may see it, evidence in ``lang`` (computed once per
    detection run); with ``as_of``, the ring as it stood at the end of that day (see the module's notes)."""
    snap = book.snapshot()
    ring = snap.by_id.get(ring_id)
    if ring is None:
        return None
    detail = book.detail(ring_id)
    assert detail is not None
    if as_of is not None:
        cut = _detail_as_of(book.store, ring, detail, as_of)
        findings = [{**f, "whole_period": not dated or max(dated) > as_of.isoformat()}
                    for f, dated in ((f, _fact_days(f.get("facts", {}))) for f in ring["evidence"])
                    if (not dated or min(dated) <= as_of.isoformat())
                    and any(node_key(x["type"], x["id"]) in cut["member_keys"] for x in f["entities"])]
        return {**_view(book, ring, cut, findings, masker, lang), "as_of": as_of.isoformat()}
    found = snap.views.get((ring_id, masker.active, lang))
    if found is None:
        found = snap.views[(ring_id, masker.active, lang)] = _view(book, ring, detail, ring["evidence"], masker, lang)
    return found


def _view(book: RingBook, ring: dict[str, Any], detail: dict[str, Any], findings: list[dict[str, Any]],
          masker: Masker, lang: Lang) -> dict[str, Any]:
    members = [Member.model_validate(m) for m in detail["members"]]
    evidence = [_evidence_item(book, ring["id"], e, masker, lang) for e in findings]
    graph = graph_json(detail["nodes"], detail["edges"], members=set(detail["member_keys"]))
    return {"id": ring["id"], "pattern": ring["pattern"], "score": ring["score"],
            **{k: detail.get(k, ring[k]) for k in ("fund_amount", "first_seen", "last_seen", "persons")},
            "regions": detail.get("regions", ring.get("regions", [])), "members": members, "evidence": evidence,
            "claims": detail["claims"], "timeline": detail["timeline"], "graph": graph}


def casework_view(book: RingBook, ring_id: str, masker: Masker) -> dict[str, Any]:
    """Disposition (with the reopen rule), tips and priority of a ring, as of now."""
    ring = book.snapshot().by_id[ring_id]
    casework = book.casework()
    tips = [Tip(type=t["type"], id=t["id"], client_key=_note(book, ring_id, t["client_key"], masker),
                note=_note(book, ring_id, t["note"], masker), at=t["at"]) for t in casework.tips_by_ring.get(ring_id, [])]
    return {"disposition": _disposition(book, ring, casework.dispositions.get(ring_id), masker), "tips": tips,
            "priority": priority(ring["score"], len(tips))}


def _disposition(book: RingBook, ring: dict[str, Any], record: dict[str, Any] | None, masker: Masker) -> dict[str, Any]:
    shown = effective_disposition(record, ring)
    if shown.get("note"):
        shown["note"] = _note(book, ring["id"], shown["note"], masker)
    return shown


def _note(book: RingBook, ring_id: str, text: str, masker: Masker) -> str:
    """Free text written about a ring (notes, tip keys) as the role may see it: investigators write
    phones, ID numbers and the names and addresses of the ring's members into them."""
    if not masker.active or not text:
        return text
    return masker.text(text, book.member_names(ring_id), book.member_addresses(ring_id))


def member_roles(members: list[tuple[str, str]], edges: list[Any]) -> dict[str, str]:
    """What each member does in the ring, read from the network edges among them.

    A person is an ``agent`` when others' claims name them as agent, a ``card_user`` when they
    used another member's card, a ``card_lender`` when their card was used by another member,
    else a ``beneficiary``; other members' roles follow from their type (``graphsvc.vocab``: an
    intermediary is a ``broker``).

    >>> from graphsvc.network import Edge
    >>> member_roles([("person", "A"), ("person", "B"), ("card", "C1"), ("intermediary", "I1")],
    ...              [Edge("person:B", "USED_CARD", "card:C1", 3), Edge("card:C1", "HELD_BY", "person:A")])
    {'person:A': 'card_lender', 'person:B': 'card_user', 'card:C1': 'card', 'intermediary:I1': 'broker'}
    """
    roles = {}
    used_cards = {e.target for e in edges if e.type == "USED_CARD"}
    for node_type, node_id in members:
        key = node_key(node_type, node_id)
        if node_type != "person":
            roles[key] = vocab.member_role_of_type(node_type)
        elif any(e.type == "HANDLED_BY" and e.target == key for e in edges):
            roles[key] = "agent"
        elif any(e.type == "USED_CARD" and e.source == key for e in edges):
            roles[key] = "card_user"
        elif any(e.type == "HELD_BY" and e.target == key and e.source in used_cards for e in edges):
            roles[key] = "card_lender"
        else:
            roles[key] = "beneficiary"
    return roles


def _build_detail(store: GraphStore, ring: dict[str, Any], member_keys: frozenset[str]) -> dict[str, Any]:
    graph = subgraph(store, sorted(member_keys))
    roles = member_roles([(m["type"], m["id"]) for m in ring["members"]], graph["edges"])
    claims = store.ring_claims(ring["id"])
    per_person, timeline = _tally(claims)
    labels = graph["nodes"]
    members = []
    for m in ring["members"]:
        key = node_key(m["type"], m["id"])
        claims_n, fund = per_person.get(m["id"], (0, 0.0)) if m["type"] == "person" else (0, 0.0)
        members.append({"type": m["type"], "id": m["id"], "label": (labels.get(key) or (0, None))[1],
                        "role": roles[key], "claims": claims_n, "fund_amount": round(fund, 2)})
    return {"members": members, "nodes": graph["nodes"], "edges": graph["edges"], "member_keys": member_keys,
            "claims": len(claims), "timeline": timeline}


def _tally(claims: list[dict[str, Any]]) -> tuple[dict[str, tuple[int, float]], list[dict[str, Any]]]:
    """Claims and fund per person, and the timeline (claims, fund, persons and kinds per day), of ``claims``."""
    per_person: dict[str, list[float]] = {}
    per_day: dict[str, dict[str, Any]] = {}
    for c in claims:
        fund = float(c["fund_amount"] or 0)
        totals = per_person.setdefault(c["person_id"], [0, 0.0])
        totals[0] += 1
        totals[1] += fund
        day = per_day.setdefault(c["start_time"].date().isoformat(),
                                 {"claims": 0, "fund_amount": 0.0, "persons": set(), "by_kind": {}})
        day["claims"] += 1
        day["fund_amount"] += fund
        day["persons"].add(c["person_id"])
        day["by_kind"][c["kind"]] = day["by_kind"].get(c["kind"], 0) + 1
    timeline = [{"day": day, "claims": v["claims"], "fund_amount": round(v["fund_amount"], 2),
                 "persons": len(v["persons"]), "by_kind": v["by_kind"]} for day, v in sorted(per_day.items())]
    return {p: (int(n), f) for p, (n, f) in per_person.items()}, timeline


_CLAIM_EDGE_ENDS: tuple[tuple[str, str, str], ...] = (
    ("SETTLED_AT", "institution", "institution_id"), ("USED_CARD", "card", "card_id"),
    ("PRESCRIBED_BY", "prescriber", "prescriber_id"), ("CONTACT_PHONE", "phone", "contact_phone"),
    ("PAID_TO", "account", "payee_account"), ("SCANNED_ON", "device", "device_id"))
"""A claim edge of the network (``graphsvc.store.schema``'s ``_CLAIMS``) from its claimant: its type, the
node type at its far end and the settlement column naming it (``HANDLED_BY`` is the agent's, by its type)."""
_CARRIED_BY = ("card", "phone", "device", "account")
"""Node types through whose registered links a member joins a ring as of a day without a claim of its own."""
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _claim_edges(claim: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The (source, type, target) of each network edge a settlement adds to."""
    person = node_key("person", claim["person_id"])
    ends = [(person, rel, node_key(kind, claim[column])) for rel, kind, column in _CLAIM_EDGE_ENDS if claim[column]]
    if claim["agent_id"]:
        agent = "person" if claim["agent_type"] == "person" else "intermediary"
        ends.append((person, "HANDLED_BY", node_key(agent, claim["agent_id"])))
    return ends


def _detail_as_of(store: GraphStore, ring: dict[str, Any], detail: dict[str, Any], as_of: date) -> dict[str, Any]:
    """``detail`` cut at the end of ``as_of`` (the module's notes say what stays)."""
    claims = [c for c in store.ring_claims(ring["id"]) if c["start_time"].date() <= as_of]
    per_person, timeline = _tally(claims)
    # Edges count every claim between their ends, not only the ring's: recounted from the claimants' claims.
    claimants = sorted({split_key(e.source)[1] for e in detail["edges"] if e.claims})
    ring_claims = {c["settlement_id"] for c in claims}
    recount: dict[tuple[str, str, str], list[Any]] = {}
    present: set[str] = set()
    for claim in store.claims_of("person", claimants):
        if claim["start_time"].date() <= as_of:
            day, fund = claim["start_time"].date().isoformat(), float(claim["fund_amount"] or 0)
            for end in _claim_edges(claim):
                tally = recount.setdefault(end, [0, 0.0, day, day])
                tally[:] = tally[0] + 1, tally[1] + fund, min(tally[2], day), max(tally[3], day)
                if claim["settlement_id"] in ring_claims:
                    present.update((end[0], end[2]))
    edges = []
    for e in detail["edges"]:
        n = recount.get((e.source, e.type, e.target)) if e.claims else None
        if n is not None:
            edges.append(e._replace(claims=n[0], fund_amount=round(n[1], 2), first=n[2], last=n[3]))
        elif not e.claims:
            edges.append(e)
    grown = True
    while grown:  # through the registered links of what is present by then
        before = len(present)
        for e in edges:
            if not e.claims:
                for a, b in ((e.source, e.target), (e.target, e.source)):
                    if a in present and split_key(a)[0] in _CARRIED_BY:
                        present.add(b)
        grown = len(present) > before
    members = detail["member_keys"] & present
    neighbours: dict[str, set[str]] = {}
    for e in edges:
        neighbours.setdefault(e.source, set()).add(e.target)
        neighbours.setdefault(e.target, set()).add(e.source)
    # A shared phone or address outside the ring stays while it still links two members present then.
    linking = {k for k in detail["nodes"] if k not in detail["member_keys"] and len(neighbours.get(k, set()) & members) >= 2}
    shown = members | linking
    kept = [{**m, **({"claims": per_person.get(m["id"], (0, 0.0))[0],
                      "fund_amount": round(per_person.get(m["id"], (0, 0.0))[1], 2)} if m["type"] == "person" else {})}
            for m in detail["members"] if node_key(m["type"], m["id"]) in members]
    return {"members": kept, "nodes": {k: v for k, v in detail["nodes"].items() if k in shown},
            "edges": [e for e in edges if e.source in shown and e.target in shown], "member_keys": members,
            "claims": len(claims), "timeline": timeline,
            "fund_amount": round(sum(float(c["fund_amount"] or 0) for c in claims), 2),
            # as detection dates a ring: its claims' first start and last end, the end cut at the day
            "first_seen": timeline[0]["day"] if timeline else None,
            "last_seen": min(max((c["end_time"] or c["start_time"]).date() for c in claims), as_of).isoformat()
            if claims else None,
            "regions": sorted({r for r in (_region(store, i) for i in {c["institution_id"] for c in claims}) if r}),
            "persons": sum(m["type"] == "person" for m in kept)}


def _region(store: GraphStore, institution_id: str | None) -> str | None:
    """An institution's region code, as detection gives a ring the regions of its claims' institutions."""
    found = store.entity("institution", institution_id) if institution_id else None
    return found.get("region_code") if found else None


def _fact_days(facts: dict[str, Any]) -> list[str]:
    """The days (ISO) a finding's facts name: death dates, first and last uses, admission days..."""
    values = [v for value in facts.values() for v in (value if isinstance(value, list) else [value])]
    return [v[:10] for v in values if isinstance(v, str) and _DAY.match(v)]


def _evidence_item(book: RingBook, ring_id: str, finding: dict[str, Any], masker: Masker, lang: Lang) -> dict[str, Any]:
    """A finding as the role may see it: its facts masked by what each holds, and its sentence rendered in
    ``lang`` from the masked facts, so that it names nothing the facts do not show."""
    facts = finding.get("facts", {})
    try:
        sentence = render(finding["kind"], _mask_facts(facts, masker, masker.shown), lang)
    except MissingFacts:  # saved by a release whose facts did not say everything: its English sentence, masked
        sentence = masker.text(finding["detail"], book.member_names(ring_id), _fact_addresses(facts))
    return {**finding, "detail": sentence,
            "entities": [{"type": x["type"], "id": masker.node_id(x["type"], x["id"])} for x in finding["entities"]],
            "facts": _mask_facts(facts, masker, masker.node_id)}


_FACT_ADDRESSES = ("address", "address_key")
"""Facts that hold an address as written, which no pattern of ``Masker.text`` finds."""


def _fact_addresses(facts: dict[str, Any]) -> list[str]:
    return [facts[k] for k in _FACT_ADDRESSES if isinstance(facts.get(k), str) and facts[k]]


def _mask_facts(facts: dict[str, Any], masker: Masker, node_id: Callable[[str, str], str]) -> dict[str, Any]:
    """A finding's facts as the role may see them, each masked by what it holds (``graphsvc.evidence.FACTS``):
    ids of persons and of shared values through ``node_id`` (the pseudonyms the rest of the answer uses, or
    their masked part in a sentence), addresses and other personal values masked by their kind."""
    if not masker.active:
        return facts
    return {k: _mask_fact(_fact_type(k, facts), v, masker, node_id) for k, v in facts.items()}


def _fact_type(name: str, facts: dict[str, Any]) -> str:
    if name == "value" and "value_type" not in facts:  # saved before facts said it: the way of sharing does
        return VIA_NODE_TYPES[facts["via"]]
    return fact_type(name, facts)


def _mask_fact(kind: str, value: Any, masker: Masker, node_id: Callable[[str, str], str]) -> Any:
    if isinstance(value, list):
        return [_mask_fact(kind, v, masker, node_id) for v in value]
    if not isinstance(value, str):
        return value
    if kind in NODE_TYPES and kind != "address":  # an address fact is the address as written, not its node
        return node_id(kind, value)
    shown = masker.value(kind, value)
    # An id of no personal kind can still be one: a pharmacy logs its cashier (operator) by 身份证号 or
    # mobile number. Whatever is shaped like an ID number, phone or account is masked, as in any text.
    return masker.text(shown) if shown == value else shown
