"""Co-admission lockstep (结队住院): the same people admitted together again and again, anywhere.

In the spirit of CopyCatch (lockstep behaviour in a bipartite graph): two persons admitted
to one institution within ``window_days`` of each other share an occasion; a pair sharing
``min_pair_repeats`` separate occasions, at the same or at different institutions, is a
lockstep pair; lockstep pairs form groups (Leiden on the repeat counts), and a group is
reported when two or more of its members were admitted together on at least ``min_waves``
occasions. A gang that rotates across hospitals so that no hospital sees it three times is
still one group: occasions are counted per pair, not per institution. Chance co-admissions
at a big hospital do not repeat with the same people; a one-off group visit (a company
health check) is one occasion.

Residents of one address (a care home, a dormitory) who all use the nearby hospital are
admitted together now and then by chance: when most of a group live at an address holding
many more persons than the group, each wave must be larger than the admissions of that
address's other persons to that institution bring in a window (Poisson, ``p_value``); a group
whose waves are all within chance is explained with that reason. A flat that is the group (a
gang's, a family's) has no such base rate.

A person in a minority of a group's waves whose presence chance explains (a frequent patient
of the gang's hospital) is left out of it (``member_p_value``), and a group whose members are
together no more often than their own admissions make likely, given how many pairs it was
picked from (frequent patients of one hospital, ``group_p_value``), is explained.

A group meeting in same-day sessions at a weekly cadence or faster for many sessions is a
treatment schedule (dialysis, chemotherapy) and is explained, not reported; a group staying
longer every week is frequent stays (频繁住院) and is reported. With the default admission kinds
(inpatient only) outpatient dialysis never enters; the rule matters when a fund bills
sessions as stays.

Reports the institutions, the members, the waves (date, institution and how many came),
admissions and fund amounts.
"""

from __future__ import annotations

import statistics
from typing import Any

import igraph as ig

from graphsvc.detect.config import CoAdmissionLockstepConfig, saturate
from graphsvc.detect.finding import Finding, covered_days, group_rows, poisson_tail, poisson_threshold
from graphsvc.detect.suspicion_graph import leiden_communities
from graphsvc.evidence import render
from graphsvc.store.engine import Session, SessionLike, session_of

__all__ = ["co_admission_lockstep_findings", "waves_of"]


def co_admission_lockstep_findings(con: SessionLike,
                                   config: CoAdmissionLockstepConfig | None = None) -> list[Finding]:
    """Find groups admitted together on repeated occasions, at one institution or rotating across several.

    Parameters
    ----------
    con : Session or DuckDB connection
        Holds the model's tables (see ``graphsvc.detect.finding``).
    config : CoAdmissionLockstepConfig
        Window, repeats, group and wave minimums; defaults when None.

    Returns
    -------
    list of Finding
        Kind ``co_admission_lockstep``, one per group; suggests ``professional_gang``.

    Examples
    --------
    Three persons admitted together twice to H1, twice to H2 and once to H3 (no hospital
    sees them three times), and a fourth who joins them once:

    >>> from graphsvc.detect.finding import in_memory_claims
    >>> visits = [("H1", 3), ("H2", 4), ("H1", 5), ("H3", 7), ("H2", 9)]
    >>> stays = [{"settlement_id": f"S{m}{p}", "kind": "inpatient", "person_id": p, "institution_id": h,
    ...           "start_time": f"2026-0{m}-1{i} 09:00"} for h, m in visits for i, p in enumerate("ABC")]
    >>> stays.append({"settlement_id": "SD", "kind": "inpatient", "person_id": "D", "institution_id": "H1",
    ...               "start_time": "2026-03-10 09:00"})
    >>> [f] = co_admission_lockstep_findings(in_memory_claims(settlements=stays))
    >>> f.persons, f.entities, f.facts["waves"]
    (('A', 'B', 'C'), (('institution', 'H1'), ('institution', 'H2'), ('institution', 'H3')), 5)
    """
    config = config or CoAdmissionLockstepConfig()
    session = session_of(con)
    w = config.window_days
    session.create_table("d_admissions", """
        SELECT settlement_id, person_id, institution_id, start_time::DATE AS day, fund_amount,
               -- a stay exported without its discharge is of unknown length, not a same-day session
               CASE WHEN kind = 'inpatient' AND end_time IS NULL THEN NULL
                    ELSE date_diff('day', start_time::DATE, coalesce(end_time, start_time)::DATE) END AS stay_days
        FROM settlements WHERE list_contains(?, kind)""", [list(config.admission_kinds)])
    # Each admission probes the next ``w`` days: an equi-join on (institution, day), not a band join.
    # Occasions are per institution; their repeats are counted per pair across institutions.
    pairs = session.rows(f"""
        WITH probes AS (SELECT person_id, institution_id, day, day + k::INTEGER AS probe
                        FROM d_admissions CROSS JOIN (SELECT unnest(generate_series(0, {w})) AS k) t),
        occasions AS (
            SELECT DISTINCT a.institution_id, least(a.person_id, b.person_id) AS p1,
                   greatest(a.person_id, b.person_id) AS p2, least(a.day, b.day) AS occasion
            FROM probes a JOIN d_admissions b ON b.institution_id = a.institution_id AND b.day = a.probe
            WHERE b.person_id <> a.person_id),
        separated AS (
            SELECT p1, p2, institution_id,
                   CASE WHEN date_diff('day', lag(occasion) OVER (PARTITION BY p1, p2 ORDER BY occasion), occasion) <= {w}
                        THEN 0 ELSE 1 END AS new_occasion
            FROM occasions)
        SELECT p1, p2, sum(new_occasion) AS repeats, list(DISTINCT institution_id) AS institutions
        FROM separated GROUP BY p1, p2 HAVING sum(new_occasion) >= ?
        ORDER BY p1, p2""", [config.min_pair_repeats])
    candidates = [members for members in _groups(pairs, config) if len(members) >= config.min_persons]
    if not candidates:
        return []
    session.temp_table("d_lockstep_members", {"person_id": sorted({p for members in candidates for p in members})})
    rows = session.rows("""
        SELECT a.institution_id, a.person_id, a.day, a.settlement_id, a.fund_amount, a.stay_days
        FROM d_admissions a SEMI JOIN d_lockstep_members m USING (person_id)
        ORDER BY a.institution_id, a.day, a.person_id, a.settlement_id""")
    admissions = group_rows(rows, lambda r: r["person_id"])
    # Who the members are tells a broker's recruits (elderly villagers, domain.md) from a gang of
    # working age: ages on the export's last day, from the birth date or, left blank, the ID number's.
    aged = {r["person_id"]: r["age"] for r in session.rows("""
        WITH ref AS (SELECT max(day) AS day FROM d_admissions)
        SELECT p.person_id, year(ref.day) - CASE WHEN p.birth_date IS NOT NULL THEN year(p.birth_date)
                                                 WHEN length(p.id_number) = 18
                                                 THEN TRY_CAST(substr(p.id_number, 7, 4) AS INTEGER) END AS age
        FROM persons p CROSS JOIN ref
        WHERE p.person_id IN (SELECT person_id FROM d_lockstep_members)""")
        if r["age"] is not None and 0 <= r["age"] <= 120}
    candidates = [part for members in candidates for part in _apart(members, pairs, admissions, config)]
    pairs_at: dict[str, int] = {}
    for pair in pairs:
        for inst in pair["institutions"]:
            pairs_at[inst] = pairs_at.get(inst, 0) + 1
    chance = _address_base_rates(session, candidates, config)
    days = covered_days(session, "SELECT day FROM d_admissions")
    findings = []
    for members in candidates:
        mine = sorted((r for p in members for r in admissions.get(p, ())),
                      key=lambda r: (r["institution_id"], r["day"], r["person_id"]))
        address, rates = chance.get(frozenset(members), (None, {}))
        all_waves = [wave for inst, at in group_rows(mine, lambda r: r["institution_id"]).items()
                     for wave in waves_of(at, w) if len({r["person_id"] for r in wave}) >= 2]
        waves = [wave for wave in all_waves
                 if len({r["person_id"] for r in wave}) >= rates.get(wave[0]["institution_id"], (0.0, 2))[1]]
        waves = _without_chance_members(waves, admissions, days, config)
        waves.sort(key=lambda wave: (wave[0]["day"], wave[0]["institution_id"]))
        if len(waves) < config.min_waves and len(all_waves) >= config.min_waves and address:
            base = sorted(rates.items())
            findings.append(_explained(all_waves, "address_base_rate", address_key=address, beyond_chance=len(waves),
                                       rate_institutions=[i for i, _ in base], rates=[round(r, 4) for _, (r, _) in base],
                                       rate_needed=[n for _, (_, n) in base]))
            continue
        if len(waves) < config.min_waves:
            continue
        if _on_treatment_schedule(waves, config):
            gap = statistics.median((b[0]["day"] - a[0]["day"]).days for a, b in zip(waves, waves[1:]))
            findings.append(_explained(waves, "treatment_schedule", median_gap_days=gap))
            continue
        if (cycle := _each_on_a_cycle(waves, admissions, config)) is not None:
            findings.append(_explained(waves, "treatment_schedule", median_gap_days=cycle))
            continue
        in_waves = [r for wave in waves for r in wave]
        persons = sorted({r["person_id"] for r in in_waves})
        if len(persons) < config.min_persons:
            continue
        together, chance_brings = _pairs_together(waves, persons, admissions, days, config)
        # The group was picked out of the lockstep pairs at its institutions: as many chances to find one by
        # luck there. Those of the whole fund would make the bar rise with the city, not with the hospital.
        searched = sum(pairs_at.get(inst, 0) for inst in {wave[0]["institution_id"] for wave in waves})
        p_value = min(1.0, poisson_tail(chance_brings, together) * searched)
        if p_value >= config.group_p_value:
            findings.append(_explained(waves, "within_chance", pairs_together=together,
                                       chance_pairs=round(chance_brings, 4), p_value=p_value, searched_pairs=searched))
            continue
        institutions = sorted({wave[0]["institution_id"] for wave in waves})
        facts = _wave_facts(waves)
        ages = [aged[p] for p in persons if aged.get(p) is not None]
        facts["elderly_share"] = round(sum(a >= config.elderly_age for a in ages) / len(ages), 3) if ages else None
        findings.append(Finding(
            kind="co_admission_lockstep", detail=render("co_admission_lockstep", facts),
            persons=tuple(persons), entities=tuple(("institution", i) for i in institutions),
            strength=saturate((len(waves) - 2) * (len(persons) - 1), config.strength_half),
            suggests="professional_gang", settlements=tuple(r["settlement_id"] for r in in_waves),
            facts=facts,
        ))
    return findings


def _explained(waves: list[list[dict]], reason: str, **facts: Any) -> Finding:
    """A group's co-admissions judged normal, with the reason (``graphsvc.evidence.REASONS``) and the
    facts it says: kept with the run, joins no ring."""
    persons = sorted({r["person_id"] for wave in waves for r in wave})
    facts = {**_wave_facts(waves), **facts}
    return Finding(kind="co_admission_lockstep", detail=render("co_admission_lockstep", facts), persons=tuple(persons),
                   entities=tuple(("institution", i) for i in sorted({wave[0]["institution_id"] for wave in waves})),
                   strength=0.0, suggests="professional_gang", facts=facts, explained=reason)


def _wave_facts(waves: list[list[dict]]) -> dict[str, Any]:
    """What a group's co-admissions are: who, where, when and how much (``graphsvc.evidence`` says it)."""
    in_waves = [r for wave in waves for r in wave]
    return {"persons": len({r["person_id"] for r in in_waves}),
            "institutions": sorted({wave[0]["institution_id"] for wave in waves}), "waves": len(waves),
            "admissions": len(in_waves), "fund": round(sum(float(r["fund_amount"] or 0) for r in in_waves), 2),
            "wave_dates": [f"{wave[0]['day']:%Y-%m-%d}" for wave in waves],
            "wave_institutions": [wave[0]["institution_id"] for wave in waves],
            "wave_persons": [len({r["person_id"] for r in wave}) for wave in waves]}


def _pairs_together(waves: list[list[dict]], persons: list[str], admissions: dict[str, list[dict]], days: int,
                    config: CoAdmissionLockstepConfig) -> tuple[int, float]:
    """Pairs of the group together in its waves, and how many the members' own admissions bring by chance.

    Chance: for each pair and institution, each admission of one finds one of the other's
    within the window with probability 1 − (1 − s)^n (s = window / period, n = the other's
    admissions there), averaged over the pair's two directions. Frequent patients of one
    hospital (a care home's residents) meet often by chance; a gang meets far more often than
    its members' few admissions allow.
    """
    together = sum(len({r["person_id"] for r in wave}) * (len({r["person_id"] for r in wave}) - 1) // 2
                   for wave in waves)
    s = min(1.0, (2 * config.window_days + 1) / days)
    counts = [group_rows(admissions[p], lambda r: r["institution_id"]) for p in persons]
    chance = 0.0
    for i, a in enumerate(counts):
        for b in counts[i + 1:]:
            for inst in a.keys() & b.keys():
                na, nb = len(a[inst]), len(b[inst])
                chance += (na * (1 - (1 - s) ** nb) + nb * (1 - (1 - s) ** na)) / 2
    return together, chance


def _without_chance_members(waves: list[list[dict]], admissions: dict[str, list[dict]], days: int,
                            config: CoAdmissionLockstepConfig) -> list[list[dict]]:
    """The waves without persons whose presence in them chance explains, and waves left with one person.

    A frequent patient of the gang's hospital shares a wave or two with it by chance: a person
    in fewer than half the group's waves is one of them only if, at her own number of
    admissions and the group's waves per institution, being in as many waves as she was is
    rarer than ``member_p_value`` (Poisson).
    """
    per_institution: dict[str, int] = {}
    for wave in waves:
        per_institution[wave[0]["institution_id"]] = per_institution.get(wave[0]["institution_id"], 0) + 1
    span = 2 * config.window_days + 1
    in_waves: dict[str, int] = {}
    for wave in waves:
        for p in {r["person_id"] for r in wave}:
            in_waves[p] = in_waves.get(p, 0) + 1
    chance = {p: sum(min(1.0, per_institution.get(r["institution_id"], 0) * span / days) for r in admissions[p])
              for p in in_waves}
    keep = {p for p, n in in_waves.items()
            if 2 * n >= len(waves) or poisson_tail(chance[p], n) < config.member_p_value}
    trimmed = [[r for r in wave if r["person_id"] in keep] for wave in waves]
    return [wave for wave in trimmed if len({r["person_id"] for r in wave}) >= 2]


def _address_base_rates(session: Session, groups: list[set[str]],
                        config: CoAdmissionLockstepConfig
                        ) -> dict[frozenset[str], tuple[str, dict[str, tuple[float, int]]]]:
    """For each group most of whose persons live at one address: that address and, per institution,
    the admissions chance brings in a window and the wave size beyond chance."""
    session.temp_table("d_lockstep_groups", {"group_no": [str(g) for g, members in enumerate(groups) for _ in members],
                                          "person_id": [p for members in groups for p in sorted(members)]})
    homes = session.rows("""
        WITH sizes AS (SELECT household, count(*) AS size FROM persons GROUP BY household)
        SELECT g.group_no, p.household, count(*) AS persons, any_value(sizes.size) AS size
        FROM d_lockstep_groups g JOIN persons p USING (person_id) JOIN sizes USING (household)
        WHERE p.household IS NOT NULL AND p.household <> p.person_id
        GROUP BY g.group_no, p.household
        QUALIFY row_number() OVER (PARTITION BY g.group_no ORDER BY count(*) DESC, p.household) = 1""")
    # A flat that is the group (a gang's, a family's) has no base rate apart from the group itself.
    homes = [h for h in homes if 2 * h["persons"] >= len(groups[int(h["group_no"])])
             and h["size"] >= config.base_rate_address_factor * len(groups[int(h["group_no"])])]
    if not homes:
        return {}
    session.temp_table("d_lockstep_homes", {"household": sorted({h["household"] for h in homes})})
    rows = session.rows("""
        SELECT p.household, a.institution_id, a.person_id
        FROM d_admissions a JOIN persons p USING (person_id) SEMI JOIN d_lockstep_homes USING (household)
        ORDER BY p.household, a.institution_id, a.person_id""")
    days = covered_days(session, "SELECT day FROM d_admissions")
    at_home = group_rows(rows, lambda r: (r["household"], r["institution_id"]))
    result = {}
    for h in homes:
        members = groups[int(h["group_no"])]
        rates = {}
        for (household, inst), at in at_home.items():
            if household == h["household"]:
                # The address's other persons' admissions there: the group's own waves would raise the bar they must clear.
                others = sum(1 for r in at if r["person_id"] not in members)
                rate = others / days * (config.window_days + 1)
                rates[inst] = (rate, poisson_threshold(rate, config.p_value, 2))
        result[frozenset(members)] = (h["household"], rates)
    return result


def waves_of(rows: list[dict], window_days: int) -> list[list[dict]]:
    """Split day-sorted rows into waves: each starts at a row and takes what follows within the window.

    Anchoring each wave at its first day keeps a cohort meeting every other day from
    chaining into one endless wave.

    >>> from datetime import date
    >>> days = [date(2026, 3, d) for d in (1, 2, 3, 10, 11)]
    >>> [[r["day"].day for r in wave] for wave in waves_of([{"day": d} for d in days], 2)]
    [[1, 2, 3], [10, 11]]
    """
    waves: list[list[dict]] = []
    for row in rows:
        if waves and (row["day"] - waves[-1][0]["day"]).days <= window_days:
            waves[-1].append(row)
        else:
            waves.append([row])
    return waves


def _groups(pairs: list[dict], config: CoAdmissionLockstepConfig) -> list[set[str]]:
    """Groups of lockstep pairs: Leiden communities (CPM) of the pairs weighted by repeats.

    Connected components would chain two groups that happened to be admitted in the same week
    twice (a gang and a broker's recruits at the complicit hospital they share); the weights
    keep them apart, since each group repeats with itself far more often than with the other.
    CPM rather than modularity: over a province's pairs, modularity merges small groups (its
    resolution limit); CPM keeps any group whose pairs repeat more than ``group_density`` on
    average.
    """
    names = sorted({p["p1"] for p in pairs} | {p["p2"] for p in pairs})
    index = {n: i for i, n in enumerate(names)}
    graph = ig.Graph(n=len(names), edges=[(index[p["p1"]], index[p["p2"]]) for p in pairs])
    graph.es["weight"] = [float(p["repeats"]) for p in pairs]
    communities = leiden_communities(graph, seed=config.seed, objective="CPM", resolution=config.group_density)
    return sorted(({names[v] for v in community} for community in communities), key=min)


def _apart(members: set[str], pairs: list[dict], admissions: dict[str, list[dict]],
           config: CoAdmissionLockstepConfig) -> list[set[str]]:
    """A group of lockstep pairs as the groups it is made of, when they only met now and then.

    A complicit hospital takes a broker's recruits and a gang in the same weeks: on each week they
    share, every member of one pairs with every member of the other, and two shared weeks make
    each of those pairs a lockstep pair. CPM keeps the two together when those many cross pairs
    outweigh ``group_density`` (a gang of 4 meeting 7 recruits twice: 28 pairs of 2). Modularity
    over the group's own pairs proposes its parts; they are kept apart only when each is a group
    by itself (``min_persons``, ``min_waves`` of its own) and each of any two had the other
    admitted within ``window_days`` of it, at any institution, in at most half of its waves. A
    gang's members, however its waves are drawn from it, are admitted together in nearly all of
    them, and a gang splitting itself over two hospitals on the same days is together on those
    days: a gang is never cut in two this way.

    >>> from datetime import date
    >>> def stay(p, d, h="H1"):
    ...     return {"person_id": p, "institution_id": h, "day": date(2026, 1, d)}
    >>> gang, crew = ["G1", "G2", "G3"], ["R1", "R2", "R3"]
    >>> rows = [stay(p, d) for d in (1, 10) for p in gang + crew]
    >>> rows += [stay(p, d, "H2") for d in (20, 25) for p in gang] + [stay(p, d, "H3") for d in (14, 29) for p in crew]
    >>> admissions = {p: [r for r in rows if r["person_id"] == p] for p in gang + crew}
    >>> pairs = [{"p1": min(a, b), "p2": max(a, b), "repeats": 4 if (a in gang) == (b in gang) else 2}
    ...          for i, a in enumerate(gang + crew) for b in (gang + crew)[i + 1:]]
    >>> sorted(sorted(part) for part in _apart(set(gang + crew), pairs, admissions, CoAdmissionLockstepConfig()))
    [['G1', 'G2', 'G3'], ['R1', 'R2', 'R3']]
    """
    if len(members) < 2 * config.min_persons:
        return [members]
    names = sorted(members)
    index = {n: i for i, n in enumerate(names)}
    inside = [p for p in pairs if p["p1"] in index and p["p2"] in index]
    graph = ig.Graph(n=len(names), edges=[(index[p["p1"]], index[p["p2"]]) for p in inside])
    graph.es["weight"] = [float(p["repeats"]) for p in inside]
    parts = [{names[v] for v in community} for community in leiden_communities(graph, seed=config.seed)]
    if len(parts) < 2 or any(len(part) < config.min_persons for part in parts):
        return [members]
    rows = sorted((r for p in names for r in admissions.get(p, ())), key=lambda r: (r["institution_id"], r["day"]))
    waves = [(wave[0]["day"], {r["person_id"] for r in wave})
             for at in group_rows(rows, lambda r: r["institution_id"]).values()
             for wave in waves_of(at, config.window_days)]
    days = [[day for day, persons in waves if len(persons & part) >= 2] for part in parts]  # each part's waves
    if min(len(d) for d in days) < config.min_waves:
        return [members]
    for i, mine in enumerate(days):
        for j, theirs in enumerate(days):
            met = sum(1 for d in mine if any(abs((d - e).days) <= config.window_days for e in theirs))
            if i != j and 2 * met > len(mine):
                return [members]
    return sorted(parts, key=min)


def _on_treatment_schedule(waves: list[list[dict]], config: CoAdmissionLockstepConfig) -> bool:
    """Same-day sessions together at one centre, either weekly or faster many times (dialysis), or on a
    fixed cycle of up to a few weeks (chemotherapy: every 14, 21 or 28 days, a day or two moved for a
    holiday).

    A gang's fake stays last days; when its waves come at a steady pace their stays still do; and a
    gang rotates hospitals where a cohort keeps to its centre.

    >>> from datetime import date, timedelta
    >>> def sessions(gaps, stay=0):
    ...     days = [date(2026, 1, 5) + timedelta(days=sum(gaps[:i])) for i in range(len(gaps) + 1)]
    ...     return [[{"day": d, "stay_days": stay}, {"day": d, "stay_days": stay}] for d in days]
    >>> config = CoAdmissionLockstepConfig()
    >>> _on_treatment_schedule(sessions([21, 22, 21, 20, 21]), config)   # six three-weekly cycles
    True
    >>> _on_treatment_schedule(sessions([21, 22, 21, 20, 21], stay=6), config)   # six-day stays at that pace
    False
    >>> _on_treatment_schedule(sessions([9, 40, 21, 70, 15]), config)   # waves at no steady pace
    False
    """
    rows = [r for wave in waves for r in wave]
    if any(r["stay_days"] is None or r["stay_days"] > config.schedule_max_stay_days for r in rows):
        return False
    if len({r.get("institution_id") for r in rows}) > 1:
        return False
    gaps = [(b[0]["day"] - a[0]["day"]).days for a, b in zip(waves, waves[1:])]
    median = statistics.median(gaps)
    if len(waves) >= config.schedule_min_waves and median <= config.schedule_max_gap_days:
        return True
    return (len(waves) >= config.cycle_min_waves and median <= config.cycle_max_days
            and all(abs(gap - median) <= config.cycle_tolerance_days for gap in gaps))


def _each_on_a_cycle(waves: list[list[dict]], admissions: dict[str, list[dict]],
                     config: CoAdmissionLockstepConfig) -> float | None:
    """The median treatment cycle in days when each person of the waves is on a cycle of his own at
    their one centre, else None.

    A chemotherapy ward admits its patients for a day or three every 14, 21 or 28 days, each from the
    day he started: patients who started on different Mondays meet on some Mondays and not others, so
    the group's waves keep no pace while each patient's stays do, and most waves hold some of them: a
    group of four or more all there but one in half its waves or more is in phase, a gang. A patient's cycle is his shortest
    gap; a session postponed (blood counts too low) makes a gap of up to two cycles. A gang's fake
    stays last longer, and it rotates hospitals. One longer stay in four sessions is a patient's
    fever or operation.

    Three patients on 21-day cycles, each postponed a week now and then, meeting two at a time:

    >>> from datetime import date, timedelta
    >>> def stays(person, start, gaps, stay=2):
    ...     days = [start + timedelta(days=sum(gaps[:i])) for i in range(len(gaps) + 1)]
    ...     return [{"person_id": person, "institution_id": "H1", "day": d, "stay_days": stay} for d in days]
    >>> def waves_of_ward(ward):
    ...     days = sorted({r["day"] for rows in ward.values() for r in rows})
    ...     at = [[r for rows in ward.values() for r in rows if r["day"] == d] for d in days]
    ...     return [wave for wave in at if len(wave) >= 2]
    >>> ward = {"A": stays("A", date(2026, 1, 5), [21, 28, 21, 21, 21]),
    ...         "B": stays("B", date(2026, 1, 5), [28, 21, 21, 28, 21]),
    ...         "C": stays("C", date(2026, 1, 26), [21, 21, 28, 21, 21])}
    >>> _each_on_a_cycle(waves_of_ward(ward), ward, CoAdmissionLockstepConfig())
    21.0
    >>> long = {p: [dict(r, stay_days=6) for r in rows] for p, rows in ward.items()}   # week-long stays
    >>> _each_on_a_cycle(waves_of_ward(long), long, CoAdmissionLockstepConfig()) is None
    True
    >>> gang = {p: stays(p, date(2026, 1, 5), [21] * 5) for p in "ABCD"}   # all four every time
    >>> _each_on_a_cycle(waves_of_ward(gang), gang, CoAdmissionLockstepConfig()) is None
    True
    """
    places = {r["institution_id"] for wave in waves for r in wave}
    if len(places) != 1:
        return None
    members = {r["person_id"] for wave in waves for r in wave}
    # Four or more nearly all there (one left home in turn is still the group) in half the waves: 结队住院 on a
    # cycle. Three patients who started the same week meet as often, and chance tells them from a gang.
    in_phase = sum(1 for wave in waves if len({r["person_id"] for r in wave}) >= len(members) - 1)
    if len(members) >= 4 and 2 * in_phase >= len(waves):
        return None
    [place] = places
    cycles = []
    for person in {r["person_id"] for wave in waves for r in wave}:
        mine = [r for r in admissions.get(person, ()) if r["institution_id"] == place]
        sessions = sorted((r for r in mine if r["stay_days"] is not None and r["stay_days"] <= config.cycle_max_stay_days),
                          key=lambda r: r["day"])
        # A patient on chemotherapy is sometimes admitted for longer (a fever, an operation): one such stay
        # in four sessions; a gang's fake stays are long, each of them.
        if len(sessions) < config.cycle_min_waves or 4 * (len(mine) - len(sessions)) > len(sessions):
            return None
        gaps = [(b["day"] - a["day"]).days for a, b in zip(sessions, sessions[1:])]
        cycle = min(gaps)
        if not config.cycle_min_days <= cycle <= config.cycle_max_days or any(
                g > 2 * cycle + config.cycle_tolerance_days for g in gaps):
            return None
        cycles.append(cycle)
    return float(statistics.median(cycles))
