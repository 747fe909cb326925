"""Prescriber–pharmacy collusion (伪造处方, 与医药企业勾结): scripts for people never seen.

A colluding prescriber's name is on pharmacy claims at one pharmacy for persons he never
saw in a visit or stay; the pharmacy bills the fund for drugs nobody was prescribed. A
prescriber whose patients fill his scripts near home saw every one of them.

Reports the prescriber, his institution, the pharmacy, how many scripts and persons he
never saw, that share of his scripts there, his concentration on that pharmacy, dates and
fund amounts.
"""

from __future__ import annotations

from graphsvc.detect.config import PrescriberCollusionConfig, saturate
from graphsvc.detect.finding import Finding, group_rows
from graphsvc.evidence import render
from graphsvc.store.engine import SessionLike, session_of

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
    """
    config = config or PrescriberCollusionConfig()
    session = session_of(con)
    session.create_table("d_scripts", """
        SELECT s.settlement_id, s.prescriber_id, s.institution_id AS pharmacy, s.person_id, s.start_time,
               s.fund_amount,
               NOT EXISTS (SELECT 1 FROM settlements v WHERE v.kind <> 'pharmacy'
                           AND v.prescriber_id = s.prescriber_id AND v.person_id = s.person_id) AS unseen
        FROM settlements s WHERE s.kind = 'pharmacy' AND s.prescriber_id IS NOT NULL""")
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
        SELECT s.prescriber_id, s.pharmacy, s.person_id, s.settlement_id, s.start_time, s.fund_amount,
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
