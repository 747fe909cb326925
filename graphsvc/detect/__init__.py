"""Ring detection: motif detectors → weighted suspicion graph → Leiden → scored rings.

``detect_rings(store)`` runs every detector on what the store holds, builds the suspicion
graph from their findings, cuts it into communities with Leiden and turns those into rings
with a pattern, a score, the fund amount, a time span and evidence. ``store.save_rings``
keeps ring ids stable across runs.

The detectors' SQL runs on a session (``graphsvc.store.engine.Session``): the store's own DuckDB
tables by default, or Apache Spark over Parquet (``SparkSQLSession``) for a province's lake. The
steps after the SQL (the suspicion graph, Leiden, scoring) run here, over the small candidate sets.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tqdm import tqdm

from graphsvc.detect.card_burst import card_burst_findings
from graphsvc.detect.care_home_waves import care_home_wave_findings
from graphsvc.detect.co_admission_lockstep import co_admission_lockstep_findings
from graphsvc.detect.config import DetectionConfig
from graphsvc.detect.finding import Finding
from graphsvc.detect.prescriber_collusion import prescriber_collusion_findings
from graphsvc.detect.rings import Ring, assemble_rings, meeting_places
from graphsvc.detect.shared_address import shared_address_findings
from graphsvc.detect.shared_card import shared_card_findings
from graphsvc.detect.shared_identifier import shared_identifier_findings
from graphsvc.detect.suspicion_graph import leiden_communities, suspicion_graph, whole_small_components
from graphsvc.detect.trace_code_resold import trace_code_resold_findings
from graphsvc.evidence import explain
from graphsvc.resolution import resolve_entities
from graphsvc.store.engine import Session, SessionLike, session_of

__all__ = ["DetectionConfig", "DetectionResult", "Finding", "Ring", "detect_rings", "detect_rings_in",
           "detect_and_save", "DETECTORS"]

DETECTORS: dict[str, Callable[[SessionLike, DetectionConfig], list[Finding]]] = {
    "shared_card": lambda con, c: shared_card_findings(con, c.shared_card),
    "shared_identifier": lambda con, c: shared_identifier_findings(con, c.shared_identifier,
                                                                   key_drugs=c.card_burst.key_drugs),
    "co_admission_lockstep": lambda con, c: co_admission_lockstep_findings(con, c.co_admission_lockstep),
    "shared_address": lambda con, c: shared_address_findings(con, c.shared_address),
    "card_burst": lambda con, c: card_burst_findings(con, c.card_burst),
    "prescriber_collusion": lambda con, c: prescriber_collusion_findings(con, c.prescriber_collusion),
    "care_home_waves": lambda con, c: care_home_wave_findings(con, c.care_home_waves),
    "trace_code_resold": lambda con, c: trace_code_resold_findings(con, c.trace_code_resold),
}


@dataclass
class DetectionResult:
    rings: list[Ring]
    findings: list[Finding]
    explained: list[Finding] = field(default_factory=list)
    """Look-alikes judged normal by their base rates, each with its reason; they join no ring."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per stage (each detector, graph, leiden, rings)."""
    graph: dict[str, int] = field(default_factory=dict)
    """Size of the suspicion graph: vertices, edges, communities."""

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for f in self.findings:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        patterns: dict[str, int] = {}
        for r in self.rings:
            patterns[r.pattern] = patterns.get(r.pattern, 0) + 1
        explained: dict[str, int] = {}
        for f in self.explained:
            explained[f.kind] = explained.get(f.kind, 0) + 1
        return {"rings": len(self.rings), "patterns": patterns, "findings": kinds, "explained": explained,
                # Whom each reason is about (the agent, the home) first, then a few of the persons.
                "explained_examples": [{"kind": f.kind, "reason": explain(f.explained, f.facts, "en"),
                                        "reason_zh": explain(f.explained, f.facts, "zh"),
                                        "entities": [{"type": t, "id": i} for t, i in f.entities]
                                        + [{"type": "person", "id": p} for p in f.persons[:12]]}
                                       for f in self.explained[:50] if f.explained],
                "graph": self.graph, "seconds": {k: round(v, 2) for k, v in self.seconds.items()}}


Stage = Callable[[str, int, int], None]
"""Called with (stage name, stages done, stages in all) as detection moves on (a job's progress)."""


def detect_rings(store: Any, config: DetectionConfig | None = None, *, progress: bool = False,
                 on_stage: Stage | None = None, session: Session | None = None) -> DetectionResult:
    """Run detection on everything ``store`` (a ``GraphStore``) holds, or on ``session`` when given (the
    store's tables on Spark, or a lake's); ids are not assigned yet."""
    if session is not None:
        return detect_rings_in(session, config, progress=progress, on_stage=on_stage)
    con = store.analysis_connection()
    try:
        return detect_rings_in(con, config, progress=progress, on_stage=on_stage)
    finally:
        con.close()


def detect_and_save(store: Any, config: DetectionConfig | None = None, *, progress: bool = False,
                    on_stage: Stage | None = None, session: Session | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """Detect rings on ``store`` (or on ``session``, see ``detect_rings``) and keep them in ``store`` with stable ids.

    Returns the ``DetectionRun`` (what changed since the previous run) and the ring
    documents, highest score first, as the contract writes them.
    """
    config = config or DetectionConfig()
    started_at = datetime.now().astimezone()
    started = time.perf_counter()
    result = detect_rings(store, config, progress=progress, on_stage=on_stage, session=session)
    documents = [ring.document() for ring in result.rings]
    run = store.save_rings(
        documents, [ring.persons for ring in result.rings], [ring.settlements for ring in result.rings],
        run_id=f"{started_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}", started_at=started_at.isoformat(timespec="seconds"),
        seconds=time.perf_counter() - started, summary=result.summary(), match_jaccard=config.ring.match_jaccard)
    return run, documents


def detect_rings_in(con: SessionLike, config: DetectionConfig | None = None, *,
                    progress: bool = False, on_stage: Stage | None = None) -> DetectionResult:
    """Run detection on a session (or DuckDB connection) holding the model's tables (see ``graphsvc.detect.finding``).

    Examples
    --------
    Three unrelated villagers' stays handled by one broker, wave after wave:

    >>> from graphsvc.detect.finding import in_memory_claims
    >>> stays = [{"settlement_id": f"S{m}{i}", "kind": "inpatient", "person_id": f"P{i}", "institution_id": "H1",
    ...           "start_time": f"2026-0{m}-0{i + 1} 09:00", "agent_id": "I1", "fund_amount": 5000}
    ...          for m in (2, 4, 6) for i in range(3)]
    >>> con = in_memory_claims(persons=[{"person_id": f"P{i}", "address": f"村{i}"} for i in range(3)],
    ...                        intermediaries=[{"intermediary_id": "I1"}], settlements=stays)
    >>> [ring] = detect_rings_in(con).rings
    >>> ring.pattern, ring.persons, ring.fund_amount, str(ring.first_seen), str(ring.last_seen)
    ('black_intermediary', ['P0', 'P1', 'P2'], 45000.0, '2026-02-01', '2026-06-03')
    """
    config = config or DetectionConfig()
    session = session_of(con)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    resolve_entities(session)  # persons, households and accounts as resolved entities, whatever the export wrote
    seconds["resolve_entities"] = time.perf_counter() - started
    findings: list[Finding] = []
    stages = tqdm(DETECTORS.items(), desc="detect", unit="detector", disable=not progress)
    for done, (name, detector) in enumerate(stages):
        stages.set_postfix_str(name)
        if on_stage:
            on_stage(name, done, len(DETECTORS) + 1)
        started = time.perf_counter()
        findings += detector(session, config)
        seconds[name] = time.perf_counter() - started
    explained = [f for f in findings if f.explained]
    findings = [f for f in findings if not f.explained]
    if on_stage:
        on_stage("communities", len(DETECTORS), len(DETECTORS) + 1)
    started = time.perf_counter()
    graph = suspicion_graph(findings, meeting_places(findings, config.ring))
    seconds["suspicion_graph"] = time.perf_counter() - started
    started = time.perf_counter()
    communities = leiden_communities(graph, resolution=config.community.resolution, seed=config.community.seed,
                                     iterations=config.community.iterations)
    communities = whole_small_components(graph, communities, config.ring.min_persons, config.ring.min_pattern_strength)
    seconds["leiden"] = time.perf_counter() - started
    started = time.perf_counter()
    rings = assemble_rings(graph, communities, findings, _claim_facts(session, findings), config.ring)
    seconds["rings"] = time.perf_counter() - started
    return DetectionResult(rings, findings, explained, seconds,
                           {"vertices": graph.vcount(), "edges": graph.ecount(), "communities": len(communities)})


def _claim_facts(session: Session,
                 findings: list[Finding]) -> dict[str, tuple[float, Any, Any, str | None, str, str | None]]:
    ids = sorted({s for f in findings for s in f.settlements})
    if not ids:
        return {}
    session.temp_table("d_ring_claims", {"settlement_id": ids})
    rows = session.rows("""
        SELECT s.settlement_id, coalesce(s.fund_amount, 0) AS fund, s.start_time::DATE AS first_day,
               coalesce(s.end_time, s.start_time)::DATE AS last_day, i.region_code, s.person_id, s.device_id
        FROM settlements s SEMI JOIN d_ring_claims USING (settlement_id)
        LEFT JOIN institutions i ON i.institution_id = s.institution_id""")
    return {r["settlement_id"]: (float(r["fund"]), r["first_day"], r["last_day"], r["region_code"], r["person_id"],
                                 r["device_id"]) for r in rows}
