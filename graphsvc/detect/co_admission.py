"""Co-admission lockstep (结队住院): the same people admitted together again and again.

In the spirit of CopyCatch (lockstep behaviour in a bipartite graph): a pair of persons
admitted to one institution within ``window_days`` of each other on ``min_pair_repeats``
separate occasions is a lockstep pair; lockstep pairs at one institution form groups, and a
group is reported when two or more of its members were admitted together on at least
``min_waves`` occasions. Chance co-admissions at a big hospital do not repeat with the same
people; a one-off group visit (a company health check) is one occasion.

A group meeting at a weekly cadence or faster for many sessions is a treatment schedule
(dialysis, chemotherapy) and is explained, not reported. With the default admission kinds
(inpatient only) outpatient dialysis never enters; the rule matters when a fund bills
sessions as stays.

Reports the institution, the members, the waves (dates and how many came), admissions and
fund amounts.
"""

from __future__ import annotations

import statistics

import duckdb
import igraph as ig

from graphsvc.detect.config import LockstepConfig, saturate
from graphsvc.detect.finding import Finding, fetch_dicts, group_rows, temp_table
from graphsvc.detect.suspicion_graph import leiden_communities

__all__ = ["lockstep_findings", "waves_of"]


def lockstep_findings(con: duckdb.DuckDBPyConnection, config: LockstepConfig | None = None) -> list[Finding]:
    """Find groups admitted together to one institution on repeated occasions.

    Parameters
    ----------
    con : duckdb connection
        Holds the model's tables (see ``graphsvc.detect.finding``).
    config : LockstepConfig
        Window, repeats, group and wave minimums; defaults when None.

    Returns
    -------
    list of Finding
        Kind ``co_admission_lockstep``, one per group and institution; suggests
        ``professional_gang``.

    Examples
    --------
    Three persons admitted together to H1 in three months, and once more to H2:

    >>> from graphsvc.detect.finding import in_memory_claims
    >>> stays = [{"settlement_id": f"S{m}{p}", "kind": "inpatient", "person_id": p, "institution_id": "H1",
    ...           "start_time": f"2026-0{m}-1{i} 09:00"} for m in (3, 5, 7) for i, p in enumerate(["A", "B", "C"])]
    >>> stays += [{"settlement_id": f"T{p}", "kind": "inpatient", "person_id": p, "institution_id": "H2",
    ...            "start_time": "2026-09-01 09:00"} for p in ["A", "B", "C"]]
    >>> [(f.persons, f.entities, f.facts["waves"]) for f in lockstep_findings(in_memory_claims(settlements=stays))]
    [(('A', 'B', 'C'), (('institution', 'H1'),), 3)]
    """
    config = config or LockstepConfig()
    w = config.window_days
    con.execute("""
        CREATE OR REPLACE TEMP TABLE d_admissions AS
        SELECT settlement_id, person_id, institution_id, start_time::DATE AS day, fund_amount
        FROM settlements WHERE list_contains(?, kind)""", [list(config.admission_kinds)])
    # Each admission probes the next ``w`` days: an equi-join on (institution, day), not a band join.
    pairs = fetch_dicts(con, f"""
        WITH probes AS (SELECT person_id, institution_id, day, day + k::INTEGER AS probe
                        FROM d_admissions, range(0, {w} + 1) t(k)),
        occasions AS (
            SELECT DISTINCT a.institution_id, least(a.person_id, b.person_id) AS p1,
                   greatest(a.person_id, b.person_id) AS p2, least(a.day, b.day) AS occasion
            FROM probes a JOIN d_admissions b ON b.institution_id = a.institution_id AND b.day = a.probe
            WHERE b.person_id <> a.person_id),
        separated AS (
            SELECT institution_id, p1, p2,
                   CASE WHEN occasion - lag(occasion) OVER (PARTITION BY institution_id, p1, p2 ORDER BY occasion) <= {w}
                        THEN 0 ELSE 1 END AS new_occasion
            FROM occasions)
        SELECT institution_id, p1, p2, sum(new_occasion) AS repeats
        FROM separated GROUP BY institution_id, p1, p2 HAVING sum(new_occasion) >= ?
        ORDER BY institution_id, p1, p2""", [config.min_pair_repeats])
    groups = _groups_per_institution(pairs, config.seed)
    candidates = [(inst, members) for inst, members in groups if len(members) >= config.min_persons]
    if not candidates:
        return []
    temp_table(con, "d_lockstep_members", {"institution_id": [inst for inst, members in candidates for _ in members],
                                           "person_id": [p for _, members in candidates for p in sorted(members)]})
    rows = fetch_dicts(con, """
        SELECT a.institution_id, a.person_id, a.day, a.settlement_id, a.fund_amount
        FROM d_admissions a SEMI JOIN d_lockstep_members m USING (institution_id, person_id)
        ORDER BY a.institution_id, a.day, a.person_id""")
    admissions = group_rows(rows, lambda r: r["institution_id"])
    findings = []
    for inst, members in candidates:
        mine = [r for r in admissions[inst] if r["person_id"] in members]
        waves = [wave for wave in waves_of(mine, w) if len({r["person_id"] for r in wave}) >= 2]
        if len(waves) < config.min_waves or _on_treatment_schedule(waves, config):
            continue
        in_waves = [r for wave in waves for r in wave]
        persons = sorted({r["person_id"] for r in in_waves})
        if len(persons) < config.min_persons:
            continue
        wave_text = ", ".join(f"{wave[0]['day']:%Y-%m-%d} ({len({r['person_id'] for r in wave})})" for wave in waves)
        fund = sum(float(r["fund_amount"] or 0) for r in in_waves)
        findings.append(Finding(
            kind="co_admission_lockstep",
            detail=(f"{len(persons)} persons admitted together to {inst} on {len(waves)} occasions "
                    f"(date (persons): {wave_text}); {len(in_waves)} admissions, fund {fund:,.2f}"),
            persons=tuple(persons), entities=(("institution", inst),),
            strength=saturate((len(waves) - 2) * (len(persons) - 1), config.strength_half),
            suggests="professional_gang", settlements=tuple(r["settlement_id"] for r in in_waves),
            facts={"institution": inst, "waves": len(waves), "admissions": len(in_waves),
                   "wave_dates": [f"{wave[0]['day']:%Y-%m-%d}" for wave in waves]},
        ))
    return findings


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


def _groups_per_institution(pairs: list[dict], seed: int) -> list[tuple[str, set[str]]]:
    """Groups of lockstep pairs per institution: Leiden communities of the pairs weighted by repeats.

    Connected components would chain two groups that once happened to be admitted in the
    same week twice (a gang and a care home's residents at one hospital); the weights keep
    them apart, since each group repeats with itself far more often than with the other.
    """
    groups = []
    for inst, mine in group_rows(pairs, lambda p: p["institution_id"]).items():
        names = sorted({p["p1"] for p in mine} | {p["p2"] for p in mine})
        index = {n: i for i, n in enumerate(names)}
        graph = ig.Graph(n=len(names), edges=[(index[p["p1"]], index[p["p2"]]) for p in mine])
        graph.es["weight"] = [float(p["repeats"]) for p in mine]
        for community in leiden_communities(graph, seed=seed):
            groups.append((inst, {names[v] for v in community}))
    return sorted(groups, key=lambda g: (g[0], min(g[1])))


def _on_treatment_schedule(waves: list[list[dict]], config: LockstepConfig) -> bool:
    if len(waves) < config.schedule_min_waves:
        return False
    gaps = [(b[0]["day"] - a[0]["day"]).days for a, b in zip(waves, waves[1:])]
    return statistics.median(gaps) <= config.schedule_max_gap_days
