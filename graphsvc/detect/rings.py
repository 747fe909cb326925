"""From communities to rings: members, pattern, score, money, time span and evidence.

A ring is a community of the suspicion graph with at least ``min_persons`` persons. Its
evidence is the findings inside it; its members are the community's entities plus the
institutions its findings name.

- **pattern**: the first pattern in ``pattern_precedence`` that one of its findings
  suggests with at least ``min_pattern_strength``: care-home waves are lockstep too and a
  broker's recruits are admitted together, so the more specific scheme names the ring.
- **score**: 1 − ∏(1 − strength) over its findings (noisy-or): independent facts add up,
  none alone reaches certainty, and the same scale holds for every pattern.
- **fund amount, first and last seen**: over the distinct claims its findings are made of.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import igraph as ig

from graphsvc.detect.config import RingConfig
from graphsvc.detect.finding import PATTERNS, Finding
from graphsvc.detect.suspicion_graph import FINDING

__all__ = ["Ring", "assemble_rings", "ring_pattern", "ring_score"]

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


def ring_score(findings: Sequence[Finding]) -> float:
    """Noisy-or of the findings' strengths, rounded to 4 places.

    >>> ring_score([Finding("a", "", (), (), 0.5, None), Finding("b", "", (), (), 0.5, None)])
    0.75
    """
    remaining = 1.0
    for f in findings:
        remaining *= 1.0 - f.strength
    return round(1.0 - remaining, 4)


def ring_pattern(findings: Sequence[Finding], config: RingConfig) -> str:
    """The first pattern in precedence that strong findings suggest for enough of the ring's persons.

    >>> lockstep = Finding("co_admission_lockstep", "", ("A", "B", "C"), (), 0.6, "professional_gang")
    >>> agent = Finding("shared_agent", "", ("A", "B", "C"), (), 0.5, "black_intermediary")
    >>> two_places = Finding("card_in_two_places", "", ("A",), (), 0.3, "identity_misuse")
    >>> ring_pattern([lockstep, two_places], RingConfig()), ring_pattern([lockstep, agent], RingConfig())
    ('professional_gang', 'black_intermediary')
    """
    persons = {p for f in findings for p in f.persons}
    covered: dict[str, set[str]] = {}
    for f in findings:
        if f.suggests and f.strength >= config.min_pattern_strength:
            covered.setdefault(f.suggests, set()).update(f.persons)
    for pattern in config.pattern_precedence:
        if len(covered.get(pattern, ())) >= config.min_pattern_coverage * len(persons):
            return pattern
    strongest = max((f for f in findings if f.suggests in PATTERNS), key=lambda f: f.strength, default=None)
    return strongest.suggests if strongest and strongest.suggests else "other"


def assemble_rings(graph: ig.Graph, communities: Sequence[Sequence[int]], findings: Sequence[Finding],
                   claims: Mapping[str, tuple[float, date, date, str | None]], config: RingConfig) -> list[Ring]:
    """Turn communities of the suspicion graph into rings, sorted by score (highest first).

    ``claims`` maps a settlement id to (fund amount, first day, last day, institution region).
    """
    rings = []
    for community in communities:
        vertices = [graph.vs[v] for v in community]
        persons = sorted(v["key"] for v in vertices if v["type"] == "person")
        if len(persons) < config.min_persons:
            continue
        evidence = [findings[int(v["key"])] for v in vertices if v["type"] == FINDING]
        members = {("person", p) for p in persons}
        members |= {(v["type"], v["key"]) for v in vertices if v["type"] not in (FINDING, "person")}
        members |= {e for f in evidence for e in f.entities if e[0] == "institution"}
        claim_ids = sorted({s for f in evidence for s in f.settlements if s in claims})
        settled = [claims[s] for s in claim_ids]
        rings.append(Ring(
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
        ))
    rings.sort(key=lambda r: (-r.score, -len(r.persons), -r.fund_amount, r.persons[0]))
    return rings
