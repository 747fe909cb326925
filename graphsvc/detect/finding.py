"""What a detector reports, and the claim tables it reads.

A detector is a function ``(con, config) -> list[Finding]``. ``con`` is a session
(``graphsvc.store.engine.Session``) on which the model's entity tables (``persons``, ``cards``,
``institutions``, ``prescribers``, ``intermediaries``, ``settlements``) can be read by name:
DuckDB's (the embedded store's own connection, or tables a server backend exported; a DuckDB
connection is taken as one) or Spark's, over Parquet. Its SQL is DuckDB's, written once for both.
``in_memory_claims`` builds a DuckDB connection from a few rows, for doctests and tests on
hand-built graphs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb

from graphsvc import vocab
from graphsvc.model import ENTITY_TABLES

__all__ = ["Finding", "PATTERNS", "in_memory_claims", "linked_groups", "group_rows", "chance_tail",
           "poisson_threshold", "poisson_tail", "covered_days", "BRIDGED_GAP_DAYS"]

PATTERNS = tuple(vocab.PATTERNS)
"""The contract's ring patterns (their labels are in ``graphsvc.vocab``)."""

Entity = tuple[str, str]


@dataclass(frozen=True)
class Finding:
    """One checkable fact pattern: who is involved, how strongly it suggests fraud, and why.

    ``strength`` is in [0, 1): how suspicious the fact is on its own. ``suggests`` names the
    scheme the fact points to, or None when it fits several (a shared contact phone).
    ``settlements`` are the claims the fact is made of: amounts and dates come from them.
    """

    kind: str
    detail: str
    persons: tuple[str, ...]
    entities: tuple[Entity, ...]
    strength: float
    suggests: str | None
    settlements: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    explained: str | None = None
    """Why a fact that looks like a scheme is normal (a registered agent's routine work, a big home's
    chance co-admissions): a reason of ``graphsvc.evidence.REASONS``, said from ``facts`` in either
    language. Such a finding joins no ring and is kept with the run."""

    def evidence(self) -> dict[str, Any]:
        """The contract's evidence item."""
        entities = [{"type": "person", "id": p} for p in self.persons] + [{"type": t, "id": i} for t, i in self.entities]
        return {"kind": self.kind, "detail": self.detail, "strength": round(self.strength, 4),
                "entities": entities, "settlements": len(self.settlements), "facts": self.facts}


def poisson_threshold(expected: float, p_value: float, minimum: int) -> int:
    """Fewest events in a window that chance (Poisson with mean ``expected``) brings with probability below ``p_value``.

    The base rate of a look-alike: a busy pharmacy's rush hour, a big care home's residents
    falling ill in the same week. Never below ``minimum``.

    >>> poisson_threshold(0.5, 1e-7, 6), poisson_threshold(3.0, 1e-7, 6), poisson_threshold(2.2, 1e-4, 3)
    (8, 17, 11)

    A mean whose ``exp(-mean)`` is 0 in floating point (a pharmacy stamping a day's 3,000 swipes in one
    hour), or a ``p_value`` below what ``1 - P(X < n)`` can resolve, is searched on the exact upper tail:

    >>> poisson_threshold(750.0, 1e-7, 6), poisson_threshold(3.0, 1e-30, 6)
    (898, 40)
    """
    if expected < 700.0 and p_value > 1e-12:  # the sum stays exact here (and gives the thresholds it always gave)
        term = math.exp(-expected)
        below, n = term, 0
        while 1.0 - below >= p_value:
            n += 1
            term *= expected / n
            below += term
        return max(n + 1, minimum)
    # The fewest k with P(X >= k) < p_value: the tail falls as k grows, so a bisection finds it.
    low, high = 0, int(expected) + 1
    while poisson_tail(expected, high) >= p_value:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        if poisson_tail(expected, middle) >= p_value:
            low = middle
        else:
            high = middle
    return max(high, minimum)


def poisson_tail(expected: float, observed: int) -> float:
    """P(X >= observed) for X ~ Poisson(expected): how often chance brings at least this many.

    Far in the tail it is summed upwards from ``observed`` in logs, so tiny probabilities
    (a gang's) stay exact instead of rounding to zero.

    >>> round(poisson_tail(2.0, 0), 3), round(poisson_tail(2.0, 3), 3), poisson_tail(0.0, 1)
    (1.0, 0.323, 0.0)
    >>> f"{poisson_tail(0.87, 18):.2e}"
    '5.59e-18'
    """
    if observed <= 0:
        return 1.0
    if expected <= 0:
        return 0.0
    if observed <= expected:
        term = math.exp(-expected)
        below = term
        for n in range(1, observed):
            term *= expected / n
            below += term
        return max(0.0, 1.0 - below)
    log_term = -expected + observed * math.log(expected) - math.lgamma(observed + 1)
    total, ratio, n = 0.0, 1.0, observed
    while ratio > 1e-17 * total or total == 0.0:
        total += ratio
        n += 1
        ratio *= expected / n
        if ratio == 0.0:
            break
    return min(1.0, math.exp(log_term) * total)


def chance_tail(probabilities: Sequence[float], k: int) -> float:
    """P(X >= k) where X counts the events that happen, each independently with its own probability
    (Poisson binomial): how often chance puts at least ``k`` of them on one side.

    >>> chance_tail([0.5, 0.5, 0.5], 0), round(chance_tail([0.5, 0.5, 0.5], 3), 6), chance_tail([0.5], 2)
    (1.0, 0.125, 0.0)
    >>> chance_tail([1.0] * 11, 11), f"{chance_tail([0.1] * 24, 24):.1e}"
    (1.0, '1.0e-24')
    """
    if k <= 0:
        return 1.0
    # reached[j]: the chance that j events happened so far (j < k), the rest at k or more
    reached = [1.0] + [0.0] * k
    for p in probabilities:
        p = min(1.0, max(0.0, p))
        reached[k] += reached[k - 1] * p
        for j in range(k - 1, 0, -1):
            reached[j] = reached[j] * (1 - p) + reached[j - 1] * p
        reached[0] *= 1 - p
    return min(1.0, reached[k])


BRIDGED_GAP_DAYS = 31
"""The longest gap between two days with claims that ``covered_days`` counts in full."""


def covered_days(session: Any, days_sql: str) -> int:
    """The days claims cover, for the chance rates (claims a day) of the detectors that test a pattern
    against chance: from the first day to the last, but a gap between two days with claims longer
    than ``BRIDGED_GAP_DAYS`` counts as that many. From the first to the last day, one stray date (a
    1900-01-01 placeholder, one claim a year older than the export's others) stretched the period
    by its whole distance, thinned every rate over it and made a regular care home a ring (p 0.46
    to 1e-112); bridged, it adds a month at most. ``days_sql`` is a query with a DATE column ``day``.

    >>> from graphsvc.store.engine import session_of
    >>> con = in_memory_claims(settlements=[{"settlement_id": str(n), "start_time": day} for n, day in enumerate(
    ...     ["1900-01-01 00:00", "2026-03-01 09:00", "2026-03-01 10:00", "2026-03-05 09:00", "2026-04-30 09:00"])])
    >>> covered_days(session_of(con), "SELECT start_time::DATE AS day FROM settlements")
    67
    """
    (days,) = session.one(f"""
        SELECT 1 + coalesce(sum(CASE WHEN gap > {BRIDGED_GAP_DAYS} THEN {BRIDGED_GAP_DAYS} ELSE gap END), 0) FROM (
            SELECT date_diff('day', lag(day) OVER (ORDER BY day), day) AS gap
            FROM (SELECT DISTINCT day FROM ({days_sql}) claim_days WHERE day IS NOT NULL) distinct_days) gaps""")
    return int(days)


def group_rows(rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Hashable]) -> dict[Any, list[dict[str, Any]]]:
    """Rows by ``key(row)``, keeping the rows' order within each group and the groups' first-seen order.

    >>> group_rows([{"card": "C1", "n": 1}, {"card": "C2", "n": 2}, {"card": "C1", "n": 3}], lambda r: r["card"])
    {'C1': [{'card': 'C1', 'n': 1}, {'card': 'C1', 'n': 3}], 'C2': [{'card': 'C2', 'n': 2}]}
    """
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


H = TypeVar("H", bound=Hashable)


def linked_groups(links: Iterable[Sequence[H]]) -> list[list[H]]:
    """Items that share a link, transitively (connected components), each group in first-seen order.

    >>> linked_groups([["a", "b"], ["c"], ["b", "d"]])
    [['a', 'b', 'd'], ['c']]
    """
    parent: dict[H, H] = {}

    def root(x: H) -> H:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for link in links:
        first = root(link[0])
        for item in link[1:]:
            other = root(item)
            if other != first:
                parent[other] = first
    groups: dict[H, list[H]] = {}
    for item in parent:
        groups.setdefault(root(item), []).append(item)
    return list(groups.values())


def in_memory_claims(**tables: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding the model's tables, filled from a few rows each, and resolved.

    Columns left out of a row are missing (NULL); tables left out are empty; a column's values
    are of one Python type (or None), as Arrow reads them. The tables are
    read through ``graphsvc.resolution.resolve_entities``, as detection reads a store.

    >>> con = in_memory_claims(persons=[{"person_id": "P1", "death_date": "2026-02-01"}])
    >>> con.execute("SELECT person_id, death_date FROM persons").fetchall()
    [('P1', datetime.date(2026, 2, 1))]
    """
    from itertools import groupby

    import pyarrow as pa

    from graphsvc.resolution import resolve_entities
    from graphsvc.store.schema import create_sql, fields

    unknown = set(tables) - set(ENTITY_TABLES)
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)}; the model has {sorted(ENTITY_TABLES)}")
    con = duckdb.connect()
    for spec in ENTITY_TABLES.values():
        con.execute(create_sql(spec, row_hash=False))
        known = {f.name for f in fields(spec, row_hash=False)}
        # Consecutive rows with the same columns go in as one Arrow batch, in their order: DuckDB
        # casts them as it casts a row's parameters, and an INSERT per row made tests crawl.
        for names, run in groupby(tables.get(spec.name, []), key=tuple):
            extra = set(names) - known
            if extra:
                raise ValueError(f"{spec.name} has no column(s) {sorted(extra)}")
            rows = list(run)
            columns = ", ".join(names)
            batch = pa.table({n: pa.array([row[n] for row in rows]) for n in names})
            con.register("_in_memory_rows", batch)
            con.execute(f"INSERT INTO {spec.name} ({columns}) SELECT {columns} FROM _in_memory_rows")
            con.unregister("_in_memory_rows")
    resolve_entities(con)
    return con
