"""Detection speed on a loaded store: time per stage, peak memory, Leiden vs networkx Louvain.

Prints wall time per detector and stage and the process's peak resident memory for one
full detection, then, on the same suspicion graph, times Leiden (igraph's own C
implementation, what ``graphsvc detect`` uses), Leiden from ``leidenalg`` and networkx's
Louvain, and prints the ratios. With
``--truth`` it also scores the rings against the generator's ground truth.

    graphsvc generate /tmp/city1m --persons 1000000 && graphsvc ingest /tmp/city1m --home /tmp/home1m
    .venv/bin/python bench/detect_benchmark.py --home /tmp/home1m --truth /tmp/city1m-truth.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import leidenalg  # noqa: E402

from graphsvc.detect import DetectionConfig, detect_rings  # noqa: E402
from graphsvc.detect.suspicion_graph import (  # noqa: E402
    leiden_communities,
    louvain_communities_networkx,
    suspicion_graph,
)
from graphsvc.store.embedded import EmbeddedStore  # noqa: E402
from quality import TARGETS, score_rings  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, help="store folder holding an ingested city")
    parser.add_argument("--truth", help="the generator's truth file, to score the rings too")
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory cap (default 4GB)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each community algorithm (default 3)")
    args = parser.parse_args(argv)
    config = DetectionConfig()
    with EmbeddedStore(args.home, memory_limit=args.memory_limit) as store:
        settlements = store.node_counts()["Settlement"]
        persons = store.node_counts()["Person"]
        started = time.perf_counter()
        result = detect_rings(store, config)
        total = time.perf_counter() - started
    print(f"detection on {persons:,} persons, {settlements:,} settlements: {total:.1f} s, peak {peak_mb():,.0f} MB")
    for stage, seconds in result.seconds.items():
        print(f"  {stage:<24} {seconds:>7.2f} s")
    print(f"  findings {len(result.findings):,}; suspicion graph {result.graph['vertices']:,} vertices, "
          f"{result.graph['edges']:,} edges; {len(result.rings)} rings")

    graph = suspicion_graph(result.findings)
    resolution, seed = config.community.resolution, config.community.seed
    algorithms = {
        "leiden (igraph, used)": lambda: leiden_communities(graph, resolution=resolution, seed=seed),
        "leiden (leidenalg)": lambda: list(leidenalg.find_partition(
            graph, leidenalg.RBConfigurationVertexPartition, weights="weight", resolution_parameter=resolution,
            seed=seed, n_iterations=-1)),
        "louvain (networkx)": lambda: louvain_communities_networkx(graph, resolution=resolution, seed=seed),
    }
    best: dict[str, float] = {}
    print(f"community detection on the same graph, best of {args.repeat}:")
    for name, run in algorithms.items():
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            communities = run()
            times.append(time.perf_counter() - started)
        best[name] = min(times)
        print(f"  {name:<24} {best[name]:>7.3f} s  {len(communities):,} communities")
    used = best["leiden (igraph, used)"]
    print(f"  networkx Louvain takes {best['louvain (networkx)'] / used:.1f}x as long as Leiden in igraph; "
          f"leidenalg {best['leiden (leidenalg)'] / used:.1f}x")

    if args.truth:
        truth = json.loads(Path(args.truth).read_text(encoding="utf-8"))
        metrics = score_rings([(r.persons, r.pattern) for r in result.rings], truth)
        print("quality against the truth: " + ", ".join(
            f"{k} {metrics[k]:.3f}" for k in TARGETS) + f", look-alikes in top 2k {metrics['lookalikes_in_top_2k']}"
              + f" ({metrics['planted']} planted, {metrics['detected']} detected)")
        for line in metrics["misses"]:
            print(f"  missed or mislabelled: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
