"""From communities to rings: members, pattern, score, money, time span and evidence.

A ring is a community of the suspicion graph with at least ``min_persons`` persons. Its
evidence is the findings inside it; its members are the community's entities plus the
institutions its findings name.

- **pattern**: the first pattern in ``pattern_precedence`` that one of its findings
  suggests with at least ``min_pattern_strength``: care-home waves are lockstep too and a
  broker's recruits are admitted together, so the more specific scheme names the ring. One
  exception: a broker recruits elderly villagers (domain.md), a gang is of working age. A group
  admitted together, fewer than ``broker_elderly_share`` of them elderly, whose shared phone or
  account is no known intermediary's, is a professional gang paid into its leader's account.
- **score**: 1 − ∏(1 − strength) over its findings (noisy-or): independent facts add up,
  none alone reaches certainty, and the same scale holds for every pattern. One handler's
  identifiers over the same persons (his phone, device, agent id, account) are one fact.
- **fund amount, first and last seen**: over the distinct claims its findings are made of.
- **one organiser a ring**: a complicit hospital or pharmacy serves several schemes at once, so
  a community can hold two brokers' recruits admitted in the same weeks, or a collector's
  cards and a colluding prescriber's scripts at one pharmacy. A community whose persons fall
  into two or more organisers' groups (the persons each agent, phone, account, device,
  prescriber or home links; overlapping ones are one organiser) is split: a person linked by
  one organiser goes to him, any other to the organiser it shares most evidence with, a
  finding spanning organisers (the
  co-admissions at the shared hospital) is cut along them, and the institution is a member
  of each ring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import igraph as ig

from graphsvc.detect.config import RingConfig
from graphsvc.detect.finding import PATTERNS, Finding, linked_groups

__all__ = ["Ring", "assemble_rings", "meeting_places", "ring_pattern", "ring_score", "split_by_organiser",
           "ORGANISER_KINDS"]

ORGANISER_KINDS = frozenset({
    "shared_agent", "shared_contact_phone", "shared_payee_account", "shared_bound_phone", "shared_card_device",
    "shared_scan_device", "shared_own_phone", "unseen_prescriptions", "care_home_waves", "card_burst",
    "shared_address", "trace_code_resold"})
"""Findings that name whoever runs a scheme: a broker's agent id, phone or account, a collector's phone
or devices, a prescriber, a home, a flat, the buyers whose boxes came back. Co-admissions and card
facts name only what was done; so does the till the dead's cards went through: a cashier taking them
from two gangs, like a pharmacy serving two collectors, joins each ring, not the two into one."""

ClaimOwner = tuple[str, str | None]
"""Who made a claim and on which device (a card's device or the scanning one; None when not recorded)."""
ClaimFacts = tuple[float, date, date, str | None, str, str | None]
"""A claim's fund amount, first and last day, institution region, person and device."""

_MEMBER_ORDER = {t: i for i, t in enumerate(
    ["person", "intermediary", "institution", "prescriber", "card", "phone", "device", "account"])}


@dataclass
class Ring:
    pattern: str
    score: float
    persons: list[str]
    members: list[tuple[str, str]]
    fund_amount: float
    first_seen: date | None
    last_seen: date | None
    evidence: list[Finding]
    settlements: list[str]
    """The distinct claims its findings are made of (the export's and the timeline's rows)."""
    regions: list[str]
    """Region codes of the institutions of those claims."""
    id: str | None = None

    def document(self) -> dict[str, Any]:
        """The contract's ring object."""
        return {
            "id": self.id, "pattern": self.pattern, "score": self.score,
            "members": [{"type": t, "id": i} for t, i in self.members],
            "fund_amount": round(self.fund_amount, 2),
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "persons": len(self.persons),
            "regions": self.regions,
            # The facts behind the ring's pattern first, then the rest, strongest first.
            "evidence": [f.evidence() for f in sorted(self.evidence, key=lambda f: (f.suggests != self.pattern, -f.strength))],
        }


_HANDLER_KINDS = frozenset({"shared_contact_phone", "shared_agent", "shared_payee_account", "shared_bound_phone",
                            "shared_card_device", "shared_own_phone"})
"""Findings that say who handles a group's claims or cards: the one who gives his phone as their contact,
files as their agent, is paid their money, holds their e-vouchers. One handler shows through several
of his identifiers at once (a daughter managing her parents' e-vouchers: her phone, her device, her
agent id), so they are one fact, not several."""


def ring_score(findings: Sequence[Finding]) -> float:
    """Noisy-or of the findings' strengths, rounded to 4 places; handler findings (``_HANDLER_KINDS``)
    over the same persons count once, at the strongest.

    Independent facts add up; one person's phone, device and agent id over the same five persons are
    one fact, and counted three times they made a family managing its elders' e-vouchers (家庭共济)
    score as a broker's ring. What the group then did (admitted together, cards swiped in bursts, the
    dead's cards used) is what adds up beside it.

    >>> ring_score([Finding("a", "", (), (), 0.5, None), Finding("b", "", (), (), 0.5, None)])
    0.75
    >>> phone = Finding("shared_contact_phone", "", ("A", "B", "C"), (), 0.5, None)
    >>> device = Finding("shared_card_device", "", ("A", "B", "C", "D"), (), 0.4, None)
    >>> ring_score([phone, device]), ring_score([phone, replace(device, persons=("E", "F", "G"))])
    (0.5, 0.7)
    """
    handled: list[set[str]] = []  # the persons of each handler counted so far (his strongest finding)
    remaining = 1.0
    for f in sorted(findings, key=lambda f: -f.strength):
        if f.kind in _HANDLER_KINDS:
            persons = set(f.persons)
            same = next((h for h in handled if 2 * len(h & persons) >= min(len(h), len(persons))), None)
            if same is not None:
                same.update(persons)
                continue
            handled.append(persons)
        remaining *= 1.0 - f.strength
    return round(1.0 - remaining, 4)


_ABSENT_HOLDER = frozenset({"card_used_after_death", "card_in_two_places", "card_used_by_others"})
"""Findings of a card used without its holder."""


def ring_pattern(findings: Sequence[Finding], config: RingConfig) -> str:
    """The first pattern in precedence that strong findings suggest for enough of the ring's persons.

    >>> lockstep = Finding("co_admission_lockstep", "", ("A", "B", "C"), (), 0.6, "professional_gang")
    >>> agent = Finding("shared_agent", "", ("A", "B", "C"), (), 0.5, "black_intermediary")
    >>> two_places = Finding("card_in_two_places", "", ("A",), (), 0.3, "identity_misuse")
    >>> ring_pattern([lockstep, two_places], RingConfig()), ring_pattern([lockstep, agent], RingConfig())
    ('professional_gang', 'black_intermediary')
    >>> working_age = replace(lockstep, facts={"elderly_share": 0.0})
    >>> ring_pattern([working_age, agent], RingConfig())
    'professional_gang'
    """
    persons = {p for f in findings for p in f.persons}
    # A device scanning others' cards is a handler (a gang's leader at the admission desk) until a card is
    # shown used without its holder: after his death, elsewhere at once, by others.
    absent = any(f.kind in _ABSENT_HOLDER and f.strength >= config.min_pattern_strength for f in findings)
    covered: dict[str, set[str]] = {}
    for f in findings:
        if f.suggests and f.strength >= config.min_pattern_strength and (absent or f.kind != "shared_scan_device"):
            covered.setdefault(f.suggests, set()).update(f.persons)
    if "card_collector" in covered:
        # A collector buys drugs on the cards he holds and sells them on (倒卖回流药, domain.md): the boxes
        # resold from his holders' cards are his scheme's, not a resale ring of their own.
        covered["card_collector"].update(p for f in findings if f.kind == "trace_code_resold"
                                         and f.strength >= config.min_pattern_strength for p in f.persons)
    enough = {pattern for pattern, named in covered.items() if len(named) >= config.min_pattern_coverage * len(persons)}
    if {"black_intermediary", "professional_gang"} <= enough and not any(
            kind == "intermediary" for f in findings if f.suggests == "black_intermediary" for kind, _ in f.entities):
        elderly = [f.facts["elderly_share"] for f in findings if f.kind == "co_admission_lockstep"
                   and f.strength >= config.min_pattern_strength and f.facts.get("elderly_share") is not None]
        if elderly and max(elderly) < config.broker_elderly_share:
            enough.discard("black_intermediary")
    for pattern in config.pattern_precedence:
        if pattern in enough:
            return pattern
    strongest = max((f for f in findings if f.suggests in PATTERNS), key=lambda f: f.strength, default=None)
    return strongest.suggests if strongest and strongest.suggests else "other"


def split_by_organiser(persons: Sequence[str], findings: Sequence[Finding], config: RingConfig,
                       owner_of_claim: Mapping[str, ClaimOwner] | None = None) -> list[tuple[list[str], list[Finding]]]:
    """Cut a community into one part per organiser; a community with one organiser or none stays whole.

    Organisers are the person sets of strong organiser findings (``ORGANISER_KINDS``), those
    overlapping by half or more merged. A person in one organiser's set is his; any other goes
    to the organiser whose persons its findings share most (strength-weighted), or to the
    biggest when it shares none. A finding spanning parts is cut to each part's persons (and, with
    ``owner_of_claim``, their claims) where it keeps two persons there.

    >>> broker = lambda n, ps: Finding("shared_agent", "", ps, (("intermediary", n),), 0.8, "black_intermediary")
    >>> a, b = ("A1", "A2", "A3"), ("B1", "B2", "B3")
    >>> together = Finding("co_admission_lockstep", "", a + b, (("institution", "H1"),), 0.7, "professional_gang")
    >>> [(p, [(f.kind, f.persons) for f in e]) for p, e in split_by_organiser(a + b, [broker("I1", a), broker("I2", b),
    ...                                                                                    together], RingConfig())]
    ... # doctest: +NORMALIZE_WHITESPACE
    [(['A1', 'A2', 'A3'], [('shared_agent', ('A1', 'A2', 'A3')), ('co_admission_lockstep', ('A1', 'A2', 'A3'))]),
     (['B1', 'B2', 'B3'], [('shared_agent', ('B1', 'B2', 'B3')), ('co_admission_lockstep', ('B1', 'B2', 'B3'))])]
    """
    # An institution's own account (``account_of``) stands for the institution: a member of each ring.
    organisers = [f for f in findings if f.kind in ORGANISER_KINDS and f.strength >= config.min_pattern_strength
                  and len(f.persons) >= config.min_persons and not f.facts.get("account_of")]
    organisers = [f for f in organisers if not _venue(f, organisers)]
    links = [[i] + [j for j in range(i + 1, len(organisers))
                    if _overlap(organisers[i].persons, organisers[j].persons) >= 0.5] for i in range(len(organisers))]
    cores = [set().union(*(organisers[i].persons for i in group)) for group in linked_groups(links)]
    cores = [c for c in cores if len(c) >= config.min_persons]
    if len(cores) < 2:
        return [(sorted(persons), list(findings))]
    parts: list[set[str]] = [set() for _ in cores]
    for p in persons:
        inside = [k for k, core in enumerate(cores) if p in core]
        if len(inside) == 1:  # linked by one organiser's own identifier: his, however big the other
            parts[inside[0]].add(p)
            continue
        affinity = [0.0] * len(cores)
        for f in findings:
            if p in f.persons:
                for k, core in enumerate(cores):
                    affinity[k] += f.strength * len(core.intersection(f.persons)) / len(f.persons)
        best = max(range(len(cores)), key=lambda k: (affinity[k], len(cores[k]), -k))
        parts[best].add(p)
    result = []
    for part in parts:
        if not part:
            continue
        evidence = []
        for f in findings:
            mine = tuple(p for p in f.persons if p in part)
            if len(mine) == len(f.persons) and mine:
                evidence.append(f)
            elif len(mine) >= 2:
                evidence.append(_cut(f, mine, owner_of_claim))
        result.append((sorted(part), evidence))
    return result


def _venue(f: Finding, organisers: Sequence[Finding]) -> bool:
    """Whether ``f`` is a place where two or more organisers sharing no one met: the bursts at a
    pharmacy that several collectors use, a payee account that several care homes' residents were
    paid through (a complicit hospital's). It is cut along them, not one organiser joining them. A
    collector's device holding his several burner phones' cards, a broker's account over his
    sub-recruiters' phones, stay his.

    >>> home = lambda n, ps: Finding("care_home_waves", "", ps, (("institution", n),), 0.6, "care_home_collusion")
    >>> a, b = ("A1", "A2", "A3"), ("B1", "B2", "B3")
    >>> account = Finding("shared_payee_account", "", a + b, (("account", "X"),), 0.6, "black_intermediary")
    >>> _venue(account, [home("H1", a), home("H2", b), account]), _venue(home("H1", a), [home("H1", a), account])
    (True, False)
    """
    met = _VENUES.get(f.kind)
    if met is None:
        return False
    inside = [g for g in organisers if g is not f and (not met or g.kind in met) and len(g.persons) < len(f.persons)
              and len(set(g.persons) & set(f.persons)) >= 0.5 * len(g.persons)]
    return any(_overlap(g.persons, h.persons) == 0 for i, g in enumerate(inside) for h in inside[i + 1:])


def meeting_places(findings: Sequence[Finding], config: RingConfig) -> set[int]:
    """Indices of the findings that are an institution's own account (``account_of``) where two or more
    groups sharing no one were paid: a complicit hospital writing its account on every stay, two
    brokers' recruits and a gang among them. Left out of the suspicion graph, as the institution is,
    they tie none of the groups together; each ring they meet keeps them as evidence. A group here is
    a strong organiser finding or co-admission of ``min_persons`` or more, at least half inside the
    account's persons. An account over one group (a broker's villagers, readmitted at his small
    hospital) is its tie.

    >>> lockstep = lambda ps: Finding("co_admission_lockstep", "", ps, (), 0.7, "professional_gang")
    >>> a, b = ("A1", "A2", "A3"), ("B1", "B2", "B3")
    >>> account = Finding("shared_payee_account", "", a + b, (("account", "X"),), 0.8, "black_intermediary",
    ...                   facts={"account_of": "H1"})
    >>> meeting_places([account, lockstep(a), lockstep(b)], RingConfig()), meeting_places([account, lockstep(a)], RingConfig())
    ({0}, set())
    """
    groups_of: dict[str, list[int]] = {}
    for k, g in enumerate(findings):
        if ((g.kind in ORGANISER_KINDS or g.kind == "co_admission_lockstep") and not g.facts.get("account_of")
                and g.strength >= config.min_pattern_strength and len(g.persons) >= config.min_persons):
            for p in g.persons:
                groups_of.setdefault(p, []).append(k)
    places = set()
    for i, f in enumerate(findings):
        if not f.facts.get("account_of"):
            continue
        persons = set(f.persons)
        touching = {k for p in persons for k in groups_of.get(p, ())}
        inside = [set(findings[k].persons) for k in sorted(touching)
                  if 2 * len(persons.intersection(findings[k].persons)) >= len(findings[k].persons)]
        if any(g.isdisjoint(h) for j, g in enumerate(inside) for h in inside[j + 1:]):
            places.add(i)
    return places


_VENUES: dict[str, frozenset[str]] = {"card_burst": frozenset(), "shared_payee_account": frozenset({"care_home_waves"})}
"""Findings that may be a place where schemes met, and the organisers they may hold (empty: any)."""


def _overlap(a: Sequence[str], b: Sequence[str]) -> float:
    return len(set(a) & set(b)) / min(len(a), len(b)) if a and b else 0.0


def assemble_rings(graph: ig.Graph, communities: Sequence[Sequence[int]], findings: Sequence[Finding],
                   claims: Mapping[str, ClaimFacts], config: RingConfig) -> list[Ring]:
    """Turn communities of the suspicion graph into rings, sorted by score (highest first).

    A community's evidence is every finding that names two or more of its persons (all of a
    one-person finding's), cut to them: a finding's node sits in one community, but the
    co-admissions at a hospital two brokers share are evidence for each broker's ring.
    ``claims`` maps a settlement id to (fund amount, first day, last day, institution region, person,
    device).
    """
    owner_of_claim = {s: (c[4], c[5]) for s, c in claims.items()}
    community_of: dict[str, int] = {}
    members: list[list[str]] = []
    for community in communities:
        persons = sorted(graph.vs[v]["key"] for v in community if graph.vs[v]["type"] == "person")
        if len(persons) >= config.min_persons:
            community_of.update((p, len(members)) for p in persons)
            members.append(persons)
    evidence: list[list[Finding]] = [[] for _ in members]
    for f in findings:
        touched: dict[int, list[str]] = {}
        for p in f.persons:
            if p in community_of:
                touched.setdefault(community_of[p], []).append(p)
        for c, mine in touched.items():
            if len(mine) == len(f.persons):
                evidence[c].append(f)
            elif len(mine) >= 2:
                evidence[c].append(_cut(f, mine, owner_of_claim))
    rings = []
    for persons, found in zip(members, evidence):
        for part, part_evidence in split_by_organiser(persons, found, config, owner_of_claim):
            ring = _ring(part, part_evidence, claims, config) if len(part) >= config.min_persons else None
            # A ring is the fund's money taken: persons who only registered one phone, with no claim
            # behind any finding (a village doctor's number on his villagers' records), are none.
            if ring and ring.score >= config.min_score and ring.settlements:
                rings.append(ring)
    rings.sort(key=lambda r: (-r.score, -len(r.persons), -r.fund_amount, r.persons[0]))
    return rings


def _cut(f: Finding, persons: Sequence[str], owner_of_claim: Mapping[str, ClaimOwner] | None) -> Finding:
    """``f`` restricted to ``persons`` and, where known, their claims.

    The cards it names are dropped, and the devices but the one the finding is about (a shared
    device's) and, where the claims' owners are known, those its kept claims were made on: a
    finding does not say whose they are, and the other part's are not this ring's (two collectors
    swiping at one pharmacy on the same afternoons are one burst; a referral naming the other gang's
    devices sends police to the wrong phones, one leaving out the handsets this gang's own swipes
    were made on sends them to none). A ring's own cards come in through its own findings. Its facts
    say it was cut, its detail still describes the whole.
    """
    keep = set(persons)
    if owner_of_claim is None:
        claims, devices = f.settlements, set()
    else:
        claims = tuple(s for s in f.settlements if s in owner_of_claim and owner_of_claim[s][0] in keep)
        devices = {owner_of_claim[s][1] for s in claims}
    return replace(f, persons=tuple(p for p in f.persons if p in keep), settlements=claims,
                   entities=tuple(e for e in f.entities if e[0] != "card" and (
                       e[0] != "device" or e[1] == f.facts.get("value") or e[1] in devices)),
                   facts={**f.facts, "cut_to_persons": len(keep), "persons_in_whole": len(f.persons)})


def _ring(persons: list[str], evidence: list[Finding], claims: Mapping[str, ClaimFacts],
          config: RingConfig) -> Ring:
    members = {("person", p) for p in persons}
    members |= {e for f in evidence for e in f.entities if e[0] != "person"}
    claim_ids = sorted({s for f in evidence for s in f.settlements if s in claims})
    settled = [claims[s] for s in claim_ids]
    return Ring(
        pattern=ring_pattern(evidence, config),
        score=ring_score(evidence),
        persons=persons,
        members=sorted(members, key=lambda m: (_MEMBER_ORDER.get(m[0], 99), m[0], m[1])),
        fund_amount=sum(c[0] for c in settled),
        first_seen=min((c[1] for c in settled), default=None),
        last_seen=max((c[2] for c in settled), default=None),
        evidence=evidence,
        settlements=claim_ids,
        regions=sorted({c[3] for c in settled if c[3]}),
    )
