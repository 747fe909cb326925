"""A small city with three planted rings and a family look-alike, loaded and detected, plus a key per role.

Known answers: R-000001 identity misuse (4 victims, device DIM), R-000002 card collector
(collector CCX and 10 holders), R-000003 black intermediary (broker IBI, 6 recruits at H100,
18 claims on 6 days, phone 15900000017, account 6222000000000001).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from api.keys import create_api_key
from graphsvc.detect import detect_and_save
from graphsvc.store import GraphStore
from ingest.pipeline import ingest_folder
from scenes import Scene, black_intermediary, card_collector, family, identity_misuse

BROKER_PHONE = "15900000017"
NAMED_ID_NUMBER = "430102199001011234"
NAMED_PHONE = "13812345678"


@dataclass
class City:
    store: GraphStore
    keys: dict[str, str]
    bi: dict
    cc: dict
    im: dict
    family: list[str]
    folder: Path

    def headers(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}


def city_scene() -> tuple[Scene, dict]:
    scene = Scene()
    facts = {"bi": black_intermediary(scene), "cc": card_collector(scene), "im": identity_misuse(scene),
             "family": family(scene)}
    for row in scene.tables["institutions"]:
        row["region_code"] = "430102" if row["institution_id"] == "H100" else "430112"
    scene.person("NAMED1", name="李四", id_number=NAMED_ID_NUMBER, phone=NAMED_PHONE)
    return scene, facts


def load_city(store: GraphStore, tmp_path: Path) -> City:
    return load_scene(store, tmp_path, *city_scene())


def load_scene(store: GraphStore, tmp_path: Path, scene: Scene, facts: dict) -> City:
    """``city_scene()``'s scene (as changed by a test) loaded and detected, with a key per role."""
    folder = scene.write_folder(tmp_path / "city")
    ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
    detect_and_save(store)
    keys = {role: create_api_key(store, role, f"{role} tester")[0]
            for role in ("admin", "investigator", "police_liaison", "analyst")}
    return City(store, keys, facts["bi"], facts["cc"], facts["im"], facts["family"], folder)


def city_home(tmp_path: Path) -> Path:
    """A home where the CLI, as a user runs it, loaded the city and detected its rings."""
    home = tmp_path / "home"
    scene, _ = city_scene()
    for args in (["ingest", str(scene.write_folder(tmp_path / "city")), "--quiet"], ["detect", "--quiet"]):
        done = subprocess.run([sys.executable, "-m", "cli", *args, "--home", str(home)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    return home
