"""Resold drugs (倒卖回流药): a box's traceability code (药品追溯码) sold on insurance twice.

Since 2026-01-01 every box sold on insurance carries its trace code, and a code should be
sold once. Boxes bought on insurance by professional buyers, resold to a dealer and sold
on insurance again show the same code in two sales. The first buyer of such a box, whose
purchase was diverted, is named; a later buyer when he first bought another such box too, or
as a front: one of the traders (buyers
of ``min_buyer_sales`` such sales or more) who bought ``min_front_sales`` resold boxes or
more at that pharmacy, at least half his trace-coded purchases there. The outlet's regular
patients, who buy there mostly boxes sold once, and whoever chanced on a resold box or two
at the counter, are its customers, not the trade. A box no trader touched names all its
buyers. Boxes link the persons they name into one finding; a pharmacy that resold boxes of two gangs
links neither to the other: a complicit outlet serves several schemes, each its own ring.

Reports the boxes (codes), the first and second sales (pharmacies and dates), the buyers
and fund amounts.
"""

from __future__ import annotations

from collections import defaultdict

from graphsvc.detect.config import TraceCodeResoldConfig, saturate
from graphsvc.detect.finding import Finding, group_rows, linked_groups
from graphsvc.evidence import render
from graphsvc.store.engine import Session, SessionLike, session_of

__all__ = ["trace_code_resold_findings"]


def trace_code_resold_findings(con: SessionLike,
                               config: TraceCodeResoldConfig | None = None) -> list[Finding]:
    """Find trace codes sold more than once, grouped by the buyers they link.

    Parameters
    ----------
    con : Session or DuckDB connection
        Holds the model's tables (see ``graphsvc.detect.finding``).
    config : TraceCodeResoldConfig
        Strength scale; defaults when None.

    Returns
    -------
    list of Finding
        Kind ``trace_code_resold``, one per group of linked buyers; suggests ``other``.

    Examples
    --------
    >>> from graphsvc.detect.finding import in_memory_claims
    >>> def sale(i, person, pharmacy, day, code):
    ...     return {"settlement_id": f"S{i}", "kind": "pharmacy", "person_id": person, "institution_id": pharmacy,
    ...             "start_time": f"2026-{day} 10:00", "trace_codes": [code]}

    P1 buys four boxes; PH2 resells three to P2, who buys nothing else there (a front), one to P9 (a
    customer):

    >>> sales = [sale(1, "P1", "PH1", "03-01", "81234"), sale(2, "P2", "PH2", "04-11", "81234"),
    ...          sale(3, "P1", "PH1", "03-08", "81235"), sale(4, "P2", "PH2", "04-20", "81235"),
    ...          sale(5, "P1", "PH1", "03-15", "81236"), sale(6, "P2", "PH2", "05-02", "81236"),
    ...          sale(7, "P1", "PH1", "03-22", "81237"), sale(8, "P9", "PH2", "05-09", "81237")]
    >>> [(f.persons, f.facts["boxes"]) for f in trace_code_resold_findings(in_memory_claims(settlements=sales))]
    [(('P1', 'P2'), 4)]
    """
    config = config or TraceCodeResoldConfig()
    session = session_of(con)
    # Each code carries its sale's facts: joining the few repeated codes back to every settlement by id
    # cost a third of this detector's time at 10M persons. A refund (a row of the code with a negative amount)
    # takes back a sale of the box at the same pharmacy before it: a box bought, returned and sold to someone
    # else was sold once; a 'refund' written by a pharmacy that had not sold the box takes nothing back.
    rows = session.rows("""
        WITH codes AS (SELECT unnest(trace_codes) AS code, settlement_id, person_id, institution_id, start_time,
                              fund_amount, coalesce(total_amount < 0 OR fund_amount < 0, false) AS refund
                       FROM settlements WHERE trace_codes IS NOT NULL),
        twice AS (SELECT code FROM codes GROUP BY code HAVING count(*) > 1),
        in_turn AS (SELECT code, refund,
                           sum(CASE WHEN refund THEN 0 ELSE 1 END) OVER w AS sold_so_far,
                           sum(CASE WHEN refund THEN 1 ELSE 0 END) OVER w AS returned_so_far
                    FROM codes SEMI JOIN twice USING (code)
                    WINDOW w AS (PARTITION BY code, institution_id ORDER BY start_time, settlement_id
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
        repeated AS (SELECT code FROM in_turn GROUP BY code
                     HAVING sum(CASE WHEN refund THEN 0 ELSE 1 END)
                            - sum(CASE WHEN refund AND sold_so_far >= returned_so_far THEN 1 ELSE 0 END) > 1)
        SELECT c.code, c.settlement_id, c.person_id, c.institution_id, c.start_time, c.fund_amount
        FROM codes c SEMI JOIN repeated r USING (code)
        WHERE NOT c.refund
        ORDER BY c.code, c.start_time, c.settlement_id""")
    by_code = group_rows(rows, lambda r: r["code"])
    sales_of: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        sales_of[r["person_id"]].add(r["settlement_id"])
    traders = {p for p, sales in sales_of.items() if len(sales) >= config.min_buyer_sales}
    fronts = _fronts(session, by_code, traders, config)
    # The first sale of a box sold twice is the one diverted (domain.md: 'the first buyer's other purchases'),
    # whoever bought it; a later buyer is in it when he is also the first buyer of another such box (the
    # trade on both sides), or as a front, buying many resold boxes and mostly resold boxes where he buys
    # them. A box no trader touched is named with all its buyers: a pharmacy reselling boxes one at a time
    # to its sham 'customers' is the scheme then.
    sources = {sales[0]["person_id"] for sales in by_code.values()}
    traded = {code: ([s for i, s in enumerate(sales) if i == 0 or s["person_id"] in sources
                      or (s["person_id"], s["institution_id"]) in fronts]
                     if any(s["person_id"] in traders for s in sales) else sales)
              for code, sales in by_code.items()}
    buyers_of_group = linked_groups([s["person_id"] for s in sales] for sales in traded.values())
    group_of = {p: i for i, group in enumerate(buyers_of_group) for p in group}
    groups: dict[int, list[str]] = defaultdict(list)
    for code, sales in traded.items():
        groups[group_of[sales[0]["person_id"]]].append(code)
    findings = []
    for codes in groups.values():
        sales = [s for c in codes for s in traded[c]]
        persons = sorted({s["person_id"] for s in sales})
        pharmacies = sorted({s["institution_id"] for c in codes for s in by_code[c]})
        resellers = sorted({s["institution_id"] for c in codes for s in by_code[c][1:]})
        fund = sum(float(s["fund_amount"] or 0) for s in sales)
        example = by_code[codes[0]]
        facts = {"boxes": len(codes), "codes": sorted(codes)[:20], "resellers": resellers, "buyers": persons,
                 "example_code": codes[0], "example_institutions": [sale["institution_id"] for sale in example[:2]],
                 "example_dates": [f"{sale['start_time']:%Y-%m-%d}" for sale in example[:2]], "fund": round(fund, 2)}
        findings.append(Finding(
            kind="trace_code_resold", detail=render("trace_code_resold", facts),
            persons=tuple(persons), entities=tuple(("institution", p) for p in pharmacies),
            strength=saturate(len(codes), config.boxes_half), suggests="other",
            settlements=tuple(sorted({s["settlement_id"] for s in sales})),
            facts=facts,
        ))
    return findings


def _fronts(session: Session, by_code: dict[str, list[dict]], traders: set[str],
            config: TraceCodeResoldConfig) -> set[tuple[str, str]]:
    """(person, pharmacy) of the traders who bought ``min_front_sales`` resold boxes or more there (a
    later sale of the box), at least half their trace-coded purchases there: a front of the outlet.
    Its regular patients buy there mostly boxes sold once, and a customer who chanced on a resold
    box or two is no front."""
    resold: dict[tuple[str, str], set[str]] = defaultdict(set)
    for sales in by_code.values():
        for s in sales[1:]:
            if s["person_id"] in traders:
                resold[(s["person_id"], s["institution_id"])].add(s["settlement_id"])
    if not resold:
        return set()
    session.temp_table("d_resale_buyers", {"person_id": sorted({p for p, _ in resold})})
    bought = {(r["person_id"], r["institution_id"]): r["sales"] for r in session.rows("""
        SELECT person_id, institution_id, count(*) AS sales FROM settlements
        WHERE trace_codes IS NOT NULL AND NOT coalesce(total_amount < 0 OR fund_amount < 0, false)
          AND person_id IN (SELECT person_id FROM d_resale_buyers)
        GROUP BY person_id, institution_id""")}
    return {key for key, sales in resold.items()
            if len(sales) >= config.min_front_sales and 2 * len(sales) >= bought.get(key, len(sales))}
