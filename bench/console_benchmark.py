"""How fast the console draws a big network: Chromium (headless) against a real `graphsvc serve`.

Signs in, fetches a network of about ``--nodes`` nodes (1 hop around ``--entity``, capped),
and times the console's own ``drawGraph`` (Cytoscape.js; a force layout up to 150 nodes, a
concentric one above) until the graph is laid out and answers a tap, against the force
layout (cose) at any size, the named alternative. Prints the median of ``--repeat`` runs.

    .venv/bin/python bench/console_benchmark.py --home HOME --entity institution:H00000 --nodes 300
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from api.process import start_serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", required=True)
    parser.add_argument("--entity", required=True, help="TYPE:ID whose 1-hop network is drawn")
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    key = subprocess.run([sys.executable, "-m", "cli", "apikey", "create", "--role", "investigator",
                          "--name", "console benchmark", "--home", args.home], capture_output=True, text=True,
                         check=True).stdout.strip()
    served = start_serve(args.home)
    base = served.base
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-quic", "--no-first-run"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        driver.get(base + "/")
        driver.find_element(By.ID, "key").send_keys(key)
        driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#rings tbody tr"))
        node_type, node_id = args.entity.split(":", 1)
        driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            api(arguments[0]).then((r) => r.json()).then((n) => { window.bench = n; show("ring"); done(); });""",
            f"/entities/{node_type}/{node_id}/network?hops=1&limit={args.nodes}")
        size = driver.execute_script("return [bench.nodes.length, bench.edges.length]")
        results = {}
        for layout in ("console", "cose"):
            times = []
            for _ in range(args.repeat):
                times.append(driver.execute_script("""
                    const started = performance.now();
                    if (arguments[0] === "console") { drawGraph(bench); }
                    else { cy = cytoscape({container: document.getElementById("cy"), elements: elementsOf(bench),
                                           layout: {name: "cose", animate: false, randomize: false, numIter: 600}}); }
                    cy.nodes()[0].emit("tap");
                    return performance.now() - started;""", layout))
            results[layout] = statistics.median(times)
        print(f"{size[0]} nodes, {size[1]} edges: console drawGraph median {results['console']:.0f} ms; "
              f"force layout (cose) for every size, the alternative: {results['cose']:.0f} ms; "
              f"{args.repeat} runs each, until the first node answers a tap", flush=True)
    finally:
        driver.quit()
        served.stop()


if __name__ == "__main__":
    main()
