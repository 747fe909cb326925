"""Detection quality against the generator's ground truth, beside the classic baseline.

For each size, seed and realism (``plain``, ``hard``: see ``graphsvc/generate/hard.py``; ``other``:
``bench/other_city.py``, a city generator written apart from the detectors, with its own ids,
families, seasons, schemes and look-alikes, to measure on data detection was not built for;
``third``: ``bench/third_city.py``, a third one written blind, from the data contract, the domain
notes and the notices only, in another province with other ids and evasions; ``fourth``:
``bench/fourth_city.py``, a fourth written blind the same way, by another hand, in a big south-western
city with shared hot spots, rotating gangs, registered agents and a messy export):
generate a city, ingest it, detect rings, and score them against the planted rings and
look-alikes in the truth file. Detected persons that are a planted person's second record
(``truth["duplicate_persons"]``, hard mode) count as that person.

- ring recall: planted rings whose best detected ring has person-set Jaccard >= 0.5;
- pattern accuracy: of those, the share whose best ring has the planted pattern;
- top-k precision: of the k best-scored rings (k = planted rings), the share that match a
  planted ring (Jaccard >= 0.5);
- person precision@N: N = planted fraud persons; persons ranked by their best ring's
  score (then ring rank); the share of the top N that are planted fraud persons;
- unmatched: detected rings (all of them, not only the top k) whose person set has
  Jaccard < 0.5 with every planted ring;
- look-alikes in top 2k: look-alike groups (every kind in the truth: care homes, dialysis
  cohorts, dormitories, families, and in hard mode registered agents, care homes with regular
  stays, group-rental flats) that a top-2k ring lands on: at least half the ring's persons,
  or three or more, are the group's persons who are in no planted ring.

Targets (exit 1 when one is missed): recall >= 0.95, pattern accuracy >= 0.9, top-k
precision >= 0.9, person precision@N >= 0.9, unmatched <= 10% of the planted rings, no
look-alike in the top 2k, and, where both modes ran for a size and seed, hard-mode recall,
top-k precision and person precision@N within 0.03 of plain mode's.

The baseline is connected components over shared identifiers (phones, addresses,
devices, payee accounts, agents), components of three or more persons ranked by size,
on the same data (scored, never held to the targets).

    .venv/bin/python bench/quality.py                       # sizes 20000 100000, seeds 1 2 3, both modes
    .venv/bin/python bench/quality.py --sizes 20000 --seeds 5 --realism hard --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import igraph as ig
import pyarrow.compute as pc

from graphsvc.detect import DetectionConfig, detect_rings
from graphsvc.generate import generate_city, truth_path
from graphsvc.store.embedded import EmbeddedStore
from ingest.pipeline import ingest_folder

sys.path.insert(0, str(Path(__file__).parent))
from fourth_city import generate_fourth_city  # noqa: E402
from other_city import generate_other_city  # noqa: E402
from third_city import generate_third_city  # noqa: E402

TARGETS = {"ring_recall": 0.95, "pattern_accuracy": 0.9, "top_k_precision": 0.9, "person_precision_at_n": 0.9}
UNMATCHED_SHARE = 0.10
"""At most this share of the planted ring count may be detected rings matching no planted ring."""
HARD_GAP = 0.03
HARD_GAP_METRICS = ("ring_recall", "top_k_precision", "person_precision_at_n")
"""Hard mode's figures may trail plain mode's (same size and seed) by at most HARD_GAP."""


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def score_rings(ranked: Sequence[tuple[Sequence[str], str | None]], truth: dict[str, Any]) -> dict[str, Any]:
    """Metrics of rings ranked best first, each (persons, pattern or None)."""
    planted = [(set(r["persons"]), r["pattern"]) for r in truth["rings"]]
    k = len(planted)
    fraud = set().union(*(p for p, _ in planted))
    original = {second: first for first, second in truth.get("duplicate_persons", [])}
    rings = [({original.get(x, x) for x in p}, pattern) for p, pattern in ranked]
    owners: dict[str, list[int]] = {}
    for i, (persons, _) in enumerate(rings):
        for p in persons:
            owners.setdefault(p, []).append(i)

    def best_ring(persons: set[str]) -> tuple[float, int | None]:
        candidates = {i for p in persons for i in owners.get(p, ())}
        return max(((jaccard(persons, rings[i][0]), i) for i in candidates), default=(0.0, None))

    matched, right_pattern = 0, 0
    for persons, pattern in planted:
        j, best = best_ring(persons)
        if j >= 0.5 and best is not None:
            matched += 1
            right_pattern += rings[best][1] == pattern
    misses = []
    for ring, (persons, pattern) in zip(truth["rings"], planted):
        j, best = best_ring(persons)
        if j < 0.5 or best is None or rings[best][1] != pattern:
            misses.append(f"{ring['id']} {pattern} ({len(persons)} persons): best ring #{best} "
                          f"{rings[best][1] if best is not None else '-'} with Jaccard {j:.2f}")
    planted_of: dict[str, list[int]] = {}
    for j, (persons, _) in enumerate(planted):
        for p in persons:
            planted_of.setdefault(p, []).append(j)

    def matches_planted(persons: set[str]) -> bool:
        candidates = {j for p in persons for j in planted_of.get(p, ())}
        return any(jaccard(persons, planted[j][0]) >= 0.5 for j in candidates)

    top_k = rings[:k]
    top_k_hits = sum(1 for persons, _ in top_k if matches_planted(persons))
    unmatched = sum(1 for persons, _ in rings if not matches_planted(persons))
    ranked_persons: list[str] = []
    seen: set[str] = set()
    for persons, _ in rings:
        for p in sorted(persons - seen):
            ranked_persons.append(p)
        seen |= persons
    top_n = ranked_persons[:len(fraud)]
    landed = []
    for group in truth["lookalikes"]:
        members = set(group["persons"])
        innocent = members - fraud
        for rank, (persons, pattern) in enumerate(rings[:2 * k], start=1):
            if len(persons & innocent) * 2 >= len(persons) or len(persons & innocent) >= 3:
                landed.append(f"{group['kind']} of {len(members)} persons: ring #{rank} ({pattern}, {len(persons)} "
                              f"persons, {len(persons & innocent)} of them the group's)")
                break
    return {
        "planted": k, "detected": len(rings),
        "ring_recall": matched / k,
        "pattern_accuracy": right_pattern / matched if matched else 0.0,
        "top_k_precision": top_k_hits / k,
        "person_precision_at_n": sum(1 for p in top_n if p in fraud) / len(fraud),
        "unmatched": unmatched,
        "lookalikes_in_top_2k": len(landed),
        "misses": misses,
        "lookalikes_landed": landed,
    }


def baseline_components(store: EmbeddedStore) -> list[tuple[list[str], None]]:
    """Connected components of persons over shared identifiers, three persons or more, biggest first."""
    con = store.analysis_connection()
    try:
        links = con.sql("""
            SELECT DISTINCT person_id, value FROM (
                SELECT person_id, 'phone:' || phone AS value FROM persons WHERE phone IS NOT NULL
                UNION ALL SELECT person_id, 'address:' || address FROM persons WHERE address IS NOT NULL
                UNION ALL SELECT person_id, 'phone:' || contact_phone FROM settlements WHERE contact_phone IS NOT NULL
                UNION ALL SELECT person_id, 'agent:' || agent_id FROM settlements WHERE agent_id IS NOT NULL
                UNION ALL SELECT person_id, 'account:' || payee_account FROM settlements WHERE payee_account IS NOT NULL
                UNION ALL SELECT person_id, 'device:' || device_id FROM settlements WHERE device_id IS NOT NULL
                UNION ALL SELECT person_id, 'phone:' || bound_phone FROM cards WHERE bound_phone IS NOT NULL
                UNION ALL SELECT person_id, 'device:' || device_id FROM cards WHERE device_id IS NOT NULL)""").to_arrow_table()
    finally:
        con.close()
    persons = pc.unique(links.column("person_id"))
    values = pc.unique(links.column("value"))
    src = pc.index_in(links.column("person_id"), value_set=persons).to_numpy()
    dst = pc.index_in(links.column("value"), value_set=values).to_numpy() + len(persons)
    graph = ig.Graph(n=len(persons) + len(values), edges=list(zip(src.tolist(), dst.tolist())))
    names = persons.to_pylist()
    components = []
    for component in graph.connected_components():
        members = [names[v] for v in component if v < len(names)]
        if len(members) >= 3:
            components.append((sorted(members), None))
    components.sort(key=lambda c: -len(c[0]))
    return components


def run_one(size: int, seed: int, work: Path, config: DetectionConfig, realism: str = "plain") -> dict[str, Any]:
    city = work / f"city-{size}-{seed}-{realism}"
    started = time.perf_counter()
    if realism == "other":
        generate_other_city(city, persons=size, seed=seed)
    elif realism == "third":
        generate_third_city(city, persons=size, seed=seed)
    elif realism == "fourth":
        generate_fourth_city(city, persons=size, seed=seed)
    else:
        generate_city(city, persons=size, seed=seed, progress=False, realism=realism)
    generated = time.perf_counter() - started
    truth = json.loads(truth_path(city).read_text(encoding="utf-8"))
    with EmbeddedStore(work / f"home-{size}-{seed}-{realism}") as store:
        started = time.perf_counter()
        ingest_folder(store, city, rejects_dir=work / "rejects", progress=False)
        ingested = time.perf_counter() - started
        started = time.perf_counter()
        result = detect_rings(store, config)
        detected = time.perf_counter() - started
        ours = score_rings([(r.persons, r.pattern) for r in result.rings], truth)
        base = score_rings(baseline_components(store), truth)
    return {"size": size, "seed": seed, "realism": realism, "seconds": {"generate": generated, "ingest": ingested, "detect": detected},
            "graphsvc": ours, "baseline": base}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--realism", nargs="+", choices=["plain", "hard", "other", "third", "fourth"], default=["plain", "hard"],
                        help="generator modes to run (default plain and hard); other: bench/other_city.py, a "
                             "generator written apart from detection; third: bench/third_city.py, one written blind")
    parser.add_argument("--config", help="detection config JSON (defaults otherwise)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--explain", action="store_true", help="list planted rings missed or given another pattern, and look-alikes in the top 2k")
    args = parser.parse_args(argv)
    config = DetectionConfig.from_file(Path(args.config)) if args.config else DetectionConfig()
    results = []
    header = (f"{'persons':>8} {'seed':>4} {'realism':<7} {'method':<9} {'planted':>7} {'found':>6} {'recall':>6} "
              f"{'pattern':>7} {'top-k':>6} {'pers@N':>6} {'unmatched':>9} {'lookalike':>9} {'detect s':>8}")
    print(header)
    missed = []
    with tempfile.TemporaryDirectory(prefix="graphsvc-quality-") as tmp:
        for size in args.sizes:
            for seed in args.seeds:
                by_mode: dict[str, dict[str, Any]] = {}
                for realism in args.realism:
                    r = run_one(size, seed, Path(tmp), config, realism)
                    results.append(r)
                    for method in ("graphsvc", "baseline"):
                        m = r[method]
                        pattern = f"{m['pattern_accuracy']:.3f}" if method == "graphsvc" else "-"
                        secs = f"{r['seconds']['detect']:.1f}" if method == "graphsvc" else ""
                        print(f"{size:>8} {seed:>4} {realism:<7} {method:<9} {m['planted']:>7} {m['detected']:>6} "
                              f"{m['ring_recall']:>6.3f} {pattern:>7} {m['top_k_precision']:>6.3f} "
                              f"{m['person_precision_at_n']:>6.3f} {m['unmatched']:>9} {m['lookalikes_in_top_2k']:>9} "
                              f"{secs:>8}", flush=True)
                    ours = by_mode[realism] = r["graphsvc"]
                    run = f"{size}/{seed}/{realism}"
                    if args.explain:
                        for line in ours["misses"]:
                            print(f"      missed or mislabelled: {line}")
                        for line in ours["lookalikes_landed"]:
                            print(f"      look-alike in the top 2k: {line}")
                    missed += [f"{run}: {name} {ours[name]:.3f} < {target}"
                               for name, target in TARGETS.items() if ours[name] < target]
                    if ours["unmatched"] > UNMATCHED_SHARE * ours["planted"]:
                        missed.append(f"{run}: {ours['unmatched']} unmatched rings > {UNMATCHED_SHARE:.0%} of "
                                      f"{ours['planted']} planted")
                    if ours["lookalikes_in_top_2k"]:
                        missed.append(f"{run}: {ours['lookalikes_in_top_2k']} look-alike group(s) in the top 2k")
                if {"plain", "hard"} <= by_mode.keys():
                    missed += [f"{size}/{seed}: hard {name} {by_mode['hard'][name]:.3f} trails plain "
                               f"{by_mode['plain'][name]:.3f} by more than {HARD_GAP}"
                               for name in HARD_GAP_METRICS if by_mode["plain"][name] - by_mode["hard"][name] > HARD_GAP]
    print("targets: " + ", ".join(f"{k} >= {v}" for k, v in TARGETS.items())
          + f", unmatched <= {UNMATCHED_SHARE:.0%} of planted, look-alikes in top 2k = 0"
          + f", hard within {HARD_GAP} of plain ({', '.join(HARD_GAP_METRICS)})")
    print("all targets met on every run" if not missed else "MISSED:\n  " + "\n  ".join(missed))
    if args.json:
        print(json.dumps(results, indent=1))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
