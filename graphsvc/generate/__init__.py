"""Demo-city generator: a contract folder with routine claims, look-alikes and planted rings.

``generate_city(out, persons=N, seed=S)`` writes ``out/`` (the contract files) and
``out-truth.json`` beside it, never inside it, so ingesting the folder cannot read the answers.
The same seed gives the same files. ``realism="hard"`` (see ``hard``) adds shared complicit
institutions, rotating and flat-sharing gangs, registered agents, care homes with regular
stays, group-rental flats, duplicate person records and messy export spellings; ``"plain"``
(the default) writes exactly what it always wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from graphsvc.errors import InputError
from graphsvc.generate import hard as hard_mode
from graphsvc.generate import text
from graphsvc.generate.city import City, build_city, routine_settlements
from graphsvc.generate.groups import Planted, plant_groups
from graphsvc.generate.writer import ContractWriter, institution_ids, settlement_columns

__all__ = ["generate_city", "truth_path", "REALISMS"]

_CHUNK_PERSONS = 100_000
REALISMS = ("plain", "hard")


def truth_path(out: Path) -> Path:
    return out.parent / f"{out.name}-truth.json"


MAX_PERSONS = 20_000_000
"""Most persons a city may have: the generator draws it whole in memory (10 million: 6.3 GB peak)."""


def generate_city(out: Path, *, persons: int, seed: int, dirt: float = 0.001, progress: bool = True,
                  realism: str = "plain") -> dict[str, Any]:
    """Write a demo city of ``persons`` insured persons and return a summary.

    Parameters
    ----------
    out : Path
        Contract folder to write (created).
    persons : int
        Insured persons; claims come to about ten per person.
    seed : int
        Everything random derives from it.
    dirt : float
        Share of claim rows given dirt real exports have; a tenth of those are broken
        beyond repair and must be rejected by ingest.
    realism : str
        ``"plain"`` or ``"hard"``; hard mode is drawn from the seed too, and its truth adds
        ``realism``, ``duplicate_persons`` and ``hard`` (the per-seed scheme parameters).
    """
    if realism not in REALISMS:
        raise InputError(f"realism must be one of {REALISMS}, not {realism!r}",
                         zh=f"realism 须为 {'、'.join(REALISMS)} 之一，收到 {realism!r}")
    if persons < 5_000:
        raise InputError("a demo city needs at least 5000 persons to hold its look-alikes and rings",
                         zh="演示城市至少需要 5000 人，才容得下其中的相似正常群体和团伙")
    if persons > MAX_PERSONS:
        raise InputError(f"--persons {persons:,}: the generator holds a city in memory and goes up to "
                         f"{MAX_PERSONS:,} persons (10 million took 6.3 GB); load bigger data from a real export",
                         zh=f"--persons {persons:,}：生成器在内存中构建整座城市，最多 {MAX_PERSONS:,} 人"
                            "（1000 万人用了 6.3 GB）；更大的数据请从真实导出文件导入")
    if seed < 0:
        raise InputError(f"--seed {seed}: a seed is a whole number, 0 or more", zh=f"--seed {seed}：种子须为 0 或更大的整数")
    if not 0 <= dirt <= 1:  # NaN too
        raise InputError(f"--dirt {dirt}: the share of dirty claim rows is between 0 and 1 (0.001 is one in a thousand)",
                         zh=f"--dirt {dirt}：脏数据行的比例须在 0 到 1 之间（0.001 即千分之一）")
    rng = np.random.default_rng(seed)
    hard = realism == "hard"
    hard_rng = np.random.default_rng([seed, 2026]) if hard else None
    city = build_city(rng, persons, hard_rng=hard_rng)
    planted = plant_groups(city, rings_per_pattern=max(2, round(persons / 50_000)))
    duplicates = np.zeros(0, int)
    variants = None
    if hard_rng is not None:
        params = hard_mode.draw_params(hard_rng, persons)
        duplicates = hard_mode.plant_hard(city, planted, params)
        variants = hard_mode.Variants(hard_rng, params["variant_share"])
    duplicated = np.zeros(persons, bool)
    duplicated[duplicates] = True
    writer = ContractWriter(out, rng, dirt, variants)
    _write_institutions(writer, city)
    _write_people(writer, city, planted, duplicates)
    serial = 1
    chunks = range(0, persons, _CHUNK_PERSONS)
    for start in tqdm(chunks, desc="claims", unit="chunk", disable=not progress):
        frame = routine_settlements(city, np.arange(start, min(start + _CHUNK_PERSONS, persons)))
        n = len(frame["person"])
        columns = settlement_columns(city, frame, serial)
        if hard_rng is not None:
            columns = hard_mode.switch_to_duplicates(columns, frame["person"], duplicated, hard_rng)
        writer.write_settlements(columns, dirty=True)
        serial += n
    for frame in planted.frames:
        columns = settlement_columns(city, frame, serial)
        if hard_rng is not None:
            columns = hard_mode.switch_to_duplicates(columns, frame["person"], duplicated, hard_rng)
        writer.write_settlements(columns, dirty=False)
        serial += len(frame["person"])
    writer.close()
    truth = {
        "seed": seed,
        "persons": persons,
        "settlements": writer.settlements_written,
        "broken_settlement_rows": writer.broken,
        "rings": planted.rings,
        "lookalikes": planted.lookalikes,
    }
    if hard:  # plain truth files stay byte-for-byte what they were; a missing "realism" means plain
        truth["realism"] = realism
        truth["duplicate_persons"] = [[f"P{p:07d}", f"P{p:07d}-2"] for p in duplicates]
        truth["hard"] = hard_mode.summary(params, duplicates)
    truth_path(out).write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return {k: v for k, v in truth.items() if k not in ("rings", "lookalikes", "duplicate_persons", "hard")} | {
        "rings": len(planted.rings), "lookalikes": len(planted.lookalikes), "truth": str(truth_path(out))}


def _write_institutions(writer: ContractWriter, city: City) -> None:
    writer.write_table("institutions", {
        "institution_id": institution_ids(city),
        "name": pa.array(city.inst_name),
        "kind": pa.array(city.inst_kind),
        "level": pa.array(city.inst_level),
        "ownership": pa.array(["private" if p else "public" for p in city.inst_private]),
        "address": pa.array(city.inst_address),
        "phone": pa.array([str(p) for p in city.inst_phone]),
        "region_code": pa.array([str(city.region_codes[r]) for r in city.inst_region]),
    })
    k = len(city.presc_inst)
    writer.write_table("prescribers", {
        "prescriber_id": text.ids("DR", np.arange(k), 5),
        "name": text.names(city.rng, k),
        "institution_id": institution_ids(city).take(pa.array(np.asarray(city.presc_inst, int))),
        "phone": pa.array((18_600_000_000 + np.arange(k) * 31).astype(str)),
    })


def _write_people(writer: ContractWriter, city: City, planted: Planted, duplicates: np.ndarray) -> None:
    n = city.n
    everyone = np.arange(n)
    birth_codes = city.region_codes[city.region]
    if city.birth_region:  # hard mode: migrant flatmates were born elsewhere
        birth_codes = birth_codes.copy()
        birth_codes[list(city.birth_region)] = list(city.birth_region.values())
    id_numbers = text.id_numbers(birth_codes, city.birth_day, everyone, city.male)
    # A few ID numbers are mistyped at registration: flagged by ingest, not rejected.
    mistyped = city.rng.random(n) < 0.002
    id_numbers = pc.if_else(pa.array(mistyped), pc.utf8_replace_slice(id_numbers, 17, 18, "0"), id_numbers)
    died = city.death_minute < text.PERIOD_DAYS * 24 * 60
    death_day = (np.datetime64("2026-01-01") - np.datetime64("1970-01-01")).astype(int) + city.death_minute // (24 * 60)
    names = text.names(city.rng, n)
    if city.surname:
        forced = names.to_pylist()
        for p, surname in city.surname.items():
            forced[p] = surname + forced[p][1:]
        names = pa.array(forced, pa.string())
    people = {
        "person_id": text.ids("P", everyone, 7),
        "id_number": id_numbers,
        "name": names,
        "gender": pa.array(np.where(city.male, "M", "F")),
        "birth_date": text.dates(city.birth_day),
        "phone": pa.array(city.phone.astype(str)),
        "address": city.person_address(everyone),
        "region_code": pa.array(city.region_codes[city.region].astype(str)),
        "insurance_type": pa.array(np.where(city.employee, "employee", "resident")),
        "death_date": pc.if_else(pa.array(died), text.dates(np.where(died, death_day, 0)), pa.nulls(n, pa.string())),
    }
    if len(duplicates):
        second = hard_mode.duplicate_rows(city, people, duplicates)
        # Big Arrow string columns come back chunked (over 2 GiB of offsets per chunk is not allowed).
        people = {name: pa.chunked_array(_chunks(people[name]) + _chunks(second[name].cast(pa.string())), pa.string())
                  for name in people}
    writer.write_table("persons", people)
    has_voucher = np.flatnonzero(city.device >= 0)
    cards = pa.concat_tables([
        pa.table({
            "card_id": text.ids("C", everyone, 7),
            "person_id": text.ids("P", everyone, 7),
            "kind": pa.array(np.full(n, "card")),
            "issued_date": text.dates(city.rng.integers(15_000, 20_000, n)),
            "bound_phone": pa.nulls(n, pa.string()),
            "device_id": pa.nulls(n, pa.string()),
        }),
        pa.table({
            "card_id": text.ids("E", has_voucher, 7),
            "person_id": text.ids("P", has_voucher, 7),
            "kind": pa.array(np.full(len(has_voucher), "evoucher")),
            "issued_date": text.dates(city.rng.integers(18_500, 20_400, len(has_voucher))),
            "bound_phone": pa.array(city.phone[city.device[has_voucher]].astype(str)),
            "device_id": text.ids("D", city.device[has_voucher], 7),
        }),
        pa.table({
            "card_id": pa.array([f"C{p:07d}-2" for p in duplicates], pa.string()),
            "person_id": pa.array([f"P{p:07d}-2" for p in duplicates], pa.string()),
            "kind": pa.array(np.full(len(duplicates), "card"), pa.string()),
            "issued_date": text.dates(np.full(len(duplicates), 19_000) + duplicates % 900),
            "bound_phone": pa.nulls(len(duplicates), pa.string()),
            "device_id": pa.nulls(len(duplicates), pa.string()),
        }),
        pa.Table.from_pylist(planted.cards, schema=pa.schema([(c, pa.string()) for c in
                             ("card_id", "person_id", "kind", "issued_date", "bound_phone", "device_id")])),
    ])
    writer.write_table("cards", {name: cards.column(name) for name in cards.column_names})
    if planted.intermediaries:
        names = list(dict.fromkeys(k for row in planted.intermediaries for k in row))
        writer.write_table("intermediaries", {name: pa.array([None if row.get(name) is None else str(row[name])
                                                              for row in planted.intermediaries], pa.string())
                                              for name in names})


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]
