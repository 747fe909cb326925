"""Shared and misused cards (冒用他人医保凭证): one card, the wrong person, time or place.

Three facts, each reported per card:

- ``card_used_by_others``: a card pays for persons of several households besides its holder's
  (family mutual aid, 家庭共济, shares a card with close relatives legally, within the holder's
  household or at the family home elsewhere, and is not reported);
- ``card_used_after_death``: a card is used after its holder's death date (weakly when only
  relatives at his address go on using it for themselves);
- ``card_in_two_places``: one card settles at two institutions minutes apart (not a visit and then
  the same doctor's script filled at a pharmacy: one trip);
- ``dead_cards_one_operator``: one operator (cashier) at one institution settles on the cards of
  several dead persons: each card alone is one holder's finding, the till they went through is
  what links them into one scheme.

Each names the card, its holder, the persons, institutions, dates and fund amounts.
"""

from __future__ import annotations

from graphsvc.detect.config import SharedCardConfig, saturate
from graphsvc.detect.finding import Finding, chance_tail, group_rows
from graphsvc.evidence import render
from graphsvc.store.engine import Session, SessionLike, session_of

__all__ = ["shared_card_findings"]


def shared_card_findings(con: SessionLike, config: SharedCardConfig | None = None) -> list[Finding]:
    """Find cards used for others, after their holder's death, or in two places at once.

    Parameters
    ----------
    con : Session or DuckDB connection
        Holds the model's tables (see ``graphsvc.detect.finding``).
    config : SharedCardConfig
        Time windows and strengths; defaults when None.

    Returns
    -------
    list of Finding
        Kinds ``card_used_by_others``, ``card_used_after_death``, ``card_in_two_places``,
        ``dead_cards_one_operator``;
        they suggest ``identity_misuse``.

    Examples
    --------
    >>> from graphsvc.detect.finding import in_memory_claims
    >>> con = in_memory_claims(
    ...     persons=[{"person_id": "P1", "death_date": "2026-02-01"}],
    ...     cards=[{"card_id": "C1", "person_id": "P1"}],
    ...     settlements=[{"settlement_id": "S1", "kind": "pharmacy", "person_id": "P1", "card_id": "C1",
    ...                   "institution_id": "PH1", "start_time": "2026-03-05 10:00", "fund_amount": 800}])
    >>> [(f.kind, f.persons, f.settlements) for f in shared_card_findings(con)]
    [('card_used_after_death', ('P1',), ('S1',))]
    """
    config = config or SharedCardConfig()
    session = session_of(con)
    dead_uses = _after_death_uses(session, config)
    return (_used_by_others(session, config) + _used_after_death(dead_uses, config)
            + _dead_cards_one_operator(session, dead_uses, config) + _in_two_places(session, config))


def _used_by_others(session: Session, config: SharedCardConfig) -> list[Finding]:
    rows = session.rows("""
        SELECT s.card_id, c.person_id AS holder, s.person_id AS user_id, u.household AS user_household,
               s.settlement_id, s.fund_amount
        FROM settlements s
        JOIN cards c ON c.card_id = s.card_id
        LEFT JOIN persons h ON h.person_id = c.person_id
        LEFT JOIN persons u ON u.person_id = s.person_id
        WHERE s.person_id <> c.person_id
          AND NOT coalesce(h.household = u.household, false)
          AND NOT coalesce(h.phone = u.phone, false)
        ORDER BY s.card_id, s.settlement_id""")
    findings = []
    for card, uses in group_rows(rows, lambda r: r["card_id"]).items():
        holder = uses[0]["holder"]
        users = sorted({u["user_id"] for u in uses})
        households = {u["user_household"] or u["user_id"] for u in uses}
        # A worker's close relatives are few and live in a home or two; more persons than any family has
        # (8 strangers of two group-rental flats) are not mutual aid, whatever their addresses.
        if len(users) < config.min_other_users or (
                len(households) < config.min_other_households and len(users) <= config.family_max_users):
            continue
        facts = {"card": card, "holder": holder, "users": users, "claims": len(uses),
                 "fund": round(sum(float(u["fund_amount"] or 0) for u in uses), 2)}
        findings.append(Finding(
            kind="card_used_by_others", detail=render("card_used_by_others", facts),
            persons=(holder, *users), entities=(("card", card),),
            strength=config.used_by_others_strength * (0.5 + 0.5 * saturate(len(users), 1)),
            suggests="identity_misuse", settlements=tuple(u["settlement_id"] for u in uses),
            facts=facts,
        ))
    return findings


def _after_death_uses(session: Session, config: SharedCardConfig) -> list[dict]:
    """Claims on a dead person's card (or in his name, with no card) after his death, by holder and time."""
    # A claim's holder is its card's person, or the claimant where the card has none (or is not in
    # ``cards``). Read from the few dead persons outwards: joining every claim to its card first and
    # only then to the dead took a tenth of detection at 10M persons.
    return session.rows("""
        WITH dead AS (SELECT person_id, death_date, household FROM persons WHERE death_date IS NOT NULL),
        uses AS (
            SELECT s.card_id, c.person_id AS holder, s.settlement_id, s.person_id, s.institution_id, s.operator_id,
                   s.start_time, s.fund_amount
            FROM settlements s JOIN cards c ON c.card_id = s.card_id
            WHERE c.person_id IN (SELECT person_id FROM dead)
            UNION ALL
            SELECT s.card_id, s.person_id, s.settlement_id, s.person_id, s.institution_id, s.operator_id, s.start_time,
                   s.fund_amount
            FROM settlements s LEFT JOIN cards c ON c.card_id = s.card_id
            WHERE s.person_id IN (SELECT person_id FROM dead) AND c.person_id IS NULL)
        SELECT coalesce(s.card_id, '') AS card_id, s.holder, p.death_date,
               s.settlement_id, s.person_id, s.institution_id, s.operator_id, s.start_time, s.fund_amount,
               coalesce(u.person_id <> p.person_id AND u.household = p.household, false) AS relative
        FROM uses s
        JOIN dead p ON p.person_id = s.holder
        LEFT JOIN persons u ON u.person_id = s.person_id
        WHERE date_diff('day', p.death_date, s.start_time::DATE) > ?
        ORDER BY s.holder, s.start_time, s.settlement_id""", [config.after_death_grace_days])


def _used_after_death(rows: list[dict], config: SharedCardConfig) -> list[Finding]:
    findings = []
    for holder, uses in group_rows(rows, lambda r: r["holder"]).items():
        cards = sorted({u["card_id"] for u in uses if u["card_id"]})
        institutions = sorted({u["institution_id"] for u in uses})
        persons = sorted({holder} | {u["person_id"] for u in uses})
        first, last = uses[0]["start_time"], uses[-1]["start_time"]
        facts = {"holder": holder, "death_date": str(uses[0]["death_date"]), "used_cards": cards, "uses": len(uses),
                 "first_use": f"{first:%Y-%m-%d %H:%M}", "last_use": f"{last:%Y-%m-%d %H:%M}",
                 "institutions": institutions, "fund": round(sum(float(u["fund_amount"] or 0) for u in uses), 2)}
        findings.append(Finding(
            kind="card_used_after_death", detail=render("card_used_after_death", facts),
            persons=tuple(persons), entities=tuple(("card", c) for c in cards) + tuple(("institution", i) for i in institutions),
            # Relatives at his address going on with a dead man's card for themselves is improper, not organised:
            # a finding, below a ring. Claims in the dead man's own name are someone posing as him.
            strength=(config.after_death_family_strength if all(u["relative"] for u in uses)
                      else config.after_death_strength), suggests="identity_misuse",
            settlements=tuple(u["settlement_id"] for u in uses),
            facts=facts,
        ))
    return findings


def _dead_cards_one_operator(session: Session, rows: list[dict], config: SharedCardConfig) -> list[Finding]:
    """Dead persons' cards settled through one operator at one institution (a relative's use for himself
    excepted: a family's, not a till's), more of them on his login than chance brings.

    Chance: each after-death claim falls on his login as the institution's other claims of that hour
    (within an hour either side) do; the claims tested are left out of that share, or a cashier whose
    login rings up only the dead's cards would make his own base rate. A pharmacy whose every sale is
    rung up under one till login, or whose evening login takes every sale after work (three families
    buying their late grandfather's medicine on his card on the way home), links nobody.
    """
    uses = sorted((u for u in rows if not u["relative"]),
                  key=lambda u: (u["institution_id"], str(u["operator_id"]), u["start_time"], u["settlement_id"]))
    groups = group_rows([u for u in uses if u["operator_id"]], lambda u: (u["institution_id"], u["operator_id"]))
    groups = {key: through for key, through in groups.items()
              if len({u["holder"] for u in through}) >= config.operator_min_dead_holders}
    if not groups:
        return []
    institutions = sorted({i for i, _ in groups})
    session.temp_table("d_dead_card_tills", {"institution_id": institutions})
    session.temp_table("d_dead_card_uses", {"settlement_id": [u["settlement_id"] for u in uses
                                                              if u["institution_id"] in set(institutions)]})
    hourly = session.rows("""
        SELECT s.institution_id, s.operator_id, hour(s.start_time) AS hour, count(*) AS claims
        FROM settlements s SEMI JOIN d_dead_card_tills t ON t.institution_id = s.institution_id
        ANTI JOIN d_dead_card_uses d ON d.settlement_id = s.settlement_id
        GROUP BY s.institution_id, s.operator_id, hour(s.start_time)""")
    at = {(r["institution_id"], r["operator_id"], r["hour"]): r["claims"] for r in hourly}
    total: dict[tuple[str, int], int] = {}
    for r in hourly:
        total[(r["institution_id"], r["hour"])] = total.get((r["institution_id"], r["hour"]), 0) + r["claims"]

    def share(institution: str, operator: str, hour: int) -> float:
        band = [(hour + d) % 24 for d in (-1, 0, 1)]
        others = sum(total.get((institution, h), 0) for h in band)
        return sum(at.get((institution, operator, h), 0) for h in band) / others if others else 0.0

    at_institution = group_rows(uses, lambda u: u["institution_id"])
    findings = []
    for (institution, operator), through in groups.items():
        holders = sorted({u["holder"] for u in through})
        chances = [share(institution, operator, u["start_time"].hour) for u in at_institution[institution]]
        p_value = chance_tail(chances, len(through))
        if p_value >= config.operator_p_value:
            continue
        facts = {"institution": institution, "operator": operator, "holders": holders, "uses": len(through),
                 "institution_uses": len(at_institution[institution]), "chance_uses": round(sum(chances), 4),
                 "p_value": p_value, "first_use": f"{through[0]['start_time']:%Y-%m-%d %H:%M}",
                 "last_use": f"{through[-1]['start_time']:%Y-%m-%d %H:%M}",
                 "fund": round(sum(float(u["fund_amount"] or 0) for u in through), 2)}
        cards = sorted({u["card_id"] for u in through if u["card_id"]})
        findings.append(Finding(
            kind="dead_cards_one_operator", detail=render("dead_cards_one_operator", facts),
            persons=tuple(sorted(set(holders) | {u["person_id"] for u in through})),
            entities=(("institution", institution), *(("card", c) for c in cards)),
            strength=config.after_death_strength, suggests="identity_misuse",
            settlements=tuple(u["settlement_id"] for u in through), facts=facts,
        ))
    return findings


def _without_filled_scripts(session: Session, rows: list[dict]) -> list[dict]:
    """``rows`` without a pharmacy claim whose prescriber saw the card's holder in a visit earlier that day:
    the visit(s), then the scripts filled across the road, are one trip, not two places. Any such visit,
    not only the one just before (two doctors in one morning, then both scripts)."""
    scripts = [r for r in rows if r["kind"] == "pharmacy" and r["prescriber_id"]]
    if not scripts:
        return rows
    session.temp_table("d_scripts_near", {"settlement_id": [r["settlement_id"] for r in scripts],
                                          "card_id": [r["card_id"] for r in scripts],
                                          "prescriber_id": [r["prescriber_id"] for r in scripts]})
    filled = {r["settlement_id"] for r in session.rows("""
        SELECT DISTINCT n.settlement_id FROM d_scripts_near n
        JOIN settlements s ON s.settlement_id = n.settlement_id
        JOIN settlements v ON v.card_id = n.card_id AND v.prescriber_id = n.prescriber_id AND v.kind = 'outpatient'
        WHERE v.start_time <= s.start_time AND CAST(v.start_time AS DATE) = CAST(s.start_time AS DATE)""")}
    return [r for r in rows if r["settlement_id"] not in filled]


def _in_two_places(session: Session, config: SharedCardConfig) -> list[Finding]:
    # Consecutive uses of a card only: two places at once always shows between neighbours in time.
    # Elapsed time is compared exactly: a count of second boundaries (DuckDB's date_diff) and of whole
    # seconds (Spark's) differ by one when the times have fractions, and both engines must agree.
    # The window sorts every outpatient claim by card and time: it carries only what the pairs need
    # (a claim's person costs a fifth of it at 3M persons), and the holder is looked up for the few
    # pairs found, from the card, or from the claim where the card is not in ``cards``.
    rows = session.rows("""
        SELECT u.card_id, c.person_id AS holder, u.settlement_id, u.institution_id, u.kind, u.prescriber_id,
               u.start_time, u.prev_id, u.prev_institution, u.prev_time
        FROM (
            SELECT card_id, settlement_id, institution_id, start_time, kind, prescriber_id,
                   lag(settlement_id) OVER w AS prev_id, lag(institution_id) OVER w AS prev_institution,
                   lag(start_time) OVER w AS prev_time
            FROM settlements
            WHERE card_id IS NOT NULL AND kind <> 'inpatient'
            WINDOW w AS (PARTITION BY card_id ORDER BY start_time, settlement_id)) u
        LEFT JOIN cards c ON c.card_id = u.card_id
        WHERE u.prev_institution <> u.institution_id AND u.start_time <= u.prev_time + ? * INTERVAL '1 minute'
        ORDER BY u.card_id, u.start_time, u.settlement_id""", [config.two_places_minutes])
    rows = _without_filled_scripts(session, rows)
    unheld = [r["settlement_id"] for r in rows if r["holder"] is None]
    if unheld:
        session.temp_table("d_unheld", {"settlement_id": unheld})
        claimant = {r["settlement_id"]: r["person_id"] for r in session.rows(
            "SELECT s.settlement_id, s.person_id FROM settlements s JOIN d_unheld USING (settlement_id)")}
        rows = [{**r, "holder": claimant.get(r["settlement_id"])} if r["holder"] is None else r for r in rows]
    findings = []
    for card, pairs in group_rows(rows, lambda r: r["card_id"]).items():
        holder = pairs[0]["holder"]
        institutions = sorted({p["institution_id"] for p in pairs} | {p["prev_institution"] for p in pairs})
        facts = {"card": card, "holder": holder, "occasions": len(pairs),
                 "from_institutions": [p["prev_institution"] for p in pairs],
                 "from_times": [f"{p['prev_time']:%Y-%m-%d %H:%M}" for p in pairs],
                 "to_institutions": [p["institution_id"] for p in pairs],
                 "minutes_later": [round((p["start_time"] - p["prev_time"]).total_seconds() / 60) for p in pairs]}
        findings.append(Finding(
            kind="card_in_two_places", detail=render("card_in_two_places", facts),
            persons=(holder,), entities=(("card", card),) + tuple(("institution", i) for i in institutions),
            strength=config.two_places_strength * (0.5 + 0.5 * saturate(len(pairs), 1)),
            suggests="identity_misuse",
            settlements=tuple(sorted({p["settlement_id"] for p in pairs} | {p["prev_id"] for p in pairs})),
            facts=facts,
        ))
    return findings
