"""A shared address (团伙窝点 / 收卡地址): unrelated persons registered at one flat who act together.

An address only defines a household, and a household sharing a phone is normal. But a gang
often registers its members at one rented flat: persons with no family tie (no phone in
common, several surnames) at one address who are also admitted together again and again
(the same institution within ``window_days``, at one hospital or rotating) are a gang's
flat, and the address is evidence beside the co-admissions.

The look-alikes each fail one test: a family shares a phone (a family tie); a care home's or
a dormitory's address is an institution's, or holds more persons than ``max_persons``,
where chance co-admissions are expected and the care-home detector judges them by their
base rate; a group rental's tenants (群租房) are unrelated but fall ill apart, so being at one
address is not enough on its own.

Reports the address (as written and its resolved key), the persons, their co-admissions
(date, institution and how many came), surnames and fund amounts.
"""

from __future__ import annotations

from graphsvc.detect.co_admission_lockstep import waves_of
from graphsvc.detect.config import SharedAddressConfig, saturate
from graphsvc.detect.finding import Finding, group_rows
from graphsvc.evidence import render
from graphsvc.store.engine import SessionLike, session_of

__all__ = ["shared_address_findings"]


def shared_address_findings(con: SessionLike, config: SharedAddressConfig | None = None) -> list[Finding]:
    """Find addresses whose unrelated persons are admitted together on repeated occasions.

    Parameters
    ----------
    con : Session or DuckDB connection
        Holds the model's tables, resolved (``graphsvc.resolution``): ``persons.household``.
    config : SharedAddressConfig
        Window, occasions, persons; defaults when None.

    Returns
    -------
    list of Finding
        Kind ``shared_address``, one per address; suggests ``professional_gang``. An address
        whose persons are tied as a family comes back explained.

    Examples
    --------
    Four persons of four surnames at one flat, admitted together three times:

    >>> from graphsvc.detect.finding import in_memory_claims
    >>> flat = "湖南省长沙市芙蓉区解放路12号302室"
    >>> persons = [{"person_id": f"P{i}", "name": n + "某", "address": flat, "phone": f"1390000000{i}"}
    ...            for i, n in enumerate("王李张刘")]
    >>> stays = [{"settlement_id": f"S{m}{i}", "kind": "inpatient", "person_id": f"P{i}",
    ...           "institution_id": "H1" if m < 6 else "H2", "start_time": f"2026-0{m}-0{i % 2 + 1} 09:00"}
    ...          for m in (2, 4, 6) for i in range(4)]
    >>> [f] = shared_address_findings(in_memory_claims(persons=persons, settlements=stays))
    >>> f.persons, f.entities[0], f.facts["occasions"], f.explained
    (('P0', 'P1', 'P2', 'P3'), ('address', '湖南省长沙市芙蓉区解放路12号302室'), 3, None)
    """
    config = config or SharedAddressConfig()
    session = session_of(con)
    rows = session.rows("""
        WITH flats AS (
            SELECT household FROM persons WHERE address IS NOT NULL
            GROUP BY household HAVING count(*) BETWEEN ? AND ?),
        institution_addresses AS (SELECT DISTINCT address_key AS household FROM institutions WHERE address_key IS NOT NULL)
        SELECT p.household, p.person_id, p.address, p.phone, left(p.name, 1) AS surname,
               s.institution_id, s.start_time::DATE AS day, s.settlement_id, s.fund_amount
        FROM persons p SEMI JOIN flats USING (household)
        JOIN settlements s ON s.person_id = p.person_id AND s.kind = 'inpatient'
        WHERE p.household NOT IN (SELECT household FROM institution_addresses)
        ORDER BY p.household, s.institution_id, day, p.person_id, s.settlement_id""",
                       [config.min_persons, config.max_persons])
    findings = []
    for household, admissions in group_rows(rows, lambda r: r["household"]).items():
        waves = [wave for _, at in group_rows(admissions, lambda r: r["institution_id"]).items()
                 for wave in waves_of(at, config.window_days) if len({r["person_id"] for r in wave}) >= 2]
        if len(waves) < config.min_occasions:
            continue
        waves.sort(key=lambda wave: (wave[0]["day"], wave[0]["institution_id"]))
        in_waves = [r for wave in waves for r in wave]
        persons = sorted({r["person_id"] for r in in_waves})
        if len(persons) < config.min_persons:
            continue
        info = {r["person_id"]: r for r in in_waves}
        phones = [info[p]["phone"] for p in persons if info[p]["phone"]]
        surnames = sorted({info[p]["surname"] for p in persons if info[p]["surname"]})
        shared_phone = len(phones) != len(set(phones))
        one_surname = len(surnames) == 1 and len(persons) > 1
        written = max({info[p]["address"] for p in persons}, key=lambda a: (sum(info[p]["address"] == a for p in persons), a))
        fund = sum(float(r["fund_amount"] or 0) for r in in_waves)
        explained = "family_at_address" if shared_phone or one_surname else None
        facts = {"address": written, "address_key": household, "persons": len(persons), "surnames": len(surnames),
                 "occasions": len(waves), "admissions": len(in_waves), "fund": round(fund, 2),
                 "wave_dates": [f"{w[0]['day']:%Y-%m-%d}" for w in waves],
                 "wave_institutions": [w[0]["institution_id"] for w in waves],
                 "wave_persons": [len({r["person_id"] for r in w}) for w in waves]}
        if explained:
            facts["family_tie"] = "phone" if shared_phone else "surname"
        findings.append(Finding(
            kind="shared_address", detail=render("shared_address", facts),
            persons=tuple(persons),
            entities=(("address", written),) + tuple(("institution", i) for i in sorted({w[0]["institution_id"] for w in waves})),
            strength=0.0 if explained else config.strength * saturate((len(waves) - 1) * (len(persons) - 1), config.half),
            suggests="professional_gang", settlements=tuple(r["settlement_id"] for r in in_waves),
            facts=facts, explained=explained,
        ))
    return findings
