"""Institution risk ranking on the public provider-fraud data, beside the plain total-fund ranking.

Ingests ``../shared/data/kaggle-provider-fraud`` through ``docs/mappings/kaggle-provider-fraud.yaml``
into a temporary home, detects rings, ranks the providers with ``graphsvc.risk`` and prints, in the
same run, ROC AUC and precision@50 against the ``PotentialFraud`` labels (read here only, never
loaded into the store) of:

- ``risk score``: the ranking as shipped (``institution_risk`` with its defaults: suspicion × impact);
- ``total fund``: providers by total reimbursed amount (the baseline to beat);
- ``ring involvement``: by the ring points alone (fund share in rings, rings touching it);
- every variant tried, whatever it gives: the first design (suspicion alone, volume one capped
  indicator), suspicion alone without volume, suspicion × impact without credibility weighting,
  and a rank-average of the indicators (volume not among them) instead of capped z's.

Labels are used for nothing but these figures: no weight or constant is fitted to them.

    .venv/bin/python bench/risk_kaggle.py [--data DIR] [--no-detect] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphsvc.config import Settings
from graphsvc.risk import FUND_SHARE, INDICATORS, store_risk
from graphsvc.store import open_store
from ingest.mapping import SourceMapping
from ingest.pipeline import ingest_folder

__all__ = ["roc_auc", "precision_at", "evaluate", "DATA", "MAPPING"]

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "kaggle-provider-fraud"
MAPPING = ROOT / "docs" / "mappings" / "kaggle-provider-fraud.yaml"
LABELS = "Train-1542865627584.csv"


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The probability that a random positive outscores a random negative, ties counting half
    (Mann-Whitney U over average ranks); numpy alone, as no statistics package is a dependency.

    >>> roc_auc([0.9, 0.8, 0.1, 0.8], [True, True, False, False])
    0.875
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # ties share their average rank
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives, negatives = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def precision_at(scores: Sequence[float], labels: Sequence[bool], k: int = 50) -> float:
    """Share of positives among the ``k`` best scores (a stable sort: ties keep input order).

    >>> precision_at([3, 2, 1], [True, False, True], k=2)
    0.5
    """
    order = np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")[:k]
    return float(np.asarray(labels, dtype=bool)[order].mean())


def _labels(data: Path) -> dict[str, bool]:
    with (data / LABELS).open(encoding="utf-8") as f:
        return {row["Provider"]: row["PotentialFraud"] == "Yes" for row in csv.DictReader(f)}


def _ring_points(entry: Mapping[str, Any]) -> float:
    return sum(r["points"] for r in entry["reasons"] if r["indicator"] == "rings")


def _rank_average(ranking: list[dict[str, Any]]) -> dict[str, float]:
    """Mean over indicators of each institution's percentile rank (0..1) within its peer group
    (missing figure: the group's middle, 0.5), plus its ring points."""
    ids = [e["id"] for e in ranking]
    total = np.zeros(len(ids))
    for indicator in INDICATORS:
        values = np.array([e["figures"].get(indicator.id, np.nan) for e in ranking], dtype=float)
        pct = np.full(len(ids), 0.5)
        for group in {e["peer_group"] for e in ranking}:
            members = np.array([e["peer_group"] == group for e in ranking]) & ~np.isnan(values)
            if members.sum() > 1:
                order = values[members].argsort().argsort()
                pct[members] = order / (members.sum() - 1)
        total += pct
    return {i: total[n] / len(INDICATORS) + _ring_points(e) for n, (i, e) in enumerate(zip(ids, ranking))}


def evaluate(data: Path = DATA, *, detect: bool = True) -> dict[str, dict[str, float]]:
    """{variant: {"auc", "precision_at_50"}} over the providers with inpatient claims."""
    labels = _labels(data)
    with tempfile.TemporaryDirectory(prefix="graphsvc-risk-") as home:
        store = open_store(Settings(home=Path(home)))
        try:
            ingest_folder(store, data, rejects_dir=Path(home) / "rejects", progress=False,
                          mapping=SourceMapping.load(MAPPING))
            if detect:
                from graphsvc.detect import detect_and_save

                detect_and_save(store)
            variants = {
                "risk score (suspicion x impact)": store_risk(store),
                "additive, volume a capped indicator": store_risk(store, combine="additive",
                                                                  indicators=[FUND_SHARE, *INDICATORS]),
                "additive, no volume": store_risk(store, combine="additive"),
                "suspicion x impact, no credibility": store_risk(store, credibility_claims=0),
            }
            fund = {r["institution_id"]: float(r["fund"] or 0) for r in _fund_by_institution(store)}
        finally:
            store.close()
    shipped = variants["risk score (suspicion x impact)"]
    scores: dict[str, dict[str, float]] = {name: {e["id"]: e["score"] for e in ranking}
                                           for name, ranking in variants.items()}
    scores["total fund"] = fund
    scores["ring involvement"] = {e["id"]: _ring_points(e) for e in shipped}
    scores["rank-average of indicators"] = _rank_average(shipped)
    providers = sorted(fund)
    y = [labels[p] for p in providers]
    return {name: {"auc": roc_auc([s.get(p, 0.0) for p in providers], y),
                   "precision_at_50": precision_at([s.get(p, 0.0) for p in providers], y, 50)}
            for name, s in scores.items()}


def _fund_by_institution(store: Any) -> list[dict[str, Any]]:
    con = store.analysis_connection()
    try:
        result = con.execute("SELECT institution_id, sum(fund_amount)::DOUBLE AS fund FROM settlements GROUP BY ALL")
        return [{"institution_id": i, "fund": f} for i, f in result.fetchall()]
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the provider-fraud folder")
    parser.add_argument("--no-detect", action="store_true", help="skip ring detection (no ring points)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = evaluate(args.data, detect=not args.no_detect)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"{'ranking':<32} {'ROC AUC':>8} {'precision@50':>13}")
    for name, r in results.items():
        print(f"{name:<32} {r['auc']:>8.3f} {r['precision_at_50']:>13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
