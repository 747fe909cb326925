"""Card-collector bursts (聚敛医保卡 空刷套刷): many cards swiped at one pharmacy within minutes.

A card collector (卡贩子) holds dozens of others' cards or e-vouchers and swipes them one
after another at a complicit pharmacy, usually for high-value key drugs (seed 003,
attachment 1) and usually from few devices. A neighbourhood pharmacy's rush hour brings
many customers too, but not ``min_cards`` different cards within ``minutes``, again and
again, for albumin and osimertinib; and a rush at the same hour every day (the clinic across
the road letting out) is measured against that hour's usual traffic, not the day's.

Reports, per pharmacy: each burst's date, time, length and card count, the cards and their
holders, the devices and operators used, the share of key drugs, and the fund amount.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from graphsvc.detect.config import CardBurstConfig, saturate
from graphsvc.detect.finding import Finding, group_rows, linked_groups, poisson_threshold
from graphsvc.evidence import render
from graphsvc.store.engine import SessionLike, session_of

__all__ = ["card_burst_findings", "burst_threshold"]


def card_burst_findings(con: SessionLike, config: CardBurstConfig | None = None) -> list[Finding]:
    """Find pharmacies where many distinct cards were swiped within minutes.

    Parameters
    ----------
    con : Session or DuckDB connection
        Holds the model's tables (see ``graphsvc.detect.finding``).
    config : CardBurstConfig
        Burst length, card minimum, key drugs; defaults when None.

    Returns
    -------
    list of Finding
        Kind ``card_burst``, one per pharmacy; suggests ``card_collector``.

    Examples
    --------
    Eight cards in eight minutes at PH1, all for albumin, on one device, while a customer
    buys ibuprofen with her own e-voucher; on other days PH1 serves a customer or two:

    >>> from graphsvc.detect.finding import in_memory_claims
    >>> usual = [{"settlement_id": f"U{d}", "kind": "pharmacy", "person_id": f"Q{d}", "card_id": f"C{d}",
    ...           "institution_id": "PH1", "start_time": f"2026-05-{d:02d} {8 + d % 12}:00"} for d in range(1, 29)]
    >>> swipes = [{"settlement_id": f"S{i}", "kind": "pharmacy", "person_id": f"P{i}", "card_id": f"K{i}",
    ...            "institution_id": "PH1", "start_time": f"2026-04-02 10:0{i}", "device_id": "D1",
    ...            "items": ["人血白蛋白"], "fund_amount": 900} for i in range(8)]
    >>> swipes.append({"settlement_id": "S9", "kind": "pharmacy", "person_id": "Q1", "card_id": "E1",
    ...                "institution_id": "PH1", "start_time": "2026-04-02 10:03", "device_id": "D9",
    ...                "items": ["布洛芬缓释胶囊"]})
    >>> [f] = card_burst_findings(in_memory_claims(settlements=swipes + usual))
    >>> f.persons, f.facts["bursts"], f.facts["devices"], f.facts["key_drug_share"]
    (('P0', 'P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7'), 1, ['D1'], 1.0)
    """
    config = config or CardBurstConfig()
    session = session_of(con)
    # Only what finding bursts reads: the swipes in bursts are fetched whole at the end. Copying every
    # swipe's drug list here took half of this detector's time at 3M persons.
    session.create_table("d_swipes", """
        SELECT settlement_id, institution_id, start_time
        FROM settlements WHERE list_contains(?, kind) AND card_id IS NOT NULL""", [list(config.kinds)])
    # A pharmacy's usual day is its median day, which a collector's few burst days do not move.
    traffic = session.rows("""
        WITH daily AS (SELECT institution_id, start_time::DATE AS day, count(*) AS swipes
                       FROM d_swipes GROUP BY ALL),
        hours AS (SELECT institution_id,
                         quantile_cont(hour(start_time) * 60 + minute(start_time), 0.05) AS early,
                         quantile_cont(hour(start_time) * 60 + minute(start_time), 0.95) AS late
                  FROM d_swipes GROUP BY institution_id)
        SELECT institution_id, median(swipes) AS daily_swipes, any_value(early) AS early, any_value(late) AS late
        FROM daily JOIN hours USING (institution_id) GROUP BY institution_id""")
    expected = {t["institution_id"]: _expected_swipes(t, config) for t in traffic}
    session.temp_table("d_burst_thresholds", {
        "institution_id": list(expected), "threshold": [str(burst_threshold(e, config)) for e in expected.values()]})
    # A rush at the same hour every day (a hospital's morning clinic letting out across the road) is the
    # pharmacy's usual day at that hour: where an hour's swipes on its median open day exceed what the day
    # spread evenly brings, a window starting in it is measured against the hour. The median, not the
    # mean: a collector coming at 15:20 twice a week made the mean of his own hour his alibi. The median
    # of an hour over the open days (the days without a swipe in it count 0) is the count on the day
    # ranked at half of them, most swipes first; none when fewer days than half have one.
    hourly = session.rows(f"""
        WITH days AS (SELECT institution_id, count(DISTINCT start_time::DATE) AS open_days FROM d_swipes GROUP BY ALL),
        per_day AS (SELECT institution_id, hour(start_time) AS hour, start_time::DATE AS day, count(*) AS swipes
                    FROM d_swipes GROUP BY ALL),
        ranked AS (SELECT institution_id, hour, swipes,
                          row_number() OVER (PARTITION BY institution_id, hour ORDER BY swipes DESC, day) AS place
                   FROM per_day)
        SELECT r.institution_id, r.hour, r.swipes AS per_day
        FROM ranked r JOIN days d ON d.institution_id = r.institution_id
        WHERE r.place = CAST(ceil(d.open_days / 2.0) AS BIGINT) AND r.swipes * {config.minutes / 60} > {_SLOT_FLOOR}""")
    busy = [(h["institution_id"], h["hour"], float(h["per_day"]) * config.minutes / 60) for h in hourly]
    busy = [(i, h, e) for i, h, e in busy if e > expected.get(i, 0.0)]
    session.temp_table("d_burst_hours", {
        "institution_id": [i for i, _, _ in busy], "hour": [str(h) for _, h, _ in busy],
        "threshold": [str(burst_threshold(e, config)) for _, _, e in busy]})
    session.create_table("d_burst_starts", f"""
        SELECT w.institution_id, w.start_time FROM (
            SELECT institution_id, start_time,
                   count(*) OVER (PARTITION BY institution_id ORDER BY start_time
                                  RANGE BETWEEN CURRENT ROW AND INTERVAL {int(config.minutes)} MINUTE FOLLOWING) AS n
            FROM d_swipes) w
        JOIN d_burst_thresholds t ON t.institution_id = w.institution_id
        LEFT JOIN d_burst_hours h ON h.institution_id = w.institution_id AND h.hour::INTEGER = hour(w.start_time)
        WHERE w.n >= coalesce(h.threshold, t.threshold)::INTEGER""")
    starts = session.rows("SELECT DISTINCT institution_id, start_time FROM d_burst_starts ORDER BY 1, 2")
    if not starts:
        return []
    rows = session.rows(f"""
        WITH burst AS (
            SELECT DISTINCT s.settlement_id FROM d_swipes s JOIN d_burst_starts b ON b.institution_id = s.institution_id
                AND s.start_time BETWEEN b.start_time AND b.start_time + INTERVAL {int(config.minutes)} MINUTE)
        SELECT s.settlement_id, s.institution_id, s.operator_id, s.card_id, s.device_id, s.person_id, s.start_time,
               s.fund_amount, s.items
        FROM settlements s SEMI JOIN burst b ON b.settlement_id = s.settlement_id
        ORDER BY s.institution_id, s.start_time, s.settlement_id""")
    swipes = group_rows(rows, lambda r: r["institution_id"])
    findings = []
    for pharmacy, pharmacy_starts in group_rows(starts, lambda s: s["institution_id"]).items():
        times = [s["start_time"] for s in pharmacy_starts]
        bursts = [_core(b, config) for b in _episodes(times, swipes[pharmacy], config)]
        bursts = [b for b in bursts if len({r["card_id"] for r in b}) >= config.min_cards]
        findings += [_finding(pharmacy, group, config) for group in _by_collector(bursts)]
    return findings


def _by_collector(bursts: list[list[dict[str, Any]]]) -> list[list[list[dict[str, Any]]]]:
    """Group a pharmacy's bursts that share a card or a device: one collector's work.

    Two collectors working the same pharmacy stay two findings; bursts with no device or
    card in common with any other stand alone.
    """
    links: dict[str, list[int]] = defaultdict(list)
    for i, burst in enumerate(bursts):
        links[f"burst:{i}"].append(i)
        for key in {"card:" + r["card_id"] for r in burst} | {"device:" + r["device_id"] for r in burst if r["device_id"]}:
            links[key].append(i)
    return [[bursts[i] for i in sorted(group)] for group in linked_groups(links.values())]


def burst_threshold(expected: float, config: CardBurstConfig) -> int:
    """Fewest swipes in a window that chance brings with probability below ``config.p_value``.

    ``expected`` is the pharmacy's mean swipes per window (Poisson). Busy pharmacies need
    bigger bursts; never fewer than ``config.min_cards``.

    >>> burst_threshold(0.5, CardBurstConfig()), burst_threshold(3.0, CardBurstConfig())
    (8, 17)
    """
    return poisson_threshold(expected, config.p_value, config.min_cards)


_SLOT_FLOOR = 0.5
"""Swipes per window below which an hour is not looked at on its own: the day's threshold holds there."""


def _expected_swipes(traffic: dict[str, Any], config: CardBurstConfig) -> float:
    """Mean swipes per window on a usual day, over the hours it is busy (5th–95th percentile of its times)."""
    open_minutes = max((traffic["late"] - traffic["early"]) / 0.9, 60.0)
    return float(traffic["daily_swipes"]) / open_minutes * config.minutes


def _core(burst: list[dict[str, Any]], config: CardBurstConfig) -> list[dict[str, Any]]:
    """The collector's swipes of a burst, without customers who happened to pay meanwhile.

    A collector's swipes share devices and buy key drugs; a customer caught in the window
    pays on her own phone or card for everyday medicine. Kept whole when that test would
    leave too few cards to be a burst.
    """
    devices: defaultdict[str, int] = defaultdict(int)
    for r in burst:
        if r["device_id"]:
            devices[r["device_id"]] += 1
    key = [_is_key(r, config) for r in burst]
    mostly_key = sum(key) >= len(burst) / 2
    core = [r for r, k in zip(burst, key) if devices.get(r["device_id"], 0) >= 2 or (mostly_key and k)]
    return core if len({r["card_id"] for r in core}) >= config.min_cards else burst


def _is_key(row: dict[str, Any], config: CardBurstConfig) -> bool:
    return any(k in item for item in (row["items"] or []) for k in config.key_drugs)


def _episodes(starts: list, rows: list[dict[str, Any]], config: CardBurstConfig) -> list[list[dict[str, Any]]]:
    """Merge overlapping burst windows into episodes and give each its swipes."""
    span = timedelta(minutes=config.minutes)
    windows: list[list] = []
    for t in starts:
        if windows and t <= windows[-1][1]:
            windows[-1][1] = t + span
        else:
            windows.append([t, t + span])
    return [[r for r in rows if lo <= r["start_time"] <= hi] for lo, hi in windows]


def _finding(pharmacy: str, bursts: list[list[dict[str, Any]]], config: CardBurstConfig) -> Finding:
    swipes = [r for b in bursts for r in b]
    cards = sorted({r["card_id"] for r in swipes})
    persons = sorted({r["person_id"] for r in swipes})
    devices = sorted({r["device_id"] for r in swipes if r["device_id"]})
    operators = sorted({r["operator_id"] for r in swipes if r["operator_id"]})
    key = sum(1 for r in swipes if _is_key(r, config))
    key_share = key / len(swipes)
    fund = sum(float(r["fund_amount"] or 0) for r in swipes)
    facts = {"pharmacy": pharmacy, "bursts": len(bursts), "cards": len(cards), "persons": len(persons),
             "devices": devices, "operators": operators, "key_drug_share": round(key_share, 3),
             "burst_times": [f"{b[0]['start_time']:%Y-%m-%d %H:%M}" for b in bursts],
             "burst_cards": [len({r["card_id"] for r in b}) for b in bursts],
             "burst_minutes": [round((b[-1]["start_time"] - b[0]["start_time"]).total_seconds() / 60) for b in bursts],
             "fund": round(fund, 2)}
    return Finding(
        kind="card_burst", detail=render("card_burst", facts),
        persons=tuple(persons),
        entities=(("institution", pharmacy),) + tuple(("card", c) for c in cards) + tuple(("device", d) for d in devices),
        strength=saturate(len(bursts), config.bursts_half) * (0.5 + 0.5 * key_share),
        suggests="card_collector", settlements=tuple(r["settlement_id"] for r in swipes), facts=facts,
    )
