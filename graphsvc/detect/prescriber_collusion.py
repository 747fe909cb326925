"""Prescriber–pharmacy collusion (伪造处方, 与医药企业勾结): scripts for people never seen.

A colluding prescriber's name is on pharmacy claims at one pharmacy for persons he never
saw in a visit or stay, or saw far less often than he wrote for them: a token visit, then
months of scripts. The pharmacy bills the fund for drugs nobody was prescribed. A
prescriber whose patients fill his scripts near home saw every one of them, about as often
as this fund's patients see their prescriber for the scripts they fill: "far less often"
is against the export's own norm (``beyond_usual`` times the 95th percentile of scripts
per visit over the prescriber–patient pairs that have both, never below
``usual_scripts_per_visit``, a quarterly visit's monthly refills; ``beyond_usual`` times
that where fewer than ``norm_pairs`` pairs say it), as long prescriptions and refills differ
from fund to fund.

Reports the prescriber, his institution, the pharmacy, how many scripts and persons he
never saw, that share of his scripts there, his concentration on that pharmacy, dates and
fund amounts.
"""

from __future__ import annotations

from graphsvc.detect.config import PrescriberCollusionConfig, saturate
from graphsvc.detect.finding import Finding, group_rows
from graphsvc.evidence import render
from graphsvc.store.engine import Session, SessionLike, session_of

__all__ = ["prescriber_collusion_findings"]


def prescriber_collusion_findings(con: SessionLike,
                                  config: PrescriberCollusionConfig | None = None) -> list[Finding]:
    """Find prescriber–pharmacy pairs whose scripts are for persons the prescriber never saw.

    Parameters
    ----------
    con : Session or DuckDB connection
        Holds the model's tables (see ``graphsvc.detect.finding``).
    config : PrescriberCollusionConfig
        Minimum unseen persons and share; defaults when None.

    Returns
    -------
    list of Finding
        Kind ``unseen_prescriptions``, one per prescriber and pharmacy; suggests
        ``prescriber_pharmacy_collusion``.

    Examples
    --------
    DR1 saw P0 at his clinic; his scripts at PH1 are for P0..P5:

    >>> from graphsvc.detect.finding import in_memory_claims
    >>> claims = [{"settlement_id": "V0", "kind": "outpatient", "person_id": "P0", "institution_id": "CL1",
    ...            "prescriber_id": "DR1", "start_time": "2026-02-01 09:00"}]
    >>> claims += [{"settlement_id": f"S{i}", "kind": "pharmacy", "person_id": f"P{i}", "institution_id": "PH1",
    ...             "prescriber_id": "DR1", "start_time": f"2026-02-0{i + 2} 15:00"} for i in range(6)]
    >>> [f] = prescriber_collusion_findings(in_memory_claims(settlements=claims))
    >>> f.persons, f.facts["unseen_scripts"], f.facts["scripts"]
    (('P1', 'P2', 'P3', 'P4', 'P5'), 5, 6)

    A token visit each, then a dozen scripts, where this fund's patients fill about one a visit:

    >>> visits = [{"settlement_id": f"V{i}", "kind": "outpatient", "person_id": f"P{i}", "institution_id": "CL1",
    ...            "prescriber_id": "DR1", "start_time": "2026-01-05 09:00"} for i in range(6)]
    >>> scripts = [{"settlement_id": f"S{i}-{k}", "kind": "pharmacy", "person_id": f"P{i}", "institution_id": "PH1",
    ...             "prescriber_id": "DR1", "start_time": f"2026-{k + 1:02d}-10 15:00"} for i in range(6) for k in range(12)]
    >>> usual = [{"settlement_id": f"{kind}{i}", "kind": kind, "person_id": f"Q{i}", "institution_id": place,
    ...           "prescriber_id": "DR2", "start_time": "2026-03-02 10:00"}
    ...          for i in range(120) for kind, place in (("outpatient", "CL2"), ("pharmacy", "PH2"))]
    >>> [f] = prescriber_collusion_findings(in_memory_claims(settlements=visits + scripts + usual))
    >>> len(f.persons), f.facts["unseen_scripts"], f.facts["seen_rarely"], f.facts["scripts_per_visit"]
    (6, 72, 6, 3)
    """
    config = config or PrescriberCollusionConfig()
    session = session_of(con)
    session.create_table("d_script_pairs", """
        SELECT prescriber_id, person_id, count(*) FILTER (WHERE kind = 'pharmacy') AS scripts,
               count(*) FILTER (WHERE kind <> 'pharmacy') AS visits
        FROM settlements WHERE prescriber_id IS NOT NULL
        GROUP BY prescriber_id, person_id HAVING count(*) FILTER (WHERE kind = 'pharmacy') > 0""")
    limit = _scripts_per_visit(session, config)
    session.create_table("d_scripts", f"""
        SELECT s.settlement_id, s.prescriber_id, s.institution_id AS pharmacy, s.person_id, s.start_time,
               s.fund_amount, p.visits = 0 OR p.scripts > {limit} * p.visits AS unseen, p.visits > 0 AS seen
        FROM settlements s JOIN d_script_pairs p USING (prescriber_id, person_id)
        WHERE s.kind = 'pharmacy'""")
    pairs = session.rows("""
        WITH per_prescriber AS (SELECT prescriber_id, count(*) AS all_scripts FROM d_scripts GROUP BY prescriber_id)
        SELECT prescriber_id, pharmacy, count(*) AS scripts, count(*) FILTER (unseen) AS unseen_scripts,
               count(DISTINCT person_id) FILTER (unseen) AS unseen_persons, any_value(all_scripts) AS all_scripts
        FROM d_scripts JOIN per_prescriber USING (prescriber_id)
        GROUP BY prescriber_id, pharmacy
        HAVING count(DISTINCT person_id) FILTER (unseen) >= ?
           AND count(*) FILTER (unseen) >= ? * count(*)
        ORDER BY prescriber_id, pharmacy""", [config.min_unseen_persons, config.min_unseen_share])
    if not pairs:
        return []
    session.temp_table("d_collusion_pairs", {"prescriber_id": [p["prescriber_id"] for p in pairs],
                                          "pharmacy": [p["pharmacy"] for p in pairs]})
    rows = session.rows("""
        SELECT s.prescriber_id, s.pharmacy, s.person_id, s.settlement_id, s.start_time, s.fund_amount, s.seen,
               pr.institution_id AS home_institution
        FROM d_scripts s JOIN d_collusion_pairs c USING (prescriber_id, pharmacy)
        LEFT JOIN prescribers pr ON pr.prescriber_id = s.prescriber_id
        WHERE s.unseen
        ORDER BY s.prescriber_id, s.pharmacy, s.start_time, s.settlement_id""")
    unseen = group_rows(rows, lambda r: (r["prescriber_id"], r["pharmacy"]))
    findings = []
    for p in pairs:
        prescriber, pharmacy = p["prescriber_id"], p["pharmacy"]
        scripts = unseen[(prescriber, pharmacy)]
        persons = sorted({r["person_id"] for r in scripts})
        home = scripts[0]["home_institution"]
        concentration = p["scripts"] / p["all_scripts"]
        fund = sum(float(r["fund_amount"] or 0) for r in scripts)
        entities = [("prescriber", prescriber), ("institution", pharmacy)] + ([("institution", home)] if home else [])
        facts = {"prescriber": prescriber, "prescriber_institution": home, "pharmacy": pharmacy,
                 "scripts": p["scripts"], "unseen_scripts": p["unseen_scripts"], "unseen_persons": len(persons),
                 "seen_rarely": len({r["person_id"] for r in scripts if r["seen"]}), "scripts_per_visit": limit,
                 "concentration": round(concentration, 3), "first_script": f"{scripts[0]['start_time']:%Y-%m-%d}",
                 "last_script": f"{scripts[-1]['start_time']:%Y-%m-%d}", "fund": round(fund, 2)}
        findings.append(Finding(
            kind="unseen_prescriptions", detail=render("unseen_prescriptions", facts),
            persons=tuple(persons), entities=tuple(entities),
            strength=saturate(len(persons) - 2, config.persons_half),
            suggests="prescriber_pharmacy_collusion", settlements=tuple(r["settlement_id"] for r in scripts),
            facts=facts,
        ))
    return findings


def _scripts_per_visit(session: Session, config: PrescriberCollusionConfig) -> int:
    """Scripts a visit beyond which a patient counts as not seen: ``beyond_usual`` times the 95th
    percentile of scripts per visit over the prescriber–patient pairs with both, never below
    ``usual_scripts_per_visit`` (a quarterly visit with monthly refills); ``beyond_usual`` times
    that in an export of fewer than ``norm_pairs`` such pairs."""
    rows = session.rows("""
        SELECT least(scripts // visits, 1000) AS ratio, count(*) AS pairs FROM d_script_pairs
        WHERE visits > 0 GROUP BY least(scripts // visits, 1000) ORDER BY ratio""")
    total, seen = sum(r["pairs"] for r in rows), 0
    if total < config.norm_pairs:
        return int(config.beyond_usual * config.usual_scripts_per_visit)
    for r in rows:
        seen += r["pairs"]
        if seen >= 0.95 * total:
            # Never below a long prescription's refills: an export of mostly acute care says one a visit.
            return int(max(config.usual_scripts_per_visit, config.beyond_usual * r["ratio"]))
    return int(config.beyond_usual * config.usual_scripts_per_visit)
