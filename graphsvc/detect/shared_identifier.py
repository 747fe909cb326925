"""Shared identifiers: one phone, device, payee account or agent behind unrelated persons.

A broker (黑中介) gives his own phone as the contact for his recruits' stays, handles their
claims as agent and takes the money into his account; a card collector (卡贩子) binds
dozens of e-vouchers to his phone and devices; a gang using others' cards scans them on
its own phone. Each shows as one identifier linking persons of many households.

The look-alikes are explained, not reported: a household sharing a phone is one
household (households are persons at one address); an identifier that is an
institution's own phone or address is a care home's caregiver or a hospital switchboard;
one that links more households than ``max_households`` is a placeholder value. A
registered agent (代办员, a village health worker) files claims for many households too, but
one routine claim each, spread over the year, at the hospitals villagers use anyway: an agent
or contact phone judged routine by its own base rates (``_routine_work``) is explained with its
figures and joins no ring, unless a tip or police intelligence names the intermediary (his
``source``). A broker's recruits are admitted again and again, in bunches, at his hospital.

Ways of sharing (``via``) and what each suggests:

=============  ==========================================  ======================
via            what links the persons                      suggests
=============  ==========================================  ======================
contact_phone  the contact phone of their claims           (broker's: black_intermediary)
agent          the agent who handled their claims          black_intermediary
payee_account  the account their claims were paid to       black_intermediary
bound_phone    the phone their e-vouchers are bound to     card_collector when spent
                                                           mostly at pharmacies
card_device    the device their e-vouchers sit on          (as bound_phone)
scan_device    a device scanning their cards that are      identity_misuse
               not registered on it
own_phone      the phone in their person records           (none)
=============  ==========================================  ======================
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphsvc.detect.config import CardBurstConfig, SharedIdentifierConfig, saturate
from graphsvc.detect.finding import Finding, covered_days, group_rows, poisson_tail
from graphsvc.evidence import render
from graphsvc.store.engine import Session, SessionLike, session_of
from graphsvc.vocab import known_from_lead

__all__ = ["shared_identifier_findings", "VIA_NODE_TYPES"]

_LINKS = """
    SELECT 'contact_phone' AS via, contact_phone AS value, person_id, settlement_id, NULL AS card_id
      FROM settlements WHERE contact_phone IS NOT NULL
    UNION ALL SELECT 'agent', agent_id, person_id, settlement_id, NULL FROM settlements WHERE agent_id IS NOT NULL
    UNION ALL SELECT 'payee_account', payee_account, person_id, settlement_id, NULL
      FROM settlements WHERE payee_account IS NOT NULL
    UNION ALL SELECT 'scan_device', s.device_id, s.person_id, s.settlement_id, NULL
      FROM settlements s LEFT JOIN cards c ON c.card_id = s.card_id
      WHERE s.device_id IS NOT NULL AND c.device_id IS DISTINCT FROM s.device_id
    UNION ALL SELECT 'bound_phone', bound_phone, person_id, NULL, card_id FROM cards WHERE bound_phone IS NOT NULL
    UNION ALL SELECT 'card_device', device_id, person_id, NULL, card_id FROM cards WHERE device_id IS NOT NULL
    UNION ALL SELECT 'own_phone', phone, person_id, NULL, NULL FROM persons WHERE phone IS NOT NULL
"""

# Others' e-vouchers on one phone or device are a collector's and an identity thief's alike: what they
# did with them names the scheme (spent mostly at pharmacies, below; the dead's cards, two places at once).
_SUGGESTS = {"agent": "black_intermediary", "payee_account": "black_intermediary", "scan_device": "identity_misuse"}
VIA_NODE_TYPES = {"contact_phone": "phone", "bound_phone": "phone", "own_phone": "phone", "payee_account": "account",
                  "card_device": "device", "scan_device": "device", "agent": "intermediary"}
"""The node type of each way of sharing's value (a finding's ``facts["value"]``)."""


def shared_identifier_findings(con: SessionLike, config: SharedIdentifierConfig | None = None, *,
                               key_drugs: Sequence[str] | None = None) -> list[Finding]:
    """Find identifiers that link persons of several households, with the look-alikes explained.

    Parameters
    ----------
    con : Session or DuckDB connection
        Holds the model's tables (see ``graphsvc.detect.finding``).
    config : SharedIdentifierConfig
        Household thresholds and strengths; defaults when None.
    key_drugs : drug names (substrings of items) whose purchase tells a collector's e-vouchers from a
        family's; the run's ``card_burst.key_drugs``, its default when None.

    Returns
    -------
    list of Finding
        Kind ``shared_<via>`` (e.g. ``shared_contact_phone``), one per identifier value.

    Examples
    --------
    Three villagers in three houses give a broker's phone as their contact; a family of
    three at one house shares the father's phone:

    >>> from graphsvc.detect.finding import in_memory_claims
    >>> persons = [{"person_id": f"P{i}", "address": f"house {i}"} for i in (1, 2, 3)]
    >>> persons += [{"person_id": f"F{i}", "address": "house 9", "phone": "13900000009"} for i in (1, 2, 3)]
    >>> stays = [{"settlement_id": f"S{i}", "kind": "inpatient", "person_id": p, "institution_id": "H1",
    ...           "start_time": "2026-03-01", "contact_phone": phone}
    ...          for i, (p, phone) in enumerate([("P1", "15900000017"), ("P2", "15900000017"),
    ...                                          ("P3", "15900000017"), ("F1", "13900000009"),
    ...                                          ("F2", "13900000009"), ("F3", "13900000009")])]
    >>> con = in_memory_claims(persons=persons, settlements=stays)
    >>> [(f.kind, f.persons, f.entities) for f in shared_identifier_findings(con)]
    [('shared_contact_phone', ('P1', 'P2', 'P3'), (('phone', '15900000017'),))]
    """
    config = config or SharedIdentifierConfig()
    session = session_of(con)
    # Only values that link two persons or more are kept (an aggregate without DISTINCT, cheap): most
    # phones, accounts and devices are one person's own, and at 10M persons keeping every link and
    # counting the households of each took half of this detector's time.
    session.create_table("d_links", f"""
        WITH links AS ({_LINKS}),
        shared AS (SELECT via, value FROM links GROUP BY via, value HAVING min(person_id) <> max(person_id))
        SELECT l.* FROM links l SEMI JOIN shared s ON s.via = l.via AND s.value = l.value""")
    groups = session.rows("""
        SELECT l.via, l.value, count(DISTINCT coalesce(p.household, l.person_id)) AS households
        FROM d_links l LEFT JOIN persons p ON p.person_id = l.person_id
        GROUP BY l.via, l.value
        HAVING count(DISTINCT coalesce(p.household, l.person_id)) BETWEEN ? AND ?
        ORDER BY l.via, l.value""",
                         [config.min_households, config.max_households])
    if not groups:
        return []
    session.temp_table("d_link_groups", {"via": [g["via"] for g in groups], "value": [g["value"] for g in groups]})
    institution_ids = {r["value"] for r in session.rows("""
        SELECT g.value FROM d_link_groups g JOIN institutions i ON g.value IN (i.phone, i.address, i.address_key)""")}
    known = session.rows("SELECT intermediary_id, phone, source FROM intermediaries")
    intermediary_of_phone = {r["phone"]: r["intermediary_id"] for r in known if r["phone"] is not None}
    intermediaries = {r["intermediary_id"] for r in known}
    # A tip or police intelligence names him: whatever his claims look like, they are not a registered agent's routine.
    from_leads = {r["intermediary_id"] for r in known if known_from_lead(r["source"])}
    members = session.rows("""
        SELECT l.via, l.value, l.person_id, l.settlement_id, l.card_id, s.fund_amount, s.kind, s.institution_id,
               s.start_time::DATE AS day, p.region_code, p.death_date,
               CASE WHEN p.birth_date IS NOT NULL THEN year(p.birth_date)
                    WHEN length(p.id_number) = 18 THEN TRY_CAST(substr(p.id_number, 7, 4) AS INTEGER) END AS born
        FROM d_links l JOIN d_link_groups g ON g.via = l.via AND g.value = l.value
        LEFT JOIN settlements s ON s.settlement_id = l.settlement_id
        LEFT JOIN persons p ON p.person_id = l.person_id
        ORDER BY l.via, l.value, l.person_id, l.settlement_id, l.card_id""")
    vias = {g["via"] for g in groups}
    # the export's period, read once: an agent's routine and a hospital's account are both judged over it
    period = covered_days(session, "SELECT start_time::DATE AS day FROM settlements") \
        if vias & {*_AGENCY, "payee_account"} else 1
    norms = _usual_institutions(session, period) if vias & set(_AGENCY) else _Norms({}, period, {})
    paid_at = _claims_of_payee_institutions(session, period) if "payee_account" in vias else {}
    owners, registered = _phone_users(session, config)
    card_claims = _claims_of_linked_cards(session)
    key_drugs = CardBurstConfig().key_drugs if key_drugs is None else key_drugs
    by_group = group_rows(members, lambda r: (r["via"], r["value"]))
    # Claims filed by an intermediary a lead names (his agent id, or his phone as the contact): an account
    # paid on them is his, whatever share of a hospital's claims it takes.
    led_claims = {r["settlement_id"] for (via, value), rows in by_group.items() for r in rows
                  if (via == "agent" and value in from_leads)
                  or (via == "contact_phone" and intermediary_of_phone.get(value) in from_leads)}
    findings = []
    for g in groups:
        via, value = g["via"], g["value"]
        if value in institution_ids:
            continue  # an institution's own phone or address: the care home's caregiver, not a broker
        rows = by_group[(via, value)]
        persons = sorted({r["person_id"] for r in rows})
        if via in ("contact_phone", "bound_phone"):
            # The phone's users are its registered adults. A child or an elder registered with the same phone
            # whose claims or e-voucher give it is the household using its own phone, not one of its users'
            # schemes: a gang member's family stays out of the ring his phone makes.
            persons = sorted((set(persons) - registered.get(value, set())) | set(owners.get(value, ())))
        entity_type = VIA_NODE_TYPES[via]
        entities: list[tuple[str, str]] = []
        suggests = _SUGGESTS.get(via)
        if via == "agent" and value not in intermediaries:
            entity_type = "person"  # an insured person acting as agent for others
            persons = sorted(set(persons) | {value})
        else:
            entities.append((entity_type, value))
        broker = intermediary_of_phone.get(value) if entity_type == "phone" else None
        if broker:
            entities.append(("intermediary", broker))
            suggests = "black_intermediary"
        cards = sorted({r["card_id"] for r in rows if r["card_id"]})
        entities += [("card", c) for c in cards]
        settlements = {r["settlement_id"] for r in rows if r["settlement_id"]}
        kinds = [kind for card in cards for _, kind, _ in card_claims.get(card, ())]
        settlements.update(s for card in cards for s, _, _ in card_claims.get(card, ()))
        key_drug_claims = sum(1 for card in cards for _, _, items in card_claims.get(card, ())
                              if any(k in item for item in items or () for k in key_drugs))
        if broker:  # what was claimed under his phone, as well as on the cards bound to it
            kinds = kinds + [r["kind"] for r in rows if r["settlement_id"]]
        if ((suggests is None or broker) and kinds
                and kinds.count("pharmacy") >= config.collector_pharmacy_share * len(kinds)
                and not any(r["death_date"] for r in rows)):
            # Others' e-vouchers on one phone or device, of living holders and spent (nearly) only at pharmacies:
            # a collector's, even when he spreads his swipes over pharmacies so that none sees a burst. A thief
            # with others' cards is treated on them too, and uses the dead's. A tip's intermediary whose phone
            # does this collects cards (卡贩子): a broker's recruits are admitted to hospital.
            suggests = "card_collector"
        fund = sum(float(r["fund_amount"] or 0) for r in rows if r["settlement_id"])
        led = (value if via == "agent" else broker) in from_leads or (
            via == "payee_account" and not settlements.isdisjoint(led_claims))
        routine = None
        if via in _AGENCY and not led:
            # An intermediary's bus of villagers to a 'free check-up day' is no company's health check.
            an_intermediary = broker is not None or (via == "agent" and value in intermediaries)
            booking = None if an_intermediary else _group_booking(rows, config)
            routine = booking or _routine_work(rows, norms, config)
        explained = None if routine is None else "group_booking" if "booking_day" in routine else "routine_agency_work"
        holder = None
        if via == "payee_account":
            if not led:  # paid on a named broker's claims, it is no hospital's routine
                routine = _institution_account(rows, paid_at, config)
                explained = None if routine is None else "institution_account"
            # Explained or not, led or not, the channel of most of one institution's claims stands for the
            # institution: a complicit hospital's own account, written on the stays a named broker brought
            # too, is in each of its schemes' rings and joins none of them.
            holder = routine["institution"] if routine else _account_holder(
                list({r["settlement_id"]: r for r in rows if r["settlement_id"]}.values()), paid_at, config)
        if (via in _FAMILY_BINDING and g["households"] <= config.family_binding_households and not broker
                and 2 * key_drug_claims < len(kinds) and not any(r["death_date"] for r in rows)):
            # The national app binds relatives' e-vouchers to one phone (亲情账户): a woman's husband, parents
            # and in-laws are three households, their everyday medicine bought with them (on her phone, or a
            # grandson's insured elsewhere). What is bought tells a collector's burner phones, three
            # strangers' cards each, apart: key drugs (albumin) for resale, or the dead's cards; whose
            # name a phone is registered in, a collector writes on a victim's record.
            routine, explained = {}, "family_binding"
        facts = {"via": via, "value": value, "value_type": entity_type, "broker": broker,
                 "households": g["households"], "persons": len(persons), "claims": len(settlements),
                 "fund": round(fund, 2), "cards": len(cards), **(routine or {})}
        if holder:
            facts["account_of"] = holder
        findings.append(Finding(
            kind=f"shared_{via}", detail=render(f"shared_{via}", facts),
            persons=tuple(persons), entities=tuple(entities),
            strength=0.0 if explained else config.base_strength[via] * saturate(g["households"] - 1, config.households_half),
            suggests=suggests, settlements=tuple(sorted(settlements)),
            facts=facts, explained=explained,
        ))
    return findings


_FAMILY_BINDING = ("bound_phone", "card_device")
"""Ways of sharing that a family's e-vouchers on one phone produce as well as a collector's."""

_AGENCY = ("agent", "contact_phone")
"""Ways of sharing that a registered agent's routine work produces as well as a broker's. Not a payee
account: money for many households flowing to one account is never routine."""


@dataclass(frozen=True)
class _Norms:
    """Where people go: each region's shares per (region, kind, institution); each agency client's own
    hospital claims per institution (visits and stays); the period in days."""

    share: dict[tuple[str | None, str, str], float]
    days: int
    own: dict[tuple[str, str], dict[str, set[str]]]
    """(person, kind) → institution → ids of the person's outpatient or inpatient claims there."""

    def expected_at(self, institution: str, claims: list[dict]) -> float:
        """Claims at ``institution`` that the persons' own habits predict for ``claims``.

        Each claim counts the share of its person's other claims (those not among ``claims``)
        made there, blended with the region's share as two pseudo-claims, so a person with no
        other claim falls back on the region: villagers use the hospital near their village; a
        broker's recruits never went to his hospital on their own. Habits are read twice, from
        the person's claims of the same kind (stays for a stay) and from all visits and stays,
        and the larger prediction is taken: either is a hospital they use.
        """
        mine = {r["settlement_id"] for r in claims}
        by_kind = overall = 0.0
        for r in claims:
            region = self.share.get((r["region_code"], r["kind"], institution), 0.0)
            every: dict[str, set[str]] = {}
            for kind in ("inpatient", "outpatient"):
                for inst, ids in self.own.get((r["person_id"], kind), {}).items():
                    every.setdefault(inst, set()).update(ids)
            by_kind += _habit(self.own.get((r["person_id"], r["kind"]), {}), institution, mine, region)
            overall += _habit(every, institution, mine, region)
        return max(by_kind, overall)


def _habit(at: dict[str, set[str]], institution: str, mine: set[str], region: float) -> float:
    here = len(at.get(institution, set()) - mine)
    total = sum(len(ids - mine) for ids in at.values())
    return (here + 2 * region) / (total + 2)


def _usual_institutions(session: Session, period: int) -> _Norms:
    rows = session.rows("""
        SELECT p.region_code, s.kind, s.institution_id,
               count(*) / sum(count(*)) OVER (PARTITION BY p.region_code, s.kind) AS share
        FROM settlements s LEFT JOIN persons p USING (person_id) GROUP BY p.region_code, s.kind, s.institution_id""")
    own_rows = session.rows(f"""
        SELECT s.person_id, s.kind, s.institution_id, s.settlement_id FROM settlements s
        WHERE s.kind IN ('inpatient', 'outpatient') AND s.person_id IN (
            SELECT l.person_id FROM d_links l JOIN d_link_groups g USING (via, value)
            WHERE l.via IN ({", ".join(repr(v) for v in _AGENCY)}))""")
    own: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in own_rows:
        own[(r["person_id"], r["kind"])][r["institution_id"]].add(r["settlement_id"])
    return _Norms({(r["region_code"], r["kind"], r["institution_id"]): float(r["share"]) for r in rows},
                  period, own)


def _group_booking(rows: list[dict], config: SharedIdentifierConfig) -> dict[str, Any] | None:
    """The facts of one group booking (``graphsvc.evidence.REASONS["group_booking"]``), or None: every claim
    behind the phone or agent an outpatient visit within ``booking_days`` days, one a person (a company's
    health check booked by its office, its staff seen over a few mornings; a school's vaccination), fewer
    than half of them ``elderly_age`` or older: a company's staff and a school's children are not the
    elderly villagers a broker buses to a 'free check-up' (免费体检、车接车送). A broker's recruits stay
    in hospital, and come back.

    >>> from datetime import date, timedelta
    >>> visits = [{"settlement_id": f"S{i}", "person_id": f"P{i}", "kind": "outpatient", "institution_id": "H1",
    ...            "day": date(2026, 5, 11) + timedelta(days=i % 3)} for i in range(45)]
    >>> _group_booking(visits, SharedIdentifierConfig())
    {'booking_day': '2026-05-11', 'booking_days': 3, 'booked_persons': 45, 'booked_institutions': 1}
    >>> _group_booking(visits + [dict(visits[0], settlement_id="S99", day=date(2026, 8, 3))],
    ...                SharedIdentifierConfig()) is None
    True
    """
    claims = list({r["settlement_id"]: r for r in rows if r["settlement_id"]}.values())
    persons = {r["person_id"] for r in claims}
    if not claims or len(persons) < len(claims) or any(r["kind"] != "outpatient" for r in claims):
        return None
    first, last = min(r["day"] for r in claims), max(r["day"] for r in claims)
    if (last - first).days >= config.booking_days:
        return None
    born = {r["person_id"]: r.get("born") for r in claims}
    if 2 * sum(1 for year in born.values() if year and last.year - year >= config.elderly_age) >= len(persons):
        return None
    return {"booking_day": f"{first:%Y-%m-%d}", "booking_days": (last - first).days + 1, "booked_persons": len(persons),
            "booked_institutions": len({r["institution_id"] for r in claims})}


def _routine_work(rows: list[dict], norms: _Norms, config: SharedIdentifierConfig) -> dict[str, Any] | None:
    """The facts that show the claims behind an agent or contact phone are routine agency work
    (``graphsvc.evidence.REASONS["routine_agency_work"]`` says them), or None.

    Routine, against the agent's own base rates: about one claim per person, none for a person
    already dead; admissions
    together with another of its persons' (same institution within ``together_days``) no more
    often than chance brings for that many claims over the fortnights it worked (Poisson,
    ``routine_p_value``);
    and claims at the institutions its persons use anyway (the busiest of them no busier than
    their own other visits and stays, or their region's shares, predict;
    ``routine_concentration_p_value``, scaled by the institutions it used). A broker's recruits come back in waves, to his
    hospital.

    >>> from datetime import date, timedelta
    >>> norms = _Norms({("R", "inpatient", f"H{i}"): 1 / 3 for i in range(3)}, 300, {})
    >>> spread = [{"settlement_id": f"S{i}", "person_id": f"P{i}", "kind": "inpatient", "institution_id": f"H{i % 3}",
    ...            "region_code": "R", "day": date(2026, 1, 1) + timedelta(days=7 * i)} for i in range(40)]
    >>> from graphsvc.evidence import explain
    >>> explain("routine_agency_work", _routine_work(spread, norms, SharedIdentifierConfig())).split(", ")[:2]
    ['routine agency work: 40 claims for 40 persons (1.0 each)', '0 admission pair(s) within 2 days where chance brings 4.2']
    >>> waves = [dict(r, day=date(2026, 3 + i % 3, 1)) for i, r in enumerate(spread)]
    >>> _routine_work(waves, norms, SharedIdentifierConfig()) is None
    True
    >>> one_hospital = [dict(r, institution_id="H0") for r in spread]   # 40 where 13 are usual
    >>> _routine_work(one_hospital, norms, SharedIdentifierConfig()) is None
    True
    """
    claims = list({r["settlement_id"]: r for r in rows if r["settlement_id"]}.values())
    persons = {r["person_id"] for r in claims}
    if not claims or len(claims) > config.routine_claims_per_person * len(persons):
        return None
    if any(r.get("death_date") and r["day"] > r["death_date"] for r in claims):
        return None  # no agent files claims for the dead
    w = config.together_days
    pairs, expected = _admissions_together(claims, w, norms.days)
    if poisson_tail(expected, pairs) < config.routine_p_value:
        return None
    by_place = group_rows(claims, lambda r: r["institution_id"])
    at_top = max(by_place.items(), key=lambda kv: (len(kv[1]), kv[0]))
    usual = norms.expected_at(at_top[0], claims)
    places = len(by_place)
    # The busiest of the agent's institutions is chosen after looking, so its tail is scaled by how many
    # there were to choose from: among an agent's eight hospitals one draws a 1-in-10,000 share by chance
    # eight times as often, and a fund has hundreds of agents.
    if poisson_tail(usual, len(at_top[1])) * places < config.routine_concentration_p_value:
        return None
    months = len({(r["day"].year, r["day"].month) for r in claims})
    return {"agent_claims": len(claims), "agent_persons": len(persons), "pairs_together": pairs, "together_days": w,
            "chance_pairs": round(expected, 4), "months": months, "institutions_used": places, "busiest": at_top[0],
            "busiest_claims": len(at_top[1]), "busiest_expected": round(usual, 4)}


def _admissions_together(claims: list[dict], w: int, period_days: int) -> tuple[int, float]:
    """Pairs of inpatient admissions at one institution within ``w`` days of each other among ``claims``,
    and how many chance brings for that many admissions there.

    Chance over the fortnights the claims span, not the whole export: a village agent busy in the flu
    season files his claims closer together than the year would suggest.
    """
    worked = min(period_days, 14 * max(2, len({r["day"].toordinal() // 14 for r in claims})))
    pairs, expected = 0, 0.0
    for _, at in group_rows([r for r in claims if r["kind"] == "inpatient"], lambda r: r["institution_id"]).items():
        days = sorted(r["day"] for r in at)
        lo = 0
        for hi, day in enumerate(days):
            while (day - days[lo]).days > w:
                lo += 1
            pairs += hi - lo
        expected += len(days) * (len(days) - 1) / 2 * min(1.0, (2 * w + 1) / worked)
    return pairs, expected


_PEER_PATIENTS, _PEER_HOSPITALS = 10, 5
"""Inpatients a hospital needs for its readmissions to count among its peers', and hospitals an export
needs for their upper quartile to mean anything (below it, ``routine_claims_per_person`` alone)."""


def _claims_of_payee_institutions(session: Session, period: int) -> dict[str, Any]:
    """Claims paid (not reversed) per institution and kind where a shared payee account was paid, the period in
    days, and for each such institution the other hospitals' usual stays per patient (their upper
    quartile; None in an export of few)."""
    # Per kind: an export may write a hospital's own account on each of its stays and none on its
    # outpatients' visits; the account is then the channel of its stays, however many visits it has.
    rows = session.rows("""
        SELECT s.institution_id, s.kind, count(*) AS claims FROM settlements s
        WHERE NOT coalesce(s.fund_amount < 0 OR s.total_amount < 0, false) AND s.institution_id IN (
            SELECT p.institution_id FROM d_links l JOIN d_link_groups g USING (via, value)
            JOIN settlements p ON p.settlement_id = l.settlement_id WHERE l.via = 'payee_account')
        GROUP BY s.institution_id, s.kind""")
    hospitals = session.rows("""
        SELECT institution_id, count(*) / count(DISTINCT person_id) AS stays_per_patient FROM settlements
        WHERE kind = 'inpatient' AND NOT coalesce(fund_amount < 0 OR total_amount < 0, false)
        GROUP BY institution_id HAVING count(DISTINCT person_id) >= ?
        ORDER BY stays_per_patient, institution_id""", [_PEER_PATIENTS])
    usual = {}
    for institution in {r["institution_id"] for r in rows}:
        # The upper quartile of the other hospitals' readmissions: the hospital judged sets no norm of its own,
        # and a broker's complicit hospitals, or a tumour hospital's patients on their cycles, are a few.
        rates = [r["stays_per_patient"] for r in hospitals if r["institution_id"] != institution]
        usual[institution] = rates[(3 * len(rates)) // 4] if len(rates) >= _PEER_HOSPITALS else None
    return {"claims": {(r["institution_id"], r["kind"]): r["claims"] for r in rows}, "days": period,
            "stays_per_patient": usual}


def _institution_account(rows: list[dict], paid_at: dict[str, Any],
                         config: SharedIdentifierConfig) -> dict[str, Any] | None:
    """The facts that show a shared payee account is an institution's own settlement account
    (``graphsvc.evidence.REASONS["institution_account"]``), or None.

    The contract has no column for an institution's account, and an export of direct settlements may
    write the hospital's account as every claim's payee: many households, one account, no broker.
    It is the institution's when all its claims are at one institution, it was paid on at least
    ``institution_account_share`` of that institution's claims (a broker's recruits are a few of a
    hospital's patients), its patients were admitted no more often than hospitals' patients are
    (``institution_stays_over_peers`` times the upper quartile of the export's hospitals' stays per
    patient, and never fewer than ``routine_claims_per_person``: a hospital's account serves whoever
    walks in, a broker's recruits come back again and again, 频繁住院; how often patients are
    readmitted differs from city to city and hospital to hospital), and their admissions are no more together than chance brings
    (``routine_p_value``): a hospital that only admits a broker's recruits in waves stays a lead.

    >>> from datetime import date, timedelta
    >>> stays = [{"settlement_id": f"S{i}", "person_id": f"P{i}", "kind": "inpatient", "institution_id": "H1",
    ...           "day": date(2026, 1, 1) + timedelta(days=9 * i)} for i in range(40)]
    >>> paid_at = {"claims": {("H1", "inpatient"): 42}, "days": 365, "stays_per_patient": {"H1": 1.2}}  # 40 of 42
    >>> _institution_account(stays, paid_at, SharedIdentifierConfig())
    {'institution': 'H1', 'account_claims': 40, 'institution_claims': 42, 'pairs_together': 0, 'together_days': 2, 'chance_pairs': 10.7143}
    >>> _institution_account(stays, dict(paid_at, claims={("H1", "inpatient"): 400}), SharedIdentifierConfig()) is None
    True
    >>> waves = [dict(r, day=date(2026, 3 + i % 4, 1)) for i, r in enumerate(stays)]
    >>> _institution_account(waves, paid_at, SharedIdentifierConfig()) is None
    True
    """
    claims = list({r["settlement_id"]: r for r in rows if r["settlement_id"]}.values())
    institution = _account_holder(claims, paid_at, config)
    if institution is None or any(r.get("death_date") and r["day"] > r["death_date"] for r in claims):
        return None  # a claim for a dead person is no hospital's routine either
    total = _claims_there(claims, institution, paid_at)
    stays = [r for r in claims if r["kind"] == "inpatient"]
    peers = paid_at["stays_per_patient"].get(institution)
    usual = max(config.routine_claims_per_person, config.institution_stays_over_peers * peers if peers else 0.0)
    if len(stays) > usual * len({r["person_id"] for r in stays}):
        return None
    pairs, expected = _admissions_together(claims, config.together_days, paid_at["days"])
    if poisson_tail(expected, pairs) < config.routine_p_value:
        return None
    return {"institution": institution, "account_claims": len(claims), "institution_claims": total,
            "pairs_together": pairs, "together_days": config.together_days, "chance_pairs": round(expected, 4)}


def _account_holder(claims: list[dict], paid_at: dict[str, Any], config: SharedIdentifierConfig) -> str | None:
    """The institution a payee account is the settlement channel of: all its claims there, and at least
    ``institution_account_share`` of that institution's claims of the kinds it was paid on; else None."""
    places = {r["institution_id"] for r in claims}
    if len(places) != 1:
        return None
    [institution] = places
    total = _claims_there(claims, institution, paid_at)
    return institution if total and len(claims) >= config.institution_account_share * total else None


def _claims_there(claims: list[dict], institution: str, paid_at: dict[str, Any]) -> int:
    """The institution's claims of the kinds among ``claims``."""
    return sum(paid_at["claims"].get((institution, kind), 0) for kind in {r["kind"] for r in claims})


def _phone_users(session: Session,
                 config: SharedIdentifierConfig) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """Users of each flagged phone (the persons registered with it; of a household's phone, only its
    adults), and every person registered with it."""
    lo, hi = config.adult_ages
    rows = session.rows("""
        WITH ref AS (SELECT coalesce(max(start_time), current_timestamp)::DATE AS day FROM settlements)
        SELECT p.phone, p.person_id, year(ref.day) - year(p.birth_date) AS age
        FROM persons p, ref
        WHERE p.phone IN (SELECT value FROM d_link_groups WHERE via IN ('contact_phone', 'bound_phone'))
        ORDER BY p.phone, p.person_id""")
    by_phone: dict[str, list[tuple[str, int | None]]] = defaultdict(list)
    for r in rows:
        by_phone[r["phone"]].append((r["person_id"], r["age"]))
    owners = {}
    for phone, people in by_phone.items():
        adults = [p for p, age in people if age is not None and lo <= age < hi]
        owners[phone] = adults if len(people) > 1 and adults else [p for p, _ in people]
    return owners, {phone: {p for p, _ in people} for phone, people in by_phone.items()}


def _claims_of_linked_cards(session: Session) -> dict[str, list[tuple[str, str, list[str] | None]]]:
    """(settlement id, kind, items) of each claim paid by a card of a flagged phone or device."""
    rows = session.rows("""
        SELECT s.card_id, s.settlement_id, s.kind, s.items FROM settlements s
        WHERE s.card_id IN (SELECT l.card_id FROM d_links l JOIN d_link_groups g USING (via, value)
                            WHERE l.card_id IS NOT NULL)""")
    claims: dict[str, list[tuple[str, str, list[str] | None]]] = defaultdict(list)
    for r in rows:
        claims[r["card_id"]].append((r["settlement_id"], r["kind"], r["items"]))
    return claims
