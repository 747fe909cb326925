"""Institution risk ranking (定点医药机构风险排名): which hospitals and pharmacies to inspect first.

Not a ring detector: rings are groups of persons; this ranks designated institutions (定点医药机构)
for on-site inspection (飞行检查). Risk is likelihood × impact, each part stated as a reason in
Chinese and English with its figure:

* **Suspicion** (异常分, the likelihood), the sum of
  - ring involvement (团伙关联): ``RING_SHARE_POINTS`` × the share of its fund paid on claims of the
    current rings (paid: reversals are not netted off, as for impact below), plus a point per ring
    touching it (at most ``RING_COUNT_CAP``);
  - peer-group outliers (同类机构比较): each indicator of ``INDICATORS``, a figure per institution
    drawn from the schemes the notices name, compared with institutions of the same kind, level
    and region (the finest of those groups holding ``MIN_PEERS`` institutions; kind alone, then
    all, when none does) by a robust z-score: (value − peer median) / (1.4826 × MAD), or the mean
    absolute deviation (× 1.2533) where more than half the peers share one value, and for a share
    never finer than one of its base (one settlement in 600 is not an outlier). A z above 0 adds
    ``min(z, Z_CAP)`` × credibility, credibility being n / (n + ``CREDIBILITY_CLAIMS``) for a figure
    over n (settlements, or admissions for the inpatient figures): a rate on three claims, or on two
    admissions of a hospital of outpatients, says little. Patients from another region are from
    another prefecture (pooling is by prefecture: a district's code is of its city).
* **Impact** (基金规模): the institution's fund over its peer group's median fund: the money an
  inspection puts right. Paid fund, that is: reversals (rows with negative amounts) are left out of
  every figure, or an institution whose corrections outweigh its payments in the window would get a
  negative impact, turning its suspicion into the lowest score of all; a reversal of a stay is no
  admission, and a refund no share of key drugs. Volume enters the score here and only here, as a multiplier: a big
  hospital whose per-person, per-admission and per-physician figures are its peers' has no
  suspicion, and ranks at the bottom however big it is; of two equally odd institutions, the one
  paid more is inspected first.

``score`` = suspicion × impact; both parts are returned beside it.

How it was chosen, honestly: the first design added volume as one more capped indicator
(``FUND_SHARE``; ``combine="additive"``); on the public provider-fraud data it ranked below the plain
total-fund ranking (``bench/risk_kaggle.py`` prints both, and every other variant tried), and the
likelihood × impact form replaced it. The indicators come from the notices (挂床住院, 分解住院,
过度诊疗, 虚假住院, 冒用已故人员, 重点药品) and the constants are round numbers: none was fitted to
labels, but the choice between the two forms was made after seeing that one data set's figures.

The figures are SQL over the model's tables through a detection ``Session``
(``graphsvc.store.engine``), so the ranking runs wherever detection runs.

>>> from graphsvc.detect.finding import in_memory_claims
>>> stays = [{"settlement_id": f"{h}{p}{k}", "kind": "inpatient", "person_id": f"{h}{p}", "institution_id": h,
...           "start_time": f"2026-03-{2 + 7 * k:02d} 09:00", "end_time": f"2026-03-{4 + 7 * k:02d} 09:00",
...           "fund_amount": 3000.0}
...          for h in ("H1", "H2", "H3", "H4", "H5", "H6") for p in range(10) for k in range(1 if h != "H6" else 3)]
>>> ranking = institution_risk(in_memory_claims(settlements=stays))
>>> ranking[0]["id"], sorted(r["indicator"] for r in ranking[0]["reasons"])
('H6', ['admissions_per_person', 'impact', 'readmission_share'])
>>> [r["zh"] for r in ranking[0]["reasons"] if r["indicator"] == "admissions_per_person"]
['住院人次/服务人数 3.0，同类机构中位数 1.0']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphsvc.detect.config import CardBurstConfig
from graphsvc.store.engine import SessionLike, session_of

__all__ = ["Indicator", "INDICATORS", "institution_risk", "store_risk", "MIN_PEERS", "Z_CAP", "CREDIBILITY_CLAIMS",
           "RING_SHARE_POINTS", "RING_COUNT_CAP", "READMISSION_DAYS", "FUND_SHARE"]

MIN_PEERS = 5
"""Fewest institutions a peer group must hold for its median to mean anything."""
Z_CAP = 5.0
"""Most points one indicator gives."""
CREDIBILITY_CLAIMS = 20
"""Settlements at which an indicator counts half: a figure on few claims is mostly chance."""
RING_SHARE_POINTS = 10.0
"""Points for an institution all of whose fund was paid on ring claims."""
RING_COUNT_CAP = 5
"""Most points for the number of rings touching an institution (one a ring)."""
READMISSION_DAYS = 15
"""An admission starting within this many days of the same person's discharge from the same
institution is a readmission (分解住院: one stay billed as two)."""


@dataclass(frozen=True)
class Indicator:
    """One peer-compared figure: its SQL over ``r_measures`` and how a reason states it."""

    id: str
    sql: str
    """The value per institution; NULL where it does not apply (no admissions, no prescribers...)."""
    zh: str
    en: str
    unit: str
    """How the figure is written: ``ratio`` (3.1), ``share`` (35%), ``days`` (8.2), ``money`` (12,300)."""
    base: str = "claims"
    """How many the figure is over (settlements, admissions, persons...): its credibility, and for a share
    the least difference it can show (one of them)."""


FUND_SHARE = Indicator("fund_share", "fund / nullif(sum(fund) OVER (), 0)",
                       "基金支付占全部机构", "share of all institutions' fund", "share")
"""Volume as a peer-compared indicator (z on its logarithm): not among ``INDICATORS``, since the
shipped score weighs volume as impact instead; ``bench/risk_kaggle.py`` reports the additive variant."""

INDICATORS: tuple[Indicator, ...] = (
    Indicator("admissions_per_person", "admissions / nullif(inpatient_persons, 0)",
              "住院人次/服务人数", "admissions per person", "ratio", "admissions"),
    Indicator("length_of_stay", "stay_days", "平均住院日", "mean length of stay", "days", "admissions"),
    Indicator("readmission_share", "readmissions / nullif(admissions, 0)",
              f"{READMISSION_DAYS}日内再入院占比", f"readmissions within {READMISSION_DAYS} days", "share", "admissions"),
    Indicator("fund_per_claim", "fund / nullif(claims, 0)", "次均统筹支付", "fund per claim", "money"),
    Indicator("key_drug_share", "CASE WHEN any_items THEN key_drug_fund / nullif(fund, 0) END",
              "重点药品金额占比", "key-drug share of fund", "share"),
    Indicator("off_hours_share", "off_hours / nullif(claims, 0)",
              "夜间及节假日结算占比", "settlements at night, weekends or holidays", "share"),
    Indicator("distant_patient_share", "CASE WHEN regions_known > 0 THEN distant / regions_known END",
              "异地（非本统筹区）患者占比", "patients from another region", "share", "regions_known"),
    Indicator("claims_per_prescriber", "prescribed / nullif(prescribers, 0)",
              "医师人均结算次数", "settlements per physician", "ratio", "prescribed"),
    Indicator("after_death_share", "CASE WHEN deaths_known > 0 THEN after_death / claims END",
              "死亡后结算占比", "settlements after the person's death", "share"),
)
_BY_ID = {i.id: i for i in (FUND_SHARE, *INDICATORS)}

_HOLIDAYS = ("01-01", "05-01", "05-02", "05-03", "10-01", "10-02", "10-03", "10-04", "10-05", "10-06", "10-07")
"""Fixed-date national holidays (元旦, 劳动节, 国庆); the lunar ones (春节, 清明, 端午, 中秋) move
with the calendar and are not counted."""


def institution_risk(con: SessionLike, ring_claims: Sequence[tuple[str, str]] = (), *,
                     key_drugs: Sequence[str] | None = None, indicators: Sequence[Indicator] = INDICATORS,
                     credibility_claims: int = CREDIBILITY_CLAIMS, combine: str = "impact") -> list[dict[str, Any]]:
    """Rank the institutions that have settlements, highest score first.

    Parameters
    ----------
    con : Session or DuckDB connection
        Holds the model's tables (see ``graphsvc.detect.finding``).
    ring_claims : (ring id, settlement id) pairs
        The claims of the current rings (``GraphStore.ring_claims``); empty: no ring points.
    key_drugs : drug names matched as substrings of items; default the card-burst detector's list.
    indicators, credibility_claims, combine : what is compared, how claims weigh it, and whether
        the score is suspicion × impact (``"impact"``) or suspicion alone (``"additive"``, volume
        then entering only through ``FUND_SHARE`` among ``indicators``); the variants are for
        ``bench/risk_kaggle.py``, which reports each.

    Returns
    -------
    list of {"id", "score", "suspicion", "impact", "peer_group", "reasons": [{"indicator", "zh", "en",
    "value", "peer_median", "z", "points"}], "figures"}
        Reasons are the indicators that added points, largest first; they hold figures about the
        institution and ring ids, never a person's identifier.
    """
    session = session_of(con)
    drugs = list(key_drugs if key_drugs is not None else CardBurstConfig().key_drugs)
    session.temp_table("r_ring_claims", {"ring_id": [r for r, _ in ring_claims],
                                         "settlement_id": [s for _, s in ring_claims]})
    holidays = ", ".join(f"'{d}'" for d in _HOLIDAYS)
    session.create_table("r_claims", f"""
        SELECT s.settlement_id, s.institution_id, s.kind, coalesce(p.person_key, s.person_id) AS person,
               s.prescriber_id, s.start_time, s.end_time, coalesce(s.fund_amount, 0)::DOUBLE AS fund,
               s.items IS NOT NULL AS has_items,
               coalesce(len(list_filter(s.items, lambda i: regexp_matches(i, ?))) > 0, false) AS key_drug,
               (dayofweek(s.start_time) IN (0, 6) OR strftime(s.start_time, '%m-%d') IN ({holidays})
                OR (hour(s.start_time) >= 22 OR hour(s.start_time) < 6)
                   AND s.start_time <> date_trunc('day', s.start_time)) AS off_hours,
               p.region_code AS person_region, p.death_date,
               s.start_time::DATE > p.death_date AS after_death,
               CASE WHEN s.kind = 'inpatient' THEN
                   date_diff('day', s.start_time::DATE, coalesce(s.end_time, s.start_time)::DATE) END AS stay_days,
               CASE WHEN s.kind = 'inpatient' THEN date_diff('day',
                   lag(coalesce(s.end_time, s.start_time)::DATE) OVER (
                       PARTITION BY s.institution_id, coalesce(p.person_key, s.person_id), s.kind
                       ORDER BY s.start_time, s.settlement_id),
                   s.start_time::DATE) END AS days_since_discharge
        FROM settlements s LEFT JOIN persons p ON p.person_id = s.person_id
        -- a reversal (negative amounts) takes a payment back: it is no admission, visit or purchase
        WHERE NOT coalesce(s.fund_amount < 0 OR s.total_amount < 0, false)""",
                         ["|".join(re.escape(d) for d in drugs) if drugs else "(?!)"])
    # An institution's region: its own where given, else where most of its patients live.
    session.create_table("r_home", """
        SELECT institution_id, arg_max(person_region, n) AS patients_region
        FROM (SELECT institution_id, person_region, count(*) AS n FROM r_claims
              WHERE person_region IS NOT NULL GROUP BY ALL)
        GROUP BY institution_id""")
    session.create_table("r_base", """
        SELECT c.institution_id, i.kind AS inst_kind, i.level, i.region_code,
               coalesce(i.region_code, h.patients_region) AS home_region,
               count(*) AS claims, sum(c.fund) AS fund, sum(greatest(c.fund, 0)) AS paid,
               count(*) FILTER (WHERE c.kind = 'inpatient') AS admissions,
               count(DISTINCT c.person) FILTER (WHERE c.kind = 'inpatient') AS inpatient_persons,
               avg(c.stay_days) AS stay_days,
               count(*) FILTER (WHERE c.days_since_discharge <= ?) AS readmissions,
               bool_or(c.has_items) AS any_items,
               sum(c.fund) FILTER (WHERE c.key_drug) AS key_drug_fund,
               count(*) FILTER (WHERE c.off_hours) AS off_hours,
               count(DISTINCT c.person) FILTER (WHERE c.person_region IS NOT NULL) AS regions_known,
               -- pooling is by prefecture (地市级统筹): a district's code (430102) is of its city (4301)
               count(DISTINCT c.person) FILTER (
                   WHERE left(c.person_region, 4) <> left(coalesce(i.region_code, h.patients_region), 4)) AS distant,
               count(c.prescriber_id) AS prescribed, count(DISTINCT c.prescriber_id) AS prescribers,
               count(c.death_date) AS deaths_known,
               count(*) FILTER (WHERE c.after_death) AS after_death
        FROM r_claims c LEFT JOIN institutions i ON i.institution_id = c.institution_id
        LEFT JOIN r_home h ON h.institution_id = c.institution_id
        GROUP BY ALL""", [READMISSION_DAYS])
    # The finest of (kind, level, region), (kind, level), (kind), all that holds MIN_PEERS institutions.
    session.create_table("r_peers", f"""
        WITH keyed AS (
            SELECT *, concat_ws('|', coalesce(inst_kind, '?'), coalesce(level, '?'), coalesce(region_code, '?')) AS k3,
                   concat_ws('|', coalesce(inst_kind, '?'), coalesce(level, '?')) AS k2,
                   coalesce(inst_kind, '?') AS k1
            FROM r_base),
        sized AS (
            SELECT *, count(*) OVER (PARTITION BY k3) AS n3, count(*) OVER (PARTITION BY k2) AS n2,
                   count(*) OVER (PARTITION BY k1) AS n1
            FROM keyed)
        SELECT *, CASE WHEN n3 >= {MIN_PEERS} THEN '3:' || k3 WHEN n2 >= {MIN_PEERS} THEN '2:' || k2
                       WHEN n1 >= {MIN_PEERS} THEN '1:' || k1 ELSE '0:*' END AS peer
        FROM sized""")
    # Every institution is a member of its group at each level, whichever level it is compared at
    # itself: a tertiary hospital alone at its level is compared with all hospitals, not with itself.
    session.create_table("r_groups", """
        SELECT institution_id, '3:' || k3 AS peer FROM r_peers UNION ALL
        SELECT institution_id, '2:' || k2 FROM r_peers UNION ALL
        SELECT institution_id, '1:' || k1 FROM r_peers UNION ALL
        SELECT institution_id, '0:*' FROM r_peers""")
    session.create_table("r_measures", """
        WITH medians AS (SELECT g.peer, median(p.paid) AS paid FROM r_groups g JOIN r_peers p USING (institution_id)
                         GROUP BY g.peer)
        SELECT p.*, coalesce(p.paid / nullif(m.paid, 0), 1.0) AS impact
        FROM r_peers p JOIN medians m USING (peer)""")
    values = " UNION ALL ".join(
        f"SELECT institution_id, peer, ({i.base})::DOUBLE AS base, impact, '{i.id}' AS indicator, "
        f"({i.sql})::DOUBLE AS value, {str(i.unit == 'share').upper()} AS share FROM r_measures"
        for i in indicators)
    session.create_table("r_values", f"""
        SELECT *, CASE WHEN indicator = 'fund_share' THEN ln(greatest(value, 1e-12)) ELSE value END AS x
        FROM ({values}) WHERE value IS NOT NULL AND NOT isnan(value)""")
    session.create_table("r_stats", """
        WITH members AS (SELECT g.peer, v.indicator, v.x, v.value
                         FROM r_groups g JOIN r_values v USING (institution_id)),
        m AS (SELECT peer, indicator, median(x) AS med_x, median(value) AS peer_median FROM members GROUP BY ALL)
        SELECT m.peer, m.indicator, m.med_x, m.peer_median, median(abs(x - med_x)) AS mad,
               avg(abs(x - med_x)) AS mean_ad
        FROM members JOIN m USING (peer, indicator) GROUP BY ALL""")
    # A share is never judged finer than one of its base: where nearly every peer is at 0, one
    # settlement after a death date in 600 is not an outlier.
    rows = session.rows("""
        SELECT v.institution_id, v.peer, v.base, v.indicator, v.value, s.peer_median, v.impact,
               coalesce((v.x - s.med_x) / greatest(
                   CASE WHEN s.mad > 0 THEN 1.4826 * s.mad WHEN s.mean_ad > 0 THEN 1.2533 * s.mean_ad END,
                   CASE WHEN v.share THEN 1.0 / v.base END), 0) AS z
        FROM r_values v JOIN r_stats s USING (peer, indicator)""")
    # The ring share is of the fund paid, as impact is: netted with a reversal it ran past 100%, or
    # below 0 (negative points for an institution a ring runs through).
    rings = session.rows("""
        SELECT c.institution_id, sum(greatest(c.fund, 0)) FILTER (WHERE r.settlement_id IS NOT NULL) AS ring_fund,
               sum(greatest(c.fund, 0)) AS fund, list(DISTINCT r.ring_id ORDER BY r.ring_id) FILTER (WHERE r.ring_id IS NOT NULL)
                   AS rings
        FROM r_claims c LEFT JOIN (SELECT DISTINCT ring_id, settlement_id FROM r_ring_claims) r USING (settlement_id)
        GROUP BY c.institution_id""")
    if combine not in ("impact", "additive"):
        raise ValueError(f"combine is 'impact' or 'additive', not {combine!r}")
    return _ranked(rows, {r["institution_id"]: r for r in rings}, credibility_claims, combine)


def _ranked(rows: list[dict[str, Any]], rings: Mapping[str, dict[str, Any]],
            credibility_claims: int, combine: str) -> list[dict[str, Any]]:
    by_institution: dict[str, dict[str, Any]] = {}

    def entry_of(institution_id: str, peer: str) -> dict[str, Any]:
        return by_institution.setdefault(institution_id, {
            "id": institution_id, "score": 0.0, "suspicion": 0.0, "impact": 1.0, "peer_group": peer.split(":", 1)[1],
            "reasons": [], "figures": {}})

    for row in rows:
        entry = entry_of(row["institution_id"], row["peer"])
        entry["impact"] = row["impact"]
        indicator = _BY_ID[row["indicator"]]
        entry["figures"][indicator.id] = row["value"]
        credibility = row["base"] / (row["base"] + credibility_claims)
        points = min(max(row["z"], 0.0), Z_CAP) * credibility
        if points <= 0:
            continue
        entry["suspicion"] += points
        entry["reasons"].append(_reason(indicator, row["value"], row["peer_median"], row["z"], points))
    for institution_id, ring in rings.items():
        ring_ids = ring["rings"] or []
        if not ring_ids:
            continue
        entry = entry_of(institution_id, "0:*")
        share = (ring["ring_fund"] or 0.0) / ring["fund"] if ring["fund"] else 0.0
        points = RING_SHARE_POINTS * share + min(len(ring_ids), RING_COUNT_CAP)
        entry["suspicion"] += points
        named = "、".join(ring_ids[:3]) + ("等" if len(ring_ids) > 3 else "")
        entry["reasons"].append({
            "indicator": "rings", "value": share, "peer_median": None, "z": None, "points": round(points, 3),
            "zh": f"涉及 {len(ring_ids)} 个线索团伙（{named}），团伙结算占本机构统筹支付 {share:.0%}",
            "en": f"{len(ring_ids)} ring(s) ({', '.join(ring_ids[:3])}{' …' if len(ring_ids) > 3 else ''}) "
                  f"involve it, {share:.0%} of its fund",
        })
    for entry in by_institution.values():
        entry["reasons"].sort(key=lambda r: -r["points"])
        if combine == "additive":
            entry["score"] = entry["suspicion"]
            continue
        entry["score"] = entry["suspicion"] * entry["impact"]
        if entry["suspicion"] > 0:
            entry["reasons"].append({
                "indicator": "impact", "value": entry["impact"], "peer_median": 1.0, "z": None, "points": None,
                "zh": f"基金支付为同类机构中位数的 {entry['impact']:.1f} 倍（风险分 = 异常分 {entry['suspicion']:.1f} × "
                      f"{entry['impact']:.1f}）",
                "en": f"fund {entry['impact']:.1f} times the peer median (score = suspicion "
                      f"{entry['suspicion']:.1f} × {entry['impact']:.1f})"})
    ranked = sorted(by_institution.values(), key=lambda e: (-e["score"], e["id"]))
    for entry in ranked:
        entry["score"] = round(entry["score"], 3)
        entry["suspicion"] = round(entry["suspicion"], 3)
        entry["impact"] = round(entry["impact"], 3)
    return ranked


def _reason(indicator: Indicator, value: float, median: float, z: float, points: float) -> dict[str, Any]:
    shown, peer = _shown(indicator.unit, value), _shown(indicator.unit, median)
    return {"indicator": indicator.id, "value": value, "peer_median": median, "z": round(z, 2),
            "points": round(points, 3),
            "zh": f"{indicator.zh} {shown}，同类机构中位数 {peer}",
            "en": f"{indicator.en} {shown}, peer median {peer}"}


def _shown(unit: str, value: float) -> str:
    if unit == "share":
        return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"
    if unit == "money":
        return f"{value:,.0f}"
    return f"{value:.1f}"


def store_risk(store: Any, **options: Any) -> list[dict[str, Any]]:
    """``institution_risk`` of a store's tables (``options`` its keyword arguments), with the claims
    of its current rings."""
    ring_claims = [(ring["id"], claim["settlement_id"]) for ring in store.rings()
                   for claim in store.ring_claims(ring["id"])]
    con = store.analysis_connection()
    try:
        return institution_risk(con, ring_claims, **options)
    finally:
        con.close()
