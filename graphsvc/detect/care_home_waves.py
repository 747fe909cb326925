"""Care-home collusion (与养老机构勾结): a home's residents admitted in waves to hospital.

Residents of a nursing home are the persons registered at its address or with its phone
(the caregiver's). Old residents fall ill and go to hospital; a home that sends a bunch of
them to the same hospital within days, wave after wave, is selling its residents' stays. It
may send one wave here and the next there (domain.md: gangs rotate across hospitals so that
no hospital sees the same group often): the home is the organiser, so its waves are counted
over every hospital together, one finding per home.

A big home whose residents are admitted to the nearby hospital several times a year sees
two or three of them go in the same week by chance. Each hospital is judged by the home's
own base rate there: at the home's mean rate of admissions to that hospital, how many waves
of k or more residents chance brings among its waves (each starts at an admission and takes
the window after it; Poisson). The hospitals are taken most telling first (by their own
tail), and for each first few of them and every k from ``min_wave_residents`` up, the waves of
k+ seen there are set against the sum of what chance brings there; the most unlikely of those
counts, times how many sets of hospitals were tried (picked after looking), is the home's. So
the chance waves of residents who fall ill near the home do not hide waves sold to a private
hospital across town, and a home alternating over two hospitals is judged on both. The home
is reported when it is beyond chance (``p_value``), with the waves of that size at those
hospitals; the mean includes the waves themselves, so a home sending residents every
fortnight still stands out by how bunched they are. A home whose waves are all within chance
is explained, with that reason, and joins no ring.

Reports the home, the hospitals, each wave's date, hospital and size, the residents,
admissions, fund amounts and the base rate.
"""

from __future__ import annotations

from graphsvc.detect.co_admission_lockstep import waves_of
from graphsvc.detect.config import CareHomeWavesConfig, saturate
from graphsvc.detect.finding import Finding, covered_days, group_rows, poisson_tail
from graphsvc.evidence import render
from graphsvc.store.engine import SessionLike, session_of

__all__ = ["care_home_wave_findings"]


def care_home_wave_findings(con: SessionLike,
                            config: CareHomeWavesConfig | None = None) -> list[Finding]:
    """Find nursing homes whose residents are admitted in waves to hospital.

    Parameters
    ----------
    con : Session or DuckDB connection
        Holds the model's tables (see ``graphsvc.detect.finding``).
    config : CareHomeWavesConfig
        Wave window, size and count; defaults when None.

    Returns
    -------
    list of Finding
        Kind ``care_home_waves``, one per home (its entities the home, then the hospitals of its waves);
        suggests ``care_home_collusion``.

    Examples
    --------
    >>> from graphsvc.detect.finding import in_memory_claims
    >>> home = {"institution_id": "NH1", "kind": "nursing_home", "address": "福寿路1号"}
    >>> residents = [{"person_id": f"R{i}", "address": "福寿路1号"} for i in range(4)]
    >>> stays = [{"settlement_id": f"S{m}{i}", "kind": "inpatient", "person_id": f"R{i}", "institution_id": "H9",
    ...           "start_time": f"2026-0{m}-0{i + 1} 09:00"} for m in (2, 4, 6) for i in range(3)]
    >>> con = in_memory_claims(institutions=[home], persons=residents, settlements=stays)
    >>> [(f.persons, f.entities, f.facts["waves"]) for f in care_home_wave_findings(con)]
    [(('R0', 'R1', 'R2'), (('institution', 'NH1'), ('institution', 'H9')), 3)]

    The same waves alternating between two hospitals are still the home's one finding:

    >>> for row in stays:
    ...     row["institution_id"] = "H9" if row["start_time"] < "2026-03" else "H8"
    >>> con = in_memory_claims(institutions=[home], persons=residents, settlements=stays)
    >>> [(f.entities, f.facts["wave_institutions"]) for f in care_home_wave_findings(con)]
    [((('institution', 'NH1'), ('institution', 'H8'), ('institution', 'H9')), ['H9', 'H8', 'H8'])]
    """
    config = config or CareHomeWavesConfig()
    session = session_of(con)
    rows = session.rows("""
        WITH homes AS (SELECT institution_id, address_key, phone FROM institutions WHERE kind = 'nursing_home'),
        residents AS (
            SELECT h.institution_id AS home, p.person_id FROM homes h JOIN persons p ON p.household = h.address_key
            UNION
            SELECT h.institution_id, p.person_id FROM homes h JOIN persons p ON p.phone = h.phone)
        SELECT r.home, s.institution_id AS hospital, s.person_id, s.start_time::DATE AS day, s.settlement_id,
               s.fund_amount
        FROM settlements s JOIN residents r ON r.person_id = s.person_id
        WHERE s.kind = 'inpatient' AND s.institution_id <> r.home
        ORDER BY r.home, hospital, day, s.person_id, s.settlement_id""")
    if not rows:
        return []
    period_days = covered_days(session, "SELECT start_time::DATE AS day FROM settlements")
    findings = []
    for home, admissions in group_rows(rows, lambda r: r["home"]).items():
        # waves form at one hospital; per hospital: its admissions, its waves with their sizes, and the chance
        # of another admission in a wave's window
        by_hospital = {}
        for hospital, at in group_rows(admissions, lambda r: r["hospital"]).items():
            sized = [(w, len({r["person_id"] for r in w})) for w in waves_of(at, config.window_days)]
            by_hospital[hospital] = (at, sized, len(at) / period_days * (config.window_days + 1))
        if sum(1 for _, ws, _ in by_hospital.values() for _, n in ws if n >= config.min_wave_residents) \
                < config.min_waves:
            continue
        tests = []
        for k in range(config.min_wave_residents, max(n for _, ws, _ in by_hospital.values() for _, n in ws) + 1):
            seen = {h: (sum(1 for _, n in ws if n >= k), len(ws) * poisson_tail(others, k - 1))
                    for h, (_, ws, others) in by_hospital.items()}
            telling = sorted((h for h, (observed, _) in seen.items() if observed), key=lambda h: (
                poisson_tail(seen[h][1], seen[h][0]), h))
            for n in range(1, len(telling) + 1):
                observed = sum(seen[h][0] for h in telling[:n])
                expected = sum(seen[h][1] for h in telling[:n])
                if observed >= config.min_waves:
                    tests.append((min(1.0, poisson_tail(expected, observed) * len(telling)), -k, n, observed,
                                  expected, telling[:n]))
        p_value, k, _, observed, expected, chosen = min(tests)
        k = -k
        sized = [(w, n) for h in chosen for w, n in by_hospital[h][1]]
        there = [r for h in chosen for r in by_hospital[h][0]]  # the home's admissions at those hospitals
        waves = sorted((w for w, n in sized if n >= k), key=lambda w: (w[0]["day"], w[0]["hospital"]))
        in_waves = [r for w in waves for r in w]
        persons = sorted({r["person_id"] for r in in_waves})
        hospitals = sorted({w[0]["hospital"] for w in waves})
        fund = sum(float(r["fund_amount"] or 0) for r in in_waves)
        explained = "care_home_chance" if p_value >= config.p_value else None  # facts "waves" is ``observed``
        facts = {"home": home, "hospitals": hospitals, "waves": len(waves), "admissions": len(in_waves),
                 "persons": len(persons), "fund": round(fund, 2),
                 "wave_dates": [f"{w[0]['day']:%Y-%m-%d}" for w in waves],
                 "wave_institutions": [w[0]["hospital"] for w in waves],
                 "wave_persons": [len({r["person_id"] for r in w}) for w in waves], "wave_size": k,
                 "home_admissions": len(there), "home_residents": len({r["person_id"] for r in there}),
                 "period_days": period_days, "chance_waves": round(expected, 4), "p_value": p_value}
        findings.append(Finding(
            kind="care_home_waves", detail=render("care_home_waves", facts),
            persons=tuple(persons), entities=(("institution", home), *(("institution", h) for h in hospitals)),
            strength=0.0 if explained else saturate(len(waves) - 2, config.waves_half),
            suggests="care_home_collusion", settlements=tuple(r["settlement_id"] for r in in_waves),
            facts=facts, explained=explained,
        ))
    return findings
