"""Care-home collusion (与养老机构勾结): a home's residents admitted in waves to one hospital.

Residents of a nursing home are the persons registered at its address or with its phone
(the caregiver's). Old residents fall ill and go to hospital; a home that sends a bunch of
them to the same hospital within days, wave after wave, is selling its residents' stays.

A big home whose residents are admitted to the nearby hospital several times a year sees
two or three of them go in the same week by chance. Each home and hospital is judged by its
own base rate: at the home's mean rate of admissions there, how many waves of k or more
residents chance brings among its waves (each starts at an admission and takes the window
after it; Poisson), against how many there were, for every k from ``min_wave_residents`` up.
The home is reported when some k is beyond chance (``p_value``), with the waves of that size;
the mean includes the waves themselves, so a home sending residents every fortnight still
stands out by how bunched they are. A home whose waves are all within chance is explained,
with that reason, and joins no ring.

Reports the home, the hospital, each wave's date and size, the residents, admissions, fund
amounts and the base rate.
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
    """Find nursing homes whose residents are admitted in waves to one hospital.

    Parameters
    ----------
    con : Session or DuckDB connection
        Holds the model's tables (see ``graphsvc.detect.finding``).
    config : CareHomeWavesConfig
        Wave window, size and count; defaults when None.

    Returns
    -------
    list of Finding
        Kind ``care_home_waves``, one per home and hospital; suggests ``care_home_collusion``.

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
    for (home, hospital), admissions in group_rows(rows, lambda r: (r["home"], r["hospital"])).items():
        every_wave = waves_of(admissions, config.window_days)
        sizes = [len({r["person_id"] for r in w}) for w in every_wave]
        if sum(1 for n in sizes if n >= config.min_wave_residents) < config.min_waves:
            continue
        # Each wave starts at an admission; chance brings the others of its window at the home's mean rate there.
        others = len(admissions) / period_days * (config.window_days + 1)
        tests = []
        for k in range(config.min_wave_residents, max(sizes) + 1):
            observed = sum(1 for n in sizes if n >= k)
            expected = len(every_wave) * poisson_tail(others, k - 1)
            if observed >= config.min_waves:
                tests.append((poisson_tail(expected, observed), -k, observed, expected))
        p_value, k, observed, expected = min(tests)
        k = -k
        waves = [w for w, n in zip(every_wave, sizes) if n >= k]
        in_waves = [r for w in waves for r in w]
        persons = sorted({r["person_id"] for r in in_waves})
        fund = sum(float(r["fund_amount"] or 0) for r in in_waves)
        explained = "care_home_chance" if p_value >= config.p_value else None  # facts "waves" is ``observed``
        facts = {"home": home, "hospital": hospital, "waves": len(waves), "admissions": len(in_waves),
                 "persons": len(persons), "fund": round(fund, 2),
                 "wave_dates": [f"{w[0]['day']:%Y-%m-%d}" for w in waves],
                 "wave_persons": [len({r["person_id"] for r in w}) for w in waves], "wave_size": k,
                 "home_admissions": len(admissions), "home_residents": len({r["person_id"] for r in admissions}),
                 "period_days": period_days, "chance_waves": round(expected, 4), "p_value": p_value}
        findings.append(Finding(
            kind="care_home_waves", detail=render("care_home_waves", facts),
            persons=tuple(persons), entities=(("institution", home), ("institution", hospital)),
            strength=0.0 if explained else saturate(len(waves) - 2, config.waves_half),
            suggests="care_home_collusion", settlements=tuple(r["settlement_id"] for r in in_waves),
            facts=facts, explained=explained,
        ))
    return findings
